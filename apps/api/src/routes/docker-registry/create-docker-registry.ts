import { defineRoute } from '../../http/route.js';
import { CreateDockerRegistryBody, DockerRegistrySchema } from './dto.js';

export default defineRoute({
  method: 'POST',
  url: '/docker-registry',
  operationId: 'createRegistry',
  tags: ['docker-registry'],
  auth: 'user',
  permission: 'write:registries',
  body: CreateDockerRegistryBody,
  response: { 201: DockerRegistrySchema },
  handler: ({ user, body }, s) => s.dockerRegistries.create(user, body),
});
