import { fsError } from '../../../errors/fs-error.js';
import { open } from 'node:fs/promises';
import { LoupeError } from '../../../errors/loupe-error.js';
import { readAt } from '../../../util/read-at.js';

/**
 * Random access to the bytes of a file or an in-memory buffer, so the WAV parser can walk chunk
 * headers and read only the frames it needs without loading a whole recording.
 */
export interface ByteSource {
  /** The file name used in error messages. */
  readonly name: string;
  readonly size: number;
  /** Up to `length` bytes from `position`; fewer only at the end of the source. */
  read(position: number, length: number): Promise<Uint8Array>;
}

export function bufferSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    read: async (position, length) =>
      bytes.subarray(Math.min(position, bytes.byteLength), Math.min(position + length, bytes.byteLength)),
  };
}

/** Opens `file`, hands a source over it to `fn`, and closes it whatever happens. */
export async function withFileSource<T>(file: string, fn: (source: ByteSource) => Promise<T>): Promise<T> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw fsError(e, file, {
      otherwise: (err) =>
        new LoupeError('CORRUPT_FILE', `cannot open ${file}: ${err.message}`, { file }, { cause: err }),
    });
  }
  try {
    const { size } = await handle.stat();
    const fh = handle;
    return await fn({
      name: file,
      size,
      read: (position, length) => readAt(fh, position, Math.min(length, size - position)),
    });
  } finally {
    await handle.close();
  }
}
