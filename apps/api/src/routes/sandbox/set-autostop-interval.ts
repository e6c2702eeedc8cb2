import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/autostop/:interval',
  operationId: 'setAutostopInterval',
  audit: { action: 'set_auto_stop_interval' },
  summary: 'Minutes of inactivity before the sandbox stops (0 = never)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: Type.Composite([SandboxIdParams, Type.Object({ interval: Type.Integer() })]),
  response: { 201: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.setAutoStop(user, params.sandboxId, params.interval),
});
