import crypto from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import type { DatabaseSchema, InvitationsTable } from '../../store/schema.js';
import type { UserRole } from './roles.js';
import { normaliseEmail, now } from './user-store.js';

/**
 * Invitations: an admin makes a one-time code with a role (and optionally the one email allowed
 * to use it); the code travels in a link, `/signup?invite=CODE`. Only the code's SHA-256 is
 * stored, so the link is shown once, when it is made.
 */
export interface Invitation {
  id: number;
  role: UserRole;
  email: string | null;
  createdBy: number;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  revokedAt: string | null;
}

type Db = Kysely<DatabaseSchema>;

const hashCode = (code: string) => crypto.createHash('sha256').update(code).digest('hex');

function toInvitation(row: Selectable<InvitationsTable>): Invitation {
  return {
    id: row.id,
    role: row.role,
    email: row.email,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    revokedAt: row.revoked_at,
  };
}

export async function createInvitation(
  db: Database,
  o: { role: UserRole; email?: string | null; createdBy: number; days: number },
): Promise<{ code: string; invitation: Invitation }> {
  const code = crypto.randomBytes(18).toString('base64url');
  const at = new Date();
  const row = await db
    .insertInto('invitations')
    .values({
      code_hash: hashCode(code),
      role: o.role,
      email: o.email ? normaliseEmail(o.email) : null,
      created_by: o.createdBy,
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + o.days * 86_400_000).toISOString(),
      used_at: null,
      used_by: null,
      revoked_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { code, invitation: toInvitation(row) };
}

/** Invitations not yet used, revoked or expired, newest first. */
export async function pendingInvitations(db: Database): Promise<Invitation[]> {
  const rows = await db
    .selectFrom('invitations')
    .selectAll()
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now())
    .orderBy('id', 'desc')
    .execute();
  return rows.map(toInvitation);
}

export async function revokeInvitation(db: Database, id: number): Promise<void> {
  const r = await db
    .updateTable('invitations')
    .set({ revoked_at: now() })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw new LoupeError('NOT_FOUND', `no pending invitation with id ${id}`);
}

/** The usable invitation a code names; NOT_FOUND says why it cannot be used. */
export async function usableInvitation(db: Db, code: string): Promise<Invitation> {
  const row = await db
    .selectFrom('invitations')
    .selectAll()
    .where('code_hash', '=', hashCode(code.trim()))
    .executeTakeFirst();
  const why = !row
    ? 'this invitation link is not valid: check that it was copied whole'
    : row.used_at
      ? 'this invitation has been used already: ask an admin for a new one'
      : row.revoked_at
        ? 'this invitation was withdrawn: ask an admin for a new one'
        : row.expires_at <= now()
          ? 'this invitation has expired: ask an admin for a new one'
          : undefined;
  if (why) throw new LoupeError('NOT_FOUND', why);
  return toInvitation(row!);
}

export async function markInvitationUsed(db: Db, id: number, userId: number): Promise<void> {
  await db.updateTable('invitations').set({ used_at: now(), used_by: userId }).where('id', '=', id).execute();
}
