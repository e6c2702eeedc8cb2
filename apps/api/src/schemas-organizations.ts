import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PERMISSIONS } from './auth/api-key-format.js';

/* DTOs of organization members, roles, invitations and suspension; names and fields follow the Daytona v0.108 document. */

const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
const MemberRole = Type.Union([Type.Literal('owner'), Type.Literal('member')]);
const Permission = literals(PERMISSIONS);
const Id = Type.String({ minLength: 1, maxLength: 128 });

export const CreateOrganization = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { $id: 'CreateOrganization' });

export const OrganizationRoleDto = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.String(),
    permissions: Type.Array(Permission),
    isGlobal: Type.Boolean(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'OrganizationRole' },
);

export const OrganizationUserDto = Type.Object(
  {
    userId: Type.String(),
    organizationId: Type.String(),
    name: Type.String(),
    email: Type.String(),
    role: MemberRole,
    assignedRoles: Type.Array(Type.Ref('OrganizationRole')),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'OrganizationUser' },
);

export const OrganizationInvitationDto = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    invitedBy: Type.String(),
    organizationId: Type.String(),
    organizationName: Type.String(),
    expiresAt: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('declined'), Type.Literal('cancelled')]),
    role: MemberRole,
    assignedRoles: Type.Array(Type.Ref('OrganizationRole')),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'OrganizationInvitation' },
);

export const UpdateOrganizationMemberAccess = Type.Object(
  { role: MemberRole, assignedRoleIds: Type.Array(Id, { maxItems: 100 }) },
  { $id: 'UpdateOrganizationMemberAccess' },
);
export type UpdateOrganizationMemberAccess = Static<typeof UpdateOrganizationMemberAccess>;

const roleFields = {
  name: Type.String({ minLength: 1, maxLength: 255 }),
  description: Type.String({ maxLength: 1000 }),
  permissions: Type.Array(Permission, { minItems: 1 }),
};
export const CreateOrganizationRole = Type.Object(roleFields, { $id: 'CreateOrganizationRole' });
export type CreateOrganizationRole = Static<typeof CreateOrganizationRole>;
export const UpdateOrganizationRole = Type.Object(roleFields, { $id: 'UpdateOrganizationRole' });
export type UpdateOrganizationRole = Static<typeof UpdateOrganizationRole>;

export const CreateOrganizationInvitation = Type.Object(
  {
    email: Type.String({ maxLength: 320 }),
    role: Type.Optional(MemberRole),
    assignedRoleIds: Type.Optional(Type.Array(Id, { maxItems: 100 })),
    expiresAt: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
  },
  { $id: 'CreateOrganizationInvitation' },
);
export type CreateOrganizationInvitation = Static<typeof CreateOrganizationInvitation>;

export const UpdateOrganizationInvitation = Type.Object(
  {
    role: MemberRole,
    assignedRoleIds: Type.Array(Id, { maxItems: 100 }),
    expiresAt: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
  },
  { $id: 'UpdateOrganizationInvitation' },
);
export type UpdateOrganizationInvitation = Static<typeof UpdateOrganizationInvitation>;

export const OrganizationSuspension = Type.Object(
  {
    reason: Type.String({ minLength: 1, maxLength: 1000 }),
    until: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
    suspensionCleanupGracePeriodHours: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 8760 }))),
  },
  { $id: 'OrganizationSuspension' },
);
export type OrganizationSuspension = Static<typeof OrganizationSuspension>;

export const OrganizationSandboxDefaultLimitedNetworkEgress = Type.Object(
  { sandboxDefaultLimitedNetworkEgress: Type.Boolean() },
  { $id: 'OrganizationSandboxDefaultLimitedNetworkEgress' },
);

export const OrganizationIdParams = Type.Object({ organizationId: Id });

/** Registered with the other shared schemas (schemas.ts). */
export const organizationSchemas = [
  CreateOrganization,
  OrganizationRoleDto,
  OrganizationUserDto,
  OrganizationInvitationDto,
  UpdateOrganizationMemberAccess,
  CreateOrganizationRole,
  UpdateOrganizationRole,
  CreateOrganizationInvitation,
  UpdateOrganizationInvitation,
  OrganizationSuspension,
  OrganizationSandboxDefaultLimitedNetworkEgress,
];
