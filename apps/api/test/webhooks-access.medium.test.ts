// Who may open the webhook portal of an organization: its owners (and admins); a member reading with a JWT gets 403
// naming the rule, and may still read the initialization status. Users come from a real OIDC issuer on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp } from './helpers/app.js';
import { startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

let db: TestDatabase;
let app: ShoalApp;
let issuer: TestIssuer;
let sql: pg.Pool;

before(async () => {
  db = await createTestDatabase();
  issuer = await startTestIssuer();
  app = await buildTestApp(db.url, { background: false, env: issuer.env() });
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});

after(async () => {
  await app?.close();
  await sql?.end();
  await issuer?.stop();
  await db?.drop();
});

const bearer = (t: string, org: string) => ({ authorization: `Bearer ${t}`, 'x-daytona-organization-id': org });

test('app-portal-access is for owners: a member gets 403, the owner and an admin get a URL', async () => {
  const owner = await issuer.mintToken({ sub: 'hooks-owner', email: 'owner@example.com', name: 'Owner', email_verified: true });
  const member = await issuer.mintToken({ sub: 'hooks-member', email: 'member@example.com', name: 'Member', email_verified: true });
  // First requests provision both users with their personal organizations.
  assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${owner}` } })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${member}` } })).statusCode, 200);
  const org = (await sql.query<{ id: string }>(`SELECT id FROM organization WHERE created_by = 'hooks-owner' AND personal`)).rows[0]!.id;
  await sql.query(`INSERT INTO organization_user (organization_id, user_id, role) VALUES ($1, 'hooks-member', 'member')`, [org]);

  const access = (headers: Record<string, string>) => app.inject({ method: 'POST', url: `/api/webhooks/organizations/${org}/app-portal-access`, headers });
  const denied = await access(bearer(member, org));
  assert.equal(denied.statusCode, 403, denied.body);
  assert.match(denied.body, /only organization owners manage webhook endpoints/);
  const ok = await access(bearer(owner, org));
  assert.equal(ok.statusCode, 200, ok.body);
  assert.match((ok.json() as { url: string }).url, /\/api\/webhooks\/portal#token=/);
  assert.equal((await access(adminAuth)).statusCode, 200);

  // Reading the initialization status needs membership only.
  const status = await app.inject({ method: 'GET', url: `/api/webhooks/organizations/${org}/initialization-status`, headers: bearer(member, org) });
  assert.equal(status.statusCode, 404, status.body);
  assert.match(status.body, /Webhook initialization status not found/);
});
