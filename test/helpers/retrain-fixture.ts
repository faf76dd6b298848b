import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { recordDriftCheck } from '../../src/monitor/drift/drift-store.js';
import { recordFeedback, type FeedbackInput } from '../../src/monitor/feedback/feedback-store.js';
import type { Database } from '../../src/store/database.js';
import type { Workspace } from '../../src/workspace/workspace.js';
import { repoRoot } from './run-cli.js';

/** A gate a retrained tiny model passes (a low floor, no big drop against the champion), as loupe.yaml. */
export const LENIENT_GATE = `gate:
  rules:
    - { metric: macro_f1, min: 0.3 }
    - { champion: macro_f1, notWorseBy: 0.5 }
`;

/**
 * Images of the bundled sample's test folder of a class, sorted, `n` from `from`: none of them is
 * in a training workspace's dataset (which takes its images from the train folders).
 */
export async function sampleImages(label: string, n: number, from = 0): Promise<Buffer[]> {
  const dir = path.join(repoRoot, 'samples/fashion-mnist/test', label);
  const files = (await readdir(dir)).sort().slice(from, from + n);
  return Promise.all(files.map((f) => readFile(path.join(dir, f))));
}

/** A person's decision about an image of model fm whose bytes are in the blob store, as the API records it. */
export async function recordDecision(
  ws: Workspace,
  image: Uint8Array,
  o: Partial<FeedbackInput> & { label: string },
): Promise<number> {
  const hash = await ws.blobs.put(image);
  return recordFeedback(ws.db, {
    actor: 'ana@example.org',
    channel: 'api',
    action: 'correct',
    model: 'fm',
    inputHash: hash,
    inputBlob: hash,
    ...o,
  });
}

/** A drift check of fm as `loupe drift` or the server would record it, with only its verdict filled in. */
export function recordDriftVerdict(db: Database, status: 'ok' | 'drift', version = 1): Promise<number> {
  return recordDriftCheck(db, {
    at: new Date().toISOString(),
    model: 'fm',
    version,
    status,
    source: 'cli',
    windowSize: 200,
    referenceSize: 200,
    datasetVersion: null,
    alpha: 0.05,
    tests: [],
    skipped: [],
    message: status,
  });
}
