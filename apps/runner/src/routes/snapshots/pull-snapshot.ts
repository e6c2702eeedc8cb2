import type { FastifyInstance } from 'fastify';
import { PullSnapshot, PullSnapshotResult } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';

export function pullSnapshotRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Body: PullSnapshot }>(
    '/snapshots/pull',
    { schema: { body: PullSnapshot, response: { 200: PullSnapshotResult } } },
    async (req): Promise<PullSnapshotResult> => {
      const { snapshot, registry, destinationRef } = req.body;
      // With a destination the image lives (and is unpacked) under the internal reference every runner will use.
      const rec = await d.images.ensure(destinationRef ?? snapshot, registry, destinationRef ? { copyFrom: snapshot } : {});
      return { sizeBytes: rec.sizeBytes ?? 0, digest: rec.digest ?? '', entrypoint: rec.entrypoint, cmd: rec.cmd, workdir: rec.workdir };
    },
  );
}
