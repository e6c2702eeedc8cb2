// Regression tests for what the e2e input suite (e2e/input.e2e.test.ts) found: hostile input that produced a 5xx or
// an error body without the Daytona envelope.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, sshGatewayAuth, buildTestApp } from './helpers/app.js';

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

function assertEnvelope(res: { statusCode: number; body: string }, status: number): void {
  assert.equal(res.statusCode, status, res.body);
  const b = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(b.statusCode, status);
  assert.equal(typeof b.message, 'string');
  assert.equal(typeof b.error, 'string');
  assert.ok(!Number.isNaN(Date.parse(String(b.timestamp))));
  assert.equal(typeof b.path, 'string');
}

test('a malformed percent-encoding in the path answers 400 in the envelope', async () => {
  assertEnvelope(await app.inject({ method: 'GET', url: '/api/sandbox/%ZZ', headers: adminAuth }), 400);
});

test('an over-long path parameter answers 414 in the envelope', async () => {
  assertEnvelope(await app.inject({ method: 'GET', url: `/api/sandbox/${'x'.repeat(500)}`, headers: adminAuth }), 414);
});

test('a NUL character in a query value is a 400, not a database error', async () => {
  assertEnvelope(await app.inject({ method: 'GET', url: '/api/sandbox/ssh-access/validate?token=a%00b', headers: sshGatewayAuth }), 400);
});

test('unknown fields in a quota update are ignored instead of reaching SQL', async () => {
  const orgId = ((await app.inject({ method: 'GET', url: '/api/organizations', headers: adminAuth })).json() as Array<{ id: string }>)[0]!.id;
  const res = await app.inject({ method: 'PATCH', url: `/api/organizations/${orgId}/quota`, headers: adminAuth, payload: { nosuchcolumn: 1, totalCpuQuota: 12 } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal((res.json() as { totalCpuQuota: number }).totalCpuQuota, 12);
});

test('a request line beyond the HTTP parser limit answers 431 in the envelope over a real socket', async () => {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const url = new URL(address);
    const res = await new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: `/api/health?x=${'a'.repeat(20_000)}`, agent: false }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ statusCode: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assertEnvelope(res, 431);
  } finally {
    await app.close();
    app = await buildTestApp(db.url, { background: false });
  }
});
