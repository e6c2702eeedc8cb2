import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/:sandboxId',
  operationId: 'getSandbox',
  summary: 'Get a sandbox (also while it is being destroyed, and when it failed)',
  tags: ['sandbox'],
  auth: 'user',
  params: SandboxIdParams,
  querystring: Type.Object({ verbose: Type.Optional(Type.Boolean()) }),
  response: { 200: Type.Ref('Sandbox') },
  handler: ({ user, params }, s) => s.sandboxes.get(user, params.sandboxId),
});
