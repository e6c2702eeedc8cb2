// Issue 12 Acceptance, the organization and key lines, on a real platform with the official SDK and a real OIDC issuer
// on loopback (oidc-provider; apps/api/test/helpers/oidc-issuer.ts):
// - A creates an organization and invites B by e-mail; B lists, counts and accepts; B, a member whose role only reads,
//   lists sandboxes but gets 403 creating one; A grants a role with write:sandboxes and B creates with the SDK; A removes
//   B and B's requests are refused at once (its login and its key of the organization).
// - A key without any write permission (Shoal, like the reference, has no read:sandboxes: reads need membership only)
//   gets 403 on every write route and every admin route of the OpenAPI document; the SDK with it can list() but not
//   create().
// - Suspension makes creates fail with the reference's message, unsuspend restores them; quota changes are enforced
//   with the reference's exact messages.
// - Every action of the scenario is in the organization's audit log with its actor and outcome.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Daytona } from '@daytonaio/sdk';
import { startTestIssuer, type TestIssuer } from '../apps/api/test/helpers/oidc-issuer.js';
import { ruleFor } from '../apps/api/test/permissions-matrix-table.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { fetchOpenApi, fillPath, listOperations, minimalValue } from './src/openapi.js';

const DEVELOPER_ROLE = '00000000-0000-0000-0000-000000000001';
const READ_ONLY: string[] = ['read:volumes', 'read:audit_logs'];

interface User {
  id: string;
  email: string;
  key: string;
  personalOrg: string;
}

let issuer: TestIssuer;
let platform: TestPlatform;
let base: string;
let a: User;
let b: User;
let teamId: string;
let readerRoleId: string;
let invitationId: string;
let bSandboxId: string;
const started = Date.now();

interface Answer<T = unknown> {
  status: number;
  json: T;
  text: string;
}

/** One call of the public API; `org` sends X-Daytona-Organization-ID (JWT callers choose their organization with it). */
async function call<T = unknown>(auth: string, method: string, path: string, body?: unknown, org?: string): Promise<Answer<T>> {
  const res = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${auth}`,
      ...(org ? { 'x-daytona-organization-id': org } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json: json as T, text };
}

async function must<T = unknown>(auth: string, method: string, path: string, body?: unknown, org?: string): Promise<T> {
  const r = await call<T>(auth, method, path, body, org);
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text}`);
  return r.json;
}

async function user(id: string): Promise<User> {
  const email = `${id}@org-access.test`;
  const r = await must<{ apiKey: string; organizationId: string }>(platform.apiKey, 'POST', '/users', { id, name: id, email, emailVerified: true, createApiKey: true });
  return { id, email, key: r.apiKey, personalOrg: r.organizationId };
}

/** A fresh access token of the test issuer for the user (its `sub` is the Shoal user id). */
const jwt = (u: User) => issuer.mintToken({ sub: u.id, email: u.email, email_verified: true, name: u.id });
const jwtSdk = async (u: User, org: string) => new Daytona({ apiUrl: platform.apiUrl, jwtToken: await jwt(u), organizationId: org, target: 'us' });

/** The message an SDK call failed with (the SDK throws DaytonaError carrying the server's message). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    // The SDK passes a string body on JSON-encoded ("\"Organization is suspended\""); the message is inside.
    const msg = (err as Error).message;
    return /^".*"$/s.test(msg) ? (JSON.parse(msg) as string) : msg;
  }
  assert.fail('the call succeeded');
}

before(async () => {
  issuer = await startTestIssuer();
  platform = await startTestPlatform({ extraApiEnv: issuer.env() });
  base = platform.apiUrl.replace(/\/api$/, '');
  a = await user('org-access-a');
  b = await user('org-access-b');
  console.log(`[org-access] platform up in ${Date.now() - started} ms`);
});

after(async () => {
  await platform?.close();
  await issuer?.stop();
  console.log(`[org-access] whole file ${Date.now() - started} ms`);
});

test('A creates an organization and invites B by e-mail; B lists, counts and accepts', async () => {
  const org = await must<{ id: string; name: string; personal: boolean }>(a.key, 'POST', '/organizations', { name: 'org-access-team' });
  assert.equal(org.personal, false);
  teamId = org.id;
  const reader = await must<{ id: string; permissions: string[] }>(a.key, 'POST', `/organizations/${teamId}/roles`, { name: 'Reader', description: 'reads only', permissions: ['read:volumes'] });
  readerRoleId = reader.id;
  // The address is matched without regard to case.
  const inv = await must<{ id: string; email: string; status: string; organizationName?: string }>(a.key, 'POST', `/organizations/${teamId}/invitations`, {
    email: b.email.toUpperCase(),
    role: 'member',
    assignedRoleIds: [readerRoleId],
  });
  invitationId = inv.id;
  assert.equal(inv.status, 'pending');

  const mine = await must<Array<{ id: string; organizationId: string; organizationName: string; assignedRoles: Array<{ id: string }> }>>(b.key, 'GET', '/organizations/invitations');
  assert.deepEqual(
    mine.map((i) => [i.id, i.organizationId, i.organizationName]),
    [[invitationId, teamId, 'org-access-team']],
  );
  assert.deepEqual(mine[0]!.assignedRoles.map((r) => r.id), [readerRoleId]);
  assert.equal(await must<number>(b.key, 'GET', '/organizations/invitations/count'), 1);
  // A does not see B's invitation among its own, nor may it accept it.
  assert.deepEqual(await must(a.key, 'GET', '/organizations/invitations'), []);
  const stolen = await call(a.key, 'POST', `/organizations/invitations/${invitationId}/accept`);
  assert.ok(stolen.status === 403 || stolen.status === 404, stolen.text);

  const accepted = await call(b.key, 'POST', `/organizations/invitations/${invitationId}/accept`);
  assert.ok(accepted.status < 300, accepted.text);
  assert.equal(await must<number>(b.key, 'GET', '/organizations/invitations/count'), 0);
  const members = await must<Array<{ userId: string; role: string; assignedRoles: Array<{ id: string }> }>>(a.key, 'GET', `/organizations/${teamId}/users`);
  const bm = members.find((m) => m.userId === b.id);
  assert.equal(bm?.role, 'member');
  assert.deepEqual(bm.assignedRoles.map((r) => r.id), [readerRoleId]);
});

test('B, a member whose role only reads, lists sandboxes but gets 403 creating one; with write:sandboxes granted it creates with the SDK', async () => {
  const sdkB = await jwtSdk(b, teamId);
  assert.deepEqual((await sdkB.list()).items.map((s) => s.id), []);
  const refused = await failure(sdkB.create({ labels: { who: 'b-refused' } }));
  assert.match(refused, /missing permission write:sandboxes/);

  // B's key of the organization, made with its login (keys are made in the organization the JWT names), is limited
  // to what B holds there: a key with write:sandboxes is refused, one with read:volumes is not.
  const wider = await call(await jwt(b), 'POST', '/api-keys', { name: 'b-wider', permissions: ['write:sandboxes'] }, teamId);
  assert.equal(wider.status, 403, wider.text);
  assert.match(wider.text, /Insufficient permissions for assigning: write:sandboxes/);
  const bKey = (await must<{ value: string }>(await jwt(b), 'POST', '/api-keys', { name: 'b-reader', permissions: ['read:volumes'] }, teamId)).value;
  assert.equal((await call(bKey, 'GET', '/sandbox')).status, 200);
  assert.equal((await call(bKey, 'POST', '/sandbox', {})).status, 403);

  const granted = await call(a.key, 'POST', `/organizations/${teamId}/users/${b.id}/access`, { role: 'member', assignedRoleIds: [readerRoleId, DEVELOPER_ROLE] });
  assert.ok(granted.status < 300, granted.text);
  const t0 = Date.now();
  const sb = await (await jwtSdk(b, teamId)).create({ labels: { who: 'b' } });
  console.log(`[org-access] B's create after the grant: ${Date.now() - t0} ms, state ${sb.state}`);
  bSandboxId = sb.id;
  assert.equal(sb.organizationId, teamId);
  assert.deepEqual((await sdkB.list()).items.map((s) => s.id), [bSandboxId]);
  // A, the owner, sees it too.
  assert.equal((await call(await jwt(a), 'GET', `/sandbox/${bSandboxId}`, undefined, teamId)).status, 200);

  // A removes B: at once B's login is refused in the organization and B's key of it no longer authenticates.
  const removed = await call(a.key, 'DELETE', `/organizations/${teamId}/users/${b.id}`);
  assert.ok(removed.status < 300, removed.text);
  const bJwt = await jwt(b);
  for (const [method, path] of [
    ['GET', '/sandbox'],
    ['GET', `/sandbox/${bSandboxId}`],
    ['POST', `/sandbox/${bSandboxId}/stop`],
    ['GET', `/organizations/${teamId}`],
  ] as const) {
    const r = await call(bJwt, method, path, undefined, teamId);
    assert.ok(r.status === 403 || r.status === 404, `${method} ${path} after removal: ${r.status} ${r.text}`);
  }
  assert.equal((await call(bKey, 'GET', '/sandbox')).status, 401, "B's key of the organization is gone with B's membership");
  await assert.rejects((await jwtSdk(b, teamId)).list());
  // B's own organization is untouched.
  assert.equal((await call(b.key, 'GET', '/sandbox')).status, 200);
});

test('a key without write permissions gets 403 on every write and admin route; the SDK with it lists but cannot create', async () => {
  // There is no read:sandboxes permission (daytona-api-facts.md §7.2): asking for it is bad input.
  const unknown = await call(a.key, 'POST', '/api-keys', { name: 'a-read-sandboxes', permissions: ['read:sandboxes'] });
  assert.equal(unknown.status, 400, unknown.text);
  const key = (await must<{ value: string }>(await jwt(a), 'POST', '/api-keys', { name: 'a-read-only', permissions: READ_ONLY }, teamId)).value;

  const doc = await fetchOpenApi(base);
  const values: Record<string, string> = {
    sandboxId: bSandboxId,
    organizationId: teamId,
    userId: a.id,
    id: bSandboxId,
    name: 'a-read-only',
    roleId: readerRoleId,
    invitationId,
    port: '3000',
    interval: '30',
    isPublic: 'true',
    authToken: 'x',
    messageId: bSandboxId,
    provider: 'github',
    providerUserId: 'x',
    volumeId: bSandboxId,
    // toolbox operations: names inside the sandbox
    sessionId: 'org-access-session',
    commandId: 'org-access-command',
    processName: 'xvfb',
  };
  const refused: string[] = [];
  let swept = 0;
  // Deletes last (the organization's own deletion at the very end): a route that wrongly let the key through should
  // not take the rest of the sweep's targets with it.
  const weight = (m: string, id: string) => (id === 'deleteOrganization' ? 9 : m === 'DELETE' ? 8 : 0);
  const ops = listOperations(doc).sort((x, y) => weight(x.method, x.operationId) - weight(y.method, y.operationId));
  for (const op of ops) {
    const rule = ruleFor(op.operationId);
    assert.ok(rule, `${op.operationId} has an entry in the permission table`);
    const write = rule.kind === 'admin' || rule.kind === 'runner' || (rule.kind === 'member' && ((rule.permission && !READ_ONLY.includes(rule.permission)) || rule.owner));
    if (!write) continue;
    swept++;
    const q = op.params
      .filter((p) => p.in === 'query' && p.required)
      .map((p) => `${p.name}=${encodeURIComponent(String(minimalValue(p.schema)))}`)
      .join('&');
    const path = fillPath(op.path, values).replace(/^\/api/, '') + (q ? `?${q}` : '');
    const r = await call(key, op.method, path, op.body ? minimalValue(op.body.schema) : undefined);
    if (r.status !== 403) refused.push(`${op.operationId} ${op.method} ${path} -> ${r.status} ${r.text.slice(0, 160)}`);
  }
  console.log(`[org-access] read-only key swept over ${swept} write/admin operations`);
  assert.ok(swept >= 60, `${swept} operations swept`);
  assert.deepEqual(refused, [], 'write and admin routes that did not answer 403 to a read-only key');
  // The toolbox is a write route too.
  const toolbox = await call(key, 'POST', `/toolbox/${bSandboxId}/toolbox/process/execute`, { command: 'true' });
  assert.equal(toolbox.status, 403, toolbox.text);

  const sdk = platform.sdk(key);
  assert.deepEqual((await sdk.list()).items.map((s) => s.id), [bSandboxId]);
  assert.match(await failure(sdk.create()), /missing permission write:sandboxes/);
  // Nothing changed: B's sandbox is still there and running.
  const still = await must<{ state: string; labels: Record<string, string> }>(await jwt(a), 'GET', `/sandbox/${bSandboxId}`, undefined, teamId);
  assert.deepEqual([still.state, still.labels.who], ['started', 'b']);
});

test("suspension refuses creates with the reference's message; unsuspend restores them; quotas are enforced with the reference's messages", async () => {
  const sdkA = await jwtSdk(a, teamId);
  const s = await call(platform.apiKey, 'POST', `/organizations/${teamId}/suspend`, { reason: 'unpaid invoice' });
  assert.ok(s.status < 300, s.text);
  assert.equal(await failure(sdkA.create()), 'Organization is suspended: unpaid invoice');
  const snap = await call(await jwt(a), 'POST', '/snapshots', { name: 'org-access-snap', imageName: 'org-access/none:1' }, teamId);
  assert.equal(snap.status, 403, snap.text);
  assert.equal((snap.json as { message: string }).message, 'Organization is suspended: unpaid invoice');
  const u = await call(platform.apiKey, 'POST', `/organizations/${teamId}/unsuspend`);
  assert.ok(u.status < 300, u.text);
  const t0 = Date.now();
  const sb = await (await jwtSdk(a, teamId)).create({ labels: { who: 'a' } });
  console.log(`[org-access] A's create after unsuspend: ${Date.now() - t0} ms`);

  const snapshots = await must<{ items: Array<{ name: string; cpu: number }> }>(a.key, 'GET', '/snapshots');
  const cpu = snapshots.items.find((x) => x.name === 'shoal/sandbox:0.1.0')?.cpu ?? sb.cpu;
  const quota = (q: Record<string, number>) => must(platform.apiKey, 'PATCH', `/organizations/${teamId}/quota`, q);
  await quota({ maxCpuPerSandbox: cpu - 1 });
  assert.equal(await failure((await jwtSdk(a, teamId)).create()), `CPU request ${cpu} exceeds maximum allowed per sandbox (${cpu - 1})`);
  await quota({ maxCpuPerSandbox: 4, totalCpuQuota: 1 });
  assert.equal(await failure((await jwtSdk(a, teamId)).create()), 'Total CPU quota exceeded. Maximum allowed: 1');
  await quota({ totalCpuQuota: 10, snapshotQuota: 0 });
  const overSnap = await call(await jwt(a), 'POST', '/snapshots', { name: 'org-access-snap', imageName: 'org-access/none:1' }, teamId);
  assert.equal(overSnap.status, 403, overSnap.text);
  assert.equal((overSnap.json as { message: string }).message, 'Snapshot quota exceeded. Maximum allowed: 0');
  await quota({ snapshotQuota: 100 });
  await sb.delete();
});

test('every action of the scenario is in the organization audit log with its actor and outcome', async () => {
  const page = await must<{ items: Array<{ actorId: string; actorEmail: string; action: string; targetType?: string; targetId?: string; statusCode?: number; errorMessage?: string; organizationId?: string }>; total: number }>(
    await jwt(a),
    'GET',
    `/audit/organizations/${teamId}?limit=200`,
    undefined,
    teamId,
  );
  const rows = page.items;
  const admin = (await must<{ id: string }>(platform.apiKey, 'GET', '/users/me')).id;
  const has = (actorId: string, action: string, targetType: string, status: (s: number | undefined) => boolean, what: string) => {
    assert.ok(
      rows.some((r) => r.actorId === actorId && r.action === action && r.targetType === targetType && status(r.statusCode)),
      `${what}: no ${action} ${targetType} by ${actorId} in\n${rows.map((r) => `${r.actorId} ${r.action} ${r.targetType} ${r.statusCode} ${r.errorMessage ?? ''}`).join('\n')}`,
    );
  };
  const ok = (s: number | undefined) => s !== undefined && s < 300;
  const forbidden = (s: number | undefined) => s === 403;
  has(a.id, 'create', 'organization', ok, 'A created the organization');
  has(a.id, 'create', 'organization_role', ok, 'A created the Reader role');
  has(a.id, 'create', 'organization_invitation', ok, 'A invited B');
  has(b.id, 'accept', 'organization_invitation', ok, 'B accepted');
  has(b.id, 'create', 'sandbox', forbidden, "B's create refused for want of write:sandboxes");
  has(a.id, 'update_access', 'organization_user', ok, 'A granted B a role');
  has(b.id, 'create', 'sandbox', ok, "B's create with the grant");
  has(a.id, 'delete', 'organization_user', ok, 'A removed B');
  has(admin, 'suspend', 'organization', ok, 'the admin suspended the organization');
  has(a.id, 'create', 'sandbox', forbidden, "A's create while suspended");
  has(admin, 'unsuspend', 'organization', ok, 'the admin unsuspended it');
  has(admin, 'update_quota', 'organization', ok, 'the admin changed the quota');
  assert.ok(rows.some((r) => r.actorId === a.id && r.errorMessage === 'Organization is suspended: unpaid invoice'), 'the suspension refusal keeps its message');
  assert.ok(rows.every((r) => r.organizationId === undefined || r.organizationId === teamId), 'only the organization’s own rows');
  // B, no longer a member, cannot read it.
  const bRead = await call(await jwt(b), 'GET', `/audit/organizations/${teamId}`, undefined, teamId);
  assert.ok(bRead.status === 403 || bRead.status === 404, bRead.text);
});
