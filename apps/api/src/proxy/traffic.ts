import { Pool } from 'undici';
import type { ApiConfig } from '../config.js';

/** Bounds of proxied user traffic (README "Configuration", `SHOAL_PROXY_*`). */
export interface ProxyTrafficOptions {
  /** Proxied requests and WebSockets one organization may have open at once on this API process; 0: no cap. */
  maxStreamsPerOrg: number;
  connectTimeoutMs: number;
  /** Until the runner answers with headers; a synchronous execute only answers when its command ends. */
  headersTimeoutMs: number;
  /** Longest silence inside a response body; any chunk restarts it, so a long log follow that prints lives on. */
  idleTimeoutMs: number;
  /** Longest silence on an upgraded (WebSocket) connection in either direction; 0: none (TCP keep-alive still frees dead peers). */
  wsIdleTimeoutMs: number;
}

/** Seconds of TCP silence before the kernel starts probing a proxied connection, so a vanished peer is noticed. */
export const TCP_KEEPALIVE_MS = 30_000;

/**
 * Per-organization count of open proxied streams. The count lives in this process: with N API replicas behind a
 * balancer an organization may hold up to N times the cap, which still bounds what it can take from anyone else.
 */
export class OrgStreamLimiter {
  private readonly open = new Map<string, number>();

  constructor(readonly maxPerOrg: number) {}

  /** A release function (idempotent) when the organization is under its cap, otherwise null. */
  tryAcquire(organizationId: string): (() => void) | null {
    const n = this.open.get(organizationId) ?? 0;
    if (this.maxPerOrg > 0 && n >= this.maxPerOrg) return null;
    this.open.set(organizationId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(organizationId) ?? 1) - 1;
      if (left <= 0) this.open.delete(organizationId);
      else this.open.set(organizationId, left);
    };
  }

  count(organizationId: string): number {
    return this.open.get(organizationId) ?? 0;
  }
}

/**
 * Connections to runners for proxied user traffic only. The reconciler's calls (create, start, health checks) use
 * HttpRunnerAdapter's own pool, so no number of long-lived user streams can queue them. The pool has no connection
 * limit on purpose: a bounded pool would let one organization's streams queue another's requests, the very stall
 * this exists to prevent; OrgStreamLimiter is what bounds the total.
 */
export class ProxyTraffic {
  readonly limiter: OrgStreamLimiter;
  private readonly pools = new Map<string, Pool>();

  constructor(readonly opts: Readonly<ProxyTrafficOptions>) {
    this.limiter = new OrgStreamLimiter(opts.maxStreamsPerOrg);
  }

  static fromConfig(c: Readonly<ApiConfig>): ProxyTraffic {
    return new ProxyTraffic({
      maxStreamsPerOrg: c.proxyMaxStreamsPerOrg,
      connectTimeoutMs: c.proxyConnectTimeoutMs,
      headersTimeoutMs: c.proxyHeadersTimeoutMs,
      idleTimeoutMs: c.proxyIdleTimeoutMs,
      wsIdleTimeoutMs: c.proxyWsIdleTimeoutMs,
    });
  }

  pool(apiUrl: string): Pool {
    const origin = new URL(apiUrl).origin;
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: null,
        keepAliveTimeout: 30_000,
        connect: { timeout: this.opts.connectTimeoutMs, keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_MS },
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.idleTimeoutMs,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Drops every proxied connection: open streams end at once instead of holding shutdown up. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => {})));
    this.pools.clear();
  }
}
