import type { FileHandle } from 'node:fs/promises';

/**
 * Reads up to `length` bytes at `position`, looping because one read may return fewer bytes
 * than asked. A result shorter than `length` means the file ended first.
 */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(Math.max(0, length));
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === buf.length ? buf : buf.subarray(0, got);
}
