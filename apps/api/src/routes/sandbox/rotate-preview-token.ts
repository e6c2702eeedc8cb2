import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/preview-token/rotate',
  operationId: 'rotatePreviewToken',
  audit: { action: 'rotate_preview_token' },
  summary: 'Shoal extension: replace the preview token, so every preview link handed out so far stops working',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.sandboxes.rotatePreviewToken(user, params.sandboxId),
});
