import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/public/:isPublic',
  operationId: 'updatePublicStatus',
  audit: { action: 'update_public_status' },
  summary: 'Make preview links of the sandbox public or private',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: Type.Composite([SandboxIdParams, Type.Object({ isPublic: Type.Boolean() })]),
  response: { 201: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.setPublic(user, params.sandboxId, params.isPublic),
});
