import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../errors.js';
import { ImageStore } from '../../images/image-store.js';
import type { RouteDeps } from '../deps.js';

const Query = Type.Object({ snapshot: Type.String({ minLength: 1 }) });

export function removeSnapshotRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Querystring: { snapshot: string } }>('/snapshots/remove', { schema: { querystring: Query } }, async (req) => {
    const ref = req.query.snapshot;
    // Every sandbox that is not destroyed keeps an overlay (or the means to remount one) on the image's shared lower
    // directory, which is keyed by the ref: removing it would break that sandbox.
    const key = ImageStore.keyOf(ref);
    if (d.sandboxes.all().some((s) => s.state !== 'destroyed' && ImageStore.keyOf(s.meta.snapshot) === key)) throw Errors.imageInUse(ref);
    await d.images.remove(ref);
    return 'Snapshot removed';
  });
}
