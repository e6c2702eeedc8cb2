import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { toRunnerDto } from '../../services/runner-dto.js';

export default defineRoute({
  method: 'PATCH',
  url: '/runners/:id/scheduling',
  operationId: 'updateRunnerScheduling',
  audit: { action: 'update_scheduling' },
  tags: ['runners'],
  auth: 'admin',
  params: Type.Object({ id: Type.String() }),
  body: Type.Object({ unschedulable: Type.Boolean() }),
  response: { 200: Type.Ref('RunnerDto') },
  handler: async ({ params, body }, s) => toRunnerDto(await s.runners.setScheduling(params.id, body.unschedulable)),
});
