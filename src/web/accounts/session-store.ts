import crypto from 'node:crypto';
import type { Database } from '../../store/database.js';
import type { SessionUser } from './roles.js';
import { now } from './user-store.js';

/**
 * Server-side sessions. The browser's cookie holds 32 random bytes; the database holds only
 * their SHA-256, so a copy of the database (a backup) cannot be replayed as someone's sign-in.
 * A session ends at `expires_at` or after the idle timeout, whichever comes first; ending a
 * session is deleting its row, so logout, "log out everywhere" and disabling take effect at once.
 */
export interface SessionTimes {
  maxAgeMs: number;
  idleMs: number;
}

export interface ResolvedSession {
  user: SessionUser;
  csrf: string;
  idHash: string;
}

/** A write per request would serialise every request on SQLite's one writer. */
const TOUCH_EVERY_MS = 60_000;

const hashId = (id: string) => crypto.createHash('sha256').update(id).digest('hex');
const token = () => crypto.randomBytes(32).toString('base64url');

export async function createSession(
  db: Database,
  userId: number,
  times: SessionTimes,
): Promise<{ id: string; csrf: string; expiresAt: Date }> {
  const id = token();
  const csrf = token();
  const at = new Date();
  const expiresAt = new Date(at.getTime() + times.maxAgeMs);
  await db
    .insertInto('sessions')
    .values({
      id_hash: hashId(id),
      user_id: userId,
      csrf_token: csrf,
      created_at: at.toISOString(),
      last_seen_at: at.toISOString(),
      expires_at: expiresAt.toISOString(),
    })
    .execute();
  return { id, csrf, expiresAt };
}

/** The session a cookie names, if it is live and its account enabled; expired rows are removed. */
export async function resolveSession(
  db: Database,
  id: string,
  times: SessionTimes,
): Promise<ResolvedSession | undefined> {
  const idHash = hashId(id);
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'sessions.csrf_token',
      'sessions.last_seen_at',
      'sessions.expires_at',
      'users.id',
      'users.email',
      'users.role',
      'users.disabled_at',
    ])
    .where('sessions.id_hash', '=', idHash)
    .executeTakeFirst();
  if (!row) return undefined;
  const t = Date.now();
  const lastSeen = Date.parse(row.last_seen_at);
  if (row.disabled_at || Date.parse(row.expires_at) <= t || lastSeen + times.idleMs <= t) {
    await endSession(db, idHash);
    return undefined;
  }
  if (t - lastSeen >= Math.min(TOUCH_EVERY_MS, times.idleMs / 10))
    await db.updateTable('sessions').set({ last_seen_at: now() }).where('id_hash', '=', idHash).execute();
  return { user: { id: row.id, email: row.email, role: row.role }, csrf: row.csrf_token, idHash };
}

export async function endSession(db: Database, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

/** Ends every session of an account, or every one but `keep` (a password change keeps its own). */
export async function endUserSessions(db: Database, userId: number, keep?: string): Promise<number> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (keep) q = q.where('id_hash', '!=', keep);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Removes sessions past their end (the ones nobody comes back to are never resolved). */
export async function pruneSessions(db: Database, times: SessionTimes): Promise<void> {
  const t = Date.now();
  await db
    .deleteFrom('sessions')
    .where((e) =>
      e.or([
        e('expires_at', '<=', new Date(t).toISOString()),
        e('last_seen_at', '<=', new Date(t - times.idleMs).toISOString()),
      ]),
    )
    .execute();
}
