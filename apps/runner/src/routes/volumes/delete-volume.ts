import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';

const Params = Type.Object({ volumeId: Type.String() });

/** The API calls this on every runner when a volume is deleted: the volume's data on this host goes. */
export function deleteVolumeRoute(app: FastifyInstance, d: RouteDeps): void {
  app.delete<{ Params: { volumeId: string } }>('/volumes/:volumeId', { schema: { params: Params } }, async (req) => {
    await d.sandboxes.removeVolume(req.params.volumeId);
    return 'Volume removed';
  });
}
