import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TOOLBOX_PORT } from '@shoal/contracts';
import { Errors } from '../errors.js';
import { parseProxyUrl, proxyHttp } from '../proxy/proxy.js';
import type { RouteDeps } from './deps.js';
import { toolboxSpan } from '../tracing/http.js';

/**
 * `ANY /sandboxes/:id/toolbox/*` and `ANY /sandboxes/:id/ports/:port/*`. Bodies are not parsed here: the raw
 * request stream is piped to the sandbox so large uploads are never buffered.
 */
export async function proxyRoutes(app: FastifyInstance, d: RouteDeps): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const parsed = parseProxyUrl(req.url);
    if (!parsed) throw Errors.badRequest('Invalid sandbox proxy path');
    // A daemon not booted yet (a burst's create) boots ahead of waiting starts; its own failure is the sandbox's state.
    const booting = d.sandboxes.bootFor(parsed.id);
    if (booting) await booting;
    const t = d.sandboxes.target(parsed.id);
    reply.hijack();
    reply.raw.once('close', d.sandboxes.traffic.begin());
    if (parsed.port === TOOLBOX_PORT) toolboxSpan(req.raw, reply.raw, parsed.path);
    const target =
      parsed.port === TOOLBOX_PORT ? { socketPath: t.socketPath, agent: t.agent } : { host: t.ip, port: parsed.port, agent: t.agent };
    proxyHttp(req.raw, reply.raw, target, parsed.path, d.token);
  };
  for (const url of ['/sandboxes/:id/toolbox', '/sandboxes/:id/toolbox/*', '/sandboxes/:id/ports/:port', '/sandboxes/:id/ports/:port/*']) {
    app.all(url, handler);
  }
}
