import { errorEnvelope } from '@shoal/contracts';
import type { FastifyError, FastifyInstance } from 'fastify';

/** The runner's error catalogue: every failure a client can cause maps to one of these. */
export class RunnerError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const Errors = {
  unauthorized: () => new RunnerError(401, 'Unauthorized'),
  sandboxNotFound: (id: string) => new RunnerError(404, `Sandbox ${id} not found`),
  snapshotNotFound: (ref: string) => new RunnerError(404, `Snapshot ${ref} not found`),
  logsNotFound: (ref: string) => new RunnerError(404, `No logs for snapshot ${ref}`),
  badRequest: (msg: string) => new RunnerError(400, msg),
  conflict: (msg: string) => new RunnerError(409, msg),
  notRunning: (id: string) => new RunnerError(400, `Sandbox ${id} is not running`),
  notSupported: (what: string) => new RunnerError(501, `${what} is not supported by this runner yet`),
  capacity: () => new RunnerError(503, 'Runner has no free sandbox addresses'),
  shuttingDown: () => new RunnerError(503, 'Runner is shutting down; retry once it is back'),
  upstream: (msg: string) => new RunnerError(502, msg),
  // Images (H1b): a reference the registry cannot serve, or an image the runner refuses, is the caller's to fix.
  imagePull: (ref: string, reason: string) => new RunnerError(400, `Failed to pull snapshot ${ref}: ${reason}`.slice(0, 600)),
  imageInUse: (ref: string) => new RunnerError(409, `Snapshot ${ref} is in use by a sandbox on this runner`),
};

/** One renderer for every error, in the Daytona envelope; internals of a 5xx are logged, never returned. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | RunnerError, request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    if (err instanceof RunnerError) {
      // Runner errors carry a deliberate, one-line message (the API copies it into the sandbox's errorReason).
      if (err.statusCode >= 500) request.log.warn({ err }, 'runner error');
      return reply.status(err.statusCode).send(errorEnvelope(err.statusCode, err.message, path));
    }
    const fe = err as FastifyError;
    if (fe.validation) return reply.status(400).send(errorEnvelope(400, fe.message, path));
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send(errorEnvelope(fe.statusCode, fe.message, path));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorEnvelope(500, 'Internal server error', path));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    return reply.status(404).send(errorEnvelope(404, `Cannot ${request.method} ${path}`, path));
  });
}
