import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/stop',
  operationId: 'stopSandbox',
  summary: 'Stop a started sandbox (ephemeral sandboxes are destroyed)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  response: { 200: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.stop(user, params.sandboxId),
});
