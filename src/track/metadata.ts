import path from 'node:path';
import { fsError } from '../errors/fs-error.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import type { RunArtifact, RunHandle } from './run-store.js';

const METADATA_FILE = 'metadata.json';

/**
 * Writes the run's row (config, provenance, status, summary) and `extra` (class names, the model
 * spec, ...) to metadata.json in its folder, so the folder explains itself to a person or a tool
 * without the database, and records it as an artifact. Call it after the run's final call for
 * the file to say how the run ended.
 */
export async function writeRunMetadata(
  run: RunHandle,
  extra: Record<string, unknown> & { run?: never } = {},
): Promise<RunArtifact> {
  const file = path.join(run.dir, METADATA_FILE);
  const text = `${JSON.stringify({ run: await run.read(), ...extra }, null, 2)}\n`;
  await writeFileAtomic(file, new TextEncoder().encode(text)).catch((e: unknown) => {
    throw fsError(e, file);
  });
  return run.addArtifact(METADATA_FILE, file, 'metadata');
}
