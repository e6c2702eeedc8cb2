import type { FastifyInstance } from 'fastify';
import { RunnerSandboxInfo } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function getSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get<{ Params: IdParams }>('/sandboxes/:id', { schema: { params: IdParams, response: { 200: RunnerSandboxInfo } } }, async (req) =>
    d.sandboxes.info(req.params.id),
  );
}
