import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox',
  operationId: 'listSandboxes',
  summary: 'List all sandboxes of the organization (deprecated; use /sandbox/paginated)',
  tags: ['sandbox'],
  auth: 'user',
  querystring: Type.Object({
    verbose: Type.Optional(Type.Boolean()),
    labels: Type.Optional(Type.String()),
    includeErroredDeleted: Type.Optional(Type.Boolean()),
  }),
  response: { 200: Type.Array(Type.Ref('Sandbox')) },
  handler: ({ user, query }, s) => s.sandboxes.listAll(user, query.labels, query.includeErroredDeleted ?? false),
});
