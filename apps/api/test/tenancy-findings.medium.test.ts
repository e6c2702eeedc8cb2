// Regression tests for what the e2e tenancy suite (e2e/tenancy.e2e.test.ts) found: each test is one attack that
// used to succeed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, sshGatewayAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const RUNNER_TOKEN = 'tenancy-findings-runner-token-0123456789';
let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url);
  await registerRunner(app, runner.url, RUNNER_TOKEN);
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

test('an admin key narrowed to some permissions cannot mint a key with more', async () => {
  const narrow = await app.inject({ method: 'POST', url: '/api/api-keys', headers: adminAuth, payload: { name: 'narrow', permissions: ['delete:sandboxes'] } });
  assert.equal(narrow.statusCode, 201, narrow.body);
  const auth = { authorization: `Bearer ${(narrow.json() as { value: string }).value}` };
  const wide = await app.inject({ method: 'POST', url: '/api/api-keys', headers: auth, payload: { name: 'wide', permissions: ['write:sandboxes'] } });
  assert.equal(wide.statusCode, 403, wide.body);
  assert.match((wide.json() as { message: string }).message, /Insufficient permissions for assigning: write:sandboxes/);
  const same = await app.inject({ method: 'POST', url: '/api/api-keys', headers: auth, payload: { name: 'same', permissions: ['delete:sandboxes'] } });
  assert.equal(same.statusCode, 201, same.body);
});

test("another organization reading the general snapshots does not learn the admin organization's id", async () => {
  const t = await createTenant(app, 'snapshot-reader');
  const adminOrg = ((await app.inject({ method: 'GET', url: '/api/organizations', headers: adminAuth })).json() as Array<{ id: string }>)[0]!.id;
  const list = await app.inject({ method: 'GET', url: '/api/snapshots', headers: t.auth });
  assert.equal(list.statusCode, 200);
  const items = (list.json() as { items: Array<{ id: string; general: boolean }> }).items;
  assert.ok(items.length > 0 && items.every((s) => s.general));
  assert.ok(!list.body.includes(adminOrg), list.body);
  const one = await app.inject({ method: 'GET', url: `/api/snapshots/${items[0]!.id}`, headers: t.auth });
  assert.equal(one.statusCode, 200);
  assert.ok(!one.body.includes(adminOrg), one.body);
  // The owner still sees it.
  const own = await app.inject({ method: 'GET', url: `/api/snapshots/${items[0]!.id}`, headers: adminAuth });
  assert.equal((own.json() as { organizationId?: string }).organizationId, adminOrg);
});

test("another organization holding an SSH token learns nothing about the sandbox it opens", async () => {
  const owner = await createTenant(app, 'ssh-owner');
  const thief = await createTenant(app, 'ssh-thief');
  const created = await app.inject({ method: 'POST', url: '/api/sandbox', headers: owner.auth, payload: {} });
  assert.ok(created.statusCode < 300, created.body);
  const id = (created.json() as { id: string }).id;
  const ssh = await app.inject({ method: 'POST', url: `/api/sandbox/${id}/ssh-access`, headers: { ...owner.auth, 'content-type': 'application/json' }, payload: '' });
  const token = (ssh.json() as { token: string }).token;
  // Only the SSH gateway validates: users of any organization (the sandbox's own too) are refused before the token is read.
  const stolen = await app.inject({ method: 'GET', url: `/api/sandbox/ssh-access/validate?token=${token}`, headers: thief.auth });
  assert.equal(stolen.statusCode, 403);
  const mine = await app.inject({ method: 'GET', url: `/api/sandbox/ssh-access/validate?token=${token}`, headers: owner.auth });
  assert.equal(mine.statusCode, 403);
  const gateway = await app.inject({ method: 'GET', url: `/api/sandbox/ssh-access/validate?token=${token}`, headers: sshGatewayAuth });
  assert.deepEqual([(gateway.json() as { valid: boolean }).valid, (gateway.json() as { sandboxId: string }).sandboxId], [true, id]);
});
