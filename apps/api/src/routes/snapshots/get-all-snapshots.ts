import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { ListSnapshotsQuery } from './snapshot-schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/snapshots',
  operationId: 'getAllSnapshots',
  tags: ['snapshots'],
  auth: 'user',
  querystring: ListSnapshotsQuery,
  response: { 200: Type.Ref('PaginatedSnapshots') },
  handler: ({ user, query }, s) => s.snapshots.list(user, query),
});
