import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../errors.js';
import type { RouteDeps } from '../deps.js';

const Query = Type.Object({ snapshotRef: Type.String({ minLength: 1 }), follow: Type.Optional(Type.Boolean()) });

export function snapshotLogsRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get<{ Querystring: { snapshotRef: string; follow?: boolean } }>('/snapshots/logs', { schema: { querystring: Query } }, async (req, reply) => {
    const path = d.images.logPath(req.query.snapshotRef);
    if (!(await stat(path).then(() => true, () => false))) throw Errors.logsNotFound(req.query.snapshotRef);
    return reply.type('text/plain; charset=utf-8').send(createReadStream(path));
  });
}
