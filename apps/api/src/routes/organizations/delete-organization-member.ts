import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; the last owner cannot be removed. The member's keys of the organization are deleted at once. */
export default defineRoute({
  method: 'DELETE',
  url: '/organizations/:organizationId/users/:userId',
  operationId: 'deleteOrganizationMember',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id, userId: Id }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.organizations.members.remove(user, params.organizationId, params.userId),
});
