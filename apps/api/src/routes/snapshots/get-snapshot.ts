import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/snapshots/:id',
  operationId: 'getSnapshot',
  summary: 'Get a snapshot by id or name',
  tags: ['snapshots'],
  auth: 'user',
  params: Type.Object({ id: Type.String({ minLength: 1 }) }),
  response: { 200: Type.Ref('SnapshotDto') },
  handler: ({ user, params }, s) => s.organizations.getSnapshot(user, params.id),
});
