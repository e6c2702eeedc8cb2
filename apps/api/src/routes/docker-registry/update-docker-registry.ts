import { defineRoute } from '../../http/route.js';
import { DockerRegistrySchema, RegistryIdParams, UpdateDockerRegistryBody } from './dto.js';

export default defineRoute({
  method: 'PATCH',
  url: '/docker-registry/:id',
  operationId: 'updateRegistry',
  tags: ['docker-registry'],
  auth: 'user',
  permission: 'write:registries',
  params: RegistryIdParams,
  body: UpdateDockerRegistryBody,
  response: { 200: DockerRegistrySchema },
  handler: ({ user, params, body }, s) => s.dockerRegistries.update(user, params.id, body),
});
