// Issue 12 "audit log" over the organization scenario of the acceptance: two OIDC users (a real issuer on
// loopback), A creates an organization and invites B, B accepts, is refused a sandbox, gets a role, creates one, and is
// removed (and refused from then on). The organization's log shows every step with the right actor (id and e-mail), action, target and outcome.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { buildTestApp, registerRunner, retireRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';
import { startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const TOKEN = 'audit-org-runner-token-0123456789abcdef';
const DEVELOPER_ROLE = '00000000-0000-0000-0000-000000000001';
let db: TestDatabase;
let issuer: TestIssuer;
let runner: FakeRunner;
let runnerId: string;
let app: ShoalApp;

before(async () => {
  db = await createTestDatabase();
  issuer = await startTestIssuer();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url, { env: issuer.env() });
  runnerId = await registerRunner(app, runner.url, TOKEN);
});

after(async () => {
  if (app && runnerId) await retireRunner(app, runnerId).catch(() => {});
  await app?.close();
  await runner?.stop();
  await issuer?.stop();
  await db?.drop();
});

test('every step of the membership scenario is in the organization log with actor, action, target and outcome', async () => {
  const a = { sub: 'oidc|audit-a', email: 'a@audit.test', name: 'A', email_verified: true };
  const b = { sub: 'oidc|audit-b', email: 'b@audit.test', name: 'B', email_verified: true };
  const as = async (who: typeof a, org?: string) => ({
    authorization: `Bearer ${await issuer.mintToken(who)}`,
    'user-agent': 'audit-org-test',
    ...(org ? { 'x-daytona-organization-id': org } : {}),
  });
  const me = async (who: typeof a) => (await app.inject({ method: 'GET', url: '/api/users/me', headers: await as(who) })).json() as { id: string };
  const aId = (await me(a)).id;
  const bId = (await me(b)).id;

  const org = await app.inject({ method: 'POST', url: '/api/organizations', headers: await as(a), payload: { name: 'audit-team' } });
  assert.equal(org.statusCode, 201, org.body);
  const orgId = (org.json() as { id: string }).id;
  const inv = await app.inject({ method: 'POST', url: `/api/organizations/${orgId}/invitations`, headers: await as(a), payload: { email: b.email, role: 'member', assignedRoleIds: [] } });
  assert.equal(inv.statusCode, 201, inv.body);
  const invitationId = (inv.json() as { id: string }).id;
  const accept = await app.inject({ method: 'POST', url: `/api/organizations/invitations/${invitationId}/accept`, headers: await as(b) });
  assert.ok(accept.statusCode < 300, accept.body);
  const refused = await app.inject({ method: 'POST', url: '/api/sandbox', headers: await as(b, orgId), payload: {} });
  assert.equal(refused.statusCode, 403, refused.body);
  const grant = await app.inject({
    method: 'POST',
    url: `/api/organizations/${orgId}/users/${encodeURIComponent(bId)}/access`,
    headers: await as(a),
    payload: { role: 'member', assignedRoleIds: [DEVELOPER_ROLE] },
  });
  assert.equal(grant.statusCode, 200, grant.body);
  const created = await app.inject({ method: 'POST', url: '/api/sandbox', headers: await as(b, orgId), payload: { env: { TOKEN: 'b-secret-value' } } });
  assert.equal(created.statusCode, 200, created.body);
  const sandboxId = (created.json() as { id: string }).id;
  const removed = await app.inject({ method: 'DELETE', url: `/api/organizations/${orgId}/users/${encodeURIComponent(bId)}`, headers: await as(a) });
  assert.ok(removed.statusCode < 300, removed.body);
  // B is no longer a member: refused at authentication, and still recorded as B's attempt in the organization.
  const afterRemoval = await app.inject({ method: 'POST', url: '/api/sandbox', headers: await as(b, orgId), payload: {} });
  assert.ok([403, 404].includes(afterRemoval.statusCode), afterRemoval.body);

  const log = await app.inject({ method: 'GET', url: `/api/audit/organizations/${orgId}?limit=50`, headers: await as(a) });
  assert.equal(log.statusCode, 200, log.body);
  const rows = (log.json() as { items: Array<Record<string, unknown>> }).items.reverse();
  assert.deepEqual(
    rows.map((r) => [r.actorId, r.actorEmail, r.action, r.targetType, r.targetId, r.statusCode]),
    [
      [aId, a.email, 'create', 'organization', orgId, 201],
      [aId, a.email, 'create', 'organization_invitation', invitationId, 201],
      [bId, b.email, 'accept', 'organization_invitation', invitationId, accept.statusCode],
      [bId, b.email, 'create', 'sandbox', null, 403].map((v) => (v === null ? undefined : v)),
      [aId, a.email, 'update_access', 'organization_user', bId, 200],
      [bId, b.email, 'create', 'sandbox', sandboxId, 200],
      [aId, a.email, 'delete', 'organization_user', bId, removed.statusCode],
      [bId, b.email, 'create', 'sandbox', undefined, afterRemoval.statusCode],
    ],
  );
  assert.ok(rows.every((r) => r.organizationId === orgId && r.userAgent === 'audit-org-test'));
  assert.equal(rows[3]!.errorMessage, (refused.json() as { message: string }).message);
  assert.deepEqual((rows[5]!.metadata as { body: { env: Record<string, string> } }).body.env, { TOKEN: '********' });

  // B, no longer a member, cannot read it; nor could B before (no read:audit_logs as a Developer).
  const bLog = await app.inject({ method: 'GET', url: `/api/audit/organizations/${orgId}`, headers: await as(b) });
  assert.ok([403, 404].includes(bLog.statusCode), bLog.body);
});
