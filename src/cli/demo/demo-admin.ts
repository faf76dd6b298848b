import { randomBytes } from 'node:crypto';
import type { Database } from '../../store/database.js';
import { hashPassword } from '../../web/accounts/password-hash.js';
import { createUser, findUserByEmail, setPasswordHash } from '../../web/accounts/user-store.js';

export const DEMO_ADMIN = 'admin@loupe.local';

/**
 * The web app's admin account for the demo: created on the first run, given a new random
 * password on each (only its hash is stored, so an old one cannot be shown again), which the
 * demo prints once.
 */
export async function demoAdmin(db: Database): Promise<{ email: string; password: string }> {
  const password = randomBytes(12).toString('base64url');
  const existing = await findUserByEmail(db, DEMO_ADMIN);
  if (existing) await setPasswordHash(db, existing.id, await hashPassword(password));
  else await createUser(db, { email: DEMO_ADMIN, password, role: 'admin' });
  return { email: DEMO_ADMIN, password };
}
