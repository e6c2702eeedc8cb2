import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { IdParams } from './params.js';

/** The body is optional (`{metadata}`); absent or malformed metadata is ignored rather than failing a start. */
function metadataOf(body: unknown): Record<string, string> | undefined {
  const m = (body as { metadata?: unknown } | null | undefined)?.metadata;
  if (!m || typeof m !== 'object') return undefined;
  return Object.fromEntries(Object.entries(m).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export function startSandboxRoute(app: FastifyInstance, d: RouteDeps): void {
  app.post<{ Params: IdParams }>('/sandboxes/:id/start', { schema: { params: IdParams } }, async (req) => {
    await d.sandboxes.start(req.params.id, metadataOf(req.body));
    return 'Sandbox started';
  });
}
