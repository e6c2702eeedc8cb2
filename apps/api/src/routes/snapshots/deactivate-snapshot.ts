import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SnapshotIdParams } from './snapshot-schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/snapshots/:id/deactivate',
  operationId: 'deactivateSnapshot',
  summary: 'Deactivate a snapshot: no new sandboxes from it until it is activated again',
  tags: ['snapshots'],
  auth: 'user',
  permission: 'write:snapshots',
  params: SnapshotIdParams,
  response: { 204: Type.Null() },
  handler: async ({ user, params }, s) => {
    await s.snapshots.deactivate(user, params.id);
  },
});
