import type { FastifyInstance } from 'fastify';
import { PullSnapshot } from '@shoal/contracts';
import { RunnerError } from '../../errors.js';
import { ExecError } from '../../util/exec.js';
import type { RouteDeps } from '../deps.js';

export function pullSnapshotRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Body: PullSnapshot }>('/snapshots/pull', { schema: { body: PullSnapshot } }, async (req) => {
    try {
      await d.images.ensure(req.body.snapshot, req.body.registry);
    } catch (err) {
      // A registry that cannot serve the reference is the caller's problem, not a runner fault.
      if (err instanceof ExecError) throw new RunnerError(400, `Failed to pull snapshot ${req.body.snapshot}: ${err.result.stderr.trim().split('\n').pop()}`);
      throw err;
    }
    return 'Snapshot pulled';
  });
}
