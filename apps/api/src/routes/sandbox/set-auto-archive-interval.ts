import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/autoarchive/:interval',
  operationId: 'setAutoArchiveInterval',
  audit: { action: 'set_auto_archive_interval' },
  summary: 'Minutes a stopped sandbox waits before it is archived (0 = the maximum)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: Type.Composite([SandboxIdParams, Type.Object({ interval: Type.Integer() })]),
  response: { 201: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.setAutoArchive(user, params.sandboxId, params.interval),
});
