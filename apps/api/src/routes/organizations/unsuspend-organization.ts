import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Admin only. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/unsuspend',
  operationId: 'unsuspendOrganization',
  tags: ['organizations'],
  auth: 'admin',
  params: Type.Object({ organizationId: Id }),
  response: { 204: Type.Null() },
  handler: ({ params }, s) => s.organizations.unsuspend(params.organizationId),
});
