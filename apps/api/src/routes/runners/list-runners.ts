import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { toRunnerDto } from '../../services/runner-dto.js';

export default defineRoute({
  method: 'GET',
  url: '/runners',
  operationId: 'listRunners',
  tags: ['runners'],
  auth: 'admin',
  response: { 200: Type.Array(Type.Ref('RunnerDto')) },
  handler: async (_ctx, s) => (await s.runners.list()).map(toRunnerDto),
});
