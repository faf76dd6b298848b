import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { WebConfig } from '../web-config.js';
import { markInvitationUsed, usableInvitation } from './invitations.js';
import { hashPassword } from './password-hash.js';
import { checkPassword, countUsers, insertUser, normaliseEmail, type User } from './user-store.js';

/**
 * Creates an account under the workspace's registration policy: the first account is always
 * allowed and is admin; after it, `open` gives anyone `defaultRole`, `invite` needs a usable
 * invitation and gives its role. The checks and the insert share one write transaction, so two
 * people racing to be first cannot both become admin, nor two use one invitation.
 */
export async function registerAccount(
  db: Database,
  config: Pick<WebConfig, 'registration' | 'defaultRole'>,
  input: { email: string; password: string; invitation?: string | undefined },
): Promise<User> {
  const email = normaliseEmail(input.email);
  checkPassword(input.password);
  const passwordHash = await hashPassword(input.password);
  return immediateTransaction(db, async (trx) => {
    if ((await countUsers(trx)) === 0) return insertUser(trx, { email, passwordHash, role: 'admin' });
    if (!input.invitation) {
      if (config.registration === 'open')
        return insertUser(trx, { email, passwordHash, role: config.defaultRole });
      throw new LoupeError(
        'FORBIDDEN',
        'this Loupe server takes new accounts by invitation only: ask an admin for an invitation link',
      );
    }
    const invitation = await usableInvitation(trx, input.invitation);
    if (invitation.email && invitation.email !== email)
      throw new LoupeError(
        'FORBIDDEN',
        `this invitation is for ${invitation.email}; sign up with that email`,
      );
    const user = await insertUser(trx, {
      email,
      passwordHash,
      role: invitation.role,
      invitedBy: invitation.createdBy,
    });
    await markInvitationUsed(trx, invitation.id, user.id);
    return user;
  });
}
