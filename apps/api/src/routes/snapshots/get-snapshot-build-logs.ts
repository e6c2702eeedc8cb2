import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { PlainText } from '../../schemas.js';
import { SnapshotIdParams } from './snapshot-schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/snapshots/:id/build-logs',
  operationId: 'getSnapshotBuildLogs',
  summary: "The snapshot's pull or build log; with follow=true it streams until the snapshot settles",
  tags: ['snapshots'],
  auth: 'user',
  params: SnapshotIdParams,
  querystring: Type.Object({ follow: Type.Optional(Type.Boolean()) }),
  response: { 200: PlainText },
  handler: async ({ user, params, query, reply }, s) => {
    const stream = await s.snapshots.buildLogs(user, params.id, query.follow ?? false);
    return reply.code(200).type('text/plain; charset=utf-8').send(stream);
  },
});
