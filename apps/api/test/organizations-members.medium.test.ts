// Organizations (create, delete, leave, suspend, by-sandbox-id), members (list, access, removal), roles (CRUD) and
// the API-key rules tied to them, through Fastify inject on a real PostgreSQL. A second user acts with its own keys.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner, retireRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';
import { createOrgUser, insertKey, query, type OrgTestUser } from './helpers/org-users.js';

const RUNNER_TOKEN = 'organizations-members-runner-token-0123';
const ALL = ['write:registries', 'delete:registries', 'write:snapshots', 'delete:snapshots', 'write:sandboxes', 'delete:sandboxes', 'read:volumes', 'write:volumes', 'delete:volumes', 'read:audit_logs'];
const DEVELOPER = '00000000-0000-0000-0000-000000000001';
const SANDBOXES_ADMIN = '00000000-0000-0000-0000-000000000002';
const UNKNOWN_UUID = '7d0c6a0e-52a4-4f0e-9a51-2f1f0e1d0c0b';

let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;
let runnerId: string;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url);
  runnerId = await registerRunner(app, runner.url, RUNNER_TOKEN);
});

after(async () => {
  if (runnerId) await retireRunner(app, runnerId).catch(() => {});
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

type Json = Record<string, unknown>;
async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', url: string, headers: { authorization: string }, payload?: unknown) {
  const res = await app.inject({ method, url: `/api${url}`, headers, ...(payload !== undefined ? { payload: payload as Json } : {}) });
  let body: unknown = undefined;
  try {
    body = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body: body as Json & Json[], raw: res.body };
}

async function newOrg(owner: OrgTestUser, name = 'Team'): Promise<string> {
  const r = await call('POST', '/organizations', owner.auth, { name });
  assert.equal(r.status, 201, r.raw);
  return r.body.id as string;
}

/** Makes `member` a member of `orgId` through an invitation, as the product does. */
async function join(owner: OrgTestUser, member: OrgTestUser, orgId: string, role: 'owner' | 'member' = 'member', assignedRoleIds: string[] = []): Promise<void> {
  const inv = await call('POST', `/organizations/${orgId}/invitations`, owner.auth, { email: member.email, role, assignedRoleIds });
  assert.equal(inv.status, 201, inv.raw);
  const acc = await call('POST', `/organizations/invitations/${inv.body.id as string}/accept`, member.auth);
  assert.equal(acc.status, 200, acc.raw);
}

describe('organizations', () => {
  test('create: the creator is the owner, it is listed, and the reference fields come back', async () => {
    const a = await createOrgUser(app, 'org-create-a');
    const r = await call('POST', '/organizations', a.auth, { name: 'Acme' });
    assert.equal(r.status, 201, r.raw);
    assert.equal(r.body.name, 'Acme');
    assert.equal(r.body.personal, false);
    assert.equal(r.body.createdBy, a.id);
    const list = await call('GET', '/organizations', a.auth);
    assert.ok(list.body.some((o) => o.id === r.body.id));
    const members = await call('GET', `/organizations/${r.body.id as string}/users`, a.auth);
    assert.equal(members.status, 200, members.raw);
    assert.deepEqual(members.body.map((m) => [m.userId, m.role, m.email]), [[a.id, 'owner', a.email]]);
  });

  test('create: at most 10 per user (403), an unverified address 403, an empty name 400', async () => {
    const a = await createOrgUser(app, 'org-limit-a');
    for (let i = 0; i < 8; i++) assert.equal((await call('POST', '/organizations', a.auth, { name: `o${i}` })).status, 201);
    // Four at once with two slots left: exactly two pass (the creator's row is locked while counting).
    const racing = await Promise.all([0, 1, 2, 3].map((i) => call('POST', '/organizations', a.auth, { name: `race${i}` })));
    assert.deepEqual(racing.map((r) => r.status).sort(), [201, 201, 403, 403], racing.map((r) => r.raw).join('\n'));
    const eleventh = await call('POST', '/organizations', a.auth, { name: 'one too many' });
    assert.equal(eleventh.status, 403, eleventh.raw);
    assert.match(eleventh.body.message as string, /maximum number of created organizations/);
    assert.equal((await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM organization WHERE created_by = $1 AND NOT personal", [a.id]))[0]!.n, 10);
    const unverified = await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: { id: 'org-unverified', name: 'u', email: 'u@example.test', emailVerified: false, createApiKey: true } });
    const uAuth = { authorization: `Bearer ${(unverified.json() as { apiKey: string }).apiKey}` };
    const refused = await call('POST', '/organizations', uAuth, { name: 'x' });
    assert.equal(refused.status, 403, refused.raw);
    assert.equal(refused.body.message, 'Please verify your email address');
    assert.equal((await call('POST', '/organizations', a.auth, { name: '   ' })).status, 400);
    assert.equal((await call('POST', '/organizations', a.auth, {})).status, 400);
  });

  test('delete: owner only; personal organizations 403; one with a live sandbox 400; foreign/unknown 404', async () => {
    const a = await createOrgUser(app, 'org-del-a');
    const b = await createOrgUser(app, 'org-del-b');
    const org = await newOrg(a);
    await join(a, b, org);
    const bKey = await insertKey(db.url, org, b.id, ['write:sandboxes']);
    assert.equal((await call('DELETE', `/organizations/${org}`, b.auth)).status, 403, 'a member is not an owner');
    assert.equal((await call('DELETE', `/organizations/${org}`, bKey)).status, 403);
    const personal = await call('DELETE', `/organizations/${a.personalOrganizationId}`, a.auth);
    assert.equal(personal.status, 403, personal.raw);
    assert.equal(personal.body.message, 'Cannot delete personal organization');
    const stranger = await createOrgUser(app, 'org-del-stranger');
    const byStranger = await call('DELETE', `/organizations/${org}`, stranger.auth);
    assert.equal(byStranger.status, 404, byStranger.raw);
    for (const id of [UNKNOWN_UUID, 'not-a-uuid']) {
      const r = await call('DELETE', `/organizations/${id}`, a.auth);
      assert.equal(r.status, 404, r.raw);
    }

    // A live sandbox keeps the organization.
    const aKey = await insertKey(db.url, org, a.id, ALL);
    const sb = await call('POST', '/sandbox', aKey, {});
    assert.ok(sb.status < 300, sb.raw);
    const busy = await call('DELETE', `/organizations/${org}`, a.auth);
    assert.equal(busy.status, 400, busy.raw);
    assert.match(busy.body.message as string, /1 sandbox\(es\) that are not destroyed/);
    // by-sandbox-id: admin only, the sandbox's organization; unknown sandbox 404.
    const by = await call('GET', `/organizations/by-sandbox-id/${sb.body.id as string}`, adminAuth);
    assert.equal(by.status, 200, by.raw);
    assert.equal(by.body.id, org);
    assert.equal((await call('GET', `/organizations/by-sandbox-id/${sb.body.id as string}`, a.auth)).status, 403);
    const unknownSandbox = await call('GET', `/organizations/by-sandbox-id/${UNKNOWN_UUID}`, adminAuth);
    assert.equal(unknownSandbox.status, 404, unknownSandbox.raw);

    await query(db.url, "UPDATE sandbox SET state = 'destroyed', desired_state = 'destroyed' WHERE organization_id = $1", [org]);
    assert.equal((await call('DELETE', `/organizations/${org}`, a.auth)).status, 204);
    assert.equal((await call('GET', `/organizations/${org}`, a.auth)).status, 404);
    assert.equal((await call('GET', '/sandbox', aKey)).status, 401, "the deleted organization's keys are gone");
  });

  test('leave: personal 403, the last owner 400, a member leaves and its keys of the organization stop at once', async () => {
    const a = await createOrgUser(app, 'org-leave-a');
    const b = await createOrgUser(app, 'org-leave-b');
    const org = await newOrg(a);
    assert.equal((await call('POST', `/organizations/${a.personalOrganizationId}/leave`, a.auth)).status, 403);
    const last = await call('POST', `/organizations/${org}/leave`, a.auth);
    assert.equal(last.status, 400, last.raw);
    assert.equal(last.body.message, 'The organization must have at least one owner');
    await join(a, b, org, 'member', [DEVELOPER]);
    const bKey = await insertKey(db.url, org, b.id, ['write:sandboxes']);
    assert.equal((await call('GET', '/sandbox', bKey)).status, 200);
    assert.equal((await call('POST', `/organizations/${org}/leave`, b.auth)).status, 204);
    assert.equal((await call('GET', '/sandbox', bKey)).status, 401);
    assert.equal((await call('GET', `/organizations/${org}`, b.auth)).status, 404);
    assert.equal((await call('POST', `/organizations/${org}/leave`, b.auth)).status, 404, 'not a member any more');
    // With a second owner the first may leave.
    const c = await createOrgUser(app, 'org-leave-c');
    await join(a, c, org, 'owner');
    assert.equal((await call('POST', `/organizations/${org}/leave`, a.auth)).status, 204);
  });

  test('suspend / unsuspend: admin only, creates fail with the reason, unsuspend restores them; bad input 400/404', async () => {
    const a = await createOrgUser(app, 'org-susp-a');
    const create = () => call('POST', '/sandbox', a.auth, {});
    assert.equal((await call('POST', `/organizations/${a.personalOrganizationId}/suspend`, a.auth, { reason: 'x' })).status, 403, 'not an admin');
    const s = await call('POST', `/organizations/${a.personalOrganizationId}/suspend`, adminAuth, { reason: 'Payment overdue', suspensionCleanupGracePeriodHours: 48 });
    assert.equal(s.status, 204, s.raw);
    const org = await call('GET', `/organizations/${a.personalOrganizationId}`, a.auth);
    assert.equal(org.body.suspended, true);
    assert.equal(org.body.suspensionReason, 'Payment overdue');
    assert.equal(org.body.suspensionCleanupGracePeriodHours, 48);
    const refused = await create();
    assert.equal(refused.status, 403, refused.raw);
    assert.equal(refused.body.message, 'Organization is suspended: Payment overdue');
    assert.equal((await call('POST', `/organizations/${a.personalOrganizationId}/unsuspend`, adminAuth)).status, 204);
    assert.equal((await call('GET', `/organizations/${a.personalOrganizationId}`, a.auth)).body.suspended, false);
    const created = await create();
    assert.ok(created.status < 300, created.raw);
    assert.equal((await call('POST', `/organizations/${UNKNOWN_UUID}/suspend`, adminAuth, { reason: 'x' })).status, 404);
    assert.equal((await call('POST', `/organizations/${UNKNOWN_UUID}/unsuspend`, adminAuth)).status, 404);
    assert.equal((await call('POST', '/organizations/not-a-uuid/unsuspend', adminAuth)).status, 404);
    assert.equal((await call('POST', `/organizations/${a.personalOrganizationId}/suspend`, adminAuth, { reason: 'x', until: '2001-01-01T00:00:00Z' })).status, 400);
    assert.equal((await call('POST', `/organizations/${a.personalOrganizationId}/suspend`, adminAuth, {})).status, 400);
    assert.equal((await call('GET', `/organizations/${a.personalOrganizationId}`, a.auth)).body.suspended, false, 'refused suspensions changed nothing');
  });

  test('usage covers sandboxes, snapshots and volumes; quota and egress stay admin routes', async () => {
    const a = await createOrgUser(app, 'org-usage-a');
    const u = await call('GET', `/organizations/${a.personalOrganizationId}/usage`, a.auth);
    assert.equal(u.status, 200, u.raw);
    for (const k of ['currentCpuUsage', 'currentSnapshotUsage', 'totalVolumeQuota', 'currentVolumeUsage']) assert.equal(typeof u.body[k], 'number', k);
    assert.equal((await call('PATCH', `/organizations/${a.personalOrganizationId}/quota`, a.auth, { totalCpuQuota: 99 })).status, 403);
    assert.equal((await call('PATCH', `/organizations/${a.personalOrganizationId}/quota`, adminAuth, { volumeQuota: 7 })).status, 200);
    assert.equal((await call('GET', `/organizations/${a.personalOrganizationId}/usage`, a.auth)).body.totalVolumeQuota, 7);
    assert.equal((await call('POST', `/organizations/${a.personalOrganizationId}/sandbox-default-limited-network-egress`, adminAuth, { sandboxDefaultLimitedNetworkEgress: true })).status, 204);
    assert.equal((await call('GET', `/organizations/${a.personalOrganizationId}`, a.auth)).body.sandboxLimitedNetworkEgress, true);
  });
});

describe('members', () => {
  test('access: owners change role and assigned roles; members, strangers, narrowed keys cannot; unknown ids 404', async () => {
    const a = await createOrgUser(app, 'mem-acc-a');
    const b = await createOrgUser(app, 'mem-acc-b');
    const stranger = await createOrgUser(app, 'mem-acc-stranger');
    const org = await newOrg(a);
    await join(a, b, org, 'member', [DEVELOPER]);
    const list = await call('GET', `/organizations/${org}/users`, b.auth);
    assert.equal(list.status, 200, 'members list members');
    const bRow = list.body.find((m) => m.userId === b.id)!;
    assert.deepEqual((bRow.assignedRoles as Json[]).map((r) => r.id), [DEVELOPER]);

    const upd = await call('POST', `/organizations/${org}/users/${b.id}/access`, a.auth, { role: 'member', assignedRoleIds: [SANDBOXES_ADMIN] });
    assert.equal(upd.status, 200, upd.raw);
    assert.deepEqual((upd.body.assignedRoles as Json[]).map((r) => r.name), ['Sandboxes Admin']);

    assert.equal((await call('POST', `/organizations/${org}/users/${a.id}/access`, b.auth, { role: 'member', assignedRoleIds: [] })).status, 403, 'a member is no owner');
    assert.equal((await call('POST', `/organizations/${org}/users/${b.id}/access`, stranger.auth, { role: 'owner', assignedRoleIds: [] })).status, 404);
    assert.equal((await call('POST', `/organizations/${org}/users/${stranger.id}/access`, a.auth, { role: 'owner', assignedRoleIds: [] })).status, 404, 'not a member');
    assert.equal((await call('POST', `/organizations/${org}/users/${b.id}/access`, a.auth, { role: 'member', assignedRoleIds: [UNKNOWN_UUID] })).status, 404);
    assert.equal((await call('POST', `/organizations/${org}/users/${b.id}/access`, a.auth, { role: 'admin', assignedRoleIds: [] })).status, 400);
    // An owner's key narrowed to some permissions cannot manage the organization (it could grant its way past them).
    const narrow = await call('POST', '/api-keys', a.auth, { name: 'narrow', permissions: ['write:sandboxes'] });
    const narrowAuth = { authorization: `Bearer ${narrow.body.value as string}` };
    const byNarrow = await call('POST', `/organizations/${org}/users/${b.id}/access`, narrowAuth, { role: 'owner', assignedRoleIds: [] });
    assert.equal(byNarrow.status, 403, byNarrow.raw);
    assert.match(byNarrow.body.message as string, /every permission/);
    // A member's key of the organization cannot either.
    const bKey = await insertKey(db.url, org, b.id, ['write:sandboxes']);
    assert.equal((await call('POST', `/organizations/${org}/users/${b.id}/access`, bKey, { role: 'owner', assignedRoleIds: [] })).status, 403);
    const after = (await call('GET', `/organizations/${org}/users`, a.auth)).body.find((m) => m.userId === b.id)!;
    assert.equal(after.role, 'member', 'refused changes changed nothing');
    assert.deepEqual((after.assignedRoles as Json[]).map((r) => r.id), [SANDBOXES_ADMIN]);
  });

  test('the last owner cannot demote or remove itself; with a second owner it can', async () => {
    const a = await createOrgUser(app, 'mem-last-a');
    const b = await createOrgUser(app, 'mem-last-b');
    const org = await newOrg(a);
    const demote = await call('POST', `/organizations/${org}/users/${a.id}/access`, a.auth, { role: 'member', assignedRoleIds: [] });
    assert.equal(demote.status, 400, demote.raw);
    assert.equal(demote.body.message, 'The organization must have at least one owner');
    assert.equal((await call('DELETE', `/organizations/${org}/users/${a.id}`, a.auth)).status, 400);
    assert.equal((await call('GET', `/organizations/${org}/users`, a.auth)).body[0]!.role, 'owner', 'nothing changed');
    await join(a, b, org, 'owner');
    assert.equal((await call('POST', `/organizations/${org}/users/${a.id}/access`, a.auth, { role: 'member', assignedRoleIds: [] })).status, 200);
    assert.equal((await call('POST', `/organizations/${org}/users/${b.id}/access`, b.auth, { role: 'member', assignedRoleIds: [] })).status, 400, 'b is now the last owner');
  });

  test("removing a member deletes its keys of the organization in the same step: its next request fails at once", async () => {
    const a = await createOrgUser(app, 'mem-rm-a');
    const b = await createOrgUser(app, 'mem-rm-b');
    const org = await newOrg(a);
    await join(a, b, org, 'member', [DEVELOPER]);
    const bKey = await insertKey(db.url, org, b.id, ['write:sandboxes']);
    assert.equal((await call('GET', '/sandbox', bKey)).status, 200);
    assert.equal((await call('DELETE', `/organizations/${org}/users/${b.id}`, b.auth)).status, 403, 'members cannot remove');
    assert.equal((await call('DELETE', `/organizations/${org}/users/${b.id}`, a.auth)).status, 204);
    assert.equal((await call('GET', '/sandbox', bKey)).status, 401);
    assert.equal((await query(db.url, 'SELECT 1 FROM api_key WHERE organization_id = $1 AND user_id = $2', [org, b.id])).length, 0);
    assert.equal((await call('GET', '/sandbox', b.auth)).status, 200, "b's personal key is untouched");
    assert.equal((await call('DELETE', `/organizations/${org}/users/${b.id}`, a.auth)).status, 404, 'no longer a member');
  });

  test('losing a permission deletes the member keys that hold it; keys within the remaining roles stay', async () => {
    const a = await createOrgUser(app, 'mem-perm-a');
    const b = await createOrgUser(app, 'mem-perm-b');
    const org = await newOrg(a);
    await join(a, b, org, 'member', [SANDBOXES_ADMIN]);
    const writeKey = await insertKey(db.url, org, b.id, ['write:sandboxes']);
    const deleteKey = await insertKey(db.url, org, b.id, ['write:sandboxes', 'delete:sandboxes']);
    const r = await call('POST', `/organizations/${org}/users/${b.id}/access`, a.auth, { role: 'member', assignedRoleIds: [DEVELOPER] });
    assert.equal(r.status, 200, r.raw);
    assert.equal((await call('GET', '/sandbox', writeKey)).status, 200);
    assert.equal((await call('GET', '/sandbox', deleteKey)).status, 401);
  });
});

describe('roles', () => {
  test('list has the 7 global roles; owners create, update and delete their own', async () => {
    const a = await createOrgUser(app, 'roles-a');
    const org = await newOrg(a);
    const list = await call('GET', `/organizations/${org}/roles`, a.auth);
    assert.equal(list.status, 200, list.raw);
    assert.deepEqual(
      list.body.filter((r) => r.isGlobal).map((r) => r.id).sort(),
      [1, 2, 3, 4, 5, 6, 7].map((n) => `00000000-0000-0000-0000-00000000000${n}`),
    );
    const created = await call('POST', `/organizations/${org}/roles`, a.auth, { name: 'Readers', description: 'volumes', permissions: ['read:volumes'] });
    assert.equal(created.status, 201, created.raw);
    assert.equal(created.body.isGlobal, false);
    const id = created.body.id as string;
    const upd = await call('PUT', `/organizations/${org}/roles/${id}`, a.auth, { name: 'Readers 2', description: '', permissions: ['read:volumes', 'read:audit_logs'] });
    assert.equal(upd.status, 200, upd.raw);
    assert.deepEqual(upd.body.permissions, ['read:volumes', 'read:audit_logs']);
    assert.equal((await call('DELETE', `/organizations/${org}/roles/${id}`, a.auth)).status, 204);
    assert.equal((await call('GET', `/organizations/${org}/roles`, a.auth)).body.some((r) => r.id === id), false);
  });

  test('bad input: unknown permission 400, empty permissions 400, global role 403, foreign role 404, non-owner 403', async () => {
    const a = await createOrgUser(app, 'roles-bad-a');
    const b = await createOrgUser(app, 'roles-bad-b');
    const org = await newOrg(a);
    const otherOrg = await newOrg(b);
    const foreign = await call('POST', `/organizations/${otherOrg}/roles`, b.auth, { name: 'theirs', description: '', permissions: ['write:sandboxes'] });
    const foreignId = foreign.body.id as string;
    const unknownPerm = await call('POST', `/organizations/${org}/roles`, a.auth, { name: 'x', description: '', permissions: ['write:everything'] });
    assert.equal(unknownPerm.status, 400, unknownPerm.raw);
    assert.equal((await call('POST', `/organizations/${org}/roles`, a.auth, { name: 'x', description: '', permissions: [] })).status, 400);
    const upGlobal = await call('PUT', `/organizations/${org}/roles/${DEVELOPER}`, a.auth, { name: 'mine', description: '', permissions: ['write:sandboxes'] });
    assert.equal(upGlobal.status, 403, upGlobal.raw);
    assert.equal((await call('DELETE', `/organizations/${org}/roles/${DEVELOPER}`, a.auth)).status, 403);
    assert.equal((await call('PUT', `/organizations/${org}/roles/${foreignId}`, a.auth, { name: 'stolen', description: '', permissions: ['write:sandboxes'] })).status, 404);
    assert.equal((await call('DELETE', `/organizations/${org}/roles/${foreignId}`, a.auth)).status, 404);
    assert.equal((await call('DELETE', `/organizations/${org}/roles/${UNKNOWN_UUID}`, a.auth)).status, 404);
    assert.equal((await call('POST', `/organizations/${otherOrg}/roles`, a.auth, { name: 'x', description: '', permissions: ['write:sandboxes'] })).status, 404);
    await join(b, a, otherOrg, 'member');
    assert.equal((await call('POST', `/organizations/${otherOrg}/roles`, a.auth, { name: 'x', description: '', permissions: ['write:sandboxes'] })).status, 403, 'a member is no owner');
    assert.equal((await call('GET', `/organizations/${otherOrg}/roles`, b.auth)).body.find((r) => r.id === foreignId)?.name, 'theirs', 'nothing changed');
    const dev = (await call('GET', `/organizations/${org}/roles`, a.auth)).body.find((r) => r.id === DEVELOPER)!;
    assert.equal(dev.name, 'Developer');
  });

  test("narrowing or deleting a role deletes the keys of its members that hold a permission they lost", async () => {
    const a = await createOrgUser(app, 'roles-prune-a');
    const b = await createOrgUser(app, 'roles-prune-b');
    const org = await newOrg(a);
    const role = await call('POST', `/organizations/${org}/roles`, a.auth, { name: 'ops', description: '', permissions: ['write:sandboxes', 'delete:sandboxes'] });
    await join(a, b, org, 'member', [role.body.id as string, DEVELOPER]);
    const del = await insertKey(db.url, org, b.id, ['delete:sandboxes']);
    const write = await insertKey(db.url, org, b.id, ['write:sandboxes']);
    assert.equal((await call('PUT', `/organizations/${org}/roles/${role.body.id as string}`, a.auth, { name: 'ops', description: '', permissions: ['write:sandboxes'] })).status, 200);
    assert.equal((await call('GET', '/sandbox', del)).status, 401);
    assert.equal((await call('GET', '/sandbox', write)).status, 200, 'write:sandboxes is still granted');
    assert.equal((await call('DELETE', `/organizations/${org}/roles/${role.body.id as string}`, a.auth)).status, 204);
    assert.equal((await call('GET', '/sandbox', write)).status, 200, 'Developer still grants write:sandboxes');
  });
});

describe('API keys', () => {
  test("a member cannot create a key with permissions its roles do not grant: 403 naming them", async () => {
    const a = await createOrgUser(app, 'keys-a');
    const b = await createOrgUser(app, 'keys-b');
    const org = await newOrg(a);
    await join(a, b, org, 'member', [DEVELOPER]);
    // A key that holds more than the member's roles (e.g. made before a role change) still cannot mint more.
    const bKey = await insertKey(db.url, org, b.id, ['write:sandboxes', 'delete:sandboxes']);
    const wide = await call('POST', '/api-keys', bKey, { name: 'wide', permissions: ['write:sandboxes', 'delete:sandboxes'] });
    assert.equal(wide.status, 403, wide.raw);
    assert.equal(wide.body.message, 'Insufficient permissions for assigning: delete:sandboxes');
    const ok = await call('POST', '/api-keys', bKey, { name: 'ok', permissions: ['write:sandboxes'] });
    assert.equal(ok.status, 201, ok.raw);
    // The owner is unrestricted within its own key.
    const aKey = await insertKey(db.url, org, a.id, ALL);
    assert.equal((await call('POST', '/api-keys', aKey, { name: 'all', permissions: ALL })).status, 201);
    // An owner other than the creator sees every key of the organization.
    const c = await createOrgUser(app, 'keys-c');
    await join(a, c, org, 'owner');
    const cKey = await insertKey(db.url, org, c.id, ALL);
    const listed = await call('GET', '/api-keys', cKey);
    assert.ok(listed.body.some((k) => k.userId === b.id), listed.raw);
  });
});
