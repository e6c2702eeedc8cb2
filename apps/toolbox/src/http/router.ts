import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { REQUEST_ID_HEADER } from '@shoal/contracts';
import { budgetedRequestLog, ERROR, requestLogContext, type Log, type RequestLogContext } from '../log.js';
import { badRequest, notFound, payloadTooLarge, renderError, ToolboxError } from './errors.js';

/*
 * A deliberately small router over node:http instead of Fastify: the runner polls `GET /version` right after it
 * starts the daemon, so the bundle must begin listening within a few milliseconds of process start (Fastify's
 * module graph alone costs ~50 ms here), and the streaming routes (multipart in and out, WebSockets, long command
 * output) want the raw request and response anyway. Request bodies are still validated against the TypeBox schemas
 * from `@shoal/contracts`, which stay the contract.
 */

export interface RequestContext<B = unknown> {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: B;
}

/** What a handler returns: a JSON body with a status, or `handled` when it wrote the response itself. */
export type HandlerResult = { status: number; json?: unknown; text?: string } | 'handled';

export interface RouteDefinition<S extends TSchema | undefined> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** The Daytona operation name, for logs and the route table. */
  operation: string;
  /** JSON body schema. Absent: the body is not read, and a handler may consume `req` as a stream. */
  body?: S;
  handler(ctx: RequestContext<S extends TSchema ? Static<S> : undefined>): Promise<HandlerResult>;
}

export interface UpgradeContext {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  params: Record<string, string>;
  query: URLSearchParams;
}

interface CompiledRoute {
  method: string;
  pattern: RegExp;
  keys: string[];
  def: RouteDefinition<TSchema | undefined>;
}

const JSON_LIMIT = 64 * 1024 * 1024;

function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        keys.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { pattern: new RegExp(`^${source}$`), keys };
}

function match(pattern: RegExp, keys: string[], path: string): Record<string, string> | undefined {
  const m = pattern.exec(path);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  keys.forEach((key, i) => {
    params[key] = decodeURIComponent(m[i + 1] ?? '');
  });
  return params;
}

/** `/files/` and `/files` are the same route (the API adds the trailing slash for the daemon's files root). */
function normalisePath(pathname: string): string {
  return pathname.length > 1 && pathname.endsWith('/') ? pathname.replace(/\/+$/, '') || '/' : pathname;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > JSON_LIMIT) throw payloadTooLarge(`request body exceeds ${JSON_LIMIT} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > JSON_LIMIT) throw payloadTooLarge(`request body exceeds ${JSON_LIMIT} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  const type = String(req.headers['content-type'] ?? '');
  // Empty-bodied POSTs arrive as x-www-form-urlencoded (axios); anything non-empty must be JSON.
  if (type && !type.includes('json') && !type.includes('text/plain')) {
    throw badRequest(`unsupported content type ${type.split(';')[0]}: expected application/json`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('request body is not valid JSON');
  }
}

function validate(schema: TSchema, value: unknown): unknown {
  if (value === undefined) throw badRequest('request body is required');
  if (Value.Check(schema, value)) return value;
  const first = Value.Errors(schema, value).First();
  const where = first?.path ? first.path.replace(/^\//, '').replace(/\//g, '.') : 'body';
  throw badRequest(`${where}: ${first?.message ?? 'invalid value'}`);
}

export class Router {
  private readonly routes: CompiledRoute[] = [];
  private readonly upgrades: { pattern: RegExp; keys: string[]; handler: (ctx: UpgradeContext) => void }[] = [];

  private readonly requestLog: Log;

  constructor(private readonly log: Log) {
    this.requestLog = budgetedRequestLog(log);
  }

  add<S extends TSchema | undefined>(def: RouteDefinition<S>): void {
    const { pattern, keys } = compile(def.path);
    this.routes.push({ method: def.method, pattern, keys, def: def as unknown as RouteDefinition<TSchema | undefined> });
  }

  /** The routes as registered (method, path pattern, Daytona operation), for the check against the documented table. */
  list(): { method: string; path: string; operation: string }[] {
    return this.routes.map((r) => ({ method: r.def.method, path: r.def.path, operation: r.def.operation }));
  }

  addUpgrade(path: string, handler: (ctx: UpgradeContext) => void): void {
    const { pattern, keys } = compile(path);
    this.upgrades.push({ pattern, keys, handler });
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void this.dispatch(req, res);
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://toolbox');
    const path = normalisePath(url.pathname);
    const rc = requestLogContext(req);
    const started = performance.now();
    const request = { method: req.method, url: path, upgrade: String(req.headers.upgrade ?? '') };
    this.requestLog('incoming upgrade', { ...rc, req: request });
    socket.once('close', () => this.requestLog('upgrade closed', { ...rc, req: request, durationMs: Math.round(performance.now() - started) }));
    for (const route of this.upgrades) {
      let params: Record<string, string> | undefined;
      try {
        params = match(route.pattern, route.keys, path);
      } catch {
        params = undefined;
      }
      if (!params) continue;
      try {
        route.handler({ req, socket, head, params, query: url.searchParams });
      } catch (err) {
        this.log(`upgrade ${path} failed: ${(err as Error).stack ?? String(err)}`, { level: ERROR, ...rc });
        socket.destroy();
      }
      return;
    }
    const body = JSON.stringify(renderError(404, `no WebSocket route for ${path}`, path));
    socket.end(
      `HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path = '/';
    const rc = requestLogContext(req);
    const started = performance.now();
    res.setHeader(REQUEST_ID_HEADER, rc.reqId);
    res.once('close', () =>
      this.requestLog('request completed', {
        ...rc,
        req: { method: req.method, url: path },
        res: { statusCode: res.statusCode, finished: res.writableFinished },
        responseTime: Math.round((performance.now() - started) * 10) / 10,
      }),
    );
    try {
      const url = new URL(req.url ?? '/', 'http://toolbox');
      path = normalisePath(url.pathname);
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      let found: { route: CompiledRoute; params: Record<string, string> } | undefined;
      for (const route of this.routes) {
        if (route.method !== method) continue;
        let params: Record<string, string> | undefined;
        try {
          params = match(route.pattern, route.keys, path);
        } catch {
          throw badRequest('malformed percent-encoding in path');
        }
        if (params) {
          found = { route, params };
          break;
        }
      }
      if (!found) throw notFound(`Cannot ${req.method} ${path}`);
      const { def } = found.route;
      let body: unknown = undefined;
      if (def.body) body = validate(def.body, await readJsonBody(req));
      const result = await def.handler({ req, res, path, params: found.params, query: url.searchParams, body });
      if (result === 'handled') return;
      if (result.text !== undefined) {
        res.writeHead(result.status, {
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(result.text),
        });
        res.end(result.text);
        return;
      }
      if (result.json === undefined) {
        res.writeHead(result.status);
        res.end();
        return;
      }
      sendJson(res, result.status, result.json);
    } catch (err) {
      this.fail(res, path, err, rc);
    }
  }

  private fail(res: ServerResponse, path: string, err: unknown, rc: RequestLogContext): void {
    let status = 500;
    let message = 'Internal Server Error';
    if (err instanceof ToolboxError) {
      status = err.statusCode;
      message = err.message;
    } else {
      this.log(`request ${path} failed: ${(err as Error)?.stack ?? String(err)}`, { level: ERROR, ...rc });
    }
    if (res.headersSent) {
      // A streamed response cannot change its status any more; cutting it short is the only honest signal.
      res.destroy();
      return;
    }
    // The request body may be unread (e.g. a rejected upload): close the connection rather than drain it.
    if (!res.req.complete) res.setHeader('connection', 'close');
    sendJson(res, status, renderError(status, message, path));
  }
}

export function requiredQuery(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (value === null || value === '') throw badRequest(`query parameter ${name} is required`);
  return value;
}
