import client from 'prom-client';

/** Buckets (seconds) for API request latency: sub-millisecond reads up to minute-long synchronous executes. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Buckets (seconds) for sandbox create/start: a warm start is a few hundred ms, an image pull minutes. */
const START_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900];
/** Buckets (seconds) for reconcile lag: a NOTIFY wake is milliseconds, a missed one waits for the interval tick. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';
export type ProxyKind = 'toolbox' | 'preview';
export type ProxyTransport = 'http' | 'websocket';
export type WebhookOutcome = 'succeeded' | 'retrying' | 'failed';

/** Reads the number of sandboxes per (derived) state; the app wires it to PostgreSQL. */
export type SandboxStateCounter = () => Promise<Record<string, number>>;

/** How long a sandboxes-by-state count is reused: scrapes of several Prometheis (or a fast one) cost one query. */
export const STATE_CACHE_MS = 5000;

/**
 * The API's Prometheus metrics (README "Metrics" lists them with their labels). One registry per app, so tests and
 * benches that build several apps in one process keep separate counts. Labels never carry tenant data (organization or
 * sandbox ids, user input): routes are Fastify's templates, so cardinality stays bounded.
 */
/** One warm pool's levels, for /metrics. */
export interface WarmPoolLevel {
  pool: string;
  snapshot: string;
  size: number;
  ready: number;
  filling: number;
}

export class ApiMetrics {
  readonly registry = new client.Registry();
  readonly httpRequests: client.Counter<'method' | 'route' | 'status_class'>;
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status_class'>;
  readonly sandboxTransition: client.Histogram<'action' | 'outcome'>;
  readonly reconcileLag: client.Histogram<'action'>;
  readonly proxyStreams: client.Gauge<'kind' | 'transport'>;
  readonly webhookDeliveries: client.Counter<'outcome'>;
  private stateCache: { at: number; counts: Promise<Record<string, number>> } | null = null;

  private poolCache: { at: number; levels: Promise<WarmPoolLevel[]> } | null = null;

  constructor(countStates: SandboxStateCounter, poolLevels?: () => Promise<WarmPoolLevel[]>) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'shoal_api_process_' });
    this.httpRequests = new client.Counter({
      name: 'shoal_api_http_requests_total',
      help: 'HTTP requests answered by this API process, by route template, method and status class.',
      labelNames: ['method', 'route', 'status_class'],
      registers,
    });
    this.httpDuration = new client.Histogram({
      name: 'shoal_api_http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response headers and body, by route template, method and status class.',
      labelNames: ['method', 'route', 'status_class'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.sandboxTransition = new client.Histogram({
      name: 'shoal_api_sandbox_start_duration_seconds',
      help:
        'Time from the request (create: the sandbox row was inserted; start: started was asked for) until the replica ' +
        'driving it recorded the outcome; action is create or start, outcome started or error.',
      labelNames: ['action', 'outcome'],
      buckets: START_BUCKETS,
      registers,
    });
    this.reconcileLag = new client.Histogram({
      name: 'shoal_api_reconcile_lag_seconds',
      help: "Time from a sandbox's desired state becoming due (its last change or scheduled retry) until a reconciler of this process claimed it, by the action taken.",
      labelNames: ['action'],
      buckets: LAG_BUCKETS,
      registers,
    });
    this.proxyStreams = new client.Gauge({
      name: 'shoal_api_proxy_streams_in_flight',
      help: 'Proxied requests and upgraded connections (toolbox or preview) this API process holds open.',
      labelNames: ['kind', 'transport'],
      registers,
    });
    this.webhookDeliveries = new client.Counter({
      name: 'shoal_api_webhook_deliveries_total',
      help: 'Webhook delivery attempts made by this API process, by outcome (succeeded; retrying: failed, will be retried; failed: gave up).',
      labelNames: ['outcome'],
      registers,
    });
    const states = () => this.sandboxStates(countStates);
    new client.Gauge({
      name: 'shoal_api_sandboxes',
      help:
        'Sandboxes by state (the state clients see; destroyed ones are not counted), read from PostgreSQL at most every ' +
        `${STATE_CACHE_MS / 1000} s. Every API replica reads the same database, so every replica reports the same values: aggregate with max, not sum.`,
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await states();
        this.reset();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    if (poolLevels) {
      const levels = () => this.warmPoolLevels(poolLevels);
      new client.Gauge({
        name: 'shoal_api_warm_pool_sandboxes',
        help:
          'Warm pool levels by pool and snapshot: size (the target), ready (started, waiting for a claim) and filling (being ' +
          `created). Read from PostgreSQL at most every ${STATE_CACHE_MS / 1000} s; every replica reports the same values.`,
        labelNames: ['pool', 'snapshot', 'level'],
        registers,
        async collect() {
          const all = await levels();
          this.reset();
          for (const p of all) {
            this.set({ pool: p.pool, snapshot: p.snapshot, level: 'size' }, p.size);
            this.set({ pool: p.pool, snapshot: p.snapshot, level: 'ready' }, p.ready);
            this.set({ pool: p.pool, snapshot: p.snapshot, level: 'filling' }, p.filling);
          }
        },
      });
    }
  }

  private warmPoolLevels(read: () => Promise<WarmPoolLevel[]>): Promise<WarmPoolLevel[]> {
    const now = Date.now();
    if (!this.poolCache || now - this.poolCache.at > STATE_CACHE_MS) this.poolCache = { at: now, levels: read().catch(() => []) };
    return this.poolCache.levels;
  }

  private sandboxStates(countStates: SandboxStateCounter): Promise<Record<string, number>> {
    const now = Date.now();
    if (!this.stateCache || now - this.stateCache.at > STATE_CACHE_MS) {
      const counts = countStates().catch(() => ({}));
      this.stateCache = { at: now, counts };
    }
    return this.stateCache.counts;
  }

  /** Counts one answered request. `route` must be a template (or `unmatched`), never the raw URL. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status_class: statusClass(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  /** One open proxied stream; the returned function (idempotent) closes it. */
  openStream(kind: ProxyKind, transport: ProxyTransport): () => void {
    this.proxyStreams.inc({ kind, transport });
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.proxyStreams.dec({ kind, transport });
    };
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export function statusClass(status: number): StatusClass {
  const c = Math.floor(status / 100);
  return (c >= 1 && c <= 5 ? `${c}xx` : '5xx') as StatusClass;
}

/** Methods outside this set are counted as `other`, so a client inventing methods cannot add label values. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}
