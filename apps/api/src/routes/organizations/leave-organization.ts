import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Not a personal organization, and not as its last owner; the leaver's API keys of it are deleted. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/leave',
  operationId: 'leaveOrganization',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.organizations.leave(user, params.organizationId),
});
