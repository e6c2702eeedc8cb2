import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function stopSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams }>('/sandboxes/:id/stop', { schema: { params: IdParams } }, async (req) => {
    await d.sandboxes.stop(req.params.id);
    return 'Sandbox stopped';
  });
}
