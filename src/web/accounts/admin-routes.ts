import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import { USER_ROLES } from '../../store/schema.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { createInvitation, pendingInvitations, revokeInvitation } from './invitations.js';
import { requireRole } from './require-role.js';
import { listUsers, updateUser } from './user-store.js';

const id = z.object({ id: z.coerce.number().int().positive() });
const userChange = z
  .object({ role: z.enum(USER_ROLES).optional(), disabled: z.boolean().optional() })
  .refine((c) => c.role !== undefined || c.disabled !== undefined, 'give "role" or "disabled"');
const invitationInput = z.object({
  role: z.enum(USER_ROLES),
  email: z.string().max(254).nullish(),
});

const admin = { preHandler: requireRole('admin'), schema: { hide: true } };

/** Account management for admins: list accounts, change roles, disable, invite. */
export function registerAdminRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { db } = deps.ws;

  app.get('/api/admin/users', admin, async () => ({ users: await listUsers(db) }));

  app.patch('/api/admin/users/:id', admin, async (request) => {
    const target = parseInput(id, request.params, 'user id').id;
    const change = parseInput(userChange, request.body, 'change');
    if (target === request.user!.id && change.disabled)
      throw new LoupeError('CONFLICT', 'you cannot disable your own account');
    return { user: await updateUser(db, target, change) };
  });

  app.get('/api/admin/invitations', admin, async () => ({ invitations: await pendingInvitations(db) }));

  app.post('/api/admin/invitations', admin, async (request, reply) => {
    const input = parseInput(invitationInput, request.body, 'invitation');
    const { code, invitation } = await createInvitation(db, {
      role: input.role,
      email: input.email?.trim() || null,
      createdBy: request.user!.id,
      days: deps.config.web.invitationDays,
    });
    return reply.code(201).send({ invitation, code, path: `/signup?invite=${code}` });
  });

  app.delete('/api/admin/invitations/:id', admin, async (request, reply) => {
    await revokeInvitation(db, parseInput(id, request.params, 'invitation id').id);
    return reply.code(204).send();
  });
}
