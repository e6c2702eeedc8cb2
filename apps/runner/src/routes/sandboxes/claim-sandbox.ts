import type { FastifyInstance } from 'fastify';
import { ClaimRunnerSandbox } from '@shoal/contracts';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

export function claimSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams; Body: ClaimRunnerSandbox }>(
    '/sandboxes/:id/claim',
    { schema: { params: IdParams, body: ClaimRunnerSandbox } },
    async (req) => {
      await d.sandboxes.claim(req.params.id, req.body);
      return 'Sandbox claimed';
    },
  );
}
