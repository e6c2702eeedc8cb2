import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/regions',
  operationId: 'getSandboxRegions',
  summary: 'Regions in which the organization has sandboxes',
  tags: ['sandbox'],
  auth: 'user',
  response: { 200: Type.Array(Type.Ref('Region')) },
  handler: ({ user }, s) => s.sandboxes.regions(user),
});
