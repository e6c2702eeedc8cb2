import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateVolumeBody } from './volume-schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/volumes',
  operationId: 'createVolume',
  summary: 'Create a volume (answered once its storage is prepared, normally `ready`)',
  tags: ['volumes'],
  auth: 'user',
  permission: 'write:volumes',
  body: CreateVolumeBody,
  response: { 200: Type.Ref('VolumeDto') },
  audit: { targetType: 'volume', targetId: ({ result }) => (result as { id?: string } | undefined)?.id },
  handler: ({ user, body }, s) => s.volumes.create(user, body),
});
