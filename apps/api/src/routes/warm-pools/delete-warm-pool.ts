import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'DELETE',
  url: '/warm-pools/:id',
  operationId: 'deleteWarmPool',
  tags: ['warm-pools'],
  auth: 'admin',
  params: Type.Object({ id: Type.String() }),
  response: { 204: Type.Null() },
  handler: ({ params }, s) => s.warmPools.remove(params.id),
});
