import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/sandbox/for-runner',
  operationId: 'getSandboxesForRunner',
  summary: 'Sandboxes placed on the calling runner (runner token only)',
  tags: ['sandbox'],
  auth: 'runner',
  querystring: Type.Object({ states: Type.Optional(Type.String()), skipReconcilingSandboxes: Type.Optional(Type.Boolean()) }),
  response: { 200: Type.Array(Type.Ref('Sandbox')) },
  handler: ({ runner, query }, s) => s.sandboxes.forRunner(runner.runnerId, query.states),
});
