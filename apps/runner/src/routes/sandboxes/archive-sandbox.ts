import type { FastifyInstance } from 'fastify';
import { LayerArchiveResult } from '@shoal/contracts';
import { archiveKey } from '../../sandbox/sandbox-archive.js';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

/** Packs a stopped sandbox into `sandboxes/<id>/archive.tar.zst` and removes it from this runner. */
export function archiveSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams }>(
    '/sandboxes/:id/archive',
    { schema: { params: IdParams, response: { 200: LayerArchiveResult } } },
    async (req) => d.sandboxes.archive(req.params.id, archiveKey(req.params.id)),
  );
}
