import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';

/*
 * OpenTelemetry traces of the API and the runner (one module, so both processes trace the same way), off unless SHOAL_OTLP_ENDPOINT names an OTLP/HTTP collector (README "Traces"). Only
 * @opentelemetry/api (a few kB, no-op without a registered provider) is imported statically: the SDK and the exporter
 * are loaded by startTracing() when tracing is on, so a process with tracing off pays nothing for them.
 */

let enabled = false;
let shutdownFn: (() => Promise<void>) | null = null;
/** The process's service name (shoal-api, shoal-runner) doubles as its tracer's name. */
let tracerName = 'shoal';

/** Whether this process records spans (startTracing succeeded). */
export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Registers the tracer provider (AsyncLocalStorage context, W3C trace context propagation, batched OTLP/HTTP
 * export to `<endpoint>/v1/traces`). Process-wide: call once from main, before building the app.
 */
export async function startTracing(endpoint: string | undefined, serviceName: string): Promise<void> {
  if (!endpoint || enabled) return;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    // A short delay: spans of a create reach the collector within a second, which is what an operator watching expects.
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500 })],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  tracerName = serviceName;
  enabled = true;
  shutdownFn = () => provider.shutdown();
}

/** Flushes and stops the exporter (the process is exiting). */
export async function stopTracing(): Promise<void> {
  const fn = shutdownFn;
  shutdownFn = null;
  enabled = false;
  await fn?.().catch(() => {});
}

export function tracer() {
  return trace.getTracer(tracerName);
}

/** The context carried by incoming `traceparent`/`tracestate` headers (the root context when there are none). */
export function extractContext(headers: Record<string, unknown>): Context {
  return propagation.extract(context.active(), headers);
}

/** Adds `traceparent` (and `tracestate`) of `ctx` (default: the active one) to outgoing headers; nothing when off. */
export function injectTraceHeaders(headers: Record<string, string | string[]>, ctx: Context = context.active()): void {
  if (!enabled) return;
  // A caller-supplied traceparent is replaced by ours: the next hop's parent is this process's span.
  delete headers.traceparent;
  delete headers.tracestate;
  propagation.inject(ctx, headers);
}

/**
 * Runs `fn` inside a new span (child of the active one), ending it when the promise settles; an error marks it.
 * Without tracing it just runs `fn`.
 */
export async function inSpan<T>(name: string, kind: SpanKind, attributes: Record<string, string | number>, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return fn(undefined);
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Records a span that already happened (timings observed by this process), as a child of `parent`. */
export function recordSpan(name: string, startMs: number, endMs: number, attributes: Record<string, string | number> = {}, parent: Context = context.active()): void {
  if (!enabled) return;
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, startTime: startMs, attributes }, parent);
  span.end(endMs);
}

export { context, SpanKind, SpanStatusCode, trace };
export type { Context, Span } from '@opentelemetry/api';
