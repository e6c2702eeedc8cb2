import type { FastifyInstance } from 'fastify';
import { ResizeSandbox } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function resizeSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams; Body: ResizeSandbox }>('/sandboxes/:id/resize', { schema: { params: IdParams, body: ResizeSandbox } }, async (req) => {
    await d.sandboxes.resize(req.params.id, req.body);
    return 'Sandbox resized';
  });
}
