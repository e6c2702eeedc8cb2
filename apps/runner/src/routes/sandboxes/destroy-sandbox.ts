import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function destroySandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams }>('/sandboxes/:id/destroy', { schema: { params: IdParams } }, async (req) => {
    await d.sandboxes.destroy(req.params.id);
    return 'Sandbox destroyed';
  });
}
