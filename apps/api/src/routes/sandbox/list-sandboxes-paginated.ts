import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { ListSandboxesQuery } from '../../schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/paginated',
  operationId: 'listSandboxesPaginated',
  summary: 'List sandboxes with filters, sorting and pagination',
  tags: ['sandbox'],
  auth: 'user',
  querystring: ListSandboxesQuery,
  response: { 200: Type.Ref('PaginatedSandboxes') },
  handler: ({ user, query }, s) => s.sandboxes.list(user, query),
});
