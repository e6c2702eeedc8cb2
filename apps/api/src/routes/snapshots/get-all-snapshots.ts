import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/snapshots',
  operationId: 'getAllSnapshots',
  tags: ['snapshots'],
  auth: 'user',
  querystring: Type.Object({
    page: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    name: Type.Optional(Type.String()),
    sort: Type.Optional(Type.Union([Type.Literal('name'), Type.Literal('state'), Type.Literal('lastUsedAt'), Type.Literal('createdAt')])),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  }),
  response: { 200: Type.Ref('PaginatedSnapshots') },
  handler: ({ user, query }, s) => s.organizations.listSnapshots(user, query),
});
