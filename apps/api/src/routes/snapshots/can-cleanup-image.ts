import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/snapshots/can-cleanup-image',
  operationId: 'canCleanupImage',
  summary: 'Whether no snapshot and no live sandbox uses the image any more',
  tags: ['snapshots'],
  auth: 'admin',
  querystring: Type.Object({ imageName: Type.String({ minLength: 1, maxLength: 1024 }) }),
  response: { 200: Type.Boolean() },
  handler: ({ query }, s) => s.snapshots.canCleanupImage(query.imageName),
});
