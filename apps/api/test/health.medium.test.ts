// GET /health answers the reference's health report, also when the database is gone (issue 17, item 5): clients of
// the reference read `status`, `info`, `error` and `details` on the 503 as on the 200.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { buildTestApp } from './helpers/app.js';

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

/** Refuses (or again allows) new connections to the test's database and ends the open ones. */
async function setReachable(reachable: boolean): Promise<void> {
  const name = new URL(db.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/?]+(\?|$)/, '/postgres$1') });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS ${reachable}`);
    if (!reachable) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  } finally {
    await admin.end();
  }
}

test('GET /health: the reference report when up, and the same shape with 503 when the database is unreachable', async () => {
  const up = await app.inject({ method: 'GET', url: '/api/health' });
  assert.equal(up.statusCode, 200);
  assert.deepEqual(up.json(), { status: 'ok', info: { database: { status: 'up' } }, error: {}, details: { database: { status: 'up' } } });

  await setReachable(false);
  try {
    const down = await app.inject({ method: 'GET', url: '/api/health' });
    assert.equal(down.statusCode, 503, down.body);
    const body = down.json() as { status: string; info: object; error: Record<string, { status: string; message?: string }>; details: object };
    assert.equal(body.status, 'error');
    assert.deepEqual(body.info, {});
    assert.equal(body.error.database?.status, 'down');
    assert.match(String(body.error.database?.message), /not reachable/);
    assert.deepEqual(body.details, body.error);
  } finally {
    await setReachable(true);
  }
  // Back without a restart once the database is.
  let again = 0;
  for (let i = 0; i < 50 && again !== 200; i++) {
    again = (await app.inject({ method: 'GET', url: '/api/health' })).statusCode;
    if (again !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(again, 200);
});
