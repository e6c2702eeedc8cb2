// Issue 10 "Recoverable credentials": `shoal credentials reset` against a platform's data dir, stopped (it starts the
// embedded PostgreSQL for the moment it needs) and running. Real embedded PostgreSQL, the API's migrations and bootstrap.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { applyMigrations, bootstrap, withMigrationLock } from '@shoal/api';
import { apiKeyExists } from '@shoal/api/admin-key';
import { startEmbeddedPostgres, type RunningPostgres } from '@shoal/postgres';
import { freePort, resetCredentials } from '../src/index.js';

let dir: string;
let port: number;
let firstKey: string;

async function withDb<T>(fn: (c: pg.Client) => Promise<T>, running?: RunningPostgres): Promise<T> {
  const server = running ?? (await startEmbeddedPostgres({ dataDir: join(dir, 'postgres'), port }));
  const c = new pg.Client({ connectionString: server.urlFor('shoal') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
    if (!running) await server.stop();
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-reset-'));
  port = await freePort();
  const server = await startEmbeddedPostgres({ dataDir: join(dir, 'postgres'), port });
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE DATABASE shoal');
    await admin.end();
    const pool = new pg.Pool({ connectionString: server.urlFor('shoal') });
    const boot = await withMigrationLock(pool, async (c) => {
      await applyMigrations(c);
      return bootstrap(c, { adminApiKey: undefined, defaultSnapshot: 's', defaultSnapshotImage: 'r/s', publicUrl: 'http://127.0.0.1:3999', dataDir: undefined });
    });
    await pool.end();
    firstKey = boot.adminApiKey!;
  } finally {
    await server.stop();
  }
  await writeFile(join(dir, 'platform.json'), JSON.stringify({ apiUrl: 'http://127.0.0.1:3999/api', postgresPort: port, registryPort: 1, runners: [] }));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a stopped platform: reset starts its PostgreSQL, adds a key, rewrites credentials.json (0600) and stops it again', async () => {
  const r = await resetCredentials(dir);
  assert.match(r.apiKey, /^dtn_[0-9a-f]{64}$/);
  assert.equal(r.apiUrl, 'http://127.0.0.1:3999/api');
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')), { apiUrl: r.apiUrl, apiKey: r.apiKey });
  assert.equal((await stat(join(dir, 'credentials.json'))).mode & 0o777, 0o600);
  await assert.rejects(new pg.Client({ connectionString: `postgres://shoal:shoal@127.0.0.1:${port}/shoal` }).connect(), /ECONNREFUSED/, 'left stopped');
  await withDb(async (c) => {
    assert.ok(await apiKeyExists(c, r.apiKey), 'the new key is stored');
    assert.ok(await apiKeyExists(c, firstKey), 'the old key keeps working');
  });
});

test('a running platform: reset uses the running server and each reset adds a distinct key', async () => {
  const server = await startEmbeddedPostgres({ dataDir: join(dir, 'postgres'), port });
  try {
    const a = await resetCredentials(dir);
    const b = await resetCredentials(dir);
    assert.notEqual(a.apiKey, b.apiKey);
    assert.notEqual(a.keyName, b.keyName);
    await withDb(async (c) => {
      for (const k of [a.apiKey, b.apiKey, firstKey]) assert.ok(await apiKeyExists(c, k));
    }, server);
    assert.equal(JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')).apiKey, b.apiKey);
  } finally {
    await server.stop();
  }
});
