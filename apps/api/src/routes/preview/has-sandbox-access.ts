import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/preview/:sandboxId/access',
  operationId: 'hasSandboxAccess',
  tags: ['preview'],
  auth: 'user',
  params: Type.Object({ sandboxId: Type.String() }),
  response: { 200: Type.Boolean() },
  handler: async ({ user, params }, s) => {
    await s.sandboxes.findAccessible(user, params.sandboxId);
    return true;
  },
});
