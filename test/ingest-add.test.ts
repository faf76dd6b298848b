import assert from 'node:assert/strict';
import { cp, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { folderCandidates } from '../src/data/ingest/from-folder.js';
import { ingest } from '../src/data/ingest/ingest.js';
import { listVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { repoRoot } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

test('data added to an existing dataset is split like the first ingest, and old items keep their splits', async () => {
  const { dir, ws } = await trainingWorkspace({ classes: 3, perClass: 40 });
  try {
    const [first] = await listVersions(ws.db, 'fm');
    const before = await readVersionItems(ws, first!);
    // More images of the same classes, from the sample's test folders (none in the first ingest).
    const more = path.join(dir, 'more');
    for (const c of ['Ankle_boot', 'Bag', 'Coat']) {
      const source = path.join(repoRoot, 'samples/fashion-mnist/test', c);
      await mkdir(path.join(more, c), { recursive: true });
      for (const f of (await readdir(source)).sort().slice(0, 40))
        await cp(path.join(source, f), path.join(more, c, f));
    }
    const report = await ingest(ws, folderCandidates(more, ws.blobs), {
      dataset: 'fm',
      source: 'folder more',
    });
    assert.equal(report.items.added, 120);
    const after = await readVersionItems(ws, (await listVersions(ws.db, 'fm'))[0]!);
    const old = new Map(before.map((i) => [i.id, i.split]));
    for (const i of after)
      if (old.has(i.id)) assert.equal(i.split, old.get(i.id), 'an old item keeps its split');
    const added = after.filter((i) => !old.has(i.id));
    const count = (s: string) => added.filter((i) => i.split === s).length;
    const { val, test: testShare } = ws.config.data.split;
    // Stratified per class: each share within a couple of items of its configured fraction.
    assert.ok(Math.abs(count('test') - testShare * 120) <= 6, `test ${count('test')} of 120`);
    assert.ok(Math.abs(count('val') - val * 120) <= 6, `val ${count('val')} of 120`);
  } finally {
    await ws.close();
  }
});
