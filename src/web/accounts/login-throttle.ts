import { sql } from 'kysely';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import type { LoginFailureKind } from '../../store/schema.js';

/**
 * Expired rows one failure deletes at most: a write never holds the database's write lock for
 * long, even when a flood's window ends all at once, and since each failure adds at most one
 * row, expired rows still drain faster than they can pile up.
 */
const PRUNE_BATCH = 100;

/**
 * Counts failures per key (an account's email, a client address) in a fixed window and refuses
 * once a key reaches its limit. Written here rather than with @fastify/rate-limit because that
 * counts every request, and a sign-in throttle must count only failures: a person who signs in
 * correctly is never held back, while someone guessing passwords is stopped after a few tries.
 *
 * The counts live in the workspace database (table login_failures), so a restart does not
 * forget them and every server on the workspace shares them. Each call is one short statement
 * (two for a failure): SQLite makes each atomic across processes, and none holds the event loop
 * for more than an indexed lookup. The table stays small without a cap: every failure costs the
 * client a memory-hard password hash, which bounds how many rows a window can gather.
 */
export class FailureThrottle {
  constructor(
    private readonly db: Database,
    private readonly windowMs: number,
  ) {}

  /** Throws RATE_LIMITED (with the seconds to wait) when the key has `max` failures in its window. */
  async check(kind: LoginFailureKind, key: string, max: number, what: string): Promise<void> {
    const now = Date.now();
    const row = await this.db
      .selectFrom('login_failures')
      .select(['failures', 'window_ends_at'])
      .where('kind', '=', kind)
      .where('key', '=', key)
      .where('window_ends_at', '>', now)
      .executeTakeFirst();
    if (row && row.failures >= max) {
      const seconds = Math.max(1, Math.ceil((row.window_ends_at - now) / 1000));
      throw new LoupeError(
        'RATE_LIMITED',
        `too many ${what}: try again in ${seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`}`,
        { retryAfterSeconds: seconds },
      );
    }
  }

  /** Counts one failure: the first of a key (or the first after its window ended) opens a new window. */
  async fail(kind: LoginFailureKind, key: string): Promise<void> {
    const now = Date.now();
    await this.db
      .deleteFrom('login_failures')
      .where(
        sql<number>`rowid`,
        'in',
        this.db
          .selectFrom('login_failures')
          .select(sql<number>`rowid`.as('rowid'))
          .where('window_ends_at', '<=', now)
          .limit(PRUNE_BATCH),
      )
      .execute();
    // One upsert, so two servers counting the same key at once both count. In DO UPDATE,
    // both expressions read the row as it was before this statement.
    const expired = sql<boolean>`window_ends_at <= ${now}`;
    await this.db
      .insertInto('login_failures')
      .values({ kind, key, failures: 1, window_ends_at: now + this.windowMs })
      .onConflict((oc) =>
        oc.columns(['kind', 'key']).doUpdateSet({
          failures: sql<number>`case when ${expired} then 1 else failures + 1 end`,
          window_ends_at: sql<number>`case when ${expired} then excluded.window_ends_at else window_ends_at end`,
        }),
      )
      .execute();
  }
}
