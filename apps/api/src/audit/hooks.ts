import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { NewAuditLog } from '../repositories/audit.repository.js';
import { actorOf, type AuditService, type RequestOrigin } from '../services/audit.service.js';
import { deriveAudit, STATE_CHANGING_METHODS, toolboxAction, type AuditContext, type AuditSpec, type ResolvedAudit } from './actions.js';
import { requestMetadata } from './mask.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's audit declaration (RouteDef.audit); see audit/actions.ts. */
    audit?: AuditSpec | false;
  }
  interface FastifyRequest {
    /** The row begun for this request: its id once written, or why it could not be. */
    auditEntry?: { begun: Promise<{ id: string } | { err: unknown }>; plan: ResolvedAudit };
    /**
     * Resolves once this request's audit row is written, rejects (500) if it cannot be. Routes declared with
     * `audit: { overlap: true }` run their handler while the row is written and call this before their first change;
     * for every other route it has already resolved when the handler runs.
     */
    audited?: () => Promise<void>;
    /** A user authentication identified but refused (not a member of the requested organization). */
    auditRefusedActor?: { userId: string; email: string };
  }
}

export interface AuditHookDeps {
  audit: AuditService;
  /** SHOAL_AUDIT_TOOLBOX_REQUESTS: record writes through the toolbox proxy too (off by default, like the reference). */
  toolbox?: {
    resolvePrincipal: (authorization: string | undefined) => Promise<Principal>;
    sandboxOrganization: (sandboxId: string) => Promise<string | null>;
  };
}

const API_PREFIX = '/api';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOOLBOX_ROUTE = /^\/api\/toolbox\/:sandboxId\/toolbox/;
const MAX_HEADER = 512;

function origin(req: FastifyRequest): RequestOrigin {
  const header = (name: string) => {
    const v = req.headers[name];
    const s = Array.isArray(v) ? v[0] : v;
    return s ? s.slice(0, MAX_HEADER) : null;
  };
  return { ipAddress: req.ip ?? null, userAgent: header('user-agent'), source: header('x-daytona-source') };
}

function context(req: FastifyRequest, result?: unknown, principal: Principal | null = req.principal): AuditContext {
  return {
    params: (req.params ?? {}) as Record<string, string | undefined>,
    query: (req.query ?? {}) as Record<string, unknown>,
    body: req.body,
    principal,
    result,
  };
}

/** The error envelope's message (validation errors carry an array of them). */
function errorMessage(payload: unknown): string | null {
  if (typeof payload !== 'string') return null;
  try {
    const body = JSON.parse(payload) as { message?: unknown };
    if (typeof body.message === 'string') return body.message;
    if (Array.isArray(body.message)) return body.message.map(String).join('; ');
  } catch {
    /* not JSON: the status code says enough */
  }
  return null;
}

function successResult(reply: FastifyReply, payload: unknown): unknown {
  if (typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('json')) return undefined;
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}

/**
 * Records every state-changing request of the public API (audit_log, migration 11), like the reference's audit
 * interceptor: the row is written before the handler runs (preValidation, after authentication; if it cannot be
 * written the request fails 500 and nothing runs), and completed with the status code, error message and, for creates,
 * the created resource's id before the answer leaves. Writes refused by authorization (403) get a complete row
 * afterwards, with the caller as actor. Unauthenticated requests (401) are not recorded: there is no actor to name and
 * anyone could fill the table with them.
 */
export function registerAuditHooks(app: FastifyInstance, deps: AuditHookDeps): void {
  const plans = new Map<string, ResolvedAudit | null>();

  const planFor = (req: FastifyRequest): ResolvedAudit | null => {
    const cfg = req.routeOptions.config;
    const url = req.routeOptions.url ?? '';
    const key = `${req.method} ${url}`;
    let plan = plans.get(key);
    if (plan === undefined) {
      const declared = cfg?.audit;
      // Only the public API's routes (registerRoutes gives them an auth requirement) are audited; GETs only when declared.
      const audited = cfg?.auth !== undefined && declared !== false && (declared !== undefined || STATE_CHANGING_METHODS.has(req.method));
      plan = audited ? deriveAudit(req.method, url.startsWith(API_PREFIX) ? url.slice(API_PREFIX.length) : url, declared || {}) : null;
      plans.set(key, plan);
    }
    return plan;
  };

  const rowFor = async (req: FastifyRequest, plan: ResolvedAudit, principal: Principal) => {
    const ctx = context(req, undefined, principal);
    const targetId = plan.targetId(ctx) ?? null;
    const invitationOrg = plan.targetType === 'organization_invitation' && !ctx.params.organizationId && targetId ? await deps.audit.invitationOrganization(targetId) : null;
    return {
      ...actorOf(principal),
      organizationId: invitationOrg ?? plan.organizationId(ctx) ?? null,
      action: plan.action,
      targetType: plan.targetType,
      targetId,
      ...origin(req),
      metadata: plan.metadata ? requestMetadata(req.body, req.query) : null,
    };
  };

  /** Starts the row's write; the request waits for it here, or (overlap) in its handler through req.audited(). */
  const begin = async (req: FastifyRequest, row: Promise<NewAuditLog>, plan: ResolvedAudit, overlap: boolean) => {
    const begun = row.then((r) => deps.audit.begin(r)).then(
      (id) => ({ id }),
      (err: unknown) => ({ err }),
    );
    req.auditEntry = { begun, plan };
    req.audited = async () => {
      const r = await begun;
      if ('err' in r) throw r.err;
    };
    void begun.then((r) => {
      if ('err' in r) req.log.error({ err: (r.err as { cause?: unknown }).cause ?? r.err }, 'audit log entry could not be written; request refused');
    });
    if (!overlap) await req.audited();
  };

  app.addHook('preValidation', async (req) => {
    if (deps.toolbox && TOOLBOX_ROUTE.test(req.routeOptions.url ?? '')) return beginToolbox(req);
    const plan = planFor(req);
    if (!plan || !req.principal) return;
    const declared = req.routeOptions.config?.audit;
    await begin(req, rowFor(req, plan, req.principal), plan, !!(declared && declared.overlap));
  });

  const beginToolbox = async (req: FastifyRequest) => {
    if (!STATE_CHANGING.has(req.method) || !deps.toolbox) return;
    // The proxy authenticates on its own; a caller it will refuse is left to it (and not recorded, as above).
    const principal = await deps.toolbox.resolvePrincipal(req.headers.authorization).catch(() => null);
    if (!principal || principal.kind !== 'user') return;
    const sandboxId = (req.params as { sandboxId?: string }).sandboxId ?? '';
    const rest = (req.url.split('?')[0] ?? '').replace(/^\/api\/toolbox\/[^/]+\/toolbox/, '') || '/';
    const organizationId = (await deps.toolbox.sandboxOrganization(sandboxId).catch(() => null)) ?? principal.organizationId;
    const plan: ResolvedAudit = {
      action: toolboxAction(req.method, rest),
      targetType: 'sandbox',
      targetId: () => sandboxId,
      organizationId: () => organizationId,
      organizationFromResult: false,
      metadata: false,
    };
    await begin(
      req,
      Promise.resolve({
        ...actorOf(principal),
        organizationId,
        action: plan.action,
        targetType: 'sandbox',
        targetId: sandboxId,
        ...origin(req),
        // Never the body: uploads and commands are the user's data (and may hold secrets); the path says what was done.
        metadata: { path: rest },
      }),
      plan,
      false,
    );
  };

  // Authentication that knows the user but refuses the organization throws before req.principal is set; the error
  // carries the user (auth.service.ts), so the refused write still names who tried, in the organization tried.
  app.addHook('onError', async (req, _reply, err) => {
    const actor = (err as { actor?: { userId?: unknown; email?: unknown } }).actor;
    if (!req.principal && actor && typeof actor.userId === 'string') req.auditRefusedActor = { userId: actor.userId, email: typeof actor.email === 'string' ? actor.email : '' };
  });

  const refusedPrincipal = (req: FastifyRequest): Principal | null => {
    const actor = req.auditRefusedActor;
    if (!actor) return null;
    const header = req.headers['x-daytona-organization-id'];
    const requested = (req.params as { organizationId?: string } | undefined)?.organizationId ?? (Array.isArray(header) ? header[0] : header)?.trim();
    return {
      kind: 'user',
      userId: actor.userId,
      email: actor.email,
      organizationId: requested && UUID.test(requested) ? requested.toLowerCase() : '',
      isAdmin: false,
      permissions: new Set(),
      via: 'jwt',
      orgRole: null,
    };
  };

  app.addHook('onSend', async (req, reply, payload) => {
    const entry = req.auditEntry;
    const status = reply.statusCode;
    try {
      const begun = entry ? await entry.begun : undefined;
      // Not written: the request was refused (or, overlapping, answered before it changed anything); nothing to complete.
      if (begun && 'err' in begun) return payload;
      if (entry && begun) {
        const result = status < 400 ? successResult(reply, payload) : undefined;
        const ctx = context(req, result);
        const found = result === undefined ? {} : { targetId: entry.plan.targetId(ctx), ...(entry.plan.organizationFromResult ? { organizationId: entry.plan.organizationId(ctx) } : {}) };
        const declared = req.routeOptions.config?.audit;
        if (status < 400 && declared && declared.completeAfterAnswer) {
          deps.audit.completeAfterAnswer(begun.id, status, null, found, (err) => req.log.error({ err }, 'audit log entry could not be completed'));
        } else {
          await deps.audit.complete(begun.id, status, status >= 400 ? errorMessage(payload) : null, found);
        }
      } else if (status >= 400 && status !== 401) {
        // Refused before the row was begun (authorization, body parsing): nothing ran, so the row can follow.
        const principal = req.principal ?? refusedPrincipal(req);
        const plan = principal ? planFor(req) : null;
        if (plan && principal) {
          const row = await rowFor(req, plan, principal);
          await deps.audit.recordRefused({ ...row, organizationId: row.organizationId || null, statusCode: status, errorMessage: errorMessage(payload) });
        }
      }
    } catch (err) {
      // The change (if any) already happened and answered; a lost outcome is logged rather than turned into an error.
      req.log.error({ err }, 'audit log entry could not be completed');
    }
    return payload;
  });
}

const STATE_CHANGING = STATE_CHANGING_METHODS;
