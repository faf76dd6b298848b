import crypto from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Passwords hashed with scrypt (Node's crypto, no dependency), a memory-hard function: each
 * guess costs 128·N·r bytes of RAM as well as time, which is what makes GPUs and ASICs poor at
 * cracking it.
 *
 * N = 2^16, r = 8, p = 1 → 64 MiB and about 0.1–0.2 s per hash on this project's 2-core machine.
 * OWASP's floor for scrypt is N = 2^17 (128 MiB); we take half of it because every sign-in runs
 * one hash in libuv's thread pool (4 threads), so four sign-ins at once already hold 256 MiB on a
 * small server, while 64 MiB per guess still puts an attacker with a stolen database at a few
 * guesses per second per core. The parameters are stored with each hash, and a sign-in with a
 * hash made under weaker parameters re-hashes the password, so raising them later upgrades every
 * account as its owner next signs in.
 */
export const SCRYPT_PARAMS = { N: 2 ** 16, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // Node refuses scrypt above 32 MiB unless maxmem allows it; leave headroom over 128·N·r.
  return scrypt(password.normalize('NFKC'), salt, KEY_BYTES, {
    ...params,
    maxmem: 256 * params.N * params.r,
  });
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

function parse(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((x) => Number.isInteger(x) && x > 0)) return undefined;
  return {
    params: { N, r, p },
    salt: Buffer.from(parts[4]!, 'base64'),
    hash: Buffer.from(parts[5]!, 'base64'),
  };
}

let dummy: Promise<string> | undefined;
/**
 * A hash to check against when the email names no account, so that answering "wrong email or
 * password" takes as long as for a real account and timing does not reveal who has one.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(crypto.randomBytes(16).toString('hex'));
  return dummy;
}

/** Whether `password` matches `stored`; a malformed stored value matches nothing. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) {
    // Spend the same time as a real check, then fail.
    await verifyPassword(password, await dummyHash());
    return false;
  }
  const given = await derive(password, parsed.salt, parsed.params);
  // Constant time: `===` would return sooner the earlier the first differing byte.
  return given.length === parsed.hash.length && crypto.timingSafeEqual(given, parsed.hash);
}

/** A hash made with weaker parameters than today's, to be replaced at the next sign-in. */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  if (!parsed) return true;
  const { N, r, p } = parsed.params;
  return N < SCRYPT_PARAMS.N || r < SCRYPT_PARAMS.r || p < SCRYPT_PARAMS.p;
}
