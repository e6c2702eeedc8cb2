import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { ListVolumesQuery } from './volume-schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/volumes',
  operationId: 'listVolumes',
  summary: 'List the volumes of the organization',
  tags: ['volumes'],
  auth: 'user',
  permission: 'read:volumes',
  querystring: ListVolumesQuery,
  response: { 200: Type.Array(Type.Ref('VolumeDto')) },
  handler: ({ user, query }, s) => s.volumes.list(user, query.includeDeleted ?? false),
});
