import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SnapshotIdParams } from './snapshot-schemas.js';

export default defineRoute({
  method: 'DELETE',
  url: '/snapshots/:id',
  operationId: 'removeSnapshot',
  summary: 'Delete a snapshot (it goes to `removing`, then disappears)',
  tags: ['snapshots'],
  auth: 'user',
  permission: 'delete:snapshots',
  params: SnapshotIdParams,
  response: { 200: Type.Null() },
  handler: async ({ user, params }, s) => {
    await s.snapshots.remove(user, params.id);
  },
});
