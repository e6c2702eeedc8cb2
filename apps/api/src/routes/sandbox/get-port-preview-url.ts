import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/:sandboxId/ports/:port/preview-url',
  operationId: 'getPortPreviewUrl',
  summary: 'URL and token to reach a port of the sandbox through the preview proxy',
  tags: ['sandbox'],
  auth: 'user',
  params: Type.Composite([SandboxIdParams, Type.Object({ port: Type.Integer() })]),
  response: { 200: Type.Ref('PortPreviewUrl') },
  handler: ({ user, params }, s) => s.sandboxes.previewUrl(user, params.sandboxId, params.port),
});
