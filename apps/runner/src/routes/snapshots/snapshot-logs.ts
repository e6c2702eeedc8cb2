import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../errors.js';
import type { RouteDeps } from '../deps.js';

const Query = Type.Object({ snapshotRef: Type.String({ minLength: 1 }), follow: Type.Optional(Type.Boolean()) });

export function snapshotLogsRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get<{ Querystring: { snapshotRef: string; follow?: boolean } }>('/snapshots/logs', { schema: { querystring: Query } }, async (req, reply) => {
    // With follow, the stream stays open while a pull of this ref runs and ends with it.
    const stream = d.images.openLog(req.query.snapshotRef, req.query.follow === true);
    if (!stream) throw Errors.logsNotFound(req.query.snapshotRef);
    return reply.type('text/plain; charset=utf-8').send(stream);
  });
}
