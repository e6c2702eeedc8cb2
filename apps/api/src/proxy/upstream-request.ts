import http, { type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

/** Why an upstream request failed before its answer began; the proxy maps each to its status. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'connect-timeout' | 'headers-timeout' | 'network' | 'aborted',
    message: string,
  ) {
    super(message);
  }
}

export interface UpstreamLimits {
  connectTimeoutMs: number;
  /** Silence allowed from the runner until its headers: the request body still flowing counts as progress. */
  headersTimeoutMs: number;
  /** Longest silence inside the response body. */
  idleTimeoutMs: number;
  tcpKeepAliveMs: number;
}

export interface UpstreamRequest {
  apiUrl: string;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Readable | null;
  signal: AbortSignal;
}

/**
 * One proxied exchange over node:http, piping the body both ways with Node's native parser (a 100 MB upload costs
 * fewer copies and callbacks than through undici's). Resolves with the runner's response once its headers arrive;
 * the body then streams under the idle bound and is destroyed with an error when the bound or the caller cuts it.
 */
export function requestUpstream(agent: http.Agent, limits: UpstreamLimits, r: UpstreamRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const target = new URL(r.apiUrl);
    const upstream = http.request({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: r.method,
      path: r.path,
      headers: r.headers,
      agent,
    });
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    const headersTimer = setTimeout(() => fail(new UpstreamError('headers-timeout', `no answer within ${limits.headersTimeoutMs} ms`)), limits.headersTimeoutMs);
    const onChunk = () => headersTimer.refresh();
    const done = () => {
      settled = true;
      clearTimeout(headersTimer);
      clearTimeout(connectTimer);
      r.body?.off('data', onChunk);
      r.signal.removeEventListener('abort', onAbort);
    };
    function fail(err: UpstreamError): void {
      if (settled) return;
      done();
      upstream.destroy();
      reject(err);
    }
    const onAbort = () => {
      // After the answer began, the caller's abort cuts the response body as well.
      upstream.destroy();
      fail(new UpstreamError('aborted', 'the client went away'));
    };
    if (r.signal.aborted) return onAbort();
    r.signal.addEventListener('abort', onAbort, { once: true });

    upstream.on('socket', (s) => {
      s.setKeepAlive(true, limits.tcpKeepAliveMs);
      if (!s.connecting) return;
      connectTimer = setTimeout(() => fail(new UpstreamError('connect-timeout', `connect timed out after ${limits.connectTimeoutMs} ms`)), limits.connectTimeoutMs);
      s.once('connect', () => clearTimeout(connectTimer));
    });
    upstream.on('error', (err) => fail(new UpstreamError('network', (err as NodeJS.ErrnoException).code ?? err.message)));
    upstream.on('response', (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      done();
      // Cleared by the request itself when the socket goes back to the agent, so a reused socket carries no bound.
      upstream.setTimeout(limits.idleTimeoutMs, () => upstream.destroy(new Error(`no data for ${limits.idleTimeoutMs} ms`)));
      r.signal.addEventListener('abort', () => upstream.destroy(), { once: true });
      resolve(res);
    });
    if (r.body) {
      r.body.on('data', onChunk);
      r.body.pipe(upstream);
    } else {
      upstream.end();
    }
  });
}
