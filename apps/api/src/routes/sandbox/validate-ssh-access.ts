import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/ssh-access/validate',
  operationId: 'validateSshAccess',
  summary: 'Check an SSH access token (the SSH gateway\'s service credential only)',
  tags: ['sandbox'],
  auth: 'ssh-gateway',
  querystring: Type.Object({ token: Type.String() }),
  response: { 200: Type.Ref('SshAccessValidationDto') },
  handler: ({ query }, s) => s.sandboxes.validateSshAccess(query.token),
});
