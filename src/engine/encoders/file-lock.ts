import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 200;
/** A lock file still without a pid after this long was left by a process that died creating it. */
const EMPTY_LOCK_STALE_MS = 10_000;

/**
 * Runs fn while holding `lockFile` (created exclusively, holding our pid), so two processes, or
 * two calls in one, never write the same download at once; others wait for it. A lock whose
 * process is gone (killed mid-download) is taken over, which is what lets the next run resume.
 */
export async function withFileLock<T>(
  lockFile: string,
  fn: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fh = await open(lockFile, 'wx');
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await holderIsGone(lockFile)) await rm(lockFile, { force: true });
    else await sleep(POLL_MS, undefined, { signal });
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}

async function holderIsGone(lockFile: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(lockFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // released: try again now
    throw e;
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    const age = await stat(lockFile).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    return age > EMPTY_LOCK_STALE_MS;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
