import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateRunnerBody } from '../../schemas.js';
import { toRunnerDto } from '../../services/runner-dto.js';

export default defineRoute({
  method: 'POST',
  url: '/runners',
  operationId: 'createRunner',
  summary: 'Register a runner (admin); registering a known domain again updates it and answers 200',
  tags: ['runners'],
  auth: 'admin',
  body: CreateRunnerBody,
  response: { 201: Type.Ref('RunnerDto'), 200: Type.Ref('RunnerDto') },
  handler: async ({ body, reply }, s) => {
    const { runner, created } = await s.runners.register(body);
    reply.code(created ? 201 : 200);
    // The one answer that carries the token (the reference returns it on create); every other runner DTO omits it.
    return reply.send({ ...toRunnerDto(runner), apiKey: body.apiKey });
  },
});
