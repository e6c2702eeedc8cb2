import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/autodelete/:interval',
  operationId: 'setAutoDeleteInterval',
  audit: { action: 'set_auto_delete_interval' },
  summary: 'Minutes a stopped sandbox waits before it is deleted (negative = never, 0 = on stop)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: Type.Composite([SandboxIdParams, Type.Object({ interval: Type.Integer() })]),
  response: { 201: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.setAutoDelete(user, params.sandboxId, params.interval),
});
