import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { OrganizationSuspension } from '../../schemas-organizations.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Admin only: sandbox and snapshot creates answer 403 with the reason until `until` or unsuspend. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/suspend',
  operationId: 'suspendOrganization',
  tags: ['organizations'],
  auth: 'admin',
  params: Type.Object({ organizationId: Id }),
  body: OrganizationSuspension,
  response: { 204: Type.Null() },
  handler: ({ params, body }, s) => s.organizations.suspend(params.organizationId, body),
});
