import { createHash } from 'node:crypto';
import { LoupeError } from '../errors/loupe-error.js';
import type { BlobStore } from '../store/blob-store.js';
import type { ModelVersion, StoredFile } from './registry-store.js';

/** The file every version has: the packaged classifier that eval, export and serving run. */
export const MODEL_FILE = 'model.onnx';

/** Puts a version's files into the blob store, returning what the version row records for each. */
export async function storeFiles(
  blobs: BlobStore,
  files: Record<string, Uint8Array>,
): Promise<Record<string, StoredFile>> {
  const stored: Record<string, StoredFile> = {};
  for (const [name, bytes] of Object.entries(files))
    stored[name] = { sha256: await blobs.put(bytes), bytes: bytes.length };
  return stored;
}

/**
 * A version's file, read and checked against the SHA-256 recorded at registration. A file that
 * was damaged or replaced on disk is refused: serving or promoting bytes nobody evaluated would
 * defeat the gate.
 */
export async function readModelFile(
  blobs: BlobStore,
  version: ModelVersion,
  name = MODEL_FILE,
): Promise<Uint8Array> {
  const file = version.files[name];
  if (!file)
    throw new LoupeError(
      'NOT_FOUND',
      `${version.ref} has no file "${name}" (it has: ${Object.keys(version.files).join(', ')})`,
    );
  let bytes: Uint8Array;
  try {
    bytes = await blobs.get(file.sha256);
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${name} of ${version.ref} is missing from the blob store`,
      { file: blobs.pathOf(file.sha256) },
      { cause: e },
    );
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== file.sha256)
    throw new LoupeError(
      'CORRUPT_FILE',
      `${name} of ${version.ref} fails its checksum (recorded ${file.sha256.slice(0, 12)}…, found ${actual.slice(0, 12)}…): ` +
        'it was damaged or replaced after registration, so it is refused',
      { file: blobs.pathOf(file.sha256) },
    );
  return bytes;
}
