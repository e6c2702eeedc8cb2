import { request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorEnvelope, RUNNER_AUTH_HEADER, TOOLBOX_PORT } from '@shoal/contracts';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
]);

export interface ProxyTarget {
  /** The toolbox's unix socket (port 2280) ... */
  socketPath?: string;
  /** ... or a TCP address inside the sandbox's network namespace. */
  host?: string;
  port?: number;
  agent?: Agent;
}

/** Cookies of the platform (`daytona*`, `shoal*`, any case); the app's own cookies pass through. */
const PLATFORM_COOKIE = /^\s*(daytona|shoal)/i;

/**
 * Headers forwarded into a sandbox. No credential may reach sandbox code (the API's proxy strips them too; this is
 * the second line): `Authorization` whatever it carries, every `X-Daytona-*` header (runner auth, preview token,
 * organization) and the platform's cookies. The sandbox needs none of them, so the runner adds nothing back.
 * `_runnerToken` is kept for callers; stripping is by name, never by value.
 */
export function forwardHeaders(headers: IncomingHttpHeaders, _runnerToken: string, keepUpgrade = false): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionTokens = String(headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const n = name.toLowerCase();
    if (n === RUNNER_AUTH_HEADER || n === 'authorization' || n === 'proxy-authorization' || n.startsWith('x-daytona-')) continue;
    if (n === 'cookie') {
      const kept = (Array.isArray(value) ? value.join('; ') : value).split(';').filter((p) => p.trim() !== '' && !PLATFORM_COOKIE.test(p));
      if (kept.length) out.cookie = kept.map((p) => p.trim()).join('; ');
      continue;
    }
    if (!keepUpgrade && (HOP_BY_HOP.has(n) || connectionTokens.includes(n))) continue;
    if (keepUpgrade && HOP_BY_HOP.has(n) && n !== 'upgrade' && n !== 'connection') continue;
    out[n] = value;
  }
  return out;
}

/** Streams one HTTP exchange both ways without buffering (uploads of hundreds of MB pass straight through). */
export function proxyHttp(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, path: string, runnerToken: string): void {
  const upstream = httpRequest({
    method: req.method,
    path,
    headers: forwardHeaders(req.headers, runnerToken),
    agent: target.agent,
    ...(target.socketPath ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
  });
  const fail = (status: number, message: string) => {
    if (!res.headersSent) {
      const body = JSON.stringify(errorEnvelope(status, message, (req.url ?? '').split('?')[0] ?? ''));
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.destroy();
    }
  };
  upstream.on('response', (up) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
    up.pipe(res);
    up.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => fail(502, `Sandbox upstream error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.on('aborted', () => upstream.destroy());
  req.pipe(upstream);
}

/** Pipes a WebSocket (or any) upgrade raw to the sandbox; the handshake, subprotocols included, is untouched. */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget, path: string, runnerToken: string): void {
  const upstream: Socket = target.socketPath ? connect({ path: target.socketPath }) : connect({ host: target.host!, port: target.port! });
  const headers = forwardHeaders(req.headers, runnerToken, true);
  upstream.on('connect', () => {
    let raw = `${req.method} ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) raw += `${k}: ${one.replace(/[\r\n]/g, '')}\r\n`;
    upstream.write(raw + '\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(socket).pipe(upstream);
  });
  upstream.on('error', () => {
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    socket.destroy();
  });
  socket.on('error', () => upstream.destroy());
  socket.on('close', () => upstream.destroy());
  upstream.on('close', () => socket.destroy());
}

/** Maps `/sandboxes/:id/toolbox/<rest>` and `/sandboxes/:id/ports/:port/<rest>` to (id, port, upstream path). */
export function parseProxyUrl(url: string): { id: string; port: number; path: string } | undefined {
  const q = url.indexOf('?');
  const pathname = q >= 0 ? url.slice(0, q) : url;
  const query = q >= 0 ? url.slice(q) : '';
  const m = /^\/sandboxes\/([^/]+)\/(?:toolbox|ports\/(\d{1,5}))(\/.*)?$/.exec(pathname);
  if (!m) return undefined;
  const port = m[2] ? Number(m[2]) : TOOLBOX_PORT;
  if (port < 1 || port > 65535) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
  const path = m[3] ?? '/';
  // The toolbox's control paths (a claim's environment) answer the runner alone, never proxied traffic.
  // Checked on the path as the toolbox's router parses it: dot segments and %2e resolved, backslashes read as `/`.
  // The raw path too: `//.shoal/…` parses as a host there (harmless, it routes nowhere) but is refused all the same.
  const control = /^[/\\]+\.shoal([/\\]|$)/i;
  if (port === TOOLBOX_PORT && (control.test(path) || control.test(new URL(path, 'http://toolbox').pathname))) return undefined;
  return { id, port, path: path + query };
}
