import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { errorEnvelope, REQUEST_ID_HEADER } from '@shoal/contracts';
import { context, extractContext, SpanKind, SpanStatusCode, trace, tracer, tracingEnabled, type Context, type Span as ServerSpan } from '@shoal/telemetry';
import { runWithRequestId } from '../tracing/request-context.js';
import { methodLabel, type ApiMetrics } from './api-metrics.js';

export interface MetricsSettings {
  /** Serve GET /metrics (SHOAL_METRICS, default on). */
  enabled: boolean;
  /** When set, /metrics wants `Authorization: Bearer <token>` (SHOAL_METRICS_TOKEN). */
  token: string | undefined;
}


/**
 * A server span continuing the caller's trace (its traceparent, if any), and the context to run the request's work in.
 * Shared by routed requests and the proxy's upgrades, which bypass Fastify's hooks.
 */
export function startServerSpan(name: string, method: string, route: string, headers: Record<string, unknown>, requestId: string): { span: ServerSpan; ctx: Context } {
  const parent = extractContext(headers);
  const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route, 'shoal.request_id': requestId } }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/**
 * Request ids, request metrics, server spans and GET /metrics. Must be registered before any route: it wraps every
 * route's handler so the handler (and what it starts: runner calls, the reconciler's fast path) runs in the request's
 * trace context.
 */
export function registerObservability(app: FastifyInstance, metrics: ApiMetrics, settings: MetricsSettings): void {
  const spans = new WeakMap<FastifyRequest, { span: ServerSpan; ctx: Context }>();

  app.addHook('onRequest', async (req, reply) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    if (!tracingEnabled()) return;
    const route = req.routeOptions.url ?? 'unmatched';
    const { span, ctx } = startServerSpan(`${methodLabel(req.method)} ${route}`, req.method, route, req.headers, req.id);
    spans.set(req, { span, ctx });
    reply.raw.once('close', () => {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.observeRequest(methodLabel(req.method), req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.addHook('onRoute', (route: RouteOptions) => {
    const handler = route.handler;
    route.handler = function tracedHandler(this: FastifyInstance, req, reply) {
      const s = spans.get(req);
      const run = () => runWithRequestId(req.id, () => handler.call(this, req, reply));
      return s ? context.with(s.ctx, run) : run();
    };
  });

  if (!settings.enabled) return;
  const expected = settings.token ? Buffer.from(`Bearer ${settings.token}`) : undefined;
  app.get('/metrics', { schema: { hide: true }, config: { auth: 'none' } }, async (req, reply) => {
    if (expected) {
      const given = Buffer.from(String(req.headers.authorization ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply.code(401).type('application/json').send(errorEnvelope(401, 'Unauthorized', req.url));
      }
    }
    return reply.type(metrics.contentType).send(await metrics.text());
  });
}
