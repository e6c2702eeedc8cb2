import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BuildSnapshot } from '@shoal/contracts';
import { Errors, RunnerError } from '../../errors.js';
import { BuildError } from '../../images/builder.js';
import type { RouteDeps } from '../deps.js';

const CancelQuery = Type.Object({ snapshot: Type.String({ minLength: 1 }) });

export function buildSnapshotRoute(app: FastifyInstance, d: RouteDeps): void {
  // Synchronous: answers once the image is built, pushed to `snapshot` and unpacked here; output goes to the
  // snapshot's log (GET /snapshots/logs?snapshotRef=<snapshot>).
  app.post<{ Body: BuildSnapshot }>('/snapshots/build', { schema: { body: BuildSnapshot } }, async (req) => {
    const builder = d.builder;
    if (!builder) throw Errors.notSupported('Building snapshots from a Dockerfile');
    try {
      await builder.build({
        ref: req.body.snapshot,
        dockerfile: req.body.dockerfile,
        organizationId: req.body.organizationId,
        contextHashes: req.body.context ?? [],
        ...(req.body.registry ? { registry: req.body.registry } : {}),
        ...(req.body.internalRegistry ? { internalRegistry: req.body.internalRegistry } : {}),
        ...(req.body.network ? { network: req.body.network } : {}),
      });
    } catch (err) {
      // A Dockerfile or context that fails is the caller's problem; its reason goes to the snapshot's errorReason.
      if (err instanceof BuildError) throw new RunnerError(400, err.message);
      throw err;
    }
    return 'Snapshot built';
  });

  // Kills a running build of `snapshot` (its sandbox or snapshot was deleted); a no-op when none runs.
  app.post<{ Querystring: { snapshot: string } }>('/snapshots/build/cancel', { schema: { querystring: CancelQuery } }, async (req) => {
    const cancelled = (await d.builder?.cancel(req.query.snapshot)) ?? false;
    return { cancelled };
  });
}
