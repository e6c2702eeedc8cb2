import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { RegistryIdParams } from './dto.js';

export default defineRoute({
  method: 'DELETE',
  url: '/docker-registry/:id',
  operationId: 'deleteRegistry',
  tags: ['docker-registry'],
  auth: 'user',
  permission: 'delete:registries',
  params: RegistryIdParams,
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.dockerRegistries.remove(user, params.id),
});
