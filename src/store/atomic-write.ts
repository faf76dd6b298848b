import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../errors/loupe-error.js';

/**
 * Writes through a temporary file in the same directory and renames it over the target: rename is
 * atomic on POSIX filesystems, and the fsync before it makes sure the bytes are on disk before the
 * name points at them.
 */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, file);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new LoupeError(
        'DISK_FULL',
        `no space left on the device to write ${file}; the previous file, if any, is untouched`,
        { file },
        { cause: e },
      );
    }
    throw e;
  }
  // Persist the rename itself; some filesystems refuse to fsync a directory, which is harmless.
  const dir = await open(path.dirname(file), 'r').catch(() => undefined);
  await dir?.sync().catch(() => undefined);
  await dir?.close();
}
