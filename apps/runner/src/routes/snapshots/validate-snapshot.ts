import type { FastifyInstance } from 'fastify';
import { ValidateSnapshot, ValidateSnapshotResult } from '@shoal/contracts';
import { Errors } from '../../errors.js';
import { SnapshotTrials } from '../../images/snapshot-trial.js';
import type { RouteDeps } from '../deps.js';

export function validateSnapshotRoute(app: FastifyInstance, d: RouteDeps): void {
  const trials = new SnapshotTrials(d.sandboxes, { info: (m) => app.log.info(m), warn: (m) => app.log.warn(m) });
  // The sandboxes were recovered before the routes exist: a trial a crash interrupted goes now.
  void trials.removeLeftovers().catch((err: Error) => app.log.warn(`removing leftover snapshot trials: ${err.message}`));
  app.post<{ Body: ValidateSnapshot }>('/snapshots/validate', { schema: { body: ValidateSnapshot, response: { 200: ValidateSnapshotResult } } }, async (req) => {
    if (!d.images.get(req.body.snapshot)) throw Errors.snapshotNotFound(req.body.snapshot);
    return trials.run(req.body);
  });
}
