import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { REQUEST_ID_HEADER } from '@shoal/contracts';
import { context, extractContext, injectTraceHeaders, SpanKind, SpanStatusCode, trace, tracer, tracingEnabled, type Context, type Span } from '@shoal/telemetry';

/**
 * Echoes the request id and, with tracing on, opens a server span per request (continuing the API's trace from its
 * traceparent) in whose context the route handler runs. Register before the routes: it wraps their handlers.
 */
export function registerRunnerObservability(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Context>();
  app.addHook('onRequest', async (req, reply) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    if (!tracingEnabled()) return;
    const route = req.routeOptions.url ?? 'unmatched';
    const parent = extractContext(req.headers as Record<string, unknown>);
    const span = tracer().startSpan(
      `runner ${req.method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': route, 'shoal.request_id': req.id } },
      parent,
    );
    spans.set(req, trace.setSpan(parent, span));
    reply.raw.once('close', () => {
      span.setAttribute('http.response.status_code', reply.raw.statusCode);
      if (reply.raw.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
  });
  app.addHook('onRoute', (route: RouteOptions) => {
    const handler = route.handler;
    route.handler = function tracedHandler(this: FastifyInstance, req, reply) {
      const ctx = spans.get(req);
      return ctx ? context.with(ctx, () => handler.call(this, req, reply)) : handler.call(this, req, reply);
    };
  });
}

/**
 * The toolbox's part of a proxied call, as the runner sees it: a client span from forwarding the request until the
 * response is over, whose context replaces the incoming traceparent on the way into the sandbox. The toolbox
 * cannot reach a collector from inside the sandbox, so this span is the toolbox step of the trace.
 */
export function toolboxSpan(req: IncomingMessage, res: ServerResponse, path: string): void {
  if (!tracingEnabled()) return;
  const span: Span = tracer().startSpan(`toolbox ${req.method ?? 'GET'} ${path.split('?')[0]}`, {
    kind: SpanKind.CLIENT,
    attributes: { 'http.request.method': req.method ?? 'GET', 'url.path': path.split('?')[0] ?? '', 'shoal.observed_by': 'runner' },
  });
  const headers = req.headers as Record<string, string | string[]>;
  injectTraceHeaders(headers, trace.setSpan(context.active(), span));
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}
