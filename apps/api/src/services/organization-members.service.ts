import type { Static } from '@sinclair/typebox';
import type { UserPrincipal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { Errors } from '../errors.js';
import { OrganizationMemberRepository } from '../repositories/organization-member.repository.js';
import { OrganizationRoleRepository } from '../repositories/organization-role.repository.js';
import type { OrganizationUserDto, UpdateOrganizationMemberAccess } from '../schemas-organizations.js';
import type { OrganizationAccess } from './organization-access.js';
import { toMemberDto } from './organization-dto.js';

/**
 * Members of an organization: listing (any member), changing role and assigned roles, removal (owners). A member who
 * loses permissions loses, in the same transaction, every API key of the organization that holds one of them; a
 * removed member loses all of them, so their next request fails at once.
 */
export class OrganizationMembersService {
  constructor(
    private readonly db: Db,
    private readonly access: OrganizationAccess,
  ) {}

  async list(p: UserPrincipal, organizationId: string): Promise<Static<typeof OrganizationUserDto>[]> {
    const { org } = await this.access.member(p, organizationId);
    const members = new OrganizationMemberRepository(this.db);
    const rows = await members.list(org.id);
    const roles = await members.assignedRoles(org.id);
    return rows.map((m) => toMemberDto(m, roles.get(m.userId) ?? []));
  }

  async updateAccess(p: UserPrincipal, organizationId: string, userId: string, body: UpdateOrganizationMemberAccess): Promise<Static<typeof OrganizationUserDto>> {
    const { org } = await this.access.owner(p, organizationId);
    const roleIds = [...new Set(body.assignedRoleIds.map((id) => id.toLowerCase()))];
    return this.db.transaction().execute(async (trx) => {
      const members = new OrganizationMemberRepository(trx);
      await members.lockMembers(org.id);
      const target = await members.find(org.id, userId);
      if (!target) throw Errors.memberNotFound(userId);
      const unknown = await new OrganizationRoleRepository(trx).unassignable(org.id, roleIds);
      if (unknown.length) throw Errors.organizationRoleNotFound(unknown[0]!);
      if (target.role === 'owner' && body.role !== 'owner' && (await members.countOwners(org.id)) <= 1) throw Errors.lastOwner();
      await members.setRole(org.id, userId, body.role);
      await members.replaceAssignedRoles(org.id, userId, roleIds);
      await members.pruneKeysBeyondRoles(org.id, userId);
      const updated = (await members.find(org.id, userId))!;
      return toMemberDto(updated, (await members.assignedRoles(org.id, [userId])).get(userId) ?? []);
    });
  }

  async remove(p: UserPrincipal, organizationId: string, userId: string): Promise<void> {
    const { org } = await this.access.owner(p, organizationId);
    await this.db.transaction().execute(async (trx) => {
      const members = new OrganizationMemberRepository(trx);
      await members.lockMembers(org.id);
      const target = await members.find(org.id, userId);
      if (!target) throw Errors.memberNotFound(userId);
      if (target.role === 'owner' && (await members.countOwners(org.id)) <= 1) throw Errors.lastOwner();
      await members.remove(org.id, userId);
    });
  }

  /** The caller leaves; personal organizations cannot be left, nor can the last owner leave. */
  async leave(p: UserPrincipal, organizationId: string): Promise<void> {
    const { org, membership } = await this.access.member(p, organizationId);
    if (!membership) throw Errors.organizationNotFound(organizationId);
    if (org.personal) throw Errors.personalOrganizationLeave();
    await this.db.transaction().execute(async (trx) => {
      const members = new OrganizationMemberRepository(trx);
      await members.lockMembers(org.id);
      const me = await members.find(org.id, p.userId);
      if (!me) throw Errors.organizationNotFound(organizationId);
      if (me.role === 'owner' && (await members.countOwners(org.id)) <= 1) throw Errors.lastOwner();
      await members.remove(org.id, p.userId);
    });
  }
}
