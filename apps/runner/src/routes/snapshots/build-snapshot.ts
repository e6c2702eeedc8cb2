import type { FastifyInstance } from 'fastify';
import { BuildSnapshot } from '@shoal/contracts';
import { Errors } from '../../errors.js';

export function buildSnapshotRoute(app: FastifyInstance): void {
  app.post<{ Body: BuildSnapshot }>('/snapshots/build', { schema: { body: BuildSnapshot } }, async () => {
    throw Errors.notSupported('Building snapshots from a Dockerfile');
  });
}
