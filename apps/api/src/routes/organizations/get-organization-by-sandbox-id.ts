import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Admin only (the reference also admits its proxy, which is part of the API process in Shoal). */
export default defineRoute({
  method: 'GET',
  url: '/organizations/by-sandbox-id/:sandboxId',
  operationId: 'getOrganizationBySandboxId',
  tags: ['organizations'],
  auth: 'admin',
  params: Type.Object({ sandboxId: Id }),
  response: { 200: Type.Ref('Organization') },
  handler: ({ params }, s) => s.organizations.bySandboxId(params.sandboxId),
});
