import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { acceptedRequestId, errorEnvelope, TOOLBOX_PORT } from '@shoal/contracts';
import { isAuthorized } from './auth.js';
import { Errors, registerErrorHandling } from './errors.js';
import { parseProxyUrl, proxyUpgrade } from './proxy/proxy.js';
import type { RouteDeps } from './routes/deps.js';
import { healthRoute } from './routes/health.js';
import { infoRoute } from './routes/info.js';
import { metricsRoute } from './routes/metrics.js';
import { proxyRoutes } from './routes/proxy.js';
import { sandboxRoutes } from './routes/sandboxes/index.js';
import { snapshotRoutes } from './routes/snapshots/index.js';
import { deleteVolumeRoute } from './routes/volumes/delete-volume.js';
import { RunnerError } from './errors.js';
import { observeUpgrade, registerRunnerObservability, toolboxUpgradeSpan } from './tracing/http.js';

export type AppDeps = RouteDeps & { logger?: boolean | object };

const PUBLIC = new Set(['/', '/metrics']);

/** Builds the runner's HTTP API. It never listens; main.ts does. */
export function build(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    logger: deps.logger ?? false,
    // Proxied toolbox calls can legitimately take minutes (long-running executes, log streams).
    requestTimeout: 0,
    bodyLimit: 10 * 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    // The API sends its request id: the runner's log lines for the call carry the same one.
    genReqId: (req) => acceptedRequestId(req.headers['x-request-id']) ?? randomUUID(),
  });
  registerErrorHandling(app);
  registerRunnerObservability(app);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? req.url;
    if (req.method === 'GET' && PUBLIC.has(path)) return;
    if (!isAuthorized(req.headers, deps.token, deps.callToken)) throw Errors.unauthorized();
  });

  healthRoute(app, deps);
  infoRoute(app, deps);
  metricsRoute(app, deps);
  sandboxRoutes(app, deps);
  snapshotRoutes(app, deps);
  deleteVolumeRoute(app, deps);
  void app.register(async (scope) => proxyRoutes(scope, deps));

  // WebSocket (and other) upgrades bypass Fastify's router; only sandbox proxy paths accept them.
  app.server.on('upgrade', (req, socket, head) => {
    const parsed = parseProxyUrl(req.url ?? '');
    const observed = observeUpgrade(app.log, req, socket, !parsed ? 'unmatched' : parsed.port === TOOLBOX_PORT ? '/sandboxes/:id/toolbox/*' : '/sandboxes/:id/ports/:port/*');
    const reject = (status: number, message: string) => {
      observed.answered(status);
      const body = JSON.stringify(errorEnvelope(status, message, (req.url ?? '').split('?')[0] ?? ''));
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    socket.on('error', () => undefined);
    if (!isAuthorized(req.headers, deps.token, deps.callToken)) return reject(401, 'Unauthorized');
    if (!parsed) return reject(404, 'Not found');
    try {
      const t = deps.sandboxes.target(parsed.id);
      const target = parsed.port === TOOLBOX_PORT ? { socketPath: t.socketPath } : { host: t.ip, port: parsed.port };
      // As for proxied HTTP (routes/proxy.ts): the toolbox step is the runner's span; another port gets the trace as is.
      if (parsed.port === TOOLBOX_PORT) toolboxUpgradeSpan(req, socket, parsed.path, observed.ctx);
      proxyUpgrade(req, socket, head, target, parsed.path, deps.token);
    } catch (err) {
      if (err instanceof RunnerError) return reject(err.statusCode, err.message);
      return reject(500, 'Internal server error');
    }
  });
  return app;
}
