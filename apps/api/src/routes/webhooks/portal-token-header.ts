import type { FastifyRequest } from 'fastify';

/** The portal page sends its token in this header; it is never part of a URL the server sees. */
export const PORTAL_TOKEN_HEADER = 'x-shoal-portal-token';

export function portalToken(req: FastifyRequest): string | undefined {
  const v = req.headers[PORTAL_TOKEN_HEADER];
  return typeof v === 'string' ? v : undefined;
}
