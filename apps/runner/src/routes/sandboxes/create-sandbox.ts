import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CreateRunnerSandbox } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';

export function createSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Body: CreateRunnerSandbox }>(
    '/sandboxes',
    { schema: { body: CreateRunnerSandbox, response: { 201: Type.String() } } },
    async (req, reply) => reply.status(201).send(await d.sandboxes.create(req.body)),
  );
}
