import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { UpdateOrganizationRole } from '../../schemas-organizations.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; global roles 403, another organization's role 404. Members' keys beyond their roles are deleted. */
export default defineRoute({
  method: 'PUT',
  url: '/organizations/:organizationId/roles/:roleId',
  operationId: 'updateOrganizationRole',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id, roleId: Id }),
  body: UpdateOrganizationRole,
  response: { 200: Type.Ref('OrganizationRole') },
  handler: ({ user, params, body }, s) => s.organizations.roles.update(user, params.organizationId, params.roleId, body),
});
