import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import type { SetWarmPoolBody } from '../../schemas.js';

export default defineRoute({
  method: 'PUT',
  url: '/warm-pools',
  operationId: 'setWarmPool',
  tags: ['warm-pools'],
  auth: 'admin',
  body: Type.Ref('SetWarmPoolBody'),
  response: { 200: Type.Ref('WarmPoolDto') },
  handler: async ({ body }, s) => s.warmPools.set(body as SetWarmPoolBody),
});
