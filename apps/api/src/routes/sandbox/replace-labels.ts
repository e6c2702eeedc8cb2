import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams, SandboxLabels } from '../../schemas.js';

export default defineRoute({
  method: 'PUT',
  url: '/sandbox/:sandboxId/labels',
  operationId: 'replaceLabels',
  audit: { action: 'replace_labels' },
  summary: 'Replace all labels of a sandbox',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  body: SandboxLabels,
  response: { 200: Type.Ref('SandboxLabels') },
  handler: ({ user, params, body }, s) => s.sandboxes.replaceLabels(user, params.sandboxId, body.labels),
});
