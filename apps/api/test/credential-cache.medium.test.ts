import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant } from './helpers/app.js';
import { STATE_CHANNEL, type SandboxEvents } from '../src/reconciler/sandbox-events.js';

/*
 * Two API replicas on one PostgreSQL, each with its own credential cache (auth/credential-cache.ts). The cache must
 * never let a revoked key through: writes served here empty it before they answer, the database's NOTIFY empties the
 * other replica's, and a replica that cannot hear notifications stops trusting its cache.
 */

let db: TestDatabase;
let a: ShoalApp;
let b: ShoalApp;
/** A third replica with a short TTL, for the one test about the TTL. */
let c: ShoalApp;
let sql: pg.Client;
/** Far beyond any wait below, so what a and b do within a test can only come from notifications and hooks. */
const TTL_MS = 120_000;
const SHORT_TTL_MS = 2000;

before(async () => {
  db = await createTestDatabase();
  const env = { SHOAL_RECONCILE_INTERVAL_MS: '60000', SHOAL_CREDENTIAL_CACHE_TTL_MS: String(TTL_MS) };
  a = await buildTestApp(db.url, { env });
  b = await buildTestApp(db.url, { env });
  c = await buildTestApp(db.url, { env: { ...env, SHOAL_CREDENTIAL_CACHE_TTL_MS: String(SHORT_TTL_MS) } });
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  await sql?.end();
  await a?.close();
  await b?.close();
  await c?.close();
  await db?.drop();
});

/** A route that reads nothing about the key itself, so its answer reflects authentication alone. */
const status = async (app: ShoalApp, auth: { authorization: string }) => (await app.inject({ method: 'GET', url: '/api/sandbox', headers: auth })).statusCode;

/** Polls for what the other replica learns through NOTIFY (milliseconds after commit); the bound only ends a failure. */
async function eventually(app: ShoalApp, auth: { authorization: string }, want: number, withinMs = 5000): Promise<number> {
  const deadline = Date.now() + withinMs;
  let got = await status(app, auth);
  while (got !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    got = await status(app, auth);
  }
  return got;
}

/** Changes rows without firing triggers: what a missed notification looks like to a replica. */
async function silently(text: string, values: unknown[]): Promise<void> {
  await sql.query('BEGIN');
  try {
    await sql.query('SET LOCAL session_replication_role = replica');
    await sql.query(text, values);
    await sql.query('COMMIT');
  } catch (err) {
    await sql.query('ROLLBACK');
    throw err;
  }
}

async function keyName(app: ShoalApp, auth: { authorization: string }): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/api/api-keys/current', headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { name: string }).name;
}

test('a key deleted through one replica is refused by that replica at once and by the other within a notification', async () => {
  const t = await createTenant(a, 'cache-revoke');
  const name = await keyName(a, t.auth);
  // Both replicas have now resolved (and cached) the key.
  assert.equal(await status(b, t.auth), 200);
  assert.equal(await status(b, t.auth), 200);
  const del = await a.inject({ method: 'DELETE', url: `/api/api-keys/${encodeURIComponent(name)}`, headers: t.auth });
  assert.ok(del.statusCode < 300, del.body);
  assert.equal(await status(a, t.auth), 401, 'the replica that served the delete refuses the very next request');
  assert.equal(await eventually(b, t.auth, 401), 401, 'the other replica hears the NOTIFY');
});

test('a membership removed in SQL ends the key on both replicas', async () => {
  const t = await createTenant(a, 'cache-member');
  assert.equal(await status(a, t.auth), 200);
  assert.equal(await status(b, t.auth), 200);
  await sql.query(`DELETE FROM organization_user WHERE organization_id = $1 AND user_id = 'cache-member'`, [t.organizationId]);
  assert.equal(await eventually(a, t.auth, 401), 401);
  assert.equal(await eventually(b, t.auth, 401), 401);
});

/**
 * Returns once `app` has handled every notification committed before the call. PostgreSQL delivers a listener's
 * notifications in commit order, but only when the listening backend gets to run: on a loaded host one can reach the
 * replica after a lookup the test made later, and empty what that lookup cached. A notification of our own on the
 * state channel, seen by the replica, means everything committed before it was seen too.
 */
async function heardAllSoFar(app: ShoalApp): Promise<void> {
  const token = `barrier-${process.hrtime.bigint()}`;
  const events = (app.reconciler as unknown as { events: SandboxEvents }).events;
  const seen = events.waitForChange(token, 10_000);
  await sql.query(`SELECT pg_notify('${STATE_CHANNEL}', $1)`, [token]);
  await seen;
}

test('the cache serves: a change nobody announced is seen only once the TTL has run out', async () => {
  const t = await createTenant(a, 'cache-ttl');
  // The tenant's membership rows were announced: c must have heard that before it caches the key, or the late
  // notification would empty its cache and this test would see a refusal the cache did not make.
  await heardAllSoFar(c);
  const name = await keyName(c, t.auth);
  await silently('DELETE FROM api_key WHERE organization_id = $1 AND name = $2', [t.organizationId, name]);
  // c resolved the key just now, and no notification came: it answers from its cache, without asking the database.
  assert.equal(await status(c, t.auth), 200);
  // b never resolved this key, so it asks the database and refuses.
  assert.equal(await status(b, t.auth), 401);
  await new Promise((r) => setTimeout(r, SHORT_TTL_MS + 200));
  assert.equal(await status(c, t.auth), 401, 'an entry is never served past its TTL');
});

test('a replica whose LISTEN connection is gone stops trusting its cache until it listens again', async () => {
  const t = await createTenant(a, 'cache-listen');
  const name = await keyName(b, t.auth);
  assert.equal(await status(b, t.auth), 200);
  // Every replica's listener; both reconnect on their own a second later.
  await sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`);
  await silently('DELETE FROM api_key WHERE organization_id = $1 AND name = $2', [t.organizationId, name]);
  // Long before the TTL, so only a cache that switched itself off explains a 401 here.
  assert.equal(await eventually(b, t.auth, 401), 401);

  // Listening again, the cache is back in use: prove it with another unannounced change. The key loses read:volumes
  // in SQL without a notification; a replica that asks the database answers 403, one serving its cache 200.
  const u = await createTenant(a, 'cache-listen-2');
  const uName = await keyName(b, u.auth);
  const full = (await sql.query<{ permissions: string[] }>('SELECT permissions FROM api_key WHERE organization_id = $1 AND name = $2', [u.organizationId, uName])).rows[0]!.permissions;
  assert.ok(full.includes('read:volumes'));
  const deadline = Date.now() + 10_000;
  let served = false;
  while (!served && Date.now() < deadline) {
    assert.equal(await status(b, u.auth), 200);
    await silently('UPDATE api_key SET permissions = $3 WHERE organization_id = $1 AND name = $2', [u.organizationId, uName, []]);
    served = (await b.inject({ method: 'GET', url: '/api/volumes', headers: u.auth })).statusCode === 200;
    // Announced this time, so the next round starts from a fresh lookup.
    await sql.query('UPDATE api_key SET permissions = $3 WHERE organization_id = $1 AND name = $2', [u.organizationId, uName, full]);
    if (!served) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(served, 'after reconnecting, b serves the key from its cache again');
});

test('the admin key keeps working throughout', async () => {
  assert.equal((await a.inject({ method: 'GET', url: '/api/sandbox', headers: adminAuth })).statusCode, 200);
  assert.equal((await b.inject({ method: 'GET', url: '/api/sandbox', headers: adminAuth })).statusCode, 200);
});
