import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { Errors } from '../../errors.js';

export default defineRoute({
  method: 'GET',
  url: '/preview/:sandboxId/public',
  operationId: 'isSandboxPublic',
  tags: ['preview'],
  auth: 'none',
  params: Type.Object({ sandboxId: Type.String() }),
  response: { 200: Type.Boolean(), 404: Type.Ref('ErrorEnvelope') },
  handler: async ({ params }, s) => {
    if (!(await s.sandboxes.isPublic(params.sandboxId))) throw Errors.sandboxNotFound(params.sandboxId);
    return true;
  },
});
