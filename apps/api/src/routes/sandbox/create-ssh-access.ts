import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/ssh-access',
  operationId: 'createSshAccess',
  audit: { action: 'create_ssh_access' },
  summary: 'Create an SSH access token (revokes the previous ones)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  querystring: Type.Object({ expiresInMinutes: Type.Optional(Type.Number()) }),
  response: { 200: Type.Ref('SshAccessDto') },
  handler: ({ user, params, query }, s) => s.sandboxes.createSshAccess(user, params.sandboxId, query.expiresInMinutes),
});
