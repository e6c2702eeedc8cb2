import type { FastifyInstance } from 'fastify';
import { auditSchemas } from '../routes/audit/dto.js';
import { registerAuditHooks, type AuditHookDeps } from './hooks.js';

export { AuditRetention } from './retention.js';

/** The audit log's component schemas and recording hooks; app.ts calls this before any route is registered. */
export function registerAudit(app: FastifyInstance, deps: AuditHookDeps): void {
  for (const schema of auditSchemas) app.addSchema(schema);
  registerAuditHooks(app, deps);
}
