import type { FastifyInstance } from 'fastify';
import { CreateBackup } from '@shoal/contracts';
import { Errors } from '../../errors.js';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function backupSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams; Body: CreateBackup }>('/sandboxes/:id/backup', { schema: { params: IdParams, body: CreateBackup } }, async (req) => {
    d.sandboxes.info(req.params.id);
    throw Errors.notSupported('Sandbox backup');
  });
}
