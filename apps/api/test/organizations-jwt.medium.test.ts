// Organization management with OIDC logins (a real issuer on loopback): A creates a team and invites B; B accepts with
// its login, works in the team through X-Daytona-Organization-ID within the permissions of its roles, creates a key of
// the team; A narrows and then removes B, and B's login and key of the team stop at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { buildTestApp, registerRunner, retireRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';
import { startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

const RUNNER_TOKEN = 'organizations-jwt-runner-token-012345678';
const DEVELOPER = '00000000-0000-0000-0000-000000000001';
const SANDBOXES_ADMIN = '00000000-0000-0000-0000-000000000002';

let db: TestDatabase;
let app: ShoalApp;
let issuer: TestIssuer;
let runner: FakeRunner;
let runnerId: string;

before(async () => {
  db = await createTestDatabase();
  issuer = await startTestIssuer();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url, { env: issuer.env() });
  runnerId = await registerRunner(app, runner.url, RUNNER_TOKEN);
});

after(async () => {
  if (runnerId) await retireRunner(app, runnerId).catch(() => {});
  await app?.close();
  await runner?.stop();
  await issuer?.stop();
  await db?.drop();
});

type Json = Record<string, unknown>;
type Headers = Record<string, string>;
const login = (token: string, org?: string): Headers => ({ authorization: `Bearer ${token}`, ...(org ? { 'x-daytona-organization-id': org } : {}) });

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, headers: Headers, payload?: unknown) {
  const res = await app.inject({ method, url: `/api${url}`, headers, ...(payload !== undefined ? { payload: payload as Json } : {}) });
  let body: unknown;
  try {
    body = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body: body as Json & Json[], raw: res.body };
}

test('a team through logins: invitation by e-mail, work within the roles, narrowing and removal take effect at once', async () => {
  const a = await issuer.mintToken({ sub: 'jwt-team-a', email: 'a@jwt.test', name: 'A', email_verified: true });
  const b = await issuer.mintToken({ sub: 'jwt-team-b', email: 'B@JWT.test', name: 'B', email_verified: true });
  const mallory = await issuer.mintToken({ sub: 'jwt-team-m', email: 'm@jwt.test', name: 'M', email_verified: false });

  const org = await call('POST', '/organizations', login(a), { name: 'jwt-team' });
  assert.equal(org.status, 201, org.raw);
  const team = org.body.id as string;
  assert.equal((await call('POST', '/organizations', login(mallory), { name: 'x' })).status, 403, 'unverified e-mail');

  const inv = await call('POST', `/organizations/${team}/invitations`, login(a), { email: 'b@jwt.test', role: 'member', assignedRoleIds: [SANDBOXES_ADMIN] });
  assert.equal(inv.status, 201, inv.raw);
  // B, not yet a member, cannot act in the team.
  assert.ok([403, 404].includes((await call('GET', '/sandbox', login(b, team))).status));
  assert.equal((await call('GET', '/organizations/invitations/count', login(b))).body, 1);
  assert.equal((await call('POST', `/organizations/invitations/${inv.body.id as string}/accept`, login(mallory))).status, 404);
  assert.equal((await call('POST', `/organizations/invitations/${inv.body.id as string}/accept`, login(b))).status, 200);

  // B works in the team with its roles' permissions.
  assert.equal((await call('GET', '/sandbox', login(b, team))).status, 200);
  const sb = await call('POST', '/sandbox', login(b, team), {});
  assert.ok(sb.status < 300, sb.raw);
  assert.equal(sb.body.organizationId, team);
  const snap = await call('POST', '/snapshots', login(b, team), { name: 'nope', imageName: 'example.test/x:1' });
  assert.equal(snap.status, 403, 'Sandboxes Admin grants no write:snapshots');
  assert.match(snap.body.message as string, /write:snapshots/);
  // B's key of the team holds at most what B holds.
  const tooWide = await call('POST', '/api-keys', login(b, team), { name: 'wide', permissions: ['write:snapshots'] });
  assert.equal(tooWide.status, 403, tooWide.raw);
  assert.equal(tooWide.body.message, 'Insufficient permissions for assigning: write:snapshots');
  const key = await call('POST', '/api-keys', login(b, team), { name: 'b-team-key', permissions: ['write:sandboxes', 'delete:sandboxes'] });
  assert.equal(key.status, 201, key.raw);
  const bKey = { authorization: `Bearer ${key.body.value as string}` };
  assert.equal((await call('GET', '/sandbox', bKey)).status, 200);
  // B is no owner: no member management.
  assert.equal((await call('POST', `/organizations/${team}/users/jwt-team-a/access`, login(b), { role: 'member', assignedRoleIds: [] })).status, 403);

  // A narrows B to Developer: the key holding delete:sandboxes is gone at once, B's login loses delete:sandboxes.
  const narrowed = await call('POST', `/organizations/${team}/users/jwt-team-b/access`, login(a), { role: 'member', assignedRoleIds: [DEVELOPER] });
  assert.equal(narrowed.status, 200, narrowed.raw);
  assert.equal((await call('GET', '/sandbox', bKey)).status, 401);
  const del = await call('DELETE', `/sandbox/${sb.body.id as string}`, login(b, team));
  assert.equal(del.status, 403, del.raw);
  assert.match(del.body.message as string, /delete:sandboxes/);

  // A removes B: B's next request in the team is refused.
  assert.equal((await call('DELETE', `/organizations/${team}/users/jwt-team-b`, login(a))).status, 204);
  const after = await call('GET', '/sandbox', login(b, team));
  assert.ok([403, 404].includes(after.status), after.raw);
  // The login resolves the path's organization first and refuses a non-member (auth.service.ts), as for any unknown id.
  assert.ok([403, 404].includes((await call('GET', `/organizations/${team}`, login(b))).status));
  assert.equal((await call('GET', '/sandbox', login(b))).status, 200, "B's personal organization still works");
});
