import os from 'node:os';
import type { Database } from '../store/database.js';
import type { RunError } from './run-store.js';

/** How long a run on another host may go without a heartbeat before it counts as dead. */
const STALE_AFTER_MS = 10 * 60 * 1000;

/** Whether a process of this host is alive (the pid exists, whoever owns it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * A process that is SIGKILLed, runs out of memory or loses power never records how its run
 * ended, so its row would say 'running' forever. On this host the pid tells whether it is alive;
 * for another host only the age of the heartbeat can. Such runs become 'killed', ending at
 * their last heartbeat. Returns the ids it changed.
 */
export async function reconcileStaleRuns(
  db: Database,
  o: { staleAfterMs?: number; now?: number } = {},
): Promise<string[]> {
  const host = os.hostname();
  const now = o.now ?? Date.now();
  const staleAfter = o.staleAfterMs ?? STALE_AFTER_MS;
  const running = await db
    .selectFrom('runs')
    .select(['id', 'host', 'pid', 'started_at', 'heartbeat_at'])
    .where('status', '=', 'running')
    .execute();
  const killed: string[] = [];
  for (const r of running) {
    const dead = r.host === host ? !isAlive(r.pid) : now - Date.parse(r.heartbeat_at) > staleAfter;
    if (!dead) continue;
    const error: RunError = { code: 'INTERRUPTED', message: 'process died' };
    const { numUpdatedRows } = await db
      .updateTable('runs')
      .set({
        status: 'killed',
        error: JSON.stringify(error),
        ended_at: r.heartbeat_at,
        duration_s: (Date.parse(r.heartbeat_at) - Date.parse(r.started_at)) / 1000,
      })
      // Unchanged since read: a run that finished or beat meanwhile is left alone.
      .where('id', '=', r.id)
      .where('status', '=', 'running')
      .where('heartbeat_at', '=', r.heartbeat_at)
      .executeTakeFirst();
    if (numUpdatedRows > 0n) killed.push(r.id);
  }
  return killed;
}
