import type { Permission } from './api-key-format.js';

/** Who is calling: a user through one of their API keys, or a runner through its registration token. */
export type Principal = UserPrincipal | RunnerPrincipal;

export interface UserPrincipal {
  kind: 'user';
  userId: string;
  organizationId: string;
  /** The user is an admin AND this key holds every permission (auth.service.ts); a narrowed admin key is not admin. */
  isAdmin: boolean;
  permissions: ReadonlySet<Permission>;
  keyName: string;
  keyHash: string;
}

export interface RunnerPrincipal {
  kind: 'runner';
  runnerId: string;
}

/** What a route demands of its caller; set in the route's `config.auth`. */
export type AuthRequirement = 'none' | 'user' | 'admin' | 'runner' | 'user-or-runner';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRequirement;
    permission?: Permission;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/**
 * A key is limited to its own permissions, also for admins: admin status (which only a full key carries) opens admin
 * routes and other organizations, never more than the key was created with.
 */
export function hasPermission(p: UserPrincipal, perm: Permission): boolean {
  return p.permissions.has(perm);
}
