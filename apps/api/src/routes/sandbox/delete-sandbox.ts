import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'DELETE',
  url: '/sandbox/:sandboxId',
  operationId: 'deleteSandbox',
  summary: 'Destroy a sandbox (asynchronous; GET keeps answering with destroying/destroyed)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'delete:sandboxes',
  params: SandboxIdParams,
  querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }),
  response: { 200: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.remove(user, params.sandboxId),
});
