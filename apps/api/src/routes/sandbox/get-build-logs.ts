import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/:sandboxId/build-logs',
  operationId: 'getBuildLogs',
  summary: 'Image build logs of the sandbox (empty: sandboxes from snapshots need no build)',
  tags: ['sandbox'],
  auth: 'user',
  params: SandboxIdParams,
  querystring: Type.Object({ follow: Type.Optional(Type.Boolean()) }),
  response: { 200: Type.String() },
  handler: async ({ user, params, reply }, s) => {
    await s.sandboxes.get(user, params.sandboxId);
    reply.type('text/plain; charset=utf-8');
    return '';
  },
});
