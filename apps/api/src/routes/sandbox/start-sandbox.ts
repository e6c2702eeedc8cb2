import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/start',
  operationId: 'startSandbox',
  summary: 'Start a stopped or archived sandbox; returns the sandbox',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  response: { 200: Type.Ref('Sandbox') },
  handler: ({ user, params }, s) => s.sandboxes.start(user, params.sandboxId),
});
