// The organization setting `sandbox-default-limited-network-egress`: admin-only, and it reaches the runner as
// `networkLimitEgress` on the create of sandboxes made after it is set (README "Network").
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const RUNNER_TOKEN = 'fake-runner-token-limited-egress';

let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;
let tenant: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url);
  await registerRunner(app, runner.url, RUNNER_TOKEN);
  tenant = await createTenant(app, 'limited-egress-tenant');
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

const setLimited = (value: unknown, headers: Record<string, string>, org = tenant.organizationId) =>
  app.inject({
    method: 'POST',
    url: `/api/organizations/${org}/sandbox-default-limited-network-egress`,
    headers,
    payload: { sandboxDefaultLimitedNetworkEgress: value },
  });

async function createdWith(): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} });
  assert.equal(res.statusCode, 200, res.body);
  const id = (res.json() as { id: string }).id;
  const call = runner.callsTo('POST', /^\/sandboxes$/).find((c) => c.body.includes(id));
  assert.ok(call, 'the runner was asked to create the sandbox');
  return JSON.parse(call.body) as Record<string, unknown>;
}

test('only an admin sets it; an unknown organization is 404; a bad body is 400', async () => {
  assert.equal((await setLimited(true, tenant.auth)).statusCode, 403);
  assert.equal((await setLimited('yes', adminAuth)).statusCode, 400);
  assert.equal((await setLimited(true, adminAuth, '00000000-0000-0000-0000-000000000000')).statusCode, 404);
  const org = (await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}`, headers: tenant.auth })).json() as {
    sandboxLimitedNetworkEgress: boolean;
  };
  assert.equal(org.sandboxLimitedNetworkEgress, false);
});

test('sandboxes created after it is set get limited egress on their runner; turning it off stops that', async () => {
  assert.equal((await createdWith()).networkLimitEgress, undefined);
  assert.equal((await setLimited(true, adminAuth)).statusCode, 204);
  const org = (await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}`, headers: tenant.auth })).json() as {
    sandboxLimitedNetworkEgress: boolean;
  };
  assert.equal(org.sandboxLimitedNetworkEgress, true);
  assert.equal((await createdWith()).networkLimitEgress, true);
  assert.equal((await setLimited(false, adminAuth)).statusCode, 204);
  assert.equal((await createdWith()).networkLimitEgress, undefined);
});
