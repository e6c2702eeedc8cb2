import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { toRunnerDto } from '../../services/runner-dto.js';

export default defineRoute({
  method: 'GET',
  url: '/runners/by-sandbox/:sandboxId',
  operationId: 'getRunnerBySandboxId',
  tags: ['runners'],
  auth: 'admin',
  params: Type.Object({ sandboxId: Type.String() }),
  response: { 200: Type.Ref('RunnerDto') },
  handler: async ({ params }, s) => toRunnerDto(await s.runners.bySandbox(params.sandboxId)),
});
