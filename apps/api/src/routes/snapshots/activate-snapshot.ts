import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SnapshotIdParams } from './snapshot-schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/snapshots/:id/activate',
  operationId: 'activateSnapshot',
  summary: 'Activate an inactive snapshot',
  tags: ['snapshots'],
  auth: 'user',
  permission: 'write:snapshots',
  params: SnapshotIdParams,
  response: { 200: Type.Ref('SnapshotDto') },
  handler: ({ user, params }, s) => s.snapshots.activate(user, params.id),
});
