import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SandboxIdParams, SandboxState } from '../../schemas.js';

export default defineRoute({
  method: 'PUT',
  url: '/sandbox/:sandboxId/state',
  operationId: 'updateSandboxState',
  summary: 'A runner reports the state of one of its sandboxes (runner token only)',
  tags: ['sandbox'],
  auth: 'runner',
  params: SandboxIdParams,
  body: Type.Object({ state: SandboxState, errorReason: Type.Optional(Type.String()) }),
  response: { 200: Type.Null() },
  handler: ({ runner, params, body }, s) => s.sandboxes.reportState(runner.runnerId, params.sandboxId, body.state, body.errorReason),
});
