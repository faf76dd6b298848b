import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../src/config/schema.js';
import { assignFolds } from '../src/data/splits/assign-folds.js';
import { assignSplits } from '../src/data/splits/assign-splits.js';
import { manifestId, serializeManifest, type ManifestItem } from '../src/data/versions/manifest.js';
import {
  diffItems,
  readVersionItems,
  resolveVersion,
  saveVersion,
} from '../src/data/versions/version-store.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { FsBlobStore } from '../src/store/blob-store.js';
import { openDatabase, type Database } from '../src/store/database.js';

const split = configSchema.parse({}).data.split;
const hex = (s: string) => createHash('sha256').update(s).digest('hex');

function items(n: number, classes = 3, groupSize = 0): { id: string; label: string; group?: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: hex(`item${i}`),
    label: `c${i % classes}`,
    ...(groupSize ? { group: `g${Math.floor(i / (classes * groupSize))}-${i % classes}` } : {}),
  }));
}

const manifest = (n: number): ManifestItem[] =>
  assignSplits(items(n), split).map((i) => ({
    ...i,
    kind: 'image',
    blob: i.id,
    source: `img/${i.id.slice(0, 6)}.png`,
  }));

describe('splits', () => {
  it('are stratified: each class keeps its proportions', () => {
    const out = assignSplits(items(3000), split);
    for (const c of ['c0', 'c1', 'c2']) {
      const mine = out.filter((i) => i.label === c);
      assert.equal(mine.filter((i) => i.split === 'test').length, 100);
      assert.equal(mine.filter((i) => i.split === 'val').length, 100);
    }
  });

  it('do not depend on the order the source listed items in', () => {
    const a = assignSplits(items(500), split);
    const b = assignSplits([...items(500)].reverse(), split);
    const byId = new Map(b.map((i) => [i.id, i.split]));
    for (const i of a) assert.equal(byId.get(i.id), i.split);
  });

  it('never split a group across train, val and test', () => {
    const out = assignSplits(items(2000, 4, 5), split);
    const seen = new Map<string, string>();
    for (const i of out) {
      const prev = seen.get(i.group!);
      assert.ok(prev === undefined || prev === i.split, `group ${i.group} is in ${prev} and ${i.split}`);
      seen.set(i.group!, i.split);
    }
    assert.ok(out.some((i) => i.split === 'test') && out.some((i) => i.split === 'val'));
  });

  it('honour predefined splits and reject impossible fractions', () => {
    const out = assignSplits([{ id: hex('x'), label: 'a', split: 'test' as const }, ...items(10)], split);
    assert.equal(out[0]!.split, 'test');
    assert.throws(
      () => assignSplits(items(5), { ...split, val: 0.5, test: 0.5 }),
      (e) => isLoupeError(e, 'INVALID_CONFIG'),
    );
  });
});

describe('cross-validation folds', () => {
  it('k-fold is stratified and leaves test alone', () => {
    const out = assignFolds(assignSplits(items(1000), split), { type: 'kfold', k: 5 }, 1);
    for (const c of ['c0', 'c1', 'c2']) {
      const counts = [0, 1, 2, 3, 4].map((f) => out.filter((i) => i.label === c && i.fold === f).length);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${c}: ${counts}`);
    }
    assert.ok(out.filter((i) => i.split === 'test').every((i) => i.fold === undefined));
  });

  it('keeps groups whole, and leave-one-group-out gives each group a fold', () => {
    const withGroups = assignSplits(items(600, 3, 4), split);
    const k = assignFolds(withGroups, { type: 'kfold', k: 3 }, 1);
    const groupFold = new Map<string, number>();
    for (const i of k.filter((x) => x.fold !== undefined)) {
      assert.ok(!groupFold.has(i.group!) || groupFold.get(i.group!) === i.fold);
      groupFold.set(i.group!, i.fold!);
    }
    const logo = assignFolds(withGroups, { type: 'group' }, 1);
    const groups = new Set(logo.filter((i) => i.split !== 'test').map((i) => i.group));
    assert.equal(new Set(logo.filter((i) => i.fold !== undefined).map((i) => i.fold)).size, groups.size);
    assert.throws(
      () => assignFolds(assignSplits(items(9), split), { type: 'group' }, 1),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });
});

describe('manifests and versions', () => {
  let dir: string;
  let db: Database;
  let blobs: FsBlobStore;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-versions-'));
    db = await openDatabase(path.join(dir, 'loupe.db'));
    blobs = new FsBlobStore(path.join(dir, 'blobs'));
  });
  after(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('hash the same items to the same id in any order, on any machine', () => {
    const m = manifest(50);
    const id = manifestId(serializeManifest(m));
    assert.equal(manifestId(serializeManifest([...m].reverse())), id);
    // A fixed manifest has a fixed id: this catches any change to the canonical form.
    const fixed: ManifestItem[] = [
      { id: hex('a'), kind: 'image', blob: hex('a'), label: 'cat', split: 'train', source: 'a.png' },
    ];
    assert.equal(manifestId(serializeManifest(fixed)), hex(`${JSON.stringify(fixed[0])}\n`));
  });

  it('are saved immutably, found by name or prefix, diffed, and checked on read', async () => {
    const v1 = await saveVersion({ db, blobs }, 'shirts', manifest(30));
    assert.equal(v1.created, true);
    assert.equal((await saveVersion({ db, blobs }, 'shirts', [...manifest(30)].reverse())).created, false);
    const changed = manifest(32).map((i, n) => (n === 0 ? { ...i, label: 'other' } : i));
    const v2 = await saveVersion({ db, blobs }, 'shirts', changed, { parent: v1.id });
    assert.equal((await resolveVersion(db, 'shirts')).id, v2.id);
    assert.equal((await resolveVersion(db, v1.id.slice(0, 10))).id, v1.id);
    await assert.rejects(
      () => resolveVersion(db, 'nothing'),
      (e) => isLoupeError(e, 'NOT_FOUND'),
    );
    const d = diffItems(await readVersionItems({ blobs }, v1.row), await readVersionItems({ blobs }, v2.row));
    assert.equal(d.added.length, 2);
    assert.equal(d.removed.length, 0);
    assert.equal(d.relabeled.length, 1);
    await writeFile(blobs.pathOf(v2.row.manifest_blob), 'tampered\n');
    await assert.rejects(
      () => readVersionItems({ blobs }, v2.row),
      (e) => isLoupeError(e, 'CORRUPT_FILE'),
    );
  });
});
