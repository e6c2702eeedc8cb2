import type { Permission } from './api-key-format.js';

/** Who is calling: a user (through an API key or an OIDC JWT), or a runner through its registration token. */
export type Principal = UserPrincipal | RunnerPrincipal | SshGatewayPrincipal;

export interface UserPrincipal {
  kind: 'user';
  userId: string;
  email: string;
  /**
   * The organization the request acts in: an API key's own organization (the X-Daytona-Organization-ID header is
   * ignored for keys); for a JWT the route's `:organizationId`, else the header, else the user's personal organization.
   */
  organizationId: string;
  /**
   * Admin powers (admin routes, any organization): the user's role is admin AND it came with a JWT or with a key that
   * holds every permission (a narrowed admin key is a plain key of its organization).
   */
  isAdmin: boolean;
  /** EFFECTIVE permissions in organizationId: a key's own list; a JWT owner all; a JWT member its roles' union. */
  permissions: ReadonlySet<Permission>;
  via: 'api-key' | 'jwt';
  /** Membership in organizationId; null only for an admin acting on an organization it is not a member of. */
  orgRole: 'owner' | 'member' | null;
  /** Only for via 'api-key'. */
  keyName?: string;
  keyHash?: string;
}

export interface RunnerPrincipal {
  kind: 'runner';
  runnerId: string;
}

/** The SSH gateway through its service credential (SHOAL_SSH_GATEWAY_TOKEN): it may only validate SSH tokens. */
export interface SshGatewayPrincipal {
  kind: 'ssh-gateway';
}

/** What a route demands of its caller; set in the route's `config.auth`. */
export type AuthRequirement = 'none' | 'user' | 'admin' | 'runner' | 'user-or-runner' | 'ssh-gateway';

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
