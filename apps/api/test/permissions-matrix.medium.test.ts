// Issue 12 item 3: every operation of the API's own OpenAPI document (plus the toolbox and preview proxies, which the
// document does not list) × every kind of caller: no token, a token that is no key, a runner token, keys with no
// permission, with each single permission, read-only, full, the admin's key and an admin key narrowed by one
// permission. Each answer is judged against the declared table (permissions-matrix-table.ts), never against the route
// files: 401 without a valid credential, 403 naming the missing permission, 403 for admin/runner routes, 404 for
// another organization's ids, and for a permitted caller an answer that is no auth refusal (a route may still answer
// its own 400/404 later: the sandbox is gone, the body is minimal). Real PostgreSQL, Fastify inject, a fake runner.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { PERMISSIONS, type Permission } from '../src/auth/api-key-format.js';
import { fillPath, listOperations, minimalValue, type OpenApiDocument, type Operation } from '../../../e2e/src/openapi.js';
import { createTestDatabase, TEST_ADMIN_KEY, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';
import { baseOperationId, ruleFor, type Rule } from './permissions-matrix-table.js';

const RUNNER_TOKEN = 'permissions-matrix-runner-token-0123456789';

/** The preview proxy's routes are not in the document; they ride along as operations of their own. */
const PROXY_OPERATIONS: Operation[] = [
  { method: 'GET', path: '/preview/3000-{sandboxId}/', operationId: 'previewProxyAppPort', public: false, params: [] },
  { method: 'GET', path: '/preview/2280-{sandboxId}/version', operationId: 'previewProxyToolboxPort', public: false, params: [] },
];

/** The toolbox operations are documented but only proxied: past the API's checks they reach the fake runner. */
const proxiedToToolbox = (op: Operation) => op.path.startsWith('/api/toolbox/{sandboxId}/toolbox/');

interface Caller {
  name: string;
  kind: 'none' | 'invalid' | 'runner' | 'key' | 'admin' | 'narrowed-admin';
  authorization?: string;
  permissions: ReadonlySet<Permission>;
}

/** Resources a request can name: the caller's organization's (own) or another organization's (foreign). */
interface Resources {
  userId: string;
  /** The personal organization, where the keys (and so the sandboxes, snapshots, registries) live. */
  organizationId: string;
  /** A team organization the user owns: organization routes act on it (a personal one takes no members). */
  teamId: string;
  /** A member of the team besides its owner. */
  memberUserId: string;
  /** A pending invitation of the team (for someone else). */
  teamInvitationId: string;
  /** An invitation addressed to this user, from a third user's organization it may accept and later leave. */
  invitationForMe: string;
  /** The organization that invitation is from. */
  invitingOrgId: string;
  sandboxId: string;
  snapshotId: string;
  registryId: string;
  keyName: string;
  roleId: string;
  volumeId: string;
  volumeName: string;
}

type Expected = { kind: 'permitted' } | { kind: 'status'; status: 401 | 403 | 404; naming?: Permission; matching?: RegExp } | { kind: 'skip' };

/** What the table says a caller gets on an operation (own organization's ids). */
export function expectedFor(rule: Rule, caller: Caller): Expected {
  if (rule.kind === 'public') return { kind: 'permitted' };
  if (caller.kind === 'none' || caller.kind === 'invalid') return { kind: 'status', status: 401 };
  switch (rule.kind) {
    case 'runner':
      return caller.kind === 'runner' ? { kind: 'permitted' } : { kind: 'status', status: 403 };
    case 'ssh-gateway':
      return { kind: 'status', status: 403 };
    case 'admin':
      return caller.kind === 'admin' ? { kind: 'permitted' } : { kind: 'status', status: 403 };
    case 'member':
      if (caller.kind === 'runner') return { kind: 'status', status: 403 };
      // The narrowed admin key belongs to the admin's organization: on member routes it is just another
      // organization's key, which the foreign-id sweep covers.
      if (caller.kind === 'narrowed-admin') return { kind: 'skip' };
      if (rule.permission && !caller.permissions.has(rule.permission)) return { kind: 'status', status: 403, naming: rule.permission };
      // Organization management through a key needs one that holds every permission: a narrowed key could otherwise
      // invite or grant its way past its own limits.
      if (rule.owner && caller.kind === 'key' && !PERMISSIONS.every((p) => caller.permissions.has(p))) {
        return { kind: 'status', status: 403, matching: /every permission/ };
      }
      return { kind: 'permitted' };
  }
}

/** Path parameters that name a resource of an organization: another organization's value must answer 404. */
const RESOURCE_PARAMS = new Set(['sandboxId', 'id', 'name', 'userId', 'organizationId', 'roleId', 'invitationId', 'volumeId']);

function pathValues(op: Operation, r: Resources, runnerId: string): Record<string, string> {
  const id = op.path.includes('/users/')
    ? r.userId
    : op.path.includes('/snapshots/')
      ? r.snapshotId
      : op.path.includes('/docker-registry/')
        ? r.registryId
        : op.path.includes('/runners/')
          ? runnerId
          : op.path.includes('/volumes/')
            ? r.volumeId
            : randomUUID();
  // Organization management acts on the team; the audit log and webhooks on the organization of the caller's keys.
  const organizations = op.path.startsWith('/api/organizations/');
  return {
    id,
    sandboxId: r.sandboxId,
    organizationId: !organizations ? r.organizationId : baseOperationId(op.operationId) === 'leaveOrganization' ? r.invitingOrgId : r.teamId,
    userId: organizations ? r.memberUserId : r.userId,
    name: op.path.includes('/volumes/') ? r.volumeName : r.keyName,
    roleId: r.roleId,
    invitationId: op.path.includes('/organizations/invitations/') ? r.invitationForMe : r.teamInvitationId,
    volumeId: r.volumeId,
    port: '3000',
    interval: '30',
    isPublic: 'false',
    authToken: 'not-the-token',
    messageId: randomUUID(),
    provider: 'github',
    providerUserId: 'matrix',
    // toolbox operations: ids inside the sandbox, which the fake runner never reaches
    sessionId: 'matrix-session',
    commandId: 'matrix-command',
    processName: 'xvfb',
  };
}

let seq = 0;
const unique = (what: string) => `matrix-${what}-${++seq}-${Date.now().toString(36)}`;

/** Bodies that pass validation where that is cheap, so a permitted caller reaches the service and a foreign id its lookup. */
function bodyFor(op: Operation, caller: Caller): unknown {
  const held = [...caller.permissions];
  switch (baseOperationId(op.operationId)) {
    case 'createApiKey':
      return { name: unique('key'), permissions: held.length ? [held[0]] : ['write:sandboxes'] };
    case 'createUser':
      return { name: unique('user') };
    case 'createSandbox':
      return { labels: { matrix: 'created' } };
    case 'replaceLabels':
      return { labels: { matrix: 'relabelled' } };
    case 'createSnapshot':
      return { name: unique('snapshot'), imageName: '127.0.0.1:5100/matrix/image:1' };
    case 'createRegistry':
      return { name: unique('registry'), url: 'http://127.0.0.1:5100', username: 'matrix', password: 'matrix-password', registryType: 'organization' };
    case 'updateRegistry':
      return { username: 'matrix-2' };
    case 'updateOrganizationQuota':
      return {};
    case 'setSnapshotGeneralStatus':
      return { general: false };
    case 'updateRunnerScheduling':
      return { unschedulable: false };
    case 'setWarmPool':
      return { snapshot: 'no-such-general-snapshot', size: 0 };
    case 'updateSandboxState':
      return { state: 'started' };
    case 'createRunner':
      return { domain: `${unique('runner')}.test`, apiUrl: 'http://127.0.0.1:9', proxyUrl: 'http://127.0.0.1:9', apiKey: 'm'.repeat(32), cpu: 1, memoryGiB: 1, diskGiB: 1, region: 'us' };
    case 'createOrganization':
      return { name: unique('org') };
    case 'createOrganizationRole':
      return { name: unique('role'), description: 'matrix', permissions: ['write:sandboxes'] };
    case 'updateOrganizationRole':
      return { name: unique('role'), description: 'matrix', permissions: ['write:sandboxes'] };
    case 'createOrganizationInvitation':
      return { email: `${unique('invitee')}@example.com`, role: 'member', assignedRoleIds: [] };
    case 'updateOrganizationInvitation':
      return { role: 'member', assignedRoleIds: [] };
    case 'updateAccessForOrganizationMember':
      return { role: 'member', assignedRoleIds: [] };
    case 'suspendOrganization':
      return { reason: 'matrix' };
    case 'createVolume':
      return { name: unique('volume') };
    case 'executeCommand':
      return { command: 'true' };
    default:
      return op.body ? minimalValue(op.body.schema) : undefined;
  }
}

function query(op: Operation): string {
  const q = new URLSearchParams();
  for (const p of op.params.filter((x) => x.in === 'query' && x.required)) {
    if (p.name === 'token') q.set('token', 'not-a-token');
    else if (p.name === 'imageName' || p.name === 'ref') q.set(p.name, 'matrix/none:1');
    else q.set(p.name, String(minimalValue(p.schema)));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Operations that change the organization or the platform for every later call run last, in this order: an org
 * suspended mid-sweep would refuse the creates after it, a registered dead runner could be scheduled.
 */
const LAST = ['suspendOrganization', 'unsuspendOrganization', 'leaveOrganization', 'deleteOrganizationMember', 'deleteOrganization', 'createRunner'];
function order(op: Operation): number {
  const last = LAST.indexOf(baseOperationId(op.operationId));
  if (last >= 0) return 10 + last;
  return { GET: 0, PUT: 1, PATCH: 1, POST: 2, DELETE: 3 }[op.method];
}

/** A permitted caller may still meet these refusals of the service itself (not of the route's auth). */
const BUSINESS_403: Record<string, RegExp> = {
  createApiKey: /^Insufficient permissions for assigning/,
  // Ten organizations per user (daytona-api-facts.md §7.2): the sweep's permitted callers create more than that.
  createOrganization: /^You have reached the maximum number of created organizations/,
  // The bootstrap admin has no verified e-mail address.
  linkAccount: /^Please verify your email address/,
};

/**
 * A permitted read of the caller's own resources must succeed (reads run before any write or delete of the sweep),
 * except where the resource is not in a state that has the answer; those statuses are listed here.
 */
const READ_NOT_2XX: Record<string, number[]> = {
  getPushAccess: [503],
  // No build: the sandbox and the snapshot were made from images.
  getBuildLogs: [400, 404],
  getSnapshotBuildLogs: [400, 404],
  // The matrix's preview token and SSH token are made up; the sandbox is private.
  isValidAuthToken: [404],
  isSandboxPublic: [404],
  // The proxies reach the fake runner, which serves no toolbox or app.
  previewProxyAppPort: [400, 404, 502],
  previewProxyToolboxPort: [400, 404, 502],
  // No identity-provider management API (IDENT answers the reference's 404); no such webhook message.
  getAvailableAccountProviders: [404],
  webhookControllerGetMessageAttempts: [404],
  webhookControllerGetInitializationStatus: [404],
};

/** Answers >= 500 that are the route's own documented state, not a failure: the medium test runs without S3. */
const OWN_5XX: Record<string, RegExp> = {
  getPushAccess: /^Object storage is not configured/,
};

let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;
let runnerId: string;
let operations: Operation[];
let callers: Caller[];
let own: Resources;
let foreign: Resources;

async function inject(method: string, url: string, headers: Record<string, string>, payload?: unknown) {
  const res = await app.inject({ method: method as 'GET', url, headers: { ...headers, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
  return res;
}

async function must<T>(method: string, url: string, headers: Record<string, string>, payload?: unknown): Promise<T> {
  const res = await inject(method, url, headers, payload);
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

interface Tenant {
  id: string;
  email: string;
  organizationId: string;
  auth: { authorization: string };
}

/** A user made by the admin with a verified e-mail address (needed to create organizations) and a full key. */
async function tenant(id: string): Promise<Tenant> {
  const email = `${id}@matrix.test`;
  const body = await must<{ apiKey: string; organizationId: string }>('POST', '/api/users', adminAuth, { id, name: id, email, emailVerified: true, createApiKey: true });
  return { id, email, organizationId: body.organizationId, auth: { authorization: `Bearer ${body.apiKey}` } };
}

/** A team organization owned by `owner`, with a custom role, `member` accepted and one invitation left pending. */
async function team(owner: Tenant, member: Tenant, tag: string): Promise<{ teamId: string; roleId: string; pendingId: string }> {
  const org = await must<{ id: string }>('POST', '/api/organizations', owner.auth, { name: `matrix-${tag}-team` });
  const role = await must<{ id: string }>('POST', `/api/organizations/${org.id}/roles`, owner.auth, { name: `matrix-${tag}-role`, description: 'matrix', permissions: ['write:sandboxes'] });
  const inv = await must<{ id: string }>('POST', `/api/organizations/${org.id}/invitations`, owner.auth, { email: member.email, role: 'member', assignedRoleIds: [role.id] });
  await must('POST', `/api/organizations/invitations/${inv.id}/accept`, member.auth);
  const pending = await must<{ id: string }>('POST', `/api/organizations/${org.id}/invitations`, owner.auth, { email: `pending-${tag}@matrix.test`, role: 'member', assignedRoleIds: [] });
  return { teamId: org.id, roleId: role.id, pendingId: pending.id };
}

/** A tenant with one of each resource the document's path parameters can name. */
async function resourcesOf(t: Tenant, member: Tenant, inviter: Tenant, tag: string): Promise<Resources> {
  const auth = t.auth;
  const sandbox = await must<{ id: string }>('POST', '/api/sandbox', auth, { labels: { matrix: tag } });
  const snapshot = await must<{ id: string }>('POST', '/api/snapshots', auth, { name: `matrix-${tag}-snapshot`, imageName: `127.0.0.1:5100/matrix/${tag}:1` });
  const registry = await must<{ id: string }>('POST', '/api/docker-registry', auth, {
    name: `matrix-${tag}-registry`,
    url: 'http://127.0.0.1:5100',
    username: 'matrix',
    password: 'matrix-password',
    registryType: 'organization',
  });
  const keyName = `matrix-${tag}-victim-key`;
  await must('POST', '/api/api-keys', auth, { name: keyName, permissions: ['write:sandboxes'] });
  const { teamId, roleId, pendingId } = await team(t, member, tag);
  const inviting = await must<{ id: string }>('POST', '/api/organizations', inviter.auth, { name: `matrix-${tag}-inviting` });
  const forMe = await must<{ id: string }>('POST', `/api/organizations/${inviting.id}/invitations`, inviter.auth, { email: t.email, role: 'member', assignedRoleIds: [] });
  const volume = await must<{ id: string; name: string }>('POST', '/api/volumes', auth, { name: `matrix-${tag}-volume` });
  return {
    userId: t.id,
    organizationId: t.organizationId,
    teamId,
    memberUserId: member.id,
    teamInvitationId: pendingId,
    invitationForMe: forMe.id,
    invitingOrgId: inviting.id,
    sandboxId: sandbox.id,
    snapshotId: snapshot.id,
    registryId: registry.id,
    keyName,
    roleId,
    volumeId: volume.id,
    volumeName: volume.name,
  };
}

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url);
  runnerId = await registerRunner(app, runner.url, RUNNER_TOKEN);
  const doc = (await inject('GET', '/api/openapi.json', {})).json() as OpenApiDocument;
  operations = [...listOperations(doc), ...PROXY_OPERATIONS];

  const u = await tenant('matrix-owner');
  const v = await tenant('matrix-foreign');
  const inviter = await tenant('matrix-inviter');
  own = await resourcesOf(u, await tenant('matrix-member'), inviter, 'own');
  foreign = await resourcesOf(v, await tenant('matrix-foreign-member'), inviter, 'foreign');

  const key = async (name: string, permissions: Permission[], auth = u.auth) =>
    (await must<{ value: string }>('POST', '/api/api-keys', auth, { name, permissions })).value;
  callers = [
    { name: 'no token', kind: 'none', permissions: new Set() },
    { name: 'a token that is no key', kind: 'invalid', authorization: `Bearer dtn_${'0f'.repeat(32)}`, permissions: new Set() },
    { name: 'runner token', kind: 'runner', authorization: `Bearer ${RUNNER_TOKEN}`, permissions: new Set() },
  ];
  // A key with no permission at all: the create schema wants at least one, so the list is emptied in the database.
  const none = await key('matrix-no-permissions', ['read:volumes']);
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  try {
    await sql.query(`UPDATE api_key SET permissions = '{}' WHERE name = 'matrix-no-permissions'`);
  } finally {
    await sql.end();
  }
  callers.push({ name: 'key without permissions', kind: 'key', authorization: `Bearer ${none}`, permissions: new Set() });
  for (const p of PERMISSIONS) callers.push({ name: `key with only ${p}`, kind: 'key', authorization: `Bearer ${await key(`matrix-only-${p}`, [p])}`, permissions: new Set([p]) });
  const readOnly: Permission[] = ['read:volumes', 'read:audit_logs'];
  callers.push({ name: 'read-only key', kind: 'key', authorization: `Bearer ${await key('matrix-read-only', readOnly)}`, permissions: new Set(readOnly) });
  callers.push({ name: 'full key', kind: 'key', authorization: `Bearer ${await key('matrix-full', [...PERMISSIONS])}`, permissions: new Set(PERMISSIONS) });
  callers.push({ name: 'admin key', kind: 'admin', authorization: `Bearer ${TEST_ADMIN_KEY}`, permissions: new Set(PERMISSIONS) });
  const narrowed = PERMISSIONS.filter((p) => p !== 'delete:volumes');
  callers.push({ name: 'admin key without delete:volumes', kind: 'narrowed-admin', authorization: `Bearer ${await key('matrix-narrowed-admin', narrowed, adminAuth)}`, permissions: new Set(narrowed) });
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

test('every operation of the OpenAPI document has an entry in the permission table', () => {
  assert.ok(operations.length >= 80, `the document lists ${operations.length} operations`);
  const missing = operations.filter((op) => !ruleFor(op.operationId)).map((op) => `${op.operationId} (${op.method} ${op.path})`);
  assert.deepEqual(missing, [], 'operations without an entry in permissions-matrix-table.ts');
  for (const op of operations.filter((o) => !o.operationId.includes('Proxy'))) {
    assert.equal(op.public, ruleFor(op.operationId)!.kind === 'public', `${op.operationId}: the document says public=${op.public}`);
  }
});

interface Finding {
  operation: string;
  caller: string;
  url: string;
  status: number;
  problem: string;
}

/** Judges one answer against what was expected; returns the problem, or null. */
/** Keys are addressed by name within the caller's own organization: the admin's organization has no such key. */
const NAMED_IN_OWN_ORGANIZATION = new Set(['getApiKey']);

function judge(op: Operation, caller: Caller, expected: Expected, status: number, text: string): string | null {
  let message = '';
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    message = Array.isArray(m) ? m.join('; ') : String(m ?? '');
  } catch {
    message = text.slice(0, 200);
  }
  if (expected.kind === 'skip') return null;
  if (expected.kind === 'status') {
    if (status !== expected.status) return `expected ${expected.status}${expected.naming ? ` naming ${expected.naming}` : ''}, got ${status}: ${message}`;
    if (expected.naming && !message.includes(expected.naming)) return `403 does not name the missing permission ${expected.naming}: ${message}`;
    if (expected.matching && !expected.matching.test(message)) return `403 does not say ${String(expected.matching)}: ${message}`;
    return null;
  }
  if (status === 401) return `permitted caller refused 401: ${message}`;
  // The fake runner serves no toolbox: what the API let through is answered there, or by its 502.
  if (proxiedToToolbox(op) && status !== 403 && [400, 404, 502].includes(status)) return null;
  if (op.method === 'GET' && status >= 500 && READ_NOT_2XX[baseOperationId(op.operationId)]?.includes(status)) return null;
  if (status === 403 && !BUSINESS_403[baseOperationId(op.operationId)]?.test(message)) return `permitted caller refused 403: ${message}`;
  if (status >= 500 && !OWN_5XX[baseOperationId(op.operationId)]?.test(message)) return `server error ${status}: ${message}`;
  const id = baseOperationId(op.operationId);
  if (caller.kind === 'admin' && NAMED_IN_OWN_ORGANIZATION.has(id) && status === 404) return null;
  if (op.method === 'GET' && status >= 300 && !READ_NOT_2XX[id]?.includes(status)) return `permitted read answered ${status}: ${message}`;
  return null;
}

const findings: Finding[] = [];
const counts = { calls: 0, permitted: 0, refused: 0, foreign: 0 };

test('every operation × every caller gets the answer the table declares; another organization\'s ids are 404', async () => {
  const sorted = [...operations].sort((a, b) => order(a) - order(b));
  for (const op of sorted) {
    const rule = ruleFor(op.operationId)!;
    const plan = callers.map((c) => ({ caller: c, expected: expectedFor(rule, c) }));
    // Refusals first, then the foreign ids, then the permitted callers (whose writes may change what later calls see).
    const refused = plan.filter((p) => p.expected.kind === 'status');
    const permitted = plan.filter((p) => p.expected.kind === 'permitted');
    const run = async (caller: Caller, expected: Expected, resources: Resources) => {
      const url = fillPath(op.path, pathValues(op, resources, runnerId)) + query(op);
      const body = op.body ? bodyFor(op, caller) : undefined;
      const res = await inject(op.method, url, caller.authorization ? { authorization: caller.authorization } : {}, body);
      counts.calls++;
      const problem = judge(op, caller, expected, res.statusCode, res.body);
      if (problem) findings.push({ operation: op.operationId, caller: caller.name, url: `${op.method} ${url}`, status: res.statusCode, problem });
    };
    for (const p of refused) {
      await run(p.caller, p.expected, own);
      counts.refused++;
    }
    const full = callers.find((c) => c.name === 'full key')!;
    const names = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    if (rule.kind === 'member' && names.some((n) => RESOURCE_PARAMS.has(n))) {
      await run(full, { kind: 'status', status: 404 }, foreign);
      counts.foreign++;
    }
    for (const p of permitted) {
      await run(p.caller, p.expected, own);
      counts.permitted++;
    }
  }
  console.log(
    `[permissions-matrix] ${operations.length} operations × ${callers.length} callers: ${counts.calls} calls (${counts.refused} expected refusals, ${counts.foreign} foreign-id calls, ${counts.permitted} permitted); ${findings.length} findings`,
  );
  const lines = findings.map((f) => `${f.operation} [${f.caller}] ${f.url} -> ${f.status}: ${f.problem}`);
  // Printed in full: the assertion's diff would cut a long list short.
  for (const l of lines) console.log(`  finding: ${l}`);
  assert.equal(findings.length, 0, `${findings.length} answers differ from the table (listed above); first: ${lines[0]}`);
});
