import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.js';

export function metricsRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await d.metrics.prometheus()));
}
