// Issue 17 item 3: every JSON answer matches the schema Shoal's own OpenAPI document declares for it, required keys
// included (null only where the schema says nullable). Clients generated from the document (the Python SDK's models
// among them) reject a missing required key even where they accept a null, so a mapper that drops an empty field
// breaks them. The test fills a real app with real rows, calls each documented operation that answers JSON on 2xx
// (the toolbox operations go through the proxy to a real daemon and are e2e territory) and validates every 2xx body.
// A second test holds Shoal's schemas to the reference's: a field the reference's generated client
// (@daytonaio/api-client, generated from the reference's OpenAPI document) declares required is required here too.
// Known differences are listed, each with its reason, in fixtures/response-schemas-known.txt.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Ajv from 'ajv';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_DEFAULT_SNAPSHOT, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner, sshGatewayAuth } from './helpers/app.js';
import { createOrgUser, type OrgTestUser } from './helpers/org-users.js';
import { FakeRunner } from './helpers/fake-runner.js';

const RUNNER_TOKEN = 'fake-runner-token-response-schemas';

let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;
/**
 * What the last handler returned, before Fastify's serializer saw it. The serializer hides mapper faults: it answers
 * 500 for a missing required key and turns a null in a non-nullable string into "" — so the handler's own value is
 * validated too, and names the field.
 */
let handed: Handed | undefined;
interface Handed {
  status: number;
  payload: unknown;
}

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url, {
    // Object storage configured (push-access only signs a session: nothing is stored, the endpoint need not answer).
    env: { SHOAL_S3_URL: 'http://127.0.0.1:9', SHOAL_S3_BUCKET: 'shoal-response-schemas' },
    beforeReady: (a) =>
      a.addHook('preSerialization', async (_req, reply, payload) => {
        // The first value of a request is the handler's; an error envelope that replaces it comes second.
        handed ??= { status: reply.statusCode, payload: JSON.parse(JSON.stringify(payload ?? null)) as unknown };
        return payload;
      }),
  });
  await registerRunner(app, runner.url, RUNNER_TOKEN);
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

type Json = Record<string, unknown>;
interface Operation {
  parameters?: { name: string; in: string; required?: boolean }[];
  responses?: Record<string, { content?: Record<string, { schema?: Json }> }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json> };
}

/** `<kind> <key>  # reason` lines: `op METHOD /path field` or `ref Schema.field`. */
function knownMismatches(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(new URL('./fixtures/response-schemas-known.txt', import.meta.url), 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [key, reason] = t.split(/\s+#\s+/, 2) as [string, string | undefined];
    out.set(key.trim(), reason ?? '(no reason given)');
  }
  return out;
}

const emptyPost = { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' };

interface Call {
  method: string;
  url: string;
  headers?: Record<string, string>;
  payload?: unknown;
}

test('every documented operation that answers 2xx JSON matches its declared response schema', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as OpenApi;
  const ajv = new Ajv({ nullable: true, allErrors: true, unknownFormats: 'ignore', validateSchema: false, missingRefs: true, jsonPointers: true });
  const validators = new Map<string, Ajv.ValidateFunction>();
  const validatorFor = (schema: Json) => {
    const key = JSON.stringify(schema);
    let v = validators.get(key);
    // The response schema is compiled with the document's components beside it, so `#/components/...` refs resolve.
    if (!v) validators.set(key, (v = ajv.compile({ ...schema, components: doc.components })));
    return v;
  };

  // Every documented operation that can answer 2xx with JSON, toolbox proxy ones aside.
  const jsonOps = new Map<string, Operation>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (path.includes('/toolbox/')) continue;
    for (const [method, op] of Object.entries(ops)) {
      const json = Object.entries(op.responses ?? {}).some(([s, r]) => s.startsWith('2') && r.content?.['application/json']);
      if (json) jsonOps.set(`${method.toUpperCase()} ${path.replace(/^\/api(?=\/)/, '')}`, op);
    }
  }

  // Real rows first: a second user (member and invitee), an organization of the admin's with a role and invitations.
  const member: OrgTestUser = await createOrgUser(app, 'rs-member');
  const invitee: OrgTestUser = await createOrgUser(app, 'rs-invitee');
  const ctx: Record<string, string> = {};
  const inject = async (c: Call) =>
    app.inject({ method: c.method as 'GET', url: `/api${c.url}`, headers: c.headers ?? adminAuth, ...(c.payload !== undefined ? { payload: c.payload as Json } : {}) });
  const must = async (c: Call): Promise<Json> => {
    const r = await inject(c);
    if (r.statusCode >= 300) throw new Error(`setup ${c.method} ${c.url}: ${r.statusCode} ${r.body}`);
    return (r.body ? r.json() : {}) as Json;
  };

  const snapshotState = async (state: string) => {
    for (let i = 0; i < 100; i++) {
      if ((await must({ method: 'GET', url: `/snapshots/${ctx.snapshot}` })).state === state) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`snapshot ${ctx.snapshot} never reached ${state}`);
  };

  // Operation -> the call that exercises it; run in this order (creations first, so later calls find real rows).
  // `before` makes the state the call needs; `after` stores what later calls need.
  const steps: Array<{ op: string; call: () => Call; before?: () => Promise<void>; after?: (body: Json) => void | Promise<void> }> = [
    { op: 'GET /health', call: () => ({ method: 'GET', url: '/health' }) },
    { op: 'GET /health/ready', call: () => ({ method: 'GET', url: '/health/ready' }) },
    { op: 'GET /config', call: () => ({ method: 'GET', url: '/config' }) },
    { op: 'POST /users', call: () => ({ method: 'POST', url: '/users', payload: { id: 'rs-created', name: 'rs created', email: 'rs-created@example.test' } }) },
    { op: 'GET /users/me', call: () => ({ method: 'GET', url: '/users/me', headers: member.auth }) },
    { op: 'GET /users', call: () => ({ method: 'GET', url: '/users' }) },
    { op: 'GET /users/{id}', call: () => ({ method: 'GET', url: `/users/${member.id}` }) },
    { op: 'POST /users/{id}/regenerate-key-pair', call: () => ({ method: 'POST', url: `/users/${member.id}/regenerate-key-pair`, headers: { ...adminAuth, ...emptyPost } }) },
    { op: 'GET /users/account-providers', call: () => ({ method: 'GET', url: '/users/account-providers' }) },
    { op: 'POST /users/mfa/sms/enroll', call: () => ({ method: 'POST', url: '/users/mfa/sms/enroll', headers: { ...member.auth, ...emptyPost } }) },
    { op: 'POST /api-keys', call: () => ({ method: 'POST', url: '/api-keys', payload: { name: 'rs-key', permissions: ['write:sandboxes'] } }) },
    { op: 'GET /api-keys', call: () => ({ method: 'GET', url: '/api-keys' }) },
    { op: 'GET /api-keys/current', call: () => ({ method: 'GET', url: '/api-keys/current' }) },
    { op: 'GET /api-keys/{name}', call: () => ({ method: 'GET', url: '/api-keys/rs-key' }) },
    { op: 'POST /organizations', call: () => ({ method: 'POST', url: '/organizations', payload: { name: 'rs-org' } }), after: (b) => void (ctx.org = String(b.id)) },
    { op: 'GET /organizations', call: () => ({ method: 'GET', url: '/organizations' }) },
    { op: 'GET /organizations/{organizationId}', call: () => ({ method: 'GET', url: `/organizations/${ctx.org}` }) },
    { op: 'GET /organizations/{organizationId}/usage', call: () => ({ method: 'GET', url: `/organizations/${ctx.org}/usage` }) },
    { op: 'PATCH /organizations/{organizationId}/quota', call: () => ({ method: 'PATCH', url: `/organizations/${ctx.org}/quota`, payload: { totalCpuQuota: 100 } }) },
    {
      op: 'POST /organizations/{organizationId}/roles',
      call: () => ({ method: 'POST', url: `/organizations/${ctx.org}/roles`, payload: { name: 'rs-role', description: 'role of the schema test', permissions: ['write:sandboxes'] } }),
      after: (b) => void (ctx.role = String(b.id)),
    },
    { op: 'GET /organizations/{organizationId}/roles', call: () => ({ method: 'GET', url: `/organizations/${ctx.org}/roles` }) },
    {
      op: 'PUT /organizations/{organizationId}/roles/{roleId}',
      call: () => ({ method: 'PUT', url: `/organizations/${ctx.org}/roles/${ctx.role}`, payload: { name: 'rs-role', description: 'renamed', permissions: ['write:sandboxes', 'delete:sandboxes'] } }),
    },
    {
      op: 'POST /organizations/{organizationId}/invitations',
      call: () => ({ method: 'POST', url: `/organizations/${ctx.org}/invitations`, payload: { email: member.email, role: 'member', assignedRoleIds: [ctx.role] } }),
      after: async (b) => {
        await must({ method: 'POST', url: `/organizations/invitations/${String(b.id)}/accept`, headers: { ...member.auth, ...emptyPost } });
        // A second invitation stays pending, for the invitee's and the organization's lists.
        const pending = await must({ method: 'POST', url: `/organizations/${ctx.org}/invitations`, payload: { email: invitee.email, role: 'member', assignedRoleIds: [] } });
        ctx.invitation = String(pending.id);
      },
    },
    { op: 'GET /organizations/{organizationId}/invitations', call: () => ({ method: 'GET', url: `/organizations/${ctx.org}/invitations` }) },
    {
      op: 'PUT /organizations/{organizationId}/invitations/{invitationId}',
      call: () => ({ method: 'PUT', url: `/organizations/${ctx.org}/invitations/${ctx.invitation}`, payload: { role: 'member', assignedRoleIds: [ctx.role] } }),
    },
    { op: 'GET /organizations/invitations', call: () => ({ method: 'GET', url: '/organizations/invitations', headers: invitee.auth }) },
    { op: 'GET /organizations/invitations/count', call: () => ({ method: 'GET', url: '/organizations/invitations/count', headers: invitee.auth }) },
    { op: 'GET /organizations/{organizationId}/users', call: () => ({ method: 'GET', url: `/organizations/${ctx.org}/users` }) },
    {
      op: 'POST /organizations/{organizationId}/users/{userId}/access',
      call: () => ({ method: 'POST', url: `/organizations/${ctx.org}/users/${member.id}/access`, payload: { role: 'member', assignedRoleIds: [ctx.role] } }),
    },
    { op: 'POST /volumes', call: () => ({ method: 'POST', url: '/volumes', payload: { name: 'rs-volume' } }), after: (b) => void (ctx.volume = String(b.id)) },
    { op: 'GET /volumes', call: () => ({ method: 'GET', url: '/volumes' }) },
    { op: 'GET /volumes/{volumeId}', call: () => ({ method: 'GET', url: `/volumes/${ctx.volume}` }) },
    { op: 'GET /volumes/by-name/{name}', call: () => ({ method: 'GET', url: '/volumes/by-name/rs-volume' }) },
    {
      op: 'POST /docker-registry',
      call: () => ({ method: 'POST', url: '/docker-registry', payload: { name: 'rs-registry', url: 'https://registry.example.test', username: 'u', password: 'p4ss-word' } }),
      after: (b) => void (ctx.registry = String(b.id)),
    },
    { op: 'GET /docker-registry', call: () => ({ method: 'GET', url: '/docker-registry' }) },
    { op: 'GET /docker-registry/{id}', call: () => ({ method: 'GET', url: `/docker-registry/${ctx.registry}` }) },
    { op: 'PATCH /docker-registry/{id}', call: () => ({ method: 'PATCH', url: `/docker-registry/${ctx.registry}`, payload: { name: 'rs-registry-2' } }) },
    { op: 'POST /docker-registry/{id}/set-default', call: () => ({ method: 'POST', url: `/docker-registry/${ctx.registry}/set-default`, headers: { ...adminAuth, ...emptyPost } }) },
    { op: 'GET /docker-registry/registry-push-access', call: () => ({ method: 'GET', url: '/docker-registry/registry-push-access' }) },
    { op: 'GET /object-storage/push-access', call: () => ({ method: 'GET', url: '/object-storage/push-access' }) },
    { op: 'POST /snapshots', call: () => ({ method: 'POST', url: '/snapshots', payload: { name: 'rs-snapshot', imageName: 'alpine:3.20' } }), after: (b) => void (ctx.snapshot = String(b.id)) },
    { op: 'GET /snapshots', call: () => ({ method: 'GET', url: '/snapshots' }) },
    { op: 'GET /snapshots/{id}', call: () => ({ method: 'GET', url: `/snapshots/${encodeURIComponent(TEST_DEFAULT_SNAPSHOT)}` }) },
    { op: 'PATCH /snapshots/{id}/general', call: () => ({ method: 'PATCH', url: `/snapshots/${ctx.snapshot}/general`, payload: { general: false } }) },
    {
      op: 'POST /snapshots/{id}/activate',
      call: () => ({ method: 'POST', url: `/snapshots/${ctx.snapshot}/activate`, headers: { ...adminAuth, ...emptyPost } }),
      before: async () => {
        // Settled first (the pull runs in the background), then made inactive, so activating it is a real transition.
        await snapshotState('active');
        await must({ method: 'POST', url: `/snapshots/${ctx.snapshot}/deactivate`, headers: { ...adminAuth, ...emptyPost } });
        await snapshotState('inactive');
      },
    },
    { op: 'GET /snapshots/can-cleanup-image', call: () => ({ method: 'GET', url: `/snapshots/can-cleanup-image?imageName=${encodeURIComponent('alpine:3.20')}` }) },
    { op: 'GET /runners', call: () => ({ method: 'GET', url: '/runners' }), after: (b) => void (ctx.runner = String((b as unknown as Json[])[0]?.id)) },
    {
      op: 'POST /runners',
      call: () => ({ method: 'POST', url: '/runners', payload: { domain: 'rs-runner.test', apiUrl: 'http://127.0.0.1:9', proxyUrl: 'http://127.0.0.1:9', apiKey: 'rs-runner-key-0123456789', cpu: 4, memoryGiB: 8, diskGiB: 50 } }),
      after: (b) => void (ctx.spareRunner = String(b.id)),
    },
    { op: 'PATCH /runners/{id}/scheduling', call: () => ({ method: 'PATCH', url: `/runners/${ctx.spareRunner}/scheduling`, payload: { unschedulable: true } }) },
    { op: 'GET /runners/by-snapshot-ref', call: () => ({ method: 'GET', url: `/runners/by-snapshot-ref?ref=${encodeURIComponent(TEST_DEFAULT_SNAPSHOT)}` }) },
    {
      op: 'POST /sandbox',
      call: () => ({ method: 'POST', url: '/sandbox', payload: { public: true, labels: { suite: 'response-schemas' }, volumes: [{ volumeId: ctx.volume, mountPath: '/data' }] } }),
      after: (b) => void (ctx.sandbox = String(b.id)),
    },
    { op: 'GET /sandbox', call: () => ({ method: 'GET', url: '/sandbox' }) },
    { op: 'GET /sandbox/paginated', call: () => ({ method: 'GET', url: '/sandbox/paginated' }) },
    { op: 'GET /sandbox/regions', call: () => ({ method: 'GET', url: '/sandbox/regions' }) },
    { op: 'GET /sandbox/{sandboxId}', call: () => ({ method: 'GET', url: `/sandbox/${ctx.sandbox}` }) },
    { op: 'PUT /sandbox/{sandboxId}/labels', call: () => ({ method: 'PUT', url: `/sandbox/${ctx.sandbox}/labels`, payload: { labels: { suite: 'response-schemas', n: '2' } } }) },
    {
      op: 'GET /sandbox/{sandboxId}/ports/{port}/preview-url',
      call: () => ({ method: 'GET', url: `/sandbox/${ctx.sandbox}/ports/3000/preview-url` }),
      after: (b) => void (ctx.previewToken = String(b.token)),
    },
    { op: 'GET /preview/{sandboxId}/validate/{authToken}', call: () => ({ method: 'GET', url: `/preview/${ctx.sandbox}/validate/${ctx.previewToken}` }) },
    { op: 'POST /sandbox/{sandboxId}/ssh-access', call: () => ({ method: 'POST', url: `/sandbox/${ctx.sandbox}/ssh-access`, headers: { ...adminAuth, ...emptyPost } }), after: (b) => void (ctx.sshToken = String(b.token)) },
    { op: 'GET /sandbox/ssh-access/validate', call: () => ({ method: 'GET', url: `/sandbox/ssh-access/validate?token=${ctx.sshToken}`, headers: sshGatewayAuth }) },
    { op: 'GET /sandbox/for-runner', call: () => ({ method: 'GET', url: '/sandbox/for-runner', headers: { authorization: `Bearer ${RUNNER_TOKEN}` } }) },
    { op: 'GET /runners/by-sandbox/{sandboxId}', call: () => ({ method: 'GET', url: `/runners/by-sandbox/${ctx.sandbox}` }) },
    { op: 'GET /organizations/by-sandbox-id/{sandboxId}', call: () => ({ method: 'GET', url: `/organizations/by-sandbox-id/${ctx.sandbox}` }) },
    { op: 'GET /preview/{sandboxId}/public', call: () => ({ method: 'GET', url: `/preview/${ctx.sandbox}/public` }) },
    { op: 'GET /preview/{sandboxId}/access', call: () => ({ method: 'GET', url: `/preview/${ctx.sandbox}/access` }) },
    { op: 'POST /sandbox/{sandboxId}/backup', call: () => ({ method: 'POST', url: `/sandbox/${ctx.sandbox}/backup`, headers: { ...adminAuth, ...emptyPost } }) },
    { op: 'POST /sandbox/{sandboxId}/start', call: () => ({ method: 'POST', url: `/sandbox/${ctx.sandbox}/start`, headers: { ...adminAuth, ...emptyPost } }) },
    { op: 'POST /workspace', call: () => ({ method: 'POST', url: '/workspace', payload: { labels: { suite: 'response-schemas-ws' } } }), after: (b) => void (ctx.workspace = String(b.id)) },
    { op: 'GET /workspace', call: () => ({ method: 'GET', url: '/workspace' }) },
    { op: 'GET /workspace/{sandboxId}', call: () => ({ method: 'GET', url: `/workspace/${ctx.workspace}` }) },
    { op: 'PUT /workspace/{sandboxId}/labels', call: () => ({ method: 'PUT', url: `/workspace/${ctx.workspace}/labels`, payload: { labels: { suite: 'ws' } } }) },
    { op: 'GET /workspace/{sandboxId}/ports/{port}/preview-url', call: () => ({ method: 'GET', url: `/workspace/${ctx.workspace}/ports/3000/preview-url` }) },
    { op: 'POST /workspace/{sandboxId}/backup', call: () => ({ method: 'POST', url: `/workspace/${ctx.workspace}/backup`, headers: { ...adminAuth, ...emptyPost } }) },
    { op: 'POST /workspace/{sandboxId}/start', call: () => ({ method: 'POST', url: `/workspace/${ctx.workspace}/start`, headers: { ...adminAuth, ...emptyPost } }) },
    { op: 'POST /audit', call: () => ({ method: 'POST', url: '/audit', payload: { actorId: 'rs-actor', actorEmail: 'rs-actor@example.test', action: 'create', targetType: 'sandbox', targetId: ctx.sandbox } }) },
    { op: 'GET /audit', call: () => ({ method: 'GET', url: '/audit' }) },
    { op: 'GET /audit/organizations/{organizationId}', call: () => ({ method: 'GET', url: `/audit/organizations/${ctx.org}` }) },
    { op: 'GET /webhooks/status', call: () => ({ method: 'GET', url: '/webhooks/status' }) },
    {
      op: 'GET /webhooks/organizations/{organizationId}/initialization-status',
      call: () => ({ method: 'GET', url: `/webhooks/organizations/${ctx.org}/initialization-status` }),
      before: async () => void (await must({ method: 'POST', url: `/webhooks/organizations/${ctx.org}/initialize`, headers: { ...adminAuth, ...emptyPost } })),
    },
    { op: 'POST /webhooks/organizations/{organizationId}/app-portal-access', call: () => ({ method: 'POST', url: `/webhooks/organizations/${ctx.org}/app-portal-access`, headers: { ...adminAuth, ...emptyPost } }) },
    {
      op: 'POST /webhooks/organizations/{organizationId}/send',
      call: () => ({ method: 'POST', url: `/webhooks/organizations/${ctx.org}/send`, payload: { eventType: 'sandbox.created', payload: { id: ctx.sandbox } } }),
      after: (b) => void (ctx.message = String(b.id)),
    },
    { op: 'GET /webhooks/organizations/{organizationId}/messages/{messageId}/attempts', call: () => ({ method: 'GET', url: `/webhooks/organizations/${ctx.org}/messages/${ctx.message}/attempts` }) },
  ];

  const known = knownMismatches();
  const mismatches: string[] = [];
  const knownSeen: string[] = [];
  const notExercised: string[] = [];
  let matched = 0;
  let handedOk = true;
  /** Validates one value; records each error (or its known-mismatch entry) and says whether it matched. */
  const report = (op: string, what: 'answer' | 'handler value', validate: Ajv.ValidateFunction, value: unknown): boolean => {
    const ok = validate(value) as boolean;
    if (what === 'handler value') handedOk = ok;
    for (const e of ok ? [] : (validate.errors ?? [])) {
      const field = e.keyword === 'required' ? `${e.dataPath}/${(e.params as { missingProperty: string }).missingProperty.replace(/^\./, '')}` : e.dataPath;
      const line = `${op} ${field || '/'}: ${e.message} (${what})`;
      const k = `op ${op} ${field.replace(/\/\d+(?=\/|$)/g, '/*')}`;
      if (known.has(k)) knownSeen.push(`${line} [known: ${known.get(k)}]`);
      else mismatches.push(`${line} ${JSON.stringify(e.params)}`);
    }
    return ok;
  };
  for (const step of steps) {
    const op = jsonOps.get(step.op);
    assert.ok(op, `${step.op} is a documented operation answering JSON (fix the step list)`);
    try {
      await step.before?.();
    } catch (e) {
      notExercised.push(`${step.op} (its preparation failed: ${(e as Error).message.slice(0, 120)})`);
      continue;
    }
    const c = step.call();
    handed = undefined;
    handedOk = true;
    const res = await inject(c);
    const status = String(res.statusCode);
    // The handler's value, when it meant a 2xx JSON answer, against the schema of that status (even if serializing it failed).
    const h = handed as Handed | undefined; // set by the hook during the await, which TypeScript's narrowing cannot see
    const handedStatus = String(h?.status ?? '');
    const handedSchema = handedStatus.startsWith('2') ? op.responses?.[handedStatus]?.content?.['application/json']?.schema : undefined;
    if (h && handedSchema) report(step.op, 'handler value', validatorFor(handedSchema), h.payload);
    // A 5xx is a fault, not a missing fixture: a serializer that refuses an answer without a required key ends here.
    if (status.startsWith('5')) {
      mismatches.push(`${step.op}: answered ${status}: ${res.body.slice(0, 200)}`);
      continue;
    }
    if (!status.startsWith('2')) {
      notExercised.push(`${step.op} (${status}: ${res.body.slice(0, 80)})`);
      continue;
    }
    const schema = op.responses?.[status]?.content?.['application/json']?.schema;
    if (!schema) {
      mismatches.push(`${step.op}: answered ${status}, for which the document declares no JSON schema`);
      continue;
    }
    let body: Json;
    try {
      body = res.json() as Json;
    } catch {
      mismatches.push(`${step.op}: answered ${status} ${String(res.headers['content-type'])}, not the JSON the document declares: ${res.body.slice(0, 60)}`);
      continue;
    }
    await step.after?.(body);
    if (report(step.op, 'answer', validatorFor(schema), body) && (!h || !handedSchema || handedOk)) matched++;
  }
  for (const [op] of jsonOps) if (!steps.some((s) => s.op === op)) notExercised.push(`${op} (no call in this test)`);

  console.log(`[response-schemas] ${matched} of ${jsonOps.size} operations answered 2xx and matched their schema; ${notExercised.length} not exercised: ${notExercised.join('; ')}`);
  if (knownSeen.length > 0) console.log(`[response-schemas] known mismatches (fixtures/response-schemas-known.txt):\n  ${[...new Set(knownSeen)].join('\n  ')}`);
  assert.deepEqual([...new Set(mismatches)], [], 'answers that do not match the schema the document declares');
});

/** Interface name -> [property, required] from the reference's generated client (one model per .d.ts file). */
function referenceModels(): Map<string, Map<string, boolean>> {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@daytonaio/api-client/package.json')), 'src', 'models');
  const out = new Map<string, Map<string, boolean>>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.d.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const m of text.matchAll(/export interface (\w+) \{([\s\S]*?)\n\}/g)) {
      const props = new Map<string, boolean>();
      for (const p of m[2]!.matchAll(/^\s+'?([\w$]+)'?(\??):/gm)) props.set(p[1]!, p[2] !== '?');
      out.set(m[1]!, props);
    }
  }
  return out;
}

test('every field the reference requires in a schema both documents have is required in Shoal\'s too', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as OpenApi;
  const reference = referenceModels();
  assert.ok(reference.size > 100, `the reference's generated client has its models (${reference.size})`);
  const known = knownMismatches();
  const wrong: string[] = [];
  const knownSeen: string[] = [];
  // Only the schemas answers are made of: a request schema may require less than the reference (it accepts more).
  const inResponses = new Set<string>();
  const collect = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') {
        const name = v.split('/').pop()!;
        if (!inResponses.has(name)) {
          inResponses.add(name);
          collect(doc.components.schemas[name]);
        }
      } else collect(v);
    }
  };
  for (const ops of Object.values(doc.paths)) for (const op of Object.values(ops)) for (const [s, r] of Object.entries(op.responses ?? {})) if (s.startsWith('2')) collect(r);
  let compared = 0;
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    const ref = reference.get(name);
    if (!ref || !inResponses.has(name)) continue;
    compared++;
    const props = (schema.properties ?? {}) as Json;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [field, isRequired] of ref) {
      if (!isRequired || required.has(field)) continue;
      const line = `${name}.${field}: required in the reference, ${field in props ? 'optional' : 'absent'} in Shoal's schema`;
      const k = `ref ${name}.${field}`;
      if (known.has(k)) knownSeen.push(`${line} [known: ${known.get(k)}]`);
      else wrong.push(line);
    }
  }
  console.log(`[response-schemas] ${compared} schemas compared with the reference's; ${wrong.length} required fields missing, ${knownSeen.length} known`);
  if (knownSeen.length > 0) console.log(`  ${knownSeen.join('\n  ')}`);
  assert.deepEqual(wrong, [], 'fields the reference requires that Shoal\'s schema does not');
});
