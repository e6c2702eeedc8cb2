import { defineRoute } from '../../http/route.js';
import { DockerRegistrySchema, RegistryIdParams } from './dto.js';

export default defineRoute({
  method: 'POST',
  url: '/docker-registry/:id/set-default',
  operationId: 'setDefaultRegistry',
  tags: ['docker-registry'],
  auth: 'admin',
  params: RegistryIdParams,
  response: { 200: DockerRegistrySchema },
  handler: ({ user, params }, s) => s.dockerRegistries.setDefault(user, params.id),
});
