import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Permission } from '../auth/api-key-format.js';
import type { AuditSpec } from '../audit/actions.js';
import type { AuthRequirement, Principal, RunnerPrincipal, UserPrincipal } from '../auth/principal.js';
import { errorResponses } from '../schemas.js';
import type { Services } from '../services/services.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
type Maybe<T extends TSchema | undefined> = T extends TSchema ? Static<T> : undefined;

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal | null;
  /** The calling user; only valid on routes whose auth is 'user' or 'admin'. */
  user: UserPrincipal;
  /** The calling runner; only valid on routes whose auth is 'runner'. */
  runner: RunnerPrincipal;
  req: FastifyRequest;
  reply: FastifyReply;
  /** Resolves once the request's audit row is written (audit/hooks.ts); a route declared with `audit.overlap` awaits it before its first change. */
  audited: () => Promise<void>;
}

export interface RouteDef<P extends TSchema | undefined = undefined, Q extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined> {
  method: Method;
  url: string;
  operationId: string;
  summary?: string;
  tags?: string[];
  auth: AuthRequirement;
  permission?: Permission;
  params?: P;
  querystring?: Q;
  body?: B;
  /** Status code to response schema; the first one is the success status. */
  response: Record<number, TSchema>;
  deprecated?: boolean;
  hide?: boolean;
  /** Audit log naming (audit/actions.ts); writes are recorded with derived names without it, `false` opts out. */
  audit?: AuditSpec | false;
  handler: (ctx: RouteContext<Maybe<P>, Maybe<Q>, Maybe<B>>, s: Services) => Promise<unknown>;
}

const noAudit = async (): Promise<void> => {};

/** Keeps each operation file to its schema and a one-line call into a service. */
export function defineRoute<P extends TSchema | undefined = undefined, Q extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined>(
  def: RouteDef<P, Q, B>,
): RouteDef<TSchema | undefined, TSchema | undefined, TSchema | undefined> {
  return def as unknown as RouteDef<TSchema | undefined, TSchema | undefined, TSchema | undefined>;
}

export type AnyRoute = ReturnType<typeof defineRoute>;

export function registerRoutes(app: FastifyInstance, routes: AnyRoute[], services: Services, overrides: { urlPrefix?: string; operationSuffix?: string; tag?: string } = {}): void {
  for (const r of routes) {
    const successStatus = Number(Object.keys(r.response)[0] ?? 200);
    const url = (overrides.urlPrefix ?? '') + r.url;
    app.route({
      method: r.method,
      url,
      config: { auth: r.auth, ...(r.permission ? { permission: r.permission } : {}), ...(r.audit !== undefined ? { audit: r.audit } : {}) },
      schema: {
        operationId: r.operationId + (overrides.operationSuffix ?? ''),
        ...(r.summary ? { summary: r.summary } : {}),
        tags: overrides.tag ? [overrides.tag] : (r.tags ?? []),
        ...(r.deprecated || overrides.operationSuffix ? { deprecated: true } : {}),
        ...(r.hide ? { hide: true } : {}),
        ...(r.auth !== 'none' ? { security: [{ bearer: [] }] } : {}),
        ...(r.params ? { params: r.params } : {}),
        ...(r.querystring ? { querystring: r.querystring } : {}),
        ...(r.body ? { body: r.body } : {}),
        response: { ...r.response, ...(r.auth !== 'none' ? errorResponses : { 400: errorResponses[400] }) },
      },
      handler: async (req, reply) => {
        const result = await r.handler(
          {
            params: req.params as never,
            query: req.query as never,
            body: req.body as never,
            principal: req.principal,
            user: req.principal as UserPrincipal,
            runner: req.principal as RunnerPrincipal,
            req,
            reply,
            audited: req.audited ?? noAudit,
          },
          services,
        );
        if (reply.sent) return reply;
        reply.code(successStatus);
        return result === undefined ? reply.send() : result;
      },
    });
  }
}
