import type { FastifyInstance } from 'fastify';
import { RunnerHealth } from '@shoal/contracts';
import type { RouteDeps } from './deps.js';

export function healthRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get('/', { schema: { response: { 200: RunnerHealth } } }, async () => ({ status: 'ok' as const, version: d.version }));
}
