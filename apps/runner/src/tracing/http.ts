import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { acceptedRequestId, REQUEST_ID_HEADER } from '@shoal/contracts';
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
  const span = startToolboxSpan(req, `toolbox ${req.method ?? 'GET'} ${path.split('?')[0]}`, path, context.active());
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

/** The same for an upgrade (a PTY or another toolbox WebSocket): the span lasts as long as the connection. */
export function toolboxUpgradeSpan(req: IncomingMessage, socket: Duplex, path: string, parent: Context): void {
  if (!tracingEnabled()) return;
  const span = startToolboxSpan(req, `toolbox upgrade ${path.split('?')[0]}`, path, parent);
  socket.once('close', () => span.end());
}

function startToolboxSpan(req: IncomingMessage, name: string, path: string, parent: Context): Span {
  const span: Span = tracer().startSpan(
    name,
    { kind: SpanKind.CLIENT, attributes: { 'http.request.method': req.method ?? 'GET', 'url.path': path.split('?')[0] ?? '', 'shoal.observed_by': 'runner' } },
    parent,
  );
  injectTraceHeaders(req.headers as Record<string, string | string[]>, trace.setSpan(parent, span));
  return span;
}

export interface ObservedUpgrade {
  /** The API's request id when acceptable (as genReqId takes it), else a new one; set on the request's headers too. */
  reqId: string;
  log: FastifyBaseLogger;
  /** The upgrade's server span's context (the active one without tracing). */
  ctx: Context;
  /** Records the answer the runner itself gave (a refusal); an upgrade passed to the sandbox keeps none. */
  answered(status: number): void;
}

/**
 * Upgrades bypass Fastify's hooks: this gives one what registerRunnerObservability gives a request (its id, log
 * lines, a server span continuing the API's trace until the connection closes). The id is written into the request's
 * headers, so the toolbox receives it with them. The query is not logged: a preview URL may carry a token.
 */
export function observeUpgrade(logger: FastifyBaseLogger, req: IncomingMessage, socket: Duplex, route: string): ObservedUpgrade {
  const reqId = acceptedRequestId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
  req.headers[REQUEST_ID_HEADER] = reqId;
  const log = logger.child({ reqId });
  // Fastify's `req` serializer keeps method and url (and host, address): the protocol goes beside it.
  log.info({ req: { method: req.method, url: (req.url ?? '').split('?')[0] }, upgrade: req.headers.upgrade }, 'incoming upgrade');
  const started = performance.now();
  let status = 0;
  let ctx = context.active();
  let span: Span | undefined;
  if (tracingEnabled()) {
    const parent = extractContext(req.headers as Record<string, unknown>);
    span = tracer().startSpan(
      `runner upgrade ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? 'GET', 'http.route': route, 'shoal.request_id': reqId } },
      parent,
    );
    ctx = trace.setSpan(parent, span);
  }
  socket.once('close', () => {
    log.info({ res: status ? { statusCode: status } : undefined, durationMs: Math.round(performance.now() - started) }, status ? 'upgrade refused' : 'upgrade closed');
    if (status) span?.setAttribute('http.response.status_code', status);
    if (status >= 500) span?.setStatus({ code: SpanStatusCode.ERROR });
    span?.end();
  });
  return { reqId, log, ctx, answered: (s) => (status = s) };
}
