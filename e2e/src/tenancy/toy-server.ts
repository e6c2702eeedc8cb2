/*
 * A tiny two-tenant API with an OpenAPI document, built correctly or with one deliberate flaw, so the tenancy
 * checker can be shown to catch each kind of mistake it exists for. Nothing here is used by Shoal itself.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';

export type Flaw =
  | 'none'
  /** GET /sandbox/{id} returns any organization's sandbox. */
  | 'skip-org-check'
  /** The list returns every organization's sandboxes. */
  | 'list-all-orgs'
  /** GET /sandbox/{id} is reachable without a key (and says so nowhere in the document). */
  | 'no-auth'
  /** Labels can be replaced without write:sandboxes. */
  | 'skip-permission'
  /** Labels are replaced before the organization check, which then answers 404 as if nothing happened. */
  | 'mutate-before-org-check'
  /** Expired keys are still accepted. */
  | 'accept-expired'
  /** 401s are plain text instead of the error envelope. */
  | 'plain-401'
  /** Admin routes take any admin key, also one the admin narrowed (it lacks a permission). */
  | 'admin-ignores-narrowing';

interface Key {
  org: string;
  admin: boolean;
  permissions: string[];
  expired?: boolean;
}

export const TOY = {
  keyA: 'toy-key-org-a-admin',
  keyB: 'toy-key-org-b',
  keyANoWrite: 'toy-key-org-a-no-write',
  keyANoDelete: 'toy-key-org-a-no-delete',
  keyExpired: 'toy-key-org-a-expired',
  sandboxA: 'sbx-aaaa-1111',
  secretLabel: 'toy-secret-label-of-org-a',
  orgA: 'org-aaaa',
  orgB: 'org-bbbb',
} as const;

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const reasons: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' };

export interface ToyServer {
  app: FastifyInstance;
  baseUrl: string;
  state(): unknown;
  close(): Promise<void>;
}

export async function startToyServer(flaw: Flaw = 'none'): Promise<ToyServer> {
  const keys: Record<string, Key> = {
    [TOY.keyA]: { org: TOY.orgA, admin: true, permissions: ['write:sandboxes', 'delete:sandboxes'] },
    [TOY.keyB]: { org: TOY.orgB, admin: false, permissions: ['write:sandboxes', 'delete:sandboxes'] },
    // Narrowed admin keys: the admin made them with one permission left out.
    [TOY.keyANoWrite]: { org: TOY.orgA, admin: true, permissions: ['delete:sandboxes'] },
    [TOY.keyANoDelete]: { org: TOY.orgA, admin: true, permissions: ['write:sandboxes'] },
    [TOY.keyExpired]: { org: TOY.orgA, admin: false, permissions: ['write:sandboxes', 'delete:sandboxes'], expired: true },
  };
  const sandboxes = new Map<string, { id: string; organizationId: string; labels: Record<string, string> }>([[TOY.sandboxA, { id: TOY.sandboxA, organizationId: TOY.orgA, labels: { team: TOY.secretLabel } as Record<string, string> }]]);

  const app = Fastify({ logger: false });
  await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 'toy', version: '0' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } } });
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    const status = err instanceof HttpError ? err.statusCode : err.validation ? 400 : 500;
    if (status === 401 && flaw === 'plain-401') return reply.code(401).type('text/plain').send('nope');
    return reply.code(status).send({ statusCode: status, message: err.message, error: reasons[status] ?? 'Error', timestamp: new Date().toISOString(), path: req.url });
  });
  // Each route's requirement, by method and URL (kept out of Fastify's route config, whose type the API augments).
  const authOf = new Map<string, 'public' | 'user' | 'admin'>([
    ['GET /api/health', 'public'],
    ['GET /api/openapi.json', 'public'],
    ['GET /api/sandbox', 'user'],
    ['GET /api/sandbox/:sandboxId', flaw === 'no-auth' ? 'public' : 'user'],
    ['PUT /api/sandbox/:sandboxId/labels', 'user'],
    ['DELETE /api/sandbox/:sandboxId', 'user'],
    ['GET /api/admin/organizations', 'admin'],
  ]);
  app.decorateRequest('key', null);
  app.addHook('onRequest', async (req) => {
    const auth = authOf.get(`${String(req.routeOptions.method)} ${req.routeOptions.url ?? ''}`);
    if (!auth || auth === 'public') return;
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const key = m ? keys[m[1]!] : undefined;
    if (!key || (key.expired && flaw !== 'accept-expired')) throw new HttpError(401, 'Unauthorized');
    // Admin powers need the full key; a narrowed admin key is a plain key of its organization.
    const full = ['write:sandboxes', 'delete:sandboxes'].every((p) => key.permissions.includes(p));
    if (auth === 'admin' && !(key.admin && (full || flaw === 'admin-ignores-narrowing'))) throw new HttpError(403, 'Forbidden resource');
    (req as unknown as { key: Key }).key = key;
  });
  const keyOf = (req: object) => (req as { key: Key }).key;
  const need = (k: Key, perm: string) => {
    if (!k.permissions.includes(perm)) throw new HttpError(403, 'Forbidden resource');
  };
  const find = (k: Key, id: string, checkOrg = true) => {
    const sb = sandboxes.get(id);
    if (!sb || (checkOrg && sb.organizationId !== k.org && !k.admin)) throw new HttpError(404, `Sandbox with ID ${id} not found`);
    return sb;
  };
  const secured = { security: [{ bearer: [] }] };
  const idParams = { type: 'object', properties: { sandboxId: { type: 'string' } }, required: ['sandboxId'] } as const;

  await app.register(
    async (api) => {
      api.get('/health', { schema: { operationId: 'health' } }, async () => ({ status: 'ok' }));
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      api.get('/sandbox', { schema: { operationId: 'listSandboxes', ...secured } }, async (req) =>
        [...sandboxes.values()].filter((s) => flaw === 'list-all-orgs' || s.organizationId === keyOf(req).org),
      );
      api.get(
        '/sandbox/:sandboxId',
        { schema: { operationId: 'getSandbox', params: idParams, ...secured } },
        async (req) => {
          const { sandboxId } = req.params as { sandboxId: string };
          if (flaw === 'no-auth') return sandboxes.get(sandboxId) ?? {};
          return find(keyOf(req), sandboxId, flaw !== 'skip-org-check');
        },
      );
      api.put(
        '/sandbox/:sandboxId/labels',
        {
          schema: {
            operationId: 'replaceLabels',
            params: idParams,
            body: { type: 'object', properties: { labels: { type: 'object', additionalProperties: { type: 'string' } } }, required: ['labels'] },
            ...secured,
          },
        },
        async (req) => {
          const k = keyOf(req);
          const { sandboxId } = req.params as { sandboxId: string };
          const { labels } = req.body as { labels: Record<string, string> };
          if (flaw !== 'skip-permission') need(k, 'write:sandboxes');
          if (flaw === 'mutate-before-org-check') {
            const sb = sandboxes.get(sandboxId);
            if (sb) sb.labels = labels;
          }
          const sb = find(k, sandboxId);
          sb.labels = labels;
          return { labels };
        },
      );
      api.delete('/sandbox/:sandboxId', { schema: { operationId: 'deleteSandbox', params: idParams, ...secured } }, async (req, reply) => {
        const k = keyOf(req);
        need(k, 'delete:sandboxes');
        const sb = find(k, (req.params as { sandboxId: string }).sandboxId);
        sandboxes.delete(sb.id);
        return reply.code(204).send();
      });
      api.get('/admin/organizations', { schema: { operationId: 'listAllOrganizations', ...secured } }, async () => [TOY.orgA, TOY.orgB]);
    },
    { prefix: '/api' },
  );
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    baseUrl: address,
    state: () => structuredClone([...sandboxes.values()]),
    close: () => app.close(),
  };
}
