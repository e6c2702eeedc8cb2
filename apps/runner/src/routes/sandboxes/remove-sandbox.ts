import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function removeSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.delete<{ Params: IdParams }>('/sandboxes/:id', { schema: { params: IdParams } }, async (req) => {
    await d.sandboxes.remove(req.params.id);
    return 'Sandbox removed';
  });
}
