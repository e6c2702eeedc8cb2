import type { Static } from '@sinclair/typebox';
import { PERMISSIONS } from '../auth/api-key-format.js';
import type { UserPrincipal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import type { OrganizationRole } from '../db/schema.js';
import { Errors } from '../errors.js';
import { OrganizationMemberRepository } from '../repositories/organization-member.repository.js';
import { OrganizationRoleRepository } from '../repositories/organization-role.repository.js';
import type { CreateOrganizationRole, OrganizationRoleDto, UpdateOrganizationRole } from '../schemas-organizations.js';
import type { OrganizationAccess } from './organization-access.js';
import { toRoleDto } from './organization-dto.js';

/**
 * Roles of an organization: the 7 global roles (read-only, 403 on update/delete as in the reference) and the
 * organization's own, managed by owners. Narrowing or deleting a role also deletes, in the same transaction, the API
 * keys of members that now hold a permission none of their roles grants.
 */
export class OrganizationRolesService {
  constructor(
    private readonly db: Db,
    private readonly access: OrganizationAccess,
  ) {}

  async list(p: UserPrincipal, organizationId: string): Promise<Static<typeof OrganizationRoleDto>[]> {
    const { org } = await this.access.member(p, organizationId);
    return (await new OrganizationRoleRepository(this.db).listAssignable(org.id)).map(toRoleDto);
  }

  async create(p: UserPrincipal, organizationId: string, body: CreateOrganizationRole): Promise<Static<typeof OrganizationRoleDto>> {
    const { org } = await this.access.owner(p, organizationId);
    return toRoleDto(await new OrganizationRoleRepository(this.db).create(org.id, validRole(body)));
  }

  async update(p: UserPrincipal, organizationId: string, roleId: string, body: UpdateOrganizationRole): Promise<Static<typeof OrganizationRoleDto>> {
    const { org } = await this.access.owner(p, organizationId);
    const fields = validRole(body);
    return this.db.transaction().execute(async (trx) => {
      const roles = new OrganizationRoleRepository(trx);
      await this.ownRole(roles, org.id, roleId);
      const updated = (await roles.update(roleId, fields))!;
      await new OrganizationMemberRepository(trx).pruneKeysBeyondRoles(org.id);
      return toRoleDto(updated);
    });
  }

  async remove(p: UserPrincipal, organizationId: string, roleId: string): Promise<void> {
    const { org } = await this.access.owner(p, organizationId);
    await this.db.transaction().execute(async (trx) => {
      const roles = new OrganizationRoleRepository(trx);
      await this.ownRole(roles, org.id, roleId);
      await roles.delete(roleId);
      await new OrganizationMemberRepository(trx).pruneKeysBeyondRoles(org.id);
    });
  }

  /** Global roles are visible to everyone, so naming one reveals nothing: 403. Another organization's role: 404. */
  private async ownRole(roles: OrganizationRoleRepository, organizationId: string, roleId: string): Promise<OrganizationRole> {
    const role = await roles.findById(roleId);
    if (role?.isGlobal) throw Errors.globalRoleReadOnly();
    if (!role || role.organizationId !== organizationId) throw Errors.organizationRoleNotFound(roleId);
    return role;
  }
}

/** The body schema already limits permissions to the reference's set; checked again so no caller can skip it. */
function validRole(body: CreateOrganizationRole): { name: string; description: string; permissions: string[] } {
  const name = body.name.trim();
  if (!name) throw Errors.badRequest('name must not be empty');
  const unknown = body.permissions.filter((perm) => !(PERMISSIONS as readonly string[]).includes(perm));
  if (unknown.length) throw Errors.badRequest(`Unknown permission(s): ${unknown.join(', ')}`);
  if (body.permissions.length === 0) throw Errors.badRequest('permissions must not be empty');
  return { name, description: body.description, permissions: [...new Set(body.permissions)] };
}
