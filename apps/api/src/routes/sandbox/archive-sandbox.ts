import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/archive',
  operationId: 'archiveSandbox',
  summary: 'Archive a stopped sandbox',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  response: { 200: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.archive(user, params.sandboxId),
});
