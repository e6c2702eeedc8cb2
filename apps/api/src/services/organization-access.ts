import { PERMISSIONS } from '../auth/api-key-format.js';
import type { UserPrincipal } from '../auth/principal.js';
import type { Organization } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { Membership, OrganizationRepository } from '../repositories/organization.repository.js';

export interface OrganizationAccessResult {
  org: Organization;
  /** The caller's membership; undefined for an admin acting on an organization it does not belong to. */
  membership: Membership | undefined;
}

/**
 * Who may see and who may manage an organization named in a route's path. The caller's role is read from the
 * database for THAT organization (a key of the user's personal organization may manage another one it owns; a JWT
 * names it in the path too), so a principal's own organization never stands in for the one in the path.
 */
export class OrganizationAccess {
  constructor(private readonly orgs: OrganizationRepository) {}

  /** Members and admins see an organization; anyone else gets 404, so organization ids do not leak. */
  async member(p: UserPrincipal, id: string): Promise<OrganizationAccessResult> {
    const org = await this.orgs.findById(id);
    const membership = org ? await this.orgs.membership(org.id, p.userId) : undefined;
    if (!org || (!membership && !p.isAdmin)) throw Errors.organizationNotFound(id);
    return { org, membership };
  }

  /**
   * Owners (and admins) manage members, roles and invitations. An owner's API key must hold every permission: a key
   * narrowed to, say, read-only use must not be able to invite or grant its way past its own limits (the reference
   * limits an owner's key to its permissions and has no permission for organization management).
   */
  async owner(p: UserPrincipal, id: string): Promise<OrganizationAccessResult> {
    const access = await this.member(p, id);
    if (p.isAdmin) return access;
    if (access.membership?.role !== 'owner') throw Errors.organizationOwnerRequired();
    if (!fullCredential(p)) throw Errors.organizationKeyTooNarrow();
    return access;
  }
}

/** A login (JWT) or an API key holding every permission. */
export function fullCredential(p: UserPrincipal): boolean {
  if ((p as { via?: string }).via === 'jwt') return true;
  return PERMISSIONS.every((perm) => p.permissions.has(perm));
}

/** Effective permissions of a member in its organization: owners hold all, members the union of their roles. */
export function memberPermissions(m: Membership): ReadonlySet<string> {
  return new Set(m.role === 'owner' ? PERMISSIONS : m.rolePermissions);
}
