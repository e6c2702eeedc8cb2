// Invitations to organizations through Fastify inject on a real PostgreSQL: the owner's side (create, list, update,
// cancel) and the invitee's (list, count, accept, decline, matched by e-mail case-insensitively), with every bad input
// of issue 12 answered 4xx and changing nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp } from './helpers/app.js';
import { createOrgUser, query, type OrgTestUser } from './helpers/org-users.js';

const DEVELOPER = '00000000-0000-0000-0000-000000000001';
const AUDITOR = '00000000-0000-0000-0000-000000000007';
const UNKNOWN_UUID = '7d0c6a0e-52a4-4f0e-9a51-2f1f0e1d0c0b';

let db: TestDatabase;
let app: ShoalApp;

before(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false });
});

after(async () => {
  await app?.close();
  await db?.drop();
});

type Json = Record<string, unknown>;
async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, headers: { authorization: string }, payload?: unknown) {
  const res = await app.inject({ method, url: `/api${url}`, headers, ...(payload !== undefined ? { payload: payload as Json } : {}) });
  let body: unknown;
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

async function invite(owner: OrgTestUser, orgId: string, payload: Json): Promise<string> {
  const r = await call('POST', `/organizations/${orgId}/invitations`, owner.auth, payload);
  assert.equal(r.status, 201, r.raw);
  return r.body.id as string;
}

async function memberIds(owner: OrgTestUser, orgId: string): Promise<string[]> {
  return (await call('GET', `/organizations/${orgId}/users`, owner.auth)).body.map((m) => m.userId as string).sort();
}

async function status(id: string): Promise<string> {
  return (await query<{ status: string }>(db.url, 'SELECT status FROM organization_invitation WHERE id = $1', [id]))[0]!.status;
}

describe('invitations', () => {
  test('invite, list, count, accept: the invitee joins with the role and assigned roles (e-mail matched case-insensitively)', async () => {
    const a = await createOrgUser(app, 'inv-a');
    const b = await createOrgUser(app, 'inv-b', 'Inv.B@Example.TEST');
    const org = await newOrg(a, 'Acme');
    const created = await call('POST', `/organizations/${org}/invitations`, a.auth, { email: ' inv.b@example.test ', role: 'member', assignedRoleIds: [DEVELOPER, AUDITOR] });
    assert.equal(created.status, 201, created.raw);
    assert.equal(created.body.email, 'inv.b@example.test');
    assert.equal(created.body.organizationName, 'Acme');
    assert.equal(created.body.organizationId, org);
    assert.equal(created.body.status, 'pending');
    assert.equal(created.body.invitedBy, a.email);
    assert.deepEqual((created.body.assignedRoles as Json[]).map((r) => r.id).sort(), [DEVELOPER, AUDITOR]);
    assert.ok(Date.parse(created.body.expiresAt as string) > Date.now() + 6 * 86_400_000, 'expires in 7 days by default');

    const orgList = await call('GET', `/organizations/${org}/invitations`, a.auth);
    assert.deepEqual(orgList.body.map((i) => i.id), [created.body.id]);
    const mine = await call('GET', '/organizations/invitations', b.auth);
    assert.equal(mine.status, 200, mine.raw);
    assert.deepEqual(mine.body.map((i) => i.id), [created.body.id]);
    assert.equal((await call('GET', '/organizations/invitations/count', b.auth)).body, 1);
    assert.equal((await call('GET', '/organizations/invitations/count', a.auth)).body, 0);

    const acc = await call('POST', `/organizations/invitations/${created.body.id as string}/accept`, b.auth);
    assert.equal(acc.status, 200, acc.raw);
    const bRow = (await call('GET', `/organizations/${org}/users`, a.auth)).body.find((m) => m.userId === b.id)!;
    assert.equal(bRow.role, 'member');
    assert.deepEqual((bRow.assignedRoles as Json[]).map((r) => r.id).sort(), [DEVELOPER, AUDITOR]);
    assert.ok((await call('GET', '/organizations', b.auth)).body.some((o) => o.id === org));
    assert.equal((await call('GET', '/organizations/invitations/count', b.auth)).body, 0);
    assert.equal((await call('GET', `/organizations/${org}/invitations`, a.auth)).body.length, 0);
    const again = await call('POST', `/organizations/invitations/${created.body.id as string}/accept`, b.auth);
    assert.equal(again.status, 400, again.raw);
  });

  test('the default assigned role is Developer; an owner invitation makes an owner', async () => {
    const a = await createOrgUser(app, 'inv-own-a');
    const b = await createOrgUser(app, 'inv-own-b');
    const org = await newOrg(a);
    const id = await invite(a, org, { email: b.email, role: 'owner' });
    const listed = (await call('GET', '/organizations/invitations', b.auth)).body[0]!;
    assert.deepEqual((listed.assignedRoles as Json[]).map((r) => r.id), [DEVELOPER]);
    assert.equal((await call('POST', `/organizations/invitations/${id}/accept`, b.auth)).status, 200);
    assert.equal((await call('GET', `/organizations/${org}/users`, a.auth)).body.find((m) => m.userId === b.id)!.role, 'owner');
    // b, now an owner, may invite.
    const c = await createOrgUser(app, 'inv-own-c');
    await invite(b, org, { email: c.email });
  });

  test('bad input on create: malformed e-mail 400, duplicate 409, member 409, personal 403, unknown or foreign role 404, past expiry 400', async () => {
    const a = await createOrgUser(app, 'inv-bad-a');
    const b = await createOrgUser(app, 'inv-bad-b');
    const org = await newOrg(a);
    const otherOrg = await newOrg(b);
    const foreignRole = (await call('POST', `/organizations/${otherOrg}/roles`, b.auth, { name: 'theirs', description: '', permissions: ['write:sandboxes'] })).body.id as string;
    for (const email of ['not-an-email', 'a@b', 'two@@example.test', 'sp ace@example.test', '<x@example.test>', '', 'x@example..test', 'x@example.test,y@example.test', 'x@-example.test']) {
      const r = await call('POST', `/organizations/${org}/invitations`, a.auth, { email });
      assert.equal(r.status, 400, `${JSON.stringify(email)}: ${r.raw}`);
    }
    await invite(a, org, { email: 'dup@example.test' });
    const dup = await call('POST', `/organizations/${org}/invitations`, a.auth, { email: 'DUP@example.test' });
    assert.equal(dup.status, 409, dup.raw);
    const self = await call('POST', `/organizations/${org}/invitations`, a.auth, { email: a.email.toUpperCase() });
    assert.equal(self.status, 409, self.raw);
    const personal = await call('POST', `/organizations/${a.personalOrganizationId}/invitations`, a.auth, { email: 'x@example.test' });
    assert.equal(personal.status, 403, personal.raw);
    assert.equal((await call('POST', `/organizations/${org}/invitations`, a.auth, { email: 'r1@example.test', assignedRoleIds: [UNKNOWN_UUID] })).status, 404);
    assert.equal((await call('POST', `/organizations/${org}/invitations`, a.auth, { email: 'r2@example.test', assignedRoleIds: [foreignRole] })).status, 404);
    assert.equal((await call('POST', `/organizations/${org}/invitations`, a.auth, { email: 'r3@example.test', expiresAt: '2001-01-01T00:00:00Z' })).status, 400);
    assert.equal((await call('POST', `/organizations/${org}/invitations`, a.auth, { email: 'r4@example.test', role: 'admin' })).status, 400);
    // Not an owner: 403 for a member, 404 for a stranger.
    assert.equal((await call('POST', `/organizations/${otherOrg}/invitations`, a.auth, { email: 'z@example.test' })).status, 404);
    const m = await createOrgUser(app, 'inv-bad-m');
    await call('POST', `/organizations/invitations/${await invite(a, org, { email: m.email })}/accept`, m.auth);
    assert.equal((await call('POST', `/organizations/${org}/invitations`, m.auth, { email: 'z@example.test' })).status, 403);
    assert.equal((await call('GET', `/organizations/${org}/invitations`, m.auth)).status, 403, 'members do not list invitations');
    // Only the one good invitation and m's accepted one exist.
    const rows = await query<{ email: string }>(db.url, 'SELECT email FROM organization_invitation WHERE organization_id = $1 ORDER BY email', [org]);
    assert.deepEqual(rows.map((r) => r.email), ['dup@example.test', m.email]);
  });

  test("someone else's invitation is 404 to accept or decline, and stays pending with no membership", async () => {
    const a = await createOrgUser(app, 'inv-foreign-a');
    const b = await createOrgUser(app, 'inv-foreign-b');
    const thief = await createOrgUser(app, 'inv-foreign-thief');
    const org = await newOrg(a);
    const id = await invite(a, org, { email: b.email });
    assert.equal((await call('GET', '/organizations/invitations', thief.auth)).body.length, 0);
    assert.equal((await call('POST', `/organizations/invitations/${id}/accept`, thief.auth)).status, 404);
    assert.equal((await call('POST', `/organizations/invitations/${id}/decline`, thief.auth)).status, 404);
    assert.equal((await call('POST', `/organizations/invitations/${UNKNOWN_UUID}/accept`, b.auth)).status, 404);
    assert.equal((await call('POST', '/organizations/invitations/not-a-uuid/accept', b.auth)).status, 404);
    assert.equal(await status(id), 'pending');
    assert.deepEqual(await memberIds(a, org), [a.id]);
    // The admin is no invitee either.
    assert.equal((await call('POST', `/organizations/invitations/${id}/accept`, adminAuth)).status, 404);
    assert.deepEqual(await memberIds(a, org), [a.id]);
  });

  test('an expired invitation cannot be accepted (400), is not listed, and a new one may be sent', async () => {
    const a = await createOrgUser(app, 'inv-exp-a');
    const b = await createOrgUser(app, 'inv-exp-b');
    const org = await newOrg(a);
    const id = await invite(a, org, { email: b.email });
    await query(db.url, "UPDATE organization_invitation SET expires_at = now() - interval '1 minute' WHERE id = $1", [id]);
    const r = await call('POST', `/organizations/invitations/${id}/accept`, b.auth);
    assert.equal(r.status, 400, r.raw);
    assert.equal(r.body.message, 'Invitation has expired');
    assert.equal((await call('POST', `/organizations/invitations/${id}/decline`, b.auth)).status, 400);
    assert.deepEqual(await memberIds(a, org), [a.id]);
    assert.equal((await call('GET', '/organizations/invitations/count', b.auth)).body, 0);
    assert.equal((await call('GET', `/organizations/${org}/invitations`, a.auth)).body.length, 0);
    assert.equal((await call('PUT', `/organizations/${org}/invitations/${id}`, a.auth, { role: 'member', assignedRoleIds: [] })).status, 400);
    const fresh = await invite(a, org, { email: b.email });
    assert.equal((await call('POST', `/organizations/invitations/${fresh}/accept`, b.auth)).status, 200);
  });

  test('decline: the invitation is closed and cannot be accepted afterwards', async () => {
    const a = await createOrgUser(app, 'inv-dec-a');
    const b = await createOrgUser(app, 'inv-dec-b');
    const org = await newOrg(a);
    const id = await invite(a, org, { email: b.email });
    assert.equal((await call('POST', `/organizations/invitations/${id}/decline`, b.auth)).status, 200);
    assert.equal(await status(id), 'declined');
    assert.equal((await call('POST', `/organizations/invitations/${id}/accept`, b.auth)).status, 400);
    assert.deepEqual(await memberIds(a, org), [a.id]);
  });

  test('update and cancel: owner only, this organization only, pending only', async () => {
    const a = await createOrgUser(app, 'inv-upd-a');
    const b = await createOrgUser(app, 'inv-upd-b');
    const c = await createOrgUser(app, 'inv-upd-c');
    const org = await newOrg(a);
    const otherOrg = await newOrg(c);
    const id = await invite(a, org, { email: b.email });
    const foreignInv = await invite(c, otherOrg, { email: 'someone@example.test' });
    const until = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const upd = await call('PUT', `/organizations/${org}/invitations/${id}`, a.auth, { role: 'owner', assignedRoleIds: [AUDITOR], expiresAt: until });
    assert.equal(upd.status, 200, upd.raw);
    assert.equal(upd.body.role, 'owner');
    assert.deepEqual((upd.body.assignedRoles as Json[]).map((r) => r.id), [AUDITOR]);
    assert.equal(upd.body.expiresAt, until);
    // Another organization's invitation through this organization's path: 404, and it is unchanged.
    assert.equal((await call('PUT', `/organizations/${org}/invitations/${foreignInv}`, a.auth, { role: 'owner', assignedRoleIds: [] })).status, 404);
    assert.equal((await call('POST', `/organizations/${org}/invitations/${foreignInv}/cancel`, a.auth)).status, 404);
    assert.equal(await status(foreignInv), 'pending');
    assert.equal((await call('PUT', `/organizations/${org}/invitations/${id}`, a.auth, { role: 'member', assignedRoleIds: [UNKNOWN_UUID] })).status, 404);
    assert.equal((await call('PUT', `/organizations/${org}/invitations/${id}`, c.auth, { role: 'member', assignedRoleIds: [] })).status, 404, 'a stranger');
    assert.equal((await call('GET', `/organizations/${org}/invitations`, a.auth)).body[0]!.role, 'owner', 'refused updates changed nothing');

    assert.equal((await call('POST', `/organizations/${org}/invitations/${id}/cancel`, a.auth)).status, 204);
    assert.equal(await status(id), 'cancelled');
    assert.equal((await call('GET', '/organizations/invitations/count', b.auth)).body, 0);
    assert.equal((await call('POST', `/organizations/invitations/${id}/accept`, b.auth)).status, 400);
    assert.equal((await call('POST', `/organizations/${org}/invitations/${id}/cancel`, a.auth)).status, 400);
    assert.equal((await call('PUT', `/organizations/${org}/invitations/${id}`, a.auth, { role: 'member', assignedRoleIds: [] })).status, 400);
    assert.deepEqual(await memberIds(a, org), [a.id]);
  });

  test('an unverified address receives no invitations', async () => {
    const a = await createOrgUser(app, 'inv-unv-a');
    const res = await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: { id: 'inv-unv-b', name: 'b', email: 'unv@example.test', emailVerified: false, createApiKey: true } });
    assert.equal(res.statusCode, 201, res.body);
    const bAuth = { authorization: `Bearer ${(res.json() as { apiKey: string }).apiKey}` };
    const org = await newOrg(a);
    const id = await invite(a, org, { email: 'unv@example.test' });
    assert.equal((await call('GET', '/organizations/invitations/count', bAuth)).body, 0);
    assert.equal((await call('POST', `/organizations/invitations/${id}/accept`, bAuth)).status, 404);
    assert.equal(await status(id), 'pending');
  });
});
