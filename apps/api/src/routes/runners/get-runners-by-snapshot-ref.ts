import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/runners/by-snapshot-ref',
  operationId: 'getRunnersBySnapshotRef',
  tags: ['runners'],
  auth: 'admin',
  querystring: Type.Object({ ref: Type.String({ minLength: 1 }) }),
  response: { 200: Type.Array(Type.Ref('RunnerSnapshotDto')) },
  handler: async ({ query }, s) =>
    (await s.runners.bySnapshotRef(query.ref)).map((r) => ({ runnerSnapshotId: `${r.id}:${query.ref}`, runnerId: r.id, runnerDomain: r.domain })),
});
