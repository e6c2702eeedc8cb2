import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SnapshotExists } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';

const Query = Type.Object({ snapshot: Type.String({ minLength: 1 }) });

export function snapshotExistsRoute(app: FastifyInstance, d: RouteDeps): void {
  app.get<{ Querystring: { snapshot: string } }>('/snapshots/exists', { schema: { querystring: Query, response: { 200: SnapshotExists } } }, async (req) => ({
    exists: d.images.get(req.query.snapshot) !== undefined,
  }));
}
