import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../errors.js';
import type { RouteDeps } from '../deps.js';

const Query = Type.Object({ snapshot: Type.String({ minLength: 1 }) });

export function removeSnapshotRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Querystring: { snapshot: string } }>('/snapshots/remove', { schema: { querystring: Query } }, async (req) => {
    const ref = req.query.snapshot;
    // The lower directory is shared by live overlays: removing it under a sandbox would break that sandbox.
    if (d.sandboxes.all().some((s) => s.meta.snapshot === ref && s.state !== 'destroyed')) {
      throw Errors.conflict(`Snapshot ${ref} is in use by a sandbox on this runner`);
    }
    await d.images.remove(ref);
    return 'Snapshot removed';
  });
}
