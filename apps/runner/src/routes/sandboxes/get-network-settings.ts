import type { FastifyInstance } from 'fastify';
import { NetworkSettings } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function getNetworkSettingsRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get<{ Params: IdParams }>('/sandboxes/:id/network-settings', { schema: { params: IdParams, response: { 200: NetworkSettings } } }, async (req) =>
    d.sandboxes.networkSettings(req.params.id),
  );
}
