import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/ssh-access/validate',
  operationId: 'validateSshAccess',
  summary: 'Check an SSH access token',
  tags: ['sandbox'],
  auth: 'user',
  querystring: Type.Object({ token: Type.String() }),
  response: { 200: Type.Ref('SshAccessValidationDto') },
  handler: ({ user, query }, s) => s.sandboxes.validateSshAccess(user, query.token),
});
