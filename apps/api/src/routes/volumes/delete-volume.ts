import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { VolumeIdParams } from './volume-schemas.js';

export default defineRoute({
  method: 'DELETE',
  url: '/volumes/:volumeId',
  operationId: 'deleteVolume',
  summary: 'Delete a ready volume no sandbox uses (it goes to `pending_delete`, then its data is removed)',
  tags: ['volumes'],
  auth: 'user',
  permission: 'delete:volumes',
  params: VolumeIdParams,
  response: { 200: Type.Null() },
  audit: { targetType: 'volume', targetId: ({ params }) => (params as { volumeId?: string }).volumeId },
  handler: async ({ user, params }, s) => {
    await s.volumes.delete(user, params.volumeId);
  },
});
