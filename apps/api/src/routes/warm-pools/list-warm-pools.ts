import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/warm-pools',
  operationId: 'listWarmPools',
  tags: ['warm-pools'],
  auth: 'admin',
  response: { 200: Type.Array(Type.Ref('WarmPoolDto')) },
  handler: async (_ctx, s) => s.warmPools.list(),
});
