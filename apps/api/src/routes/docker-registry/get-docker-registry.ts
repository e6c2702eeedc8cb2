import { defineRoute } from '../../http/route.js';
import { DockerRegistrySchema, RegistryIdParams } from './dto.js';

export default defineRoute({
  method: 'GET',
  url: '/docker-registry/:id',
  operationId: 'getRegistry',
  tags: ['docker-registry'],
  auth: 'user',
  params: RegistryIdParams,
  response: { 200: DockerRegistrySchema },
  handler: ({ user, params }, s) => s.dockerRegistries.get(user, params.id),
});
