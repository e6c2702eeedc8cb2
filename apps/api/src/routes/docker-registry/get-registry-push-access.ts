import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { RegistryPushAccessSchema } from './dto.js';

export default defineRoute({
  method: 'GET',
  url: '/docker-registry/registry-push-access',
  operationId: 'getTransientPushAccess',
  tags: ['docker-registry'],
  auth: 'user',
  permission: 'write:registries',
  // One region here; accepted so clients written for the reference keep working.
  querystring: Type.Object({ regionId: Type.Optional(Type.String({ maxLength: 255 })) }),
  response: { 200: RegistryPushAccessSchema },
  handler: ({ user }, s) => s.dockerRegistries.pushAccess(user),
});
