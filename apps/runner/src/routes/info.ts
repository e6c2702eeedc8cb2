import type { FastifyInstance } from 'fastify';
import { RunnerInfo } from '@shoal/contracts';
import type { RouteDeps } from './deps.js';

export function infoRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get('/info', { schema: { response: { 200: RunnerInfo } } }, async () => ({ metrics: await d.metrics.collect(), version: d.version }));
}
