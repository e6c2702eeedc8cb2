import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { DockerRegistrySchema } from './dto.js';

export default defineRoute({
  method: 'GET',
  url: '/docker-registry',
  operationId: 'listRegistries',
  tags: ['docker-registry'],
  auth: 'user',
  response: { 200: Type.Array(DockerRegistrySchema) },
  handler: ({ user }, s) => s.dockerRegistries.list(user),
});
