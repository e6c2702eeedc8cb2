import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'DELETE',
  url: '/sandbox/:sandboxId/ssh-access',
  operationId: 'revokeSshAccess',
  audit: { action: 'revoke_ssh_access' },
  summary: 'Revoke one SSH access token, or all of them when no token is given',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  querystring: Type.Object({ token: Type.Optional(Type.String()) }),
  response: { 200: Type.Null() },
  handler: ({ user, params, query }, s) => s.sandboxes.revokeSshAccess(user, params.sandboxId, query.token),
});
