import { USER_ROLES, type UserRole } from '../../store/schema.js';

export { USER_ROLES, type UserRole };

/** Who is signed in on a request: what `request.user` holds (null when nobody is). */
export interface SessionUser {
  id: number;
  email: string;
  role: UserRole;
}

/** admin > annotator > viewer: a role may do everything the roles below it may. */
export function roleAtLeast(role: UserRole, required: UserRole): boolean {
  return USER_ROLES.indexOf(role) >= USER_ROLES.indexOf(required);
}

export function isRole(value: unknown): value is UserRole {
  return typeof value === 'string' && (USER_ROLES as readonly string[]).includes(value);
}
