import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SnapshotIdParams } from './snapshot-schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/snapshots/:id',
  operationId: 'getSnapshot',
  summary: 'Get a snapshot by id or name',
  tags: ['snapshots'],
  auth: 'user',
  params: SnapshotIdParams,
  response: { 200: Type.Ref('SnapshotDto') },
  handler: ({ user, params }, s) => s.snapshots.get(user, params.id),
});
