import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { acceptedRequestId, errorEnvelope, PROCESS_STREAM_PATH, REQUEST_ID_HEADER, RUNNER_AUTH_HEADER, TOOLBOX_PORT } from '@shoal/contracts';
import type { ApiConfig } from '../config.js';
import { ApiError, Errors } from '../errors.js';
import type { AuthService } from '../auth/auth.service.js';
import { hasPermission } from '../auth/principal.js';
import type { Runner } from '../db/schema.js';
import { HttpRunnerAdapter } from '../reconciler/runner-client.js';
import type { RunnerRepository } from '../repositories/runner.repository.js';
import type { SandboxRepository } from '../repositories/sandbox.repository.js';
import type { SshAccessRepository } from '../repositories/ssh-access.repository.js';
import { timingSafeEqualStr } from '../services/sandbox.service.js';
import { TCP_KEEPALIVE_MS, type ProxyTraffic } from './traffic.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { context, injectTraceHeaders, SpanStatusCode, tracingEnabled, type Context } from '@shoal/telemetry';
import { startServerSpan } from '../metrics/observability.js';

export interface ProxyDeps {
  authService: AuthService;
  sandboxes: Pick<SandboxRepository, 'findById'>;
  /** Runner rows reused for a moment (upstream-lookups.ts). */
  runners: Pick<RunnerRepository, 'findById'>;
  /** Activity bumps, at most one every few seconds per sandbox (upstream-lookups.ts). */
  activity: { bump(id: string): void };
  /** SSH tokens: the SSH gateway reaches a sandbox's streaming process with one (sshGatewayUpstream). */
  sshAccess: Pick<SshAccessRepository, 'findValid'>;
  /** Gives the runner credential; its connection pool is the reconciler's and never carries proxied traffic. */
  http: HttpRunnerAdapter;
  /** The proxy's own connections and the per-organization stream cap (one instance for HTTP and upgrades). */
  traffic: ProxyTraffic;
  config: Readonly<ApiConfig>;
  /** Streams in flight (README "Metrics"). */
  metrics?: ApiMetrics;
}

/** Toolbox or preview, for the streams-in-flight gauge: told apart by the runner path the upstream resolved to. */
function streamKind(up: Upstream): 'toolbox' | 'preview' {
  return /^(?:\/[^/]+)*\/sandboxes\/[^/]+\/toolbox(?:[/?]|$)/.test(up.path) ? 'toolbox' : 'preview';
}

interface Upstream {
  runner: Runner;
  /** The sandbox's organization, whose cap of open streams this request counts against. */
  organizationId: string;
  /** Path on the runner, including the query string. */
  path: string;
  /** Set-Cookie the answer carries: the preview cookie, after a valid query token (a browser's sub-requests need it). */
  setCookie?: string;
}

const TOOLBOX_PREFIX = /^\/api\/toolbox\/([^/?]+)\/toolbox(?=[/?]|$)/;
const PREVIEW_PREFIX = /^\/preview\/(\d{1,5})-([^/?]+)(?=[/?]|$)/;
const PREVIEW_QUERY_TOKEN = 'DAYTONA_SANDBOX_AUTH_KEY';
/** The reference's preview cookie (one per sandbox), set once a browser came with the query token. */
const PREVIEW_COOKIE_PREFIX = 'daytona-sandbox-auth-';
const PREVIEW_COOKIE_MAX_AGE_S = 3600;
/** Every toolbox route needs write:sandboxes (daytona-api-facts.md §7.2); the refusal names it, as the routes' do. */
const MISSING_WRITE_SANDBOXES = 'Forbidden: missing permission write:sandboxes';

// Hop-by-hop headers (RFC 9110 §7.6.1), the ones we replace, and the caller's credentials: code in the sandbox must
// never see the API key (it controls every sandbox of the organization) or the preview token. `Expect: 100-continue`
// (curl sends it with any large upload) is answered by this server before the body flows, so it stops here too
// (undici also refuses to send it).
const DROP_REQUEST = new Set(['expect', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);
/** Every `X-Daytona-*` header (preview token, runner auth, organization id, SDK metadata) stays with the platform. */
const DROP_REQUEST_PREFIX = 'x-daytona-';
/** Cookies of the platform itself (`daytona*`, `shoal*`, any case); the app's own cookies pass through. */
const PLATFORM_COOKIE = /^\s*(daytona|shoal)/i;
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** `{port}-{id}.{domain}` host names are rewritten to the path form so one route serves both. */
export function previewHostRewrite(domain: string | undefined): (req: IncomingMessage) => string {
  if (!domain) return (req) => req.url ?? '/';
  const suffix = `.${domain.toLowerCase().replace(/:\d+$/, '')}`;
  return (req) => {
    const url = req.url ?? '/';
    const target = previewHostTarget(req.headers.host, suffix);
    return target ? `/preview/${target}${url.startsWith('/') ? url : `/${url}`}` : url;
  };
}

function previewHostTarget(host: string | undefined, suffix: string): string | null {
  if (!host) return null;
  const name = host.toLowerCase().replace(/:\d+$/, '');
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  return /^\d{1,5}-[a-z0-9-]+$/.test(label) ? label : null;
}

/** Resolves `/api/toolbox/{id}/toolbox/<rest>` to the sandbox's runner, enforcing auth and the running state. */
async function toolboxUpstream(deps: ProxyDeps, url: string, headers: IncomingHttpHeaders): Promise<Upstream> {
  const m = TOOLBOX_PREFIX.exec(url);
  if (!m) throw Errors.notFound(`Cannot resolve ${url.split('?')[0]}`);
  const principal = await deps.authService.resolve(headers.authorization, { header: headers['x-daytona-organization-id'] });
  if (principal.kind === 'ssh-gateway') return sshGatewayUpstream(deps, url, m, headers);
  if (principal.kind !== 'user') throw Errors.forbidden();
  if (!hasPermission(principal, 'write:sandboxes')) throw Errors.forbidden(MISSING_WRITE_SANDBOXES);
  const id = decodeURIComponent(m[1]!);
  const sb = await deps.sandboxes.findById(id);
  if (!sb || (sb.organizationId !== principal.organizationId && !principal.isAdmin)) throw Errors.sandboxNotFound(id);
  if (sb.state !== 'started' || sb.desiredState !== 'started' || !sb.runnerId) throw Errors.notRunning();
  const runner = await deps.runners.findById(sb.runnerId);
  if (!runner) throw Errors.notRunning();
  deps.activity.bump(sb.id);
  const rest = url.slice(m[0].length);
  const path = `${HttpRunnerAdapter.basePath(runner.apiUrl)}/sandboxes/${encodeURIComponent(sb.id)}/toolbox${rest.startsWith('/') || rest === '' || rest.startsWith('?') ? rest : `/${rest}`}`;
  return { runner, organizationId: sb.organizationId, path };
}

/** Header carrying the user's SSH token from the gateway; an `x-daytona-` header, so it never reaches the runner. */
export const SSH_TOKEN_HEADER = 'x-daytona-ssh-token';

/**
 * The SSH gateway's credential opens one toolbox path, the streaming process, and only of the sandbox the user's SSH
 * token (still valid: not expired nor revoked) belongs to; a token of another sandbox answers as a missing sandbox.
 */
async function sshGatewayUpstream(deps: ProxyDeps, url: string, m: RegExpExecArray, headers: IncomingHttpHeaders): Promise<Upstream> {
  const rest = url.slice(m[0].length).split('?')[0];
  const token = headers[SSH_TOKEN_HEADER];
  let id: string;
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    throw Errors.badRequest('Invalid sandbox id');
  }
  if (rest !== PROCESS_STREAM_PATH || typeof token !== 'string' || !token) throw Errors.forbidden();
  const access = await deps.sshAccess.findValid(token);
  if (!access || access.sandboxId !== id) throw Errors.sandboxNotFound(id);
  const sb = await deps.sandboxes.findById(id);
  if (!sb || sb.state === 'destroyed') throw Errors.sandboxNotFound(id);
  if (sb.state !== 'started' || sb.desiredState !== 'started' || !sb.runnerId) throw Errors.notRunning();
  const runner = await deps.runners.findById(sb.runnerId);
  if (!runner) throw Errors.notRunning();
  deps.activity.bump(sb.id);
  return { runner, organizationId: sb.organizationId, path: `${HttpRunnerAdapter.basePath(runner.apiUrl)}/sandboxes/${encodeURIComponent(sb.id)}/toolbox${PROCESS_STREAM_PATH}` };
}

/**
 * Resolves `/preview/{port}-{id}/<rest>`. Public sandboxes need no credentials except on the toolbox port; otherwise
 * the preview token (header or query, the query one is stripped) or an API key of the sandbox's organization.
 */
async function previewUpstream(deps: ProxyDeps, url: string, headers: IncomingHttpHeaders): Promise<Upstream> {
  const m = PREVIEW_PREFIX.exec(url);
  if (!m) throw Errors.notFound(`Cannot resolve ${url.split('?')[0]}`);
  const port = Number(m[1]);
  let id: string;
  try {
    id = decodeURIComponent(m[2]!);
  } catch {
    throw Errors.badRequest('Invalid sandbox id');
  }
  if (port < 1 || port > 65535) throw Errors.badRequest('Invalid port');
  let setCookie: string | undefined;
  const sb = await deps.sandboxes.findById(id);
  if (!sb || sb.state === 'destroyed') throw Errors.sandboxNotFound(id);

  let rest = url.slice(m[0].length);
  const q = rest.indexOf('?');
  let pathPart = q >= 0 ? rest.slice(0, q) : rest;
  const params = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  const queryToken = params.get(PREVIEW_QUERY_TOKEN);
  params.delete(PREVIEW_QUERY_TOKEN);

  if (port === TOOLBOX_PORT) {
    // The toolbox runs any command as root in the sandbox: only an API key that may change the sandbox opens it, never
    // the preview token alone (a read-only key can fetch that token) and never the public flag.
    if (!headers.authorization) throw Errors.unauthorized('The toolbox port requires an API key with write:sandboxes');
    const principal = await deps.authService.resolve(headers.authorization, { header: headers['x-daytona-organization-id'] });
    if (principal.kind !== 'user') throw Errors.forbidden();
    // Another organization's sandbox answers as a missing one: a 403 would tell the caller the id exists.
    if (principal.organizationId !== sb.organizationId && !principal.isAdmin) throw Errors.sandboxNotFound(id);
    if (!hasPermission(principal, 'write:sandboxes')) throw Errors.forbidden(MISSING_WRITE_SANDBOXES);
  } else if (!sb.public) {
    const headerToken = headers['x-daytona-preview-token'];
    const secret = deps.config.platformSecret;
    const viaQuery = queryToken !== null && timingSafeEqualStr(queryToken, sb.authToken);
    const cookie = secret ? previewCookieValue(headers.cookie, sb.id) : undefined;
    let ok = (typeof headerToken === 'string' && timingSafeEqualStr(headerToken, sb.authToken)) || viaQuery || (cookie !== undefined && timingSafeEqualStr(cookie, previewCookieSignature(secret!, sb.id, sb.authToken)));
    // A browser opening a web app (noVNC's vnc.html) brings the token on the first request only; its scripts, images
    // and WebSocket come back with this cookie. It is signed over the current token, so rotating the token revokes it.
    if (viaQuery && secret) setCookie = `${PREVIEW_COOKIE_PREFIX}${sb.id}=${previewCookieSignature(secret, sb.id, sb.authToken)}; Path=/; Max-Age=${PREVIEW_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax`;
    if (!ok && headers.authorization) {
      const principal = await deps.authService.resolve(headers.authorization, { header: headers['x-daytona-organization-id'] });
      if (principal.kind !== 'user') throw Errors.forbidden();
      if (principal.organizationId !== sb.organizationId && !principal.isAdmin) throw Errors.sandboxNotFound(id);
      ok = true;
    }
    if (!ok) throw Errors.unauthorized('Preview access requires a valid preview token or API key');
  }
  if (sb.state !== 'started' || !sb.runnerId) throw Errors.notRunning();
  const runner = await deps.runners.findById(sb.runnerId);
  if (!runner) throw Errors.notRunning();
  if (pathPart === '') pathPart = '/';
  const search = params.toString();
  rest = pathPart + (search ? `?${search}` : '');
  return { runner, organizationId: sb.organizationId, path: `${HttpRunnerAdapter.basePath(runner.apiUrl)}/sandboxes/${encodeURIComponent(sb.id)}/ports/${port}${rest}`, ...(setCookie ? { setCookie } : {}) };
}

function previewCookieSignature(secret: string, sandboxId: string, authToken: string): string {
  return createHmac('sha256', secret).update(`preview-cookie\0${sandboxId}\0${authToken}`).digest('base64url');
}

/** The value of this sandbox's preview cookie in a Cookie header, if any. */
function previewCookieValue(header: string | undefined, sandboxId: string): string | undefined {
  if (!header) return undefined;
  const name = `${PREVIEW_COOKIE_PREFIX}${sandboxId}`;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** The caller's headers minus every platform credential, plus the API's own credential for the runner. */
export function forwardHeaders(headers: IncomingHttpHeaders, runnerCredential: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || DROP_REQUEST.has(k) || k.startsWith(DROP_REQUEST_PREFIX)) continue;
    if (k === 'cookie') {
      const kept = appCookies(v);
      if (kept) out.cookie = kept;
      continue;
    }
    out[k] = v;
  }
  out[RUNNER_AUTH_HEADER] = runnerCredential;
  return out;
}

/**
 * The runner logs a proxied request (or upgrade) under the API's id, passes it on to the toolbox, and continues the
 * API's trace: the caller's traceparent is replaced by the context of `ctx` (default: the active one, the request's).
 */
function identifyForRunner(headers: Record<string, string | string[]>, requestId: string, ctx?: Context): void {
  headers[REQUEST_ID_HEADER] = requestId;
  injectTraceHeaders(headers, ctx);
}

/** The Cookie header without the platform's cookies; undefined when nothing is left. */
export function appCookies(value: string | string[]): string | undefined {
  const pairs = (Array.isArray(value) ? value.join('; ') : value).split(';').filter((p) => p.trim() !== '' && !PLATFORM_COOKIE.test(p));
  return pairs.length ? pairs.map((p) => p.trim()).join('; ') : undefined;
}

/**
 * Streams the request to the runner and the answer back, never buffering either body. The request holds one of its
 * organization's stream slots until the response is over, whichever way it ends.
 */
async function forward(deps: ProxyDeps, req: FastifyRequest, reply: FastifyReply, up: Upstream): Promise<FastifyReply> {
  const release = deps.traffic.limiter.tryAcquire(up.organizationId);
  if (!release) throw Errors.tooManyProxyStreams(deps.traffic.limiter.maxPerOrg);
  reply.raw.once('finish', release);
  reply.raw.once('close', release);
  const closeStream = deps.metrics?.openStream(streamKind(up), 'http');
  if (closeStream) reply.raw.once('close', closeStream);
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  const hasBody = req.body !== undefined && req.body !== null && typeof (req.body as Readable).pipe === 'function';
  let res;
  const headers = forwardHeaders(req.headers, deps.http.credential(up.runner));
  identifyForRunner(headers, req.id);
  try {
    // Timeouts are the proxy pool's (connect, headers, body idle): see ProxyTraffic.
    res = await deps.traffic.pool(up.runner.apiUrl).request({
      method: req.method as 'GET',
      path: up.path,
      headers,
      body: hasBody ? (req.body as Readable) : null,
      signal: abort.signal,
    });
  } catch (err) {
    if (abort.signal.aborted) return reply;
    const code = (err as { code?: string }).code;
    req.log.warn({ err: (err as Error).message, code, runner: up.runner.domain }, 'proxy upstream failed');
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      throw Errors.gatewayTimeout(`The sandbox did not answer within ${deps.traffic.opts.headersTimeoutMs} ms`);
    }
    throw Errors.badGateway(`Runner unreachable: ${(err as Error).message}`);
  }
  reply.code(res.statusCode);
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined || DROP_RESPONSE.has(k)) continue;
    reply.header(k, v);
  }
  if (up.setCookie) {
    const app = res.headers['set-cookie'];
    reply.header('set-cookie', [...(app === undefined ? [] : Array.isArray(app) ? app : [app]), up.setCookie]);
  }
  res.body.on('error', () => {});
  return reply.send(res.body);
}

/** HTTP routes of the toolbox and preview proxies; request bodies pass through as raw streams. */
export function proxyRoutes(app: FastifyInstance, deps: ProxyDeps): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  const methods = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'] as const;
  const toolbox = async (req: FastifyRequest, reply: FastifyReply) => forward(deps, req, reply, await toolboxUpstream(deps, req.url, req.headers));
  const preview = async (req: FastifyRequest, reply: FastifyReply) => forward(deps, req, reply, await previewUpstream(deps, req.url, req.headers));
  const hide = { schema: { hide: true } };
  app.route({ method: [...methods], url: '/api/toolbox/:sandboxId/toolbox', ...hide, handler: toolbox });
  app.route({ method: [...methods], url: '/api/toolbox/:sandboxId/toolbox/*', ...hide, handler: toolbox });
  app.route({ method: [...methods], url: '/preview/:target', ...hide, handler: preview });
  app.route({ method: [...methods], url: '/preview/:target/*', ...hide, handler: preview });
}

/** Subprotocol prefixes that carry a browser's API key and organization (credentialsFromSubprotocols). */
export const WS_API_KEY_PROTOCOL = 'shoal.api-key.';
export const WS_ORGANIZATION_PROTOCOL = 'shoal.org.';

/**
 * A browser cannot set headers on a WebSocket, and the toolbox port takes only an API key (never the preview token), so
 * the dashboard's terminal offers its key and organization as subprotocols `shoal.api-key.<key>`, `shoal.org.<id>`.
 * They become the Authorization and organization headers (an explicit header wins) and leave the offered list in every
 * case, so the sandbox never sees them and answers with one of the others (the dashboard also offers `shoal.v1`).
 */
export function credentialsFromSubprotocols(headers: IncomingHttpHeaders): void {
  const raw = headers['sec-websocket-protocol'];
  if (typeof raw !== 'string') return;
  const kept: string[] = [];
  let key: string | undefined;
  let org: string | undefined;
  for (const p of raw.split(',')) {
    const name = p.trim();
    if (name.startsWith(WS_API_KEY_PROTOCOL)) key = name.slice(WS_API_KEY_PROTOCOL.length);
    else if (name.startsWith(WS_ORGANIZATION_PROTOCOL)) org = name.slice(WS_ORGANIZATION_PROTOCOL.length);
    else if (name) kept.push(name);
  }
  if (key === undefined && org === undefined) return;
  if (kept.length) headers['sec-websocket-protocol'] = kept.join(', ');
  else delete headers['sec-websocket-protocol'];
  if (key && !headers.authorization) headers.authorization = `Bearer ${key}`;
  if (org && !headers['x-daytona-organization-id']) headers['x-daytona-organization-id'] = org;
}

/**
 * WebSocket (and any other Upgrade) requests bypass Fastify routing: authenticate like the HTTP routes, then splice
 * the client socket to the runner's. The upstream handshake answer is relayed verbatim, so no subprotocol is added
 * that the client did not ask for.
 */
export function attachUpgradeHandler(app: FastifyInstance, deps: ProxyDeps): void {
  const rewrite = previewHostRewrite(deps.config.previewDomain);
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    credentialsFromSubprotocols(req.headers);
    const url = rewrite(req);
    // As for routed requests (app.ts genReqId): the caller's id when acceptable; it goes on to the runner and toolbox.
    const requestId = acceptedRequestId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
    const path = url.split('?')[0] ?? url;
    const route = TOOLBOX_PREFIX.test(url) ? '/api/toolbox/:sandboxId/toolbox/*' : PREVIEW_PREFIX.test(url) ? '/preview/:target/*' : 'unmatched';
    // The query is left out: a preview URL may carry the sandbox's token in it.
    const log = app.log.child({ reqId: requestId });
    log.info({ req: { method: req.method, url: path }, upgrade: req.headers.upgrade }, 'incoming upgrade');
    const started = performance.now();
    // 0 until answered: the client may leave while the upgrade is being resolved.
    let status = 0;
    const traced = tracingEnabled() ? startServerSpan(`upgrade ${route}`, req.method ?? 'GET', route, req.headers, requestId) : undefined;
    socket.once('close', () => {
      const outcome = status === 101 ? 'upgrade closed' : status === 0 ? 'upgrade abandoned' : 'upgrade refused';
      log.info({ res: { statusCode: status }, durationMs: Math.round(performance.now() - started) }, outcome);
      if (traced) {
        if (status) traced.span.setAttribute('http.response.status_code', status);
        if (status >= 500) traced.span.setStatus({ code: SpanStatusCode.ERROR });
        traced.span.end();
      }
    });
    const refuse = (code: number, message: string) => {
      status = code;
      writeHttpError(socket, code, message, url, requestId);
    };
    const resolve = TOOLBOX_PREFIX.test(url)
      ? toolboxUpstream(deps, url, req.headers)
      : PREVIEW_PREFIX.test(url)
        ? previewUpstream(deps, url, req.headers)
        : Promise.reject(Errors.notFound(`Cannot ${req.method} ${path}`));
    resolve.then(
      (up) => {
        if (socket.destroyed) return;
        const release = deps.traffic.limiter.tryAcquire(up.organizationId);
        if (!release) {
          const err = Errors.tooManyProxyStreams(deps.traffic.limiter.maxPerOrg);
          refuse(err.statusCode, err.message);
          return;
        }
        socket.once('close', release);
        const closeStream = deps.metrics?.openStream(streamKind(up), 'websocket');
        if (closeStream) socket.once('close', closeStream);
        const headers = forwardHeaders(req.headers, deps.http.credential(up.runner));
        identifyForRunner(headers, requestId, traced?.ctx ?? context.active());
        spliceUpgrade(req, socket, head, up, headers, deps.traffic.opts, requestId, (code) => (status = code));
      },
      (err: unknown) => {
        const code = err instanceof ApiError ? err.statusCode : 500;
        const message = err instanceof ApiError ? err.message : 'Internal server error';
        if (!(err instanceof ApiError)) log.error({ err }, 'upgrade failed');
        refuse(code, message);
      },
    );
  });
}

/**
 * Bounds: connecting to the runner (connect timeout) and its handshake answer (headers timeout); once upgraded, the
 * tunnel is closed after `wsIdleTimeoutMs` without a byte either way, and TCP keep-alive frees it when a peer vanishes.
 * Its own connection (no agent): an upgraded socket never returns to a pool.
 */
function spliceUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  up: Upstream,
  headers: Record<string, string | string[]>,
  limits: ProxyTraffic['opts'],
  requestId: string,
  answered: (status: number) => void,
): void {
  const target = new URL(up.runner.apiUrl);
  headers.connection = 'Upgrade';
  headers.upgrade = req.headers.upgrade ?? 'websocket';
  headers.host = target.host;
  const upstream = http.request({
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port,
    method: req.method,
    path: up.path,
    headers,
    agent: false,
  });
  const fail = (status: number, message: string) => {
    upstream.destroy();
    answered(status);
    writeHttpError(socket, status, message, req.url ?? '/', requestId);
  };
  const handshake = setTimeout(() => fail(504, `The sandbox did not answer within ${limits.headersTimeoutMs} ms`), limits.headersTimeoutMs);
  upstream.on('socket', (s) => {
    if (!s.connecting) return;
    const connect = setTimeout(() => fail(502, `Runner unreachable: connect timed out after ${limits.connectTimeoutMs} ms`), limits.connectTimeoutMs);
    s.once('connect', () => clearTimeout(connect));
    s.once('close', () => clearTimeout(connect));
  });
  upstream.on('close', () => clearTimeout(handshake));
  upstream.on('upgrade', (res, upSocket, upHead) => {
    clearTimeout(handshake);
    if (socket.destroyed) {
      upSocket.destroy();
      return;
    }
    upSocket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    // An upgrade hands over the server's net.Socket (typed Duplex by the 'upgrade' event).
    const client = socket as Socket;
    client.setKeepAlive(true, TCP_KEEPALIVE_MS);
    if (limits.wsIdleTimeoutMs > 0) {
      // The client socket sees traffic of both directions (reads from the client, writes of the sandbox's frames).
      client.setTimeout(limits.wsIdleTimeoutMs, () => {
        upSocket.destroy();
        socket.destroy();
      });
    }
    answered(res.statusCode ?? 101);
    const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      if (res.rawHeaders[i]!.toLowerCase() !== REQUEST_ID_HEADER) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    }
    lines.push(`${REQUEST_ID_HEADER}: ${requestId}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('error', () => upSocket.destroy());
    upSocket.on('close', () => socket.destroy());
    socket.on('close', () => upSocket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  upstream.on('response', (res) => {
    clearTimeout(handshake);
    // The runner refused the upgrade: relay its answer as a plain HTTP response.
    answered(res.statusCode ?? 502);
    const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!.toLowerCase();
      if (DROP_RESPONSE.has(name) || name === REQUEST_ID_HEADER) continue;
      lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    }
    lines.push(`${REQUEST_ID_HEADER}: ${requestId}`);
    lines.push('Connection: close');
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    res.pipe(socket);
  });
  upstream.on('error', (err) => {
    clearTimeout(handshake);
    if (!socket.writableEnded) answered(502);
    writeHttpError(socket, 502, `Runner unreachable: ${err.message}`, req.url ?? '/', requestId);
  });
  socket.on('close', () => upstream.destroy());
  upstream.end();
}

function writeHttpError(socket: Duplex, status: number, message: string, path: string, requestId: string): void {
  if (socket.destroyed || socket.writableEnded) return;
  const body = JSON.stringify(errorEnvelope(status, message, path));
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
