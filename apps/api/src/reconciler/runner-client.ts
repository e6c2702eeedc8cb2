import { Pool, type Dispatcher } from 'undici';
import type { ClaimRunnerSandbox, CreateRunnerSandbox, LayerArchiveResult, RunnerInfo, RunnerSandboxInfo } from '@shoal/contracts';
import { REQUEST_ID_HEADER, RUNNER_AUTH_HEADER, runnerCallToken } from '@shoal/contracts';
import { injectTraceHeaders, inSpan, SpanKind } from '@shoal/telemetry';
import { currentRequestId } from '../tracing/request-context.js';

/** The slice of a runner row the client needs. */
export interface RunnerTarget {
  id: string;
  apiUrl: string;
  /** SHA-256 of the runner's token; with the platform secret it gives the credential for calling the runner. */
  apiKeyHash: string;
}

export class RunnerCallError extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
  ) {
    super(message);
    this.name = 'RunnerCallError';
  }

  /** The error for a runner's non-2xx answer: its envelope's message (joined when a list), else the body as text. */
  static fromAnswer(statusCode: number, text: string): RunnerCallError {
    let message = text;
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (parsed && parsed.message !== undefined) message = Array.isArray(parsed.message) ? parsed.message.join('; ') : String(parsed.message);
    } catch {
      /* plain text body */
    }
    return new RunnerCallError(message || `Runner answered ${statusCode}`, statusCode);
  }
}

/** A runner's URL for `path`, keeping any path prefix of its registered apiUrl. */
export function runnerUrl(apiUrl: string, path: string): string {
  const base = new URL(apiUrl);
  return base.origin + base.pathname.replace(/\/+$/, '') + path;
}

/** What the reconciler and the runner service need from a runner; a fake implements it in tests. */
export interface RunnerAdapter {
  info(r: RunnerTarget): Promise<RunnerInfo>;
  createSandbox(r: RunnerTarget, body: CreateRunnerSandbox): Promise<void>;
  startSandbox(r: RunnerTarget, id: string, metadata?: Record<string, string>): Promise<void>;
  stopSandbox(r: RunnerTarget, id: string): Promise<void>;
  destroySandbox(r: RunnerTarget, id: string): Promise<void>;
  removeSandbox(r: RunnerTarget, id: string): Promise<void>;
  sandboxInfo(r: RunnerTarget, id: string): Promise<RunnerSandboxInfo | null>;
  /** Packs a stopped sandbox into object storage and removes it from the runner (optional: test fakes may leave it out). */
  archiveSandbox?(r: RunnerTarget, id: string): Promise<LayerArchiveResult>;
  /** Packs the sandbox's writable layer into object storage under `key`. */
  backupSandbox?(r: RunnerTarget, id: string, key: string): Promise<LayerArchiveResult>;
  /** Makes a started warm-pool sandbox a tenant's (env, network policy, owner); without it pools are never claimed. */
  claimSandbox?(r: RunnerTarget, id: string, body: ClaimRunnerSandbox): Promise<void>;
}

const LONG_CALL_MS = 15 * 60_000;
const SHORT_CALL_MS = 10_000;
// A claim waits for the runner's serialized nftables rewrite, which takes seconds on a loaded host; giving up sooner
// would destroy the pooled sandbox and start a cold one, which needs the same rewrite and more.
const CLAIM_CALL_MS = 60_000;
const CONNECT_MS = 5_000;

/** HTTP client for the runner API (packages/contracts/src/runner.ts); one keep-alive pool per runner origin. */
export class HttpRunnerAdapter implements RunnerAdapter {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly platformSecret: string) {}

  /** The `Bearer` value the API presents to a runner; the runner token itself is not known to the API. */
  credential(r: Pick<RunnerTarget, 'apiKeyHash'>): string {
    return `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}`;
  }

  /**
   * Control calls only (reconciler, health checks): proxied user traffic has its own connections (proxy/traffic.ts),
   * so user streams can never take these. Every call is bounded: connect, then headers and body per call().
   */
  private pool(apiUrl: string): Pool {
    const origin = new URL(apiUrl).origin;
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: 64, keepAliveTimeout: 30_000, connect: { timeout: CONNECT_MS }, headersTimeout: LONG_CALL_MS, bodyTimeout: LONG_CALL_MS });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Path prefix of the runner URL (a runner may live under a sub-path), without trailing slash. */
  static basePath(apiUrl: string): string {
    return new URL(apiUrl).pathname.replace(/\/+$/, '');
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => {})));
    this.pools.clear();
  }

  private call(r: RunnerTarget, method: Dispatcher.HttpMethod, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; text: string }> {
    // Span names use the path's template: sandbox ids stay in attributes.
    const template = path.replace(/^\/sandboxes\/[^/]+/, '/sandboxes/{id}');
    return inSpan(`runner ${method} ${template}`, SpanKind.CLIENT, { 'http.request.method': method, 'url.path': path, 'shoal.runner_id': r.id }, () =>
      this.send(r, method, path, body, timeoutMs),
    );
  }

  private async send(r: RunnerTarget, method: Dispatcher.HttpMethod, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; text: string }> {
    let res: Dispatcher.ResponseData;
    const headers: Record<string, string> = {
      [RUNNER_AUTH_HEADER]: this.credential(r),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    // The request this call serves (when a request started it), so the runner's log lines carry the same id.
    const requestId = currentRequestId();
    if (requestId) headers[REQUEST_ID_HEADER] = requestId;
    injectTraceHeaders(headers as Record<string, string | string[]>);
    try {
      res = await this.pool(r.apiUrl).request({
        method,
        path: HttpRunnerAdapter.basePath(r.apiUrl) + path,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      throw new RunnerCallError(`Runner unreachable: ${(err as Error).message}`, undefined);
    }
    const text = await res.body.text();
    if (res.statusCode >= 300) throw RunnerCallError.fromAnswer(res.statusCode, text);
    return { status: res.statusCode, text };
  }

  async info(r: RunnerTarget): Promise<RunnerInfo> {
    const { text } = await this.call(r, 'GET', '/info', undefined, SHORT_CALL_MS);
    return JSON.parse(text) as RunnerInfo;
  }
  async createSandbox(r: RunnerTarget, body: CreateRunnerSandbox): Promise<void> {
    await this.call(r, 'POST', '/sandboxes', body, LONG_CALL_MS);
  }
  async startSandbox(r: RunnerTarget, id: string, metadata?: Record<string, string>): Promise<void> {
    await this.call(r, 'POST', `/sandboxes/${encodeURIComponent(id)}/start`, { metadata: metadata ?? {} }, LONG_CALL_MS);
  }
  async stopSandbox(r: RunnerTarget, id: string): Promise<void> {
    await this.call(r, 'POST', `/sandboxes/${encodeURIComponent(id)}/stop`, undefined, LONG_CALL_MS);
  }
  async destroySandbox(r: RunnerTarget, id: string): Promise<void> {
    await this.call(r, 'POST', `/sandboxes/${encodeURIComponent(id)}/destroy`, undefined, LONG_CALL_MS);
  }
  async removeSandbox(r: RunnerTarget, id: string): Promise<void> {
    await this.call(r, 'DELETE', `/sandboxes/${encodeURIComponent(id)}`, undefined, LONG_CALL_MS);
  }
  async archiveSandbox(r: RunnerTarget, id: string): Promise<LayerArchiveResult> {
    const { text } = await this.call(r, 'POST', `/sandboxes/${encodeURIComponent(id)}/archive`, undefined, LONG_CALL_MS);
    return JSON.parse(text) as LayerArchiveResult;
  }
  async backupSandbox(r: RunnerTarget, id: string, key: string): Promise<LayerArchiveResult> {
    const { text } = await this.call(r, 'POST', `/sandboxes/${encodeURIComponent(id)}/backup`, { key }, LONG_CALL_MS);
    return JSON.parse(text) as LayerArchiveResult;
  }
  async claimSandbox(r: RunnerTarget, id: string, body: ClaimRunnerSandbox): Promise<void> {
    await this.call(r, 'POST', `/sandboxes/${encodeURIComponent(id)}/claim`, body, CLAIM_CALL_MS);
  }
  async sandboxInfo(r: RunnerTarget, id: string): Promise<RunnerSandboxInfo | null> {
    try {
      const { text } = await this.call(r, 'GET', `/sandboxes/${encodeURIComponent(id)}`, undefined, SHORT_CALL_MS);
      return JSON.parse(text) as RunnerSandboxInfo;
    } catch (err) {
      if (err instanceof RunnerCallError && err.statusCode === 404) return null;
      throw err;
    }
  }
}
