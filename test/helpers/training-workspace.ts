import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { candidatesFromFolder } from '../../src/data/ingest/from-folder.js';
import { ingest } from '../../src/data/ingest/ingest.js';
import { initWorkspace, openWorkspace, type Workspace } from '../../src/workspace/workspace.js';
import { parse, stringify } from 'yaml';
import { deepMerge } from '../../src/config/load-config.js';
import { repoRoot } from './run-cli.js';

/**
 * A workspace holding a small real dataset: `perClass` images of each of the first `classes`
 * Fashion-MNIST classes from the bundled sample, ingested as a version with the workspace's
 * default splits (so val and test exist and folds are assigned).
 */
export async function trainingWorkspace(
  o: { classes?: number; perClass?: number; yaml?: string } = {},
): Promise<{ dir: string; ws: Workspace }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'loupe-train-'));
  const data = path.join(dir, 'data');
  const source = path.join(repoRoot, 'samples/fashion-mnist/train');
  const classes = (await readdir(source)).sort().slice(0, o.classes ?? 4);
  for (const c of classes) {
    const files = (await readdir(path.join(source, c))).sort().slice(0, o.perClass ?? 30);
    await Promise.all(files.map((f) => cp(path.join(source, c, f), path.join(data, c, f))));
  }
  await initWorkspace(dir, { name: 'train-test' });
  if (o.yaml) {
    // Merged into the template's settings (which already has a train section, for one).
    const file = path.join(dir, 'loupe.yaml');
    const merged = deepMerge(
      parse(await readFile(file, 'utf8')) as Record<string, unknown>,
      parse(o.yaml) as Record<string, unknown>,
    );
    await writeFile(file, stringify(merged));
  }
  const ws = await openWorkspace({ workspace: dir, env: {} });
  await ingest(ws, await candidatesFromFolder(data, ws.blobs), {
    dataset: 'fm',
    source: 'folder data',
  });
  return { dir, ws };
}
