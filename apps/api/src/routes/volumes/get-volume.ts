import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { VolumeIdParams } from './volume-schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/volumes/:volumeId',
  operationId: 'getVolume',
  summary: 'Get a volume by id',
  tags: ['volumes'],
  auth: 'user',
  permission: 'read:volumes',
  params: VolumeIdParams,
  response: { 200: Type.Ref('VolumeDto') },
  handler: ({ user, params }, s) => s.volumes.get(user, params.volumeId),
});
