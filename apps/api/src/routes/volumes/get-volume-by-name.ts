import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { VolumeNameParams } from './volume-schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/volumes/by-name/:name',
  operationId: 'getVolumeByName',
  summary: 'Get a volume by name',
  tags: ['volumes'],
  auth: 'user',
  permission: 'read:volumes',
  params: VolumeNameParams,
  response: { 200: Type.Ref('VolumeDto') },
  handler: ({ user, params }, s) => s.volumes.getByName(user, params.name),
});
