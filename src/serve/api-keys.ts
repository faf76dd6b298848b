import crypto from 'node:crypto';
import { LoupeError } from '../errors/loupe-error.js';
import type { Database } from '../store/database.js';
import { immediateTransaction } from '../store/immediate-transaction.js';
import { API_KEY_SCOPES, type ApiKeyScope, type ApiKeysTable } from '../store/schema.js';
import { immediateTransactionNoWait } from '../store/immediate-transaction.js';
import { serveConfigSchema } from './serve-config.js';

export { API_KEY_SCOPES, type ApiKeyScope };

/**
 * API keys for `loupe serve`. A token is `loupe_<id>_<secret>`: the id is public (it finds the
 * row and names the caller in logs), the secret is 32 random bytes shown once at creation. Only
 * SHA-256(secret) is stored.
 *
 * Why a plain hash and not bcrypt/scrypt/argon2: slow password hashes exist because passwords
 * are guessable, so an attacker holding the hashes can try likely ones. A 256-bit random secret
 * cannot be guessed — brute-forcing SHA-256 over 2^256 secrets is infeasible at any speed — so
 * a slow hash would add only latency to every request. The secret is never derived from
 * anything a person chose.
 */
export interface ApiKey {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  /** Requests per minute; null: unlimited. */
  ratePerMinute: number | null;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface CreateKeyOptions {
  name: string;
  scopes?: readonly string[];
  /** Undefined: `defaultRatePerMinute`; null: unlimited. */
  ratePerMinute?: number | null;
  /** serve.auth.ratePerMinute from the workspace config; the schema default otherwise. */
  defaultRatePerMinute?: number;
  /** Who created the key, for `keys ls` and audits. */
  actor: string;
}

const TOKEN_PREFIX = 'loupe_';
const SECRET_BYTES = 32;
const ID_BYTES = 8;
/** base64url of 32 bytes, unpadded. */
const SECRET_CHARS = Math.ceil((SECRET_BYTES * 4) / 3);
const ID_PATTERN = /^[0-9a-f]{16}$/;
const TOKEN_PATTERN = new RegExp(`^${TOKEN_PREFIX}([0-9a-f]{16})_([A-Za-z0-9_-]{${SECRET_CHARS}})$`);
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A write per request would serialize every request on SQLite's one writer. */
const TOUCH_EVERY_MS = 60_000;
/** Compared against when a token names no key, so unknown and wrong keys cost the same. */
const DUMMY_HASH = crypto.createHash('sha256').update('loupe-no-such-key').digest();

const now = () => new Date().toISOString();

function hashSecret(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * Constant-time: a byte-by-byte `===` returns sooner the earlier the first wrong byte, which,
 * measured over many requests, leaks how much of a guess is right. Both sides are 32-byte
 * digests, so timingSafeEqual never sees different lengths.
 */
export function secretMatches(secret: string, storedHashHex: string): boolean {
  const stored = Buffer.from(storedHashHex, 'hex');
  const given = hashSecret(secret);
  if (stored.length !== given.length) {
    // A damaged row: spend the same comparison, then fail.
    crypto.timingSafeEqual(given, DUMMY_HASH);
    return false;
  }
  return crypto.timingSafeEqual(given, stored);
}

/** The id and secret of a well-formed token; undefined for anything else. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_PATTERN.exec(token.trim());
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

function toKey(row: ApiKeysTable): ApiKey {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as ApiKeyScope[],
    ratePerMinute: row.rate_per_minute,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function parseScopes(scopes: readonly string[]): ApiKeyScope[] {
  const list = [...new Set(scopes.map((s) => s.trim()).filter(Boolean))];
  if (!list.length)
    throw new LoupeError('INVALID_ARGUMENT', `a key needs at least one scope: ${API_KEY_SCOPES.join(', ')}`);
  const unknown = list.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
  if (unknown.length)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `"${s}"`).join(', ')}; scopes are: ${API_KEY_SCOPES.join(', ')}`,
    );
  return API_KEY_SCOPES.filter((s) => list.includes(s));
}

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `a key name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`,
    );
  // `keys revoke X` takes an id or a name; a name shaped like an id would make X ambiguous.
  if (ID_PATTERN.test(name))
    throw new LoupeError('INVALID_ARGUMENT', `"${name}" looks like a key id; choose another name`);
}

function checkRate(rate: number | null): void {
  if (rate !== null && !(Number.isInteger(rate) && rate > 0))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `a rate limit is a whole number of requests per minute above 0 (or unlimited); got ${rate}`,
    );
}

/**
 * Creates a key and returns it with its token. The token is not stored anywhere: this is the
 * only time it exists outside the caller's hands.
 */
export async function createKey(
  db: Database,
  options: CreateKeyOptions,
): Promise<{ key: ApiKey; token: string }> {
  checkName(options.name);
  const scopes = parseScopes(options.scopes ?? ['predict']);
  const rate =
    options.ratePerMinute === undefined
      ? (options.defaultRatePerMinute ?? serveConfigSchema.parse({}).auth.ratePerMinute)
      : options.ratePerMinute;
  checkRate(rate);
  const id = crypto.randomBytes(ID_BYTES).toString('hex');
  const secret = crypto.randomBytes(SECRET_BYTES).toString('base64url');
  const row: ApiKeysTable = {
    id,
    name: options.name,
    secret_hash: hashSecret(secret).toString('hex'),
    scopes: JSON.stringify(scopes),
    rate_per_minute: rate,
    created_at: now(),
    created_by: options.actor,
    last_used_at: null,
    revoked_at: null,
  };
  await immediateTransaction(db, async (trx) => {
    const taken = await trx
      .selectFrom('api_keys')
      .select('id')
      .where('name', '=', options.name)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (taken)
      throw new LoupeError(
        'CONFLICT',
        `a key named "${options.name}" exists (id ${taken.id}); revoke it first or choose another name`,
        { name: options.name, id: taken.id },
      );
    await trx.insertInto('api_keys').values(row).execute();
  });
  return { key: toKey(row), token: `${TOKEN_PREFIX}${id}_${secret}` };
}

/** Every key, oldest first; revoked keys too unless `live` is set. */
export async function listKeys(db: Database, options: { live?: boolean } = {}): Promise<ApiKey[]> {
  let q = db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id');
  if (options.live) q = q.where('revoked_at', 'is', null);
  return (await q.execute()).map(toKey);
}

/**
 * Revokes a key by id or by name (a name means its live key). Revoking a revoked key changes
 * nothing and says so, so scripts can run it twice.
 */
export async function revokeKey(
  db: Database,
  idOrName: string,
): Promise<{ key: ApiKey; alreadyRevoked: boolean }> {
  return immediateTransaction(db, async (trx) => {
    const rows = await trx
      .selectFrom('api_keys')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .orderBy('created_at', 'desc')
      .execute();
    const row = rows.find((r) => r.id === idOrName) ?? rows.find((r) => r.revoked_at === null) ?? rows[0];
    if (!row)
      throw new LoupeError('NOT_FOUND', `no API key with id or name "${idOrName}"; see: loupe keys ls`, {
        key: idOrName,
      });
    if (row.revoked_at !== null) return { key: toKey(row), alreadyRevoked: true };
    const revokedAt = now();
    await trx.updateTable('api_keys').set({ revoked_at: revokedAt }).where('id', '=', row.id).execute();
    return { key: toKey({ ...row, revoked_at: revokedAt }), alreadyRevoked: false };
  });
}

/**
 * The live key a token belongs to, or undefined for a malformed, unknown, wrong or revoked
 * token. Callers should answer all of these the same way (401) so a caller learns nothing
 * about which it was. The key is read on every call, so a revocation by another process (the
 * CLI) takes effect on the next request.
 */
export async function verifyToken(
  db: Database,
  token: string,
  options: { now?: Date } = {},
): Promise<ApiKey | undefined> {
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const row = await db.selectFrom('api_keys').selectAll().where('id', '=', parsed.id).executeTakeFirst();
  if (!row) {
    secretMatches(parsed.secret, DUMMY_HASH.toString('hex'));
    return undefined;
  }
  if (!secretMatches(parsed.secret, row.secret_hash) || row.revoked_at !== null) return undefined;
  const at = options.now ?? new Date();
  const stale = new Date(at.getTime() - TOUCH_EVERY_MS).toISOString();
  if (row.last_used_at === null || row.last_used_at < stale) {
    const stamp = at.toISOString();
    // Never wait on another writer for a timestamp: if the database is busy, the next request
    // a minute's worth later tries again. The condition keeps two servers from both writing.
    const touched = await immediateTransactionNoWait(db, (trx) =>
      trx
        .updateTable('api_keys')
        .set({ last_used_at: stamp })
        .where('id', '=', row.id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', stale)]))
        .execute(),
    );
    if (!touched.busy) row.last_used_at = stamp;
  }
  return toKey(row);
}

/** Whether a key may use a route needing `scope`; 'admin' may use every route. */
export function hasScope(key: Pick<ApiKey, 'scopes'> | undefined, scope: ApiKeyScope): boolean {
  return key !== undefined && (key.scopes.includes(scope) || key.scopes.includes('admin'));
}
