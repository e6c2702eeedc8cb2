// Tenancy suite: every operation of Shoal's own OpenAPI document is called with no key, malformed keys, an expired
// key, another organization's key and keys lacking the permission the operation needs. No answer may let the caller
// in, reveal organization A's data, or change it (compared before and after each attack). The checker is the one
// `tenancy-suite-self.medium.test.ts` proves against deliberately broken servers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { send } from './src/envelope.js';
import { fetchOpenApi, listOperations, minimalValue, type Operation } from './src/openapi.js';
import { formatViolations, runAttack, standardAttacks, type Access, type Attack, type TenancyTarget } from './src/tenancy/checker.js';
import { baseOperationId, shoalAccess, shoalTargetsVictim } from './src/tenancy/shoal-policy.js';
import { ALL_PERMISSIONS, api, setUpTenants, victimState, type Tenants } from './src/tenancy/tenants.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;
let baseUrl: string;
let documented: Operation[];
let tenants: Tenants;
let baseline: unknown;
let target: TenancyTarget;
/** Org A's volume: the volume operations aim at it. */
let victimVolume: { id: string; name: string };

/**
 * Routes the document does not list but that reach org A's sandbox all the same: the preview proxy, on an app port
 * (any key of the organization) and on the toolbox port 2280 (a key with write:sandboxes; issue 9). They ride along in
 * every sweep. (The toolbox proxy's operations are documented, so the sweep takes them from the document.)
 */
const undocumented: Operation[] = [
  { method: 'GET', path: '/preview/3000-{sandboxId}/', operationId: 'previewProxyAppPort', public: false, params: [] },
  { method: 'GET', path: '/preview/2280-{sandboxId}/version', operationId: 'previewProxyToolboxPort', public: false, params: [] },
  {
    method: 'POST',
    path: '/preview/2280-{sandboxId}/process/execute',
    operationId: 'previewProxyToolboxExecute',
    public: false,
    params: [],
    body: { required: true, schema: { type: 'object', required: ['command'], properties: { command: { type: 'string' } } } },
  },
];

/** What the undocumented routes demand; the documented ones follow shoal-policy.ts. */
function access(op: Operation): Access {
  if (op.operationId.startsWith('previewProxyToolbox')) return { kind: 'user', permission: 'write:sandboxes' };
  if (op.operationId === 'previewProxyAppPort') return { kind: 'user' };
  return shoalAccess(op);
}

let created = 0;
/** Bodies that, if wrongly accepted, would visibly change org A (or the platform) in the state comparison. */
function attackBody(op: Operation): unknown {
  created++;
  switch (baseOperationId(op)) {
    case 'createSandbox':
      return { labels: { attacker: 'was-here' } };
    case 'replaceLabels':
      return { labels: { attacker: 'was-here' } };
    case 'createApiKey':
      return { name: `attacker-key-${created}`, permissions: ['write:sandboxes'] };
    case 'createUser':
      return { name: `attacker-made-user-${created}` };
    case 'updateOrganizationQuota':
      return { totalCpuQuota: 999 };
    case 'updateSandboxState':
      return { state: 'destroyed' };
    case 'updateRunnerScheduling':
      return { unschedulable: true };
    case 'setWarmPool':
      return { snapshot: 'shoal/sandbox:0.1.0', size: 50 };
    case 'createRunner':
      return { domain: 'attacker.test', apiUrl: 'http://127.0.0.1:9', proxyUrl: 'http://127.0.0.1:9', apiKey: 'a'.repeat(32), cpu: 1, memoryGiB: 1, diskGiB: 1, region: 'us' };
    case 'executeCommand':
    case 'previewProxyToolboxExecute':
      return { command: 'touch /tmp/attacker-was-here' };
    default:
      return op.body ? minimalValue(op.body.schema) : undefined;
  }
}

function pathParams(op: Operation): Record<string, string> {
  const a = tenants.a;
  const values: Record<string, string> = {
    sandboxId: a.sandbox.id,
    organizationId: a.organizationId,
    userId: a.userId,
    name: a.victimKeyName,
    port: '3000',
    interval: '7',
    isPublic: 'true',
    authToken: a.previewToken || 'no-token',
    // Issue 12's organization, user and webhook routes: ids nobody holds (the attacker learns nothing either way).
    roleId: '00000000-0000-4000-8000-000000000001',
    invitationId: '00000000-0000-4000-8000-000000000002',
    messageId: '00000000-0000-4000-8000-000000000003',
    provider: 'github',
    providerUserId: 'tenancy',
    // Toolbox operations: names inside org A's sandbox.
    sessionId: 'tenancy-session',
    commandId: 'tenancy-command',
    processName: 'xvfb',
    volumeId: victimVolume.id,
  };
  if (op.path.includes('/volumes/by-name/')) values.name = victimVolume.name;
  if (op.path.includes('/users/{id}')) values.id = a.userId;
  else if (op.path.includes('/snapshots/{id}')) values.id = tenants.defaultSnapshotId;
  else values.id = tenants.runnerId;
  return values;
}

function query(op: Operation): string {
  const q = new URLSearchParams();
  for (const p of op.params.filter((x) => x.in === 'query' && x.required)) {
    if (p.name === 'token') q.set('token', tenants.a.sshToken || 'no-token');
    else if (p.name === 'path') q.set('path', '/');
    else q.set(p.name, String(minimalValue(p.schema)));
  }
  return q.toString();
}

before(async () => {
  platform = await startTestPlatform();
  baseUrl = platform.apiUrl.replace(/\/api$/, '');
  documented = listOperations(await fetchOpenApi(baseUrl));
  tenants = await setUpTenants(platform.apiUrl, platform.apiKey);
  const volume = await api<{ id: string; name: string }>(platform.apiUrl, tenants.a.key, 'POST', '/volumes', { name: `tenancy-victim-${Date.now()}` });
  assert.equal(volume.status, 200, volume.text);
  victimVolume = volume.json;
  console.log(`[tenancy] org A sandbox ${tenants.a.sandbox.id}: ${tenants.a.sandboxNote}`);
  const a = tenants.a;
  target = {
    baseUrl,
    operations: [...documented, ...undocumented],
    access,
    targetsVictim: (op) => shoalTargetsVictim(op),
    pathParams,
    query,
    body: attackBody,
    secrets: [
      a.sandbox.id,
      a.organizationId,
      a.userId,
      a.secretLabel,
      a.secretEnv,
      a.victimKeyName,
      a.sshToken,
      a.previewToken,
      victimVolume.name,
      a.key,
      a.expiredKey,
      ...Object.values(a.missingPermission),
    ].filter((s) => s.length >= 8),
  };
  // The SSH token check needs the gateway's credential: without a gateway the suite would silently check less.
  assert.ok(platform.ssh?.token, 'the platform runs an SSH gateway');
  baseline = await victimState(platform.apiUrl, tenants, platform.ssh?.token);
  assert.equal((baseline as { sshAccess: { status: number } | null }).sshAccess?.status, 200, "org A's SSH token validates with the gateway's credential");
});

after(async () => {
  await platform?.close();
  await tenants?.close();
});

test('every operation of the OpenAPI document is classified, and only the documented public routes lack security', () => {
  assert.ok(documented.length >= 40, `the document lists ${documented.length} operations`);
  for (const op of documented) {
    const access = shoalAccess(op);
    assert.equal(op.public, access.kind === 'public', `${op.operationId}: document says public=${op.public}, policy says ${access.kind}`);
  }
});

test("org A's sandbox exists for the attacks to aim at", async () => {
  const r = await api<{ id: string; labels: Record<string, string> }>(platform.apiUrl, tenants.a.key, 'GET', `/sandbox/${tenants.a.sandbox.id}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.labels.tenancy, tenants.a.secretLabel);
});

describe('attacks on organization A', () => {
  const attacks = (): Attack[] =>
    standardAttacks({
      victimKey: tenants.a.key,
      expiredKey: tenants.a.expiredKey,
      otherOrganizationKey: tenants.b.key,
      missingPermission: tenants.a.missingPermission,
    });
  // The attack list depends on keys made in before(); node:test needs the test names up front, so they are fixed here
  // and the test looks its attack up by name.
  const names = [
    'no API key',
    'malformed API key (a key with one character changed)',
    'malformed API key (a truncated key)',
    'malformed API key (a key followed by another word)',
    'malformed API key (a Basic credential)',
    'malformed API key (an empty Bearer)',
    'malformed API key (a non-key token)',
    'malformed API key (a key of control characters and unicode)',
    'expired API key',
    "another organization's API key",
    'API key without write:sandboxes',
    'API key without delete:sandboxes',
    'API key without read:audit_logs',
  ];
  for (const name of names) {
    test(`${name}: refused on every route, reveals nothing of org A, changes nothing`, async () => {
      const attack = attacks().find((a) => a.name === name);
      assert.ok(attack, `attack ${name} exists`);
      const { violations, calls } = await runAttack(target, attack);
      assert.ok(calls.length > 0, 'the attack made calls');
      assert.equal(violations.length, 0, `violations:\n${formatViolations(violations)}`);
      assert.deepEqual(await victimState(platform.apiUrl, tenants, platform.ssh?.token), baseline, "org A's resources changed");
    });
  }
});

test('privilege escalation: a key without write:sandboxes cannot mint a key that has it', async () => {
  const r = await api(platform.apiUrl, tenants.a.missingPermission['write:sandboxes']!, 'POST', '/api-keys', { name: 'escalated', permissions: ['write:sandboxes'] });
  assert.equal(r.status, 403, r.text);
  assert.deepEqual(await victimState(platform.apiUrl, tenants, platform.ssh?.token), baseline);
});

describe('preview proxy: the toolbox port 2280 needs an API key with write:sandboxes (issue 9)', () => {
  const toolbox = () => `/preview/2280-${tenants.a.sandbox.id}/version`;
  const refusedStatuses = [401, 403];
  // Another organization's key is told the sandbox does not exist (404): a 403 would confirm the id.
  const refusedOr404 = [...refusedStatuses, 404];

  test('the preview token alone opens the app port but never 2280, in the header or the query, public or not', async () => {
    const token = tenants.a.previewToken;
    assert.ok(token, 'org A has a preview token');
    const app = await send(baseUrl, 'GET', `/preview/3000-${tenants.a.sandbox.id}/`, { headers: { 'x-daytona-preview-token': token } });
    assert.ok(!refusedStatuses.includes(app.status), `the preview token opens the app port (got ${app.status}: ${app.text})`);
    const check = async (what: string) => {
      for (const [how, path, headers] of [
        ['header', toolbox(), { 'x-daytona-preview-token': token }],
        ['query', `${toolbox()}?DAYTONA_SANDBOX_AUTH_KEY=${token}`, {}],
        ['no credential', toolbox(), {}],
        ['a key without write:sandboxes and the token', toolbox(), { authorization: `Bearer ${tenants.a.missingPermission['write:sandboxes']}`, 'x-daytona-preview-token': token }],
        ["org B's key and the token", toolbox(), { authorization: `Bearer ${tenants.b.key}`, 'x-daytona-preview-token': token }],
      ] as Array<[string, string, Record<string, string>]>) {
        const r = await send(baseUrl, 'GET', path, { headers });
        assert.ok((how.startsWith("org B's") ? refusedOr404 : refusedStatuses).includes(r.status), `${what}, ${how}: 2280 answered ${r.status}: ${r.text}`);
        // The error envelope names the request path; only a token the request did not carry would be a leak.
        if (!path.includes(token)) assert.ok(!r.text.includes(token), `${what}, ${how}: the answer reveals the token`);
      }
    };
    await check('private sandbox');
    const pub = await api(platform.apiUrl, tenants.a.key, 'POST', `/sandbox/${tenants.a.sandbox.id}/public/true`);
    assert.ok(pub.status < 300, pub.text);
    try {
      await check('public sandbox');
    } finally {
      await api(platform.apiUrl, tenants.a.key, 'POST', `/sandbox/${tenants.a.sandbox.id}/public/false`);
    }
    assert.deepEqual(await victimState(platform.apiUrl, tenants, platform.ssh?.token), baseline);
  });

  test('a key without write:sandboxes cannot fetch the preview link of port 2280 (it may for app ports)', async () => {
    const readOnly = tenants.a.missingPermission['write:sandboxes']!;
    const r = await api(platform.apiUrl, readOnly, 'GET', `/sandbox/${tenants.a.sandbox.id}/ports/2280/preview-url`);
    assert.equal(r.status, 403, r.text);
    assert.ok(!r.text.includes(tenants.a.previewToken));
    const app = await api(platform.apiUrl, readOnly, 'GET', `/sandbox/${tenants.a.sandbox.id}/ports/3000/preview-url`);
    assert.equal(app.status, 200, app.text);
  });

  test('a narrowed admin key cannot mint a full key or a user with one', async () => {
    const narrowed = tenants.a.missingPermission['read:audit_logs']!;
    const key = await api(platform.apiUrl, narrowed, 'POST', '/api-keys', { name: 'narrowed-escalation', permissions: ALL_PERMISSIONS });
    assert.equal(key.status, 403, key.text);
    const user = await api(platform.apiUrl, narrowed, 'POST', '/users', { name: 'narrowed-made-user', createApiKey: true });
    assert.equal(user.status, 403, user.text);
    assert.deepEqual(await victimState(platform.apiUrl, tenants, platform.ssh?.token), baseline);
  });
});

test("org B's key with org A's organization header still acts as org B", async () => {
  const r = await send(baseUrl, 'GET', '/api/sandbox', { headers: { authorization: `Bearer ${tenants.b.key}`, 'x-daytona-organization-id': tenants.a.organizationId } });
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes(tenants.a.sandbox.id), r.text);
  assert.ok(!r.text.includes(tenants.a.secretLabel), r.text);
});

test("after the whole sweep org A's sandbox, keys and organization are unchanged and the API is healthy", async () => {
  assert.deepEqual(await victimState(platform.apiUrl, tenants, platform.ssh?.token), baseline);
  const health = await send(baseUrl, 'GET', '/api/health');
  assert.equal(health.status, 200);
  assert.ok(platform.api.running, 'the API process is still running');
});
