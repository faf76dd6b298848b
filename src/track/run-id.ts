import { randomInt } from 'node:crypto';
import { LoupeError } from '../errors/loupe-error.js';
import type { Database } from '../store/database.js';

// Crockford's base32 in lower case: no i, l, o or u to misread, and ASCII order is numeric order.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const SEQ_DIGITS = 3;
const SEQ_LIMIT = 32 ** SEQ_DIGITS;
const MIN_PREFIX = 4;

function base32(n: number, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++, n = Math.floor(n / 32)) out = ALPHABET[n % 32]! + out;
  return out;
}

let last = { time: 0, seq: 0 };

/**
 * A 13-character id: the time in milliseconds (10 digits) then a counter (3 digits) that starts
 * at a random value, so ids from different processes rarely collide, and ids made by this
 * process in the same millisecond still sort in the order they were made.
 */
export function newId(now = Date.now()): string {
  let time = Math.max(now, last.time);
  let seq = time === last.time ? last.seq + 1 : randomInt(SEQ_LIMIT / 2);
  if (seq >= SEQ_LIMIT) [time, seq] = [time + 1, 0];
  last = { time, seq };
  return base32(time, 10) + base32(seq, SEQ_DIGITS);
}

/** The id in `table` that is `ref` or starts with it (at least 4 characters, any case). */
export async function resolveId(db: Database, table: 'runs' | 'studies', ref: string): Promise<string> {
  const what = table === 'runs' ? 'run' : 'study';
  const prefix = ref.toLowerCase();
  if (prefix.length < MIN_PREFIX || ![...prefix].every((c) => ALPHABET.includes(c))) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `"${ref}" is not a ${what} id; give the id or at least its first ${MIN_PREFIX} characters`,
    );
  }
  const rows = await db.selectFrom(table).select('id').where('id', 'like', `${prefix}%`).limit(2).execute();
  if (rows.length === 1) return rows[0]!.id;
  if (rows.length > 1)
    throw new LoupeError('INVALID_ARGUMENT', `${what} prefix ${ref} is ambiguous; give more characters`);
  const hint = table === 'runs' ? '; `loupe runs ls` lists them' : '';
  throw new LoupeError('NOT_FOUND', `no ${what} "${ref}"${hint}`);
}
