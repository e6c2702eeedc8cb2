import type { FastifyInstance } from 'fastify';
import { NetworkSettings } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function updateNetworkSettingsRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams; Body: NetworkSettings }>(
    '/sandboxes/:id/network-settings',
    { schema: { params: IdParams, body: NetworkSettings } },
    async (req) => {
      await d.sandboxes.setNetworkSettings(req.params.id, req.body);
      return 'Network settings updated';
    },
  );
}
