import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { RetrainLockTable } from '../../store/schema.js';
import { isAlive } from '../../track/stale-runs.js';

const SCOPE = 'workspace';
const HEARTBEAT_EVERY_MS = 5000;
/** A holder silent this long is gone, whatever its host (a pid can be reused; a host can vanish). */
const STALE_AFTER_MS = 10 * 60 * 1000;

export interface LockHolder {
  model: string;
  retrainId: string | null;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string;
}

export interface RetrainLock {
  /** The holder this lock replaced because it had died, if any. */
  readonly tookOver: LockHolder | undefined;
  /** Aborted if another process takes the lock over (it judged this one dead): stop at once. */
  readonly lost: AbortSignal;
  /** Names the retrain's run in the lock, for the message a refused retrain prints. */
  attach(retrainId: string): Promise<void>;
  release(): Promise<void>;
}

const holderOf = (r: RetrainLockTable): LockHolder => ({
  model: r.model,
  retrainId: r.retrain_id,
  host: r.host,
  pid: r.pid,
  startedAt: r.started_at,
  heartbeatAt: r.heartbeat_at,
});

/** Whether the holder may still be working: its process lives (on this host) and it beats. */
function holderAlive(r: RetrainLockTable, now: number, staleAfterMs: number): boolean {
  if (now - Date.parse(r.heartbeat_at) > staleAfterMs) return false;
  return r.host !== os.hostname() || isAlive(r.pid);
}

/**
 * The workspace's retrain lock: one retrain at a time, whichever process (a person's command,
 * the server's schedule, CI) starts it. It is a database row, so it survives a crash: a row whose
 * process is gone (same host, pid not running) or whose heartbeat is stale is taken over; one
 * whose holder lives refuses the newcomer with CONFLICT. The holder renews its heartbeat every
 * few seconds until it releases the row.
 */
export async function acquireRetrainLock(
  db: Database,
  o: { model: string; staleAfterMs?: number; heartbeatMs?: number },
): Promise<RetrainLock> {
  const token = randomUUID();
  const staleAfterMs = o.staleAfterMs ?? STALE_AFTER_MS;
  const tookOver = await immediateTransaction(db, async (trx) => {
    const held = await trx
      .selectFrom('retrain_lock')
      .selectAll()
      .where('scope', '=', SCOPE)
      .executeTakeFirst();
    const now = Date.now();
    if (held && holderAlive(held, now, staleAfterMs)) {
      const h = holderOf(held);
      throw new LoupeError(
        'CONFLICT',
        `a retrain of ${h.model} is already running${h.retrainId ? ` (run ${h.retrainId})` : ''}: pid ${h.pid} on ${h.host}, started ${h.startedAt}, last heartbeat ${Math.round((now - Date.parse(h.heartbeatAt)) / 1000)} s ago; one retrain runs at a time — wait for it, or stop it`,
        { holder: h },
      );
    }
    if (held) await trx.deleteFrom('retrain_lock').where('scope', '=', SCOPE).execute();
    const at = new Date(now).toISOString();
    await trx
      .insertInto('retrain_lock')
      .values({
        scope: SCOPE,
        token,
        retrain_id: null,
        model: o.model,
        host: os.hostname(),
        pid: process.pid,
        started_at: at,
        heartbeat_at: at,
      })
      .execute();
    return held ? holderOf(held) : undefined;
  });

  const lost = new AbortController();
  const mine = () => db.updateTable('retrain_lock').where('scope', '=', SCOPE).where('token', '=', token);
  let beating: Promise<void> | undefined;
  const beat = async () => {
    const { numUpdatedRows } = await mine()
      .set({ heartbeat_at: new Date().toISOString() })
      .executeTakeFirst();
    if (numUpdatedRows === 0n)
      lost.abort(
        new LoupeError('CONFLICT', 'another process took the retrain lock over (it judged this one dead)'),
      );
  };
  const timer = setInterval(() => {
    beating ??= beat()
      .catch(() => undefined) // a busy database delays a beat; the next one tries again
      .finally(() => (beating = undefined));
  }, o.heartbeatMs ?? HEARTBEAT_EVERY_MS);
  timer.unref();

  return {
    tookOver,
    lost: lost.signal,
    async attach(retrainId) {
      await mine().set({ retrain_id: retrainId }).execute();
    },
    async release() {
      clearInterval(timer);
      await beating;
      await db.deleteFrom('retrain_lock').where('scope', '=', SCOPE).where('token', '=', token).execute();
    },
  };
}

/** Who holds the lock now, if anyone (dead or alive). */
export async function retrainLockHolder(db: Database): Promise<LockHolder | undefined> {
  const row = await db.selectFrom('retrain_lock').selectAll().where('scope', '=', SCOPE).executeTakeFirst();
  return row ? holderOf(row) : undefined;
}
