import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; personal organizations cannot be deleted, nor one that still has sandboxes or snapshots. */
export default defineRoute({
  method: 'DELETE',
  url: '/organizations/:organizationId',
  operationId: 'deleteOrganization',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.organizations.delete(user, params.organizationId),
});
