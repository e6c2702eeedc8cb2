import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox/:sandboxId/backup',
  operationId: 'createBackup',
  audit: { action: 'create_backup' },
  summary: 'Record a backup of the sandbox (its files persist on its runner)',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  params: SandboxIdParams,
  response: { 201: Type.Ref('Sandbox') },
  handler: ({ user, params }, s) => s.sandboxes.backup(user, params.sandboxId),
});
