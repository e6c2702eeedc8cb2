import { Type } from '@sinclair/typebox';
import { REGISTRY_TOKEN_PATH } from '@shoal/contracts';
import { defineRoute } from '../../http/route.js';

/** The internal registry's token endpoint (Docker token auth); it checks the Basic credentials itself. */
export default defineRoute({
  method: 'GET',
  url: REGISTRY_TOKEN_PATH.replace(/^\/api/, ''),
  operationId: 'getRegistryToken',
  tags: ['docker-registry'],
  auth: 'none',
  hide: true,
  querystring: Type.Object({
    service: Type.Optional(Type.String({ maxLength: 255 })),
    scope: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 32 })),
    account: Type.Optional(Type.String({ maxLength: 255 })),
    client_id: Type.Optional(Type.String({ maxLength: 255 })),
    offline_token: Type.Optional(Type.String({ maxLength: 16 })),
  }),
  response: {
    200: Type.Object({ token: Type.String(), access_token: Type.String(), expires_in: Type.Number(), issued_at: Type.String() }),
  },
  handler: ({ req, query }, s) => s.registryTokens.issue(req.headers.authorization, query.scope ?? []),
});
