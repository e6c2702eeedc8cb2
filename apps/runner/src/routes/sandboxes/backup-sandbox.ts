import type { FastifyInstance } from 'fastify';
import { CreateBackup, LayerArchiveResult } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

/** Packs the sandbox's writable layer into object storage under the key the API chose (sandbox-archive.ts checks it on restore). */
export function backupSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams; Body: CreateBackup }>(
    '/sandboxes/:id/backup',
    { schema: { params: IdParams, body: CreateBackup, response: { 200: LayerArchiveResult } } },
    async (req) => d.sandboxes.backup(req.params.id, req.body.key),
  );
}
