import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateApiKeyBody } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/api-keys',
  operationId: 'createApiKey',
  tags: ['api-keys'],
  auth: 'user',
  body: CreateApiKeyBody,
  response: { 201: Type.Ref('ApiKeyResponse'), 409: Type.Ref('ErrorEnvelope') },
  handler: ({ user, body }, s) => s.apiKeys.create(user, body),
});
