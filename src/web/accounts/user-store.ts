import type { Kysely, Selectable, Updateable } from 'kysely';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { DatabaseSchema, UsersTable } from '../../store/schema.js';
import { hashPassword } from './password-hash.js';
import type { UserRole } from './roles.js';

/** An account as the rest of Loupe sees it: never its password hash. */
export interface User {
  id: number;
  email: string;
  role: UserRole;
  createdAt: string;
  invitedBy: number | null;
  lastLoginAt: string | null;
  disabledAt: string | null;
}

type Db = Kysely<DatabaseSchema>;
type Row = Selectable<UsersTable>;

const EMAIL = /^[^\s@]+@[^\s@]+$/;
export const PASSWORD_MIN = 10;
/** scrypt takes any length; this only keeps request bodies and hashing time sane. */
export const PASSWORD_MAX = 1024;

export const now = () => new Date().toISOString();

export function toUser(row: Row): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    createdAt: row.created_at,
    invitedBy: row.invited_by,
    lastLoginAt: row.last_login_at,
    disabledAt: row.disabled_at,
  };
}

/** Trimmed and lower-cased, so one person cannot hold two accounts by capitalising differently. */
export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (e.length > 254 || !EMAIL.test(e))
    throw new LoupeError('INVALID_ARGUMENT', `"${email.slice(0, 80)}" is not an email address`);
  return e;
}

export function checkPassword(password: string): void {
  if (password.length < PASSWORD_MIN)
    throw new LoupeError('INVALID_ARGUMENT', `a password needs at least ${PASSWORD_MIN} characters`);
  if (password.length > PASSWORD_MAX)
    throw new LoupeError('INVALID_ARGUMENT', `a password may have at most ${PASSWORD_MAX} characters`);
}

export async function findUserByEmail(db: Db, email: string): Promise<Row | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where('email', '=', email.trim().toLowerCase())
    .executeTakeFirst();
}

export async function getUser(db: Db, id: number): Promise<User> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new LoupeError('NOT_FOUND', `no user with id ${id}`);
  return toUser(row);
}

export async function listUsers(db: Db): Promise<User[]> {
  return (await db.selectFrom('users').selectAll().orderBy('id').execute()).map(toUser);
}

export async function countUsers(db: Db): Promise<number> {
  const r = await db
    .selectFrom('users')
    .select((e) => e.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Inserts an account whose password is already hashed (hashing takes ~0.2 s, so callers do it
 * before taking the write lock). Throws CONFLICT when the email is taken.
 */
export async function insertUser(
  db: Db,
  u: { email: string; passwordHash: string; role: UserRole; invitedBy?: number | null },
): Promise<User> {
  if (await findUserByEmail(db, u.email))
    throw new LoupeError('CONFLICT', `an account for ${u.email} exists already: sign in instead`);
  const row = await db
    .insertInto('users')
    .values({
      email: u.email,
      password_hash: u.passwordHash,
      role: u.role,
      created_at: now(),
      invited_by: u.invitedBy ?? null,
      last_login_at: null,
      disabled_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUser(row);
}

/** Creates an account directly, with no registration policy (tests, and admin tooling). */
export async function createUser(
  db: Database,
  u: { email: string; password: string; role: UserRole },
): Promise<User> {
  const email = normaliseEmail(u.email);
  checkPassword(u.password);
  const passwordHash = await hashPassword(u.password);
  return immediateTransaction(db, (trx) => insertUser(trx, { email, passwordHash, role: u.role }));
}

export async function setPasswordHash(db: Db, id: number, passwordHash: string): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute();
}

export async function recordLogin(db: Db, id: number): Promise<void> {
  await db.updateTable('users').set({ last_login_at: now() }).where('id', '=', id).execute();
}

/**
 * Changes an account's role or disables/enables it. The last enabled admin cannot be demoted or
 * disabled: nobody could then manage accounts from the web app. Disabling ends its sessions.
 */
export async function updateUser(
  db: Database,
  id: number,
  change: { role?: UserRole; disabled?: boolean },
): Promise<User> {
  return immediateTransaction(db, async (trx) => {
    const before = await getUser(trx, id);
    const losesAdmin =
      before.role === 'admin' &&
      !before.disabledAt &&
      ((change.role !== undefined && change.role !== 'admin') || change.disabled === true);
    if (losesAdmin) {
      const admins = await trx
        .selectFrom('users')
        .select((e) => e.fn.countAll<number>().as('n'))
        .where('role', '=', 'admin')
        .where('disabled_at', 'is', null)
        .executeTakeFirstOrThrow();
      if (Number(admins.n) <= 1)
        throw new LoupeError(
          'CONFLICT',
          `${before.email} is the only admin left: make someone else admin first`,
        );
    }
    const set: Updateable<UsersTable> = {};
    if (change.role !== undefined) set.role = change.role;
    if (change.disabled !== undefined)
      set.disabled_at = change.disabled ? (before.disabledAt ?? now()) : null;
    if (Object.keys(set).length) await trx.updateTable('users').set(set).where('id', '=', id).execute();
    if (change.disabled) await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
    return getUser(trx, id);
  });
}
