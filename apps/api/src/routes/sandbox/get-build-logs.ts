import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { PlainText, SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/:sandboxId/build-logs',
  operationId: 'getBuildLogs',
  summary: 'Image build logs of the sandbox (empty: sandboxes from snapshots need no build)',
  tags: ['sandbox'],
  auth: 'user',
  params: SandboxIdParams,
  querystring: Type.Object({ follow: Type.Optional(Type.Boolean()) }),
  response: { 200: PlainText },
  handler: async ({ user, params, query, reply }, s) => {
    reply.type('text/plain; charset=utf-8');
    if (!s.builds) {
      await s.sandboxes.get(user, params.sandboxId);
      return '';
    }
    // Streams while the build runs and until the sandbox has settled; a sandbox from a snapshot has no build log.
    return reply.send(await s.builds.sandboxBuildLogs(user, params.sandboxId, query.follow ?? false));
  },
});
