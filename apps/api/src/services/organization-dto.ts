import type { Static } from '@sinclair/typebox';
import type { OrganizationRole } from '../db/schema.js';
import type { InvitationRow } from '../repositories/organization-invitation.repository.js';
import type { MemberRow } from '../repositories/organization-member.repository.js';
import type { OrganizationInvitationDto, OrganizationRoleDto, OrganizationUserDto } from '../schemas-organizations.js';

export function toRoleDto(r: OrganizationRole): Static<typeof OrganizationRoleDto> {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    permissions: r.permissions as Static<typeof OrganizationRoleDto>['permissions'],
    isGlobal: r.isGlobal,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export function toMemberDto(m: MemberRow, roles: OrganizationRole[]): Static<typeof OrganizationUserDto> {
  return {
    userId: m.userId,
    organizationId: m.organizationId,
    name: m.name,
    email: m.email,
    role: m.role,
    assignedRoles: roles.map(toRoleDto),
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
  };
}

export function toInvitationDto(i: InvitationRow, roles: OrganizationRole[]): Static<typeof OrganizationInvitationDto> {
  return {
    id: i.id,
    email: i.email,
    invitedBy: i.invitedBy,
    organizationId: i.organizationId,
    organizationName: i.organizationName,
    expiresAt: i.expiresAt.toISOString(),
    status: i.status,
    role: i.role,
    assignedRoles: roles.map(toRoleDto),
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
  };
}
