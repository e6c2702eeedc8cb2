// Issue 9 "keys and tokens": nothing secret crosses the proxies, the toolbox port needs a key that may write the
// sandbox, narrowed admin keys are plain keys, runner tokens are never listed and stored only hashed, preview tokens
// rotate. Real PostgreSQL, Fastify inject and a fake runner that records what reached it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { request } from 'undici';
import WebSocket from 'ws';
import type { ShoalApp } from '../src/app.js';
import { applyMigrations, withMigrationLock } from '../src/db/migrate.js';
import { PERMISSIONS } from '../src/auth/api-key-format.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'credentials-fake-runner-token-0123456789';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let base: string;
let sandboxId: string;
let runnerId: string;
let other: Awaited<ReturnType<typeof createTenant>>;
let otherSandbox: string;
/** Keys of the admin's organization: one without write:sandboxes, one without read:audit_logs (a narrowed admin key). */
let readOnly: { authorization: string };
let narrowedAdmin: { authorization: string };
let readOnlyKey: string;

type Forwarded = { forwarded: { path: string; search: string; headers: Record<string, string | string[] | undefined> } };

async function mintKey(name: string, permissions: string[]): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/api-keys', headers: adminAuth, payload: { name, permissions } });
  assert.equal(res.statusCode, 201, res.body);
  return (res.json() as { value: string }).value;
}

async function previewToken(id = sandboxId, auth = adminAuth): Promise<string> {
  const res = await app.inject({ method: 'GET', url: `/api/sandbox/${id}/ports/3000/preview-url`, headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { token: string }).token;
}

async function get(path: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await request(`${base}${path}`, { headers });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Opens a WebSocket and answers the HTTP status it ended with (101 when it opened). */
function wsStatus(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url);
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  runnerId = await registerRunner(app, runner.url, TOKEN);
  other = await createTenant(app, 'credentials-tenant');
  sandboxId = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} })).json() as { id: string }).id;
  otherSandbox = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: other.auth, payload: {} })).json() as { id: string }).id;
  readOnlyKey = await mintKey('read-only', PERMISSIONS.filter((p) => p !== 'write:sandboxes'));
  readOnly = { authorization: `Bearer ${readOnlyKey}` };
  narrowedAdmin = { authorization: `Bearer ${await mintKey('narrowed-admin', PERMISSIONS.filter((p) => p !== 'read:audit_logs'))}` };
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

describe('no credential crosses into the sandbox', () => {
  const hostile = (token: string) => ({
    ...adminAuth,
    'x-daytona-preview-token': token,
    'x-daytona-organization-id': 'some-org',
    'x-daytona-source': 'sdk',
    'x-daytona-authorization': `Bearer ${TOKEN}`,
    // Cookie values long enough never to turn up by chance in a random Sec-WebSocket-Key (`s3` once did).
    cookie: 'daytona-session=cookie-secret-1; app_pref=dark; Shoal_auth=cookie-secret-2; shoal=cookie-secret-3; DAYTONA_X=cookie-secret-4; theme=light',
    'x-app-header': 'kept',
  });
  const assertClean = (headers: Record<string, string | string[] | undefined>, token: string) => {
    const text = JSON.stringify(headers);
    assert.equal(headers.authorization, undefined);
    assert.deepEqual(Object.keys(headers).filter((h) => h.startsWith('x-daytona-') && h !== 'x-daytona-authorization'), []);
    // The one X-Daytona header the runner sees is the API's own credential, derived from the platform secret.
    assert.equal(headers['x-daytona-authorization'], `Bearer ${runner.callToken}`);
    assert.equal(headers.cookie, 'app_pref=dark; theme=light');
    assert.equal(headers['x-app-header'], 'kept');
    for (const secret of ['dtn_', token, TOKEN, 'cookie-secret-']) assert.ok(!text.includes(secret), `${secret} reached the runner: ${text}`);
  };

  test('preview proxy (HTTP, path form): API key, preview token, X-Daytona-* headers and platform cookies are stripped', async () => {
    const token = await previewToken();
    const res = await get(`/preview/3000-${sandboxId}/echo?DAYTONA_SANDBOX_AUTH_KEY=${token}&keep=1`, hostile(token));
    assert.equal(res.status, 200, res.text);
    const f = (JSON.parse(res.text) as Forwarded).forwarded;
    assert.equal(f.search, '?keep=1');
    assertClean(f.headers, token);
  });

  test('toolbox proxy (HTTP): the same headers are stripped', async () => {
    const token = await previewToken();
    const res = await get(`/api/toolbox/${sandboxId}/toolbox/files?path=/`, hostile(token));
    assert.equal(res.status, 200, res.text);
    assertClean((JSON.parse(res.text) as Forwarded).forwarded.headers, token);
  });

  test('WebSocket upgrades on the app port, the toolbox port and the toolbox route are stripped too', async () => {
    const token = await previewToken();
    for (const path of [`/preview/3000-${sandboxId}/ws`, `/preview/2280-${sandboxId}/process/pty/p/connect`, `/api/toolbox/${sandboxId}/toolbox/process/pty/q/connect`]) {
      const before = runner.upgrades.length;
      assert.equal(await wsStatus(path, hostile(token)), 101, path);
      for (let i = 0; i < 50 && runner.upgrades.length <= before; i++) await new Promise((r) => setTimeout(r, 20));
      const up = runner.upgrades[before];
      assert.ok(up, `upgrade of ${path} reached the runner`);
      assertClean(up.headers as Record<string, string>, token);
    }
  });

  test('the API calls the runner with the derived credential, never with the runner token', () => {
    const lifecycle = runner.calls.filter((c) => !c.path.includes('/toolbox') && !c.path.includes('/ports/'));
    assert.ok(lifecycle.length > 0);
    for (const c of lifecycle) {
      assert.equal(c.headers['x-daytona-authorization'], `Bearer ${runner.callToken}`, c.path);
      assert.ok(!JSON.stringify(c.headers).includes(TOKEN), c.path);
    }
  });
});

describe('port 2280 through the preview proxy', () => {
  const url = () => `/preview/2280-${sandboxId}/version`;

  test('needs an API key of the organization holding write:sandboxes; the preview token alone opens only app ports', async () => {
    const token = await previewToken();
    assert.equal((await get(`/preview/3000-${sandboxId}/`, { 'x-daytona-preview-token': token })).status, 200);
    assert.equal((await get(url(), { 'x-daytona-preview-token': token })).status, 401);
    assert.equal((await get(`${url()}?DAYTONA_SANDBOX_AUTH_KEY=${token}`, {})).status, 401);
    assert.equal((await get(url(), { ...readOnly, 'x-daytona-preview-token': token })).status, 403);
    assert.equal((await get(url(), { ...other.auth, 'x-daytona-preview-token': token })).status, 404, "another organization's key: as if the sandbox did not exist");
    assert.equal((await get(url(), { ...narrowedAdmin, 'x-daytona-preview-token': token })).status, 200, 'a narrowed key with write:sandboxes of the same organization');
    assert.equal((await get(url(), adminAuth)).status, 200);
    assert.equal(await wsStatus(`/preview/2280-${sandboxId}/process/pty/x/connect`, { 'x-daytona-preview-token': token }), 401);
    assert.equal(await wsStatus(`/preview/2280-${sandboxId}/process/pty/x/connect`, { ...readOnly, 'x-daytona-preview-token': token }), 403);
    assert.equal(await wsStatus(`/preview/2280-${sandboxId}/process/pty/x/connect`, { ...adminAuth, 'x-daytona-preview-token': token }), 101);
  });

  test('a public sandbox never opens 2280 without such a key', async () => {
    await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/public/true`, headers: adminAuth });
    try {
      const token = await previewToken();
      assert.equal((await get(`/preview/3000-${sandboxId}/`, {})).status, 200);
      assert.equal((await get(url(), {})).status, 401);
      assert.equal((await get(url(), { 'x-daytona-preview-token': token })).status, 401);
      assert.equal((await get(url(), readOnly)).status, 403);
      assert.equal((await get(url(), other.auth)).status, 404);
    } finally {
      await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/public/false`, headers: adminAuth });
    }
  });

  test("a key without write:sandboxes cannot fetch the toolbox port's preview link; app ports stay readable", async () => {
    const r2280 = await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/2280/preview-url`, headers: readOnly });
    assert.equal(r2280.statusCode, 403, r2280.body);
    assert.ok(!r2280.body.includes(await previewToken()));
    const alias = await app.inject({ method: 'GET', url: `/api/workspace/${sandboxId}/ports/2280/preview-url`, headers: readOnly });
    assert.equal(alias.statusCode, 403, alias.body);
    assert.equal((await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/3000/preview-url`, headers: readOnly })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/2280/preview-url`, headers: adminAuth })).statusCode, 200);
  });
});

describe('narrowed admin keys are plain keys of their organization', () => {
  test('admin routes refuse a narrowed admin key and accept the full one', async () => {
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/api/runners'],
      ['GET', `/api/runners/by-sandbox/${sandboxId}`],
      ['GET', '/api/runners/by-snapshot-ref?ref=x'],
      ['PATCH', `/api/runners/${runnerId}/scheduling`, { unschedulable: false }],
      ['POST', '/api/runners', { domain: 'narrowed.test', apiUrl: 'http://127.0.0.1:9', proxyUrl: 'http://127.0.0.1:9', apiKey: 'n'.repeat(32), cpu: 1, memoryGiB: 1, diskGiB: 1 }],
      ['GET', '/api/users'],
      ['GET', '/api/users/credentials-tenant'],
      ['POST', '/api/users', { name: 'minted-by-narrowed', createApiKey: true }],
      ['PATCH', `/api/organizations/${other.organizationId}/quota`, { totalCpuQuota: 999 }],
    ];
    for (const [method, url, payload] of routes) {
      const res = await app.inject({ method: method as 'GET', url, headers: narrowedAdmin, ...(payload ? { payload: payload as object } : {}) });
      assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/runners', headers: adminAuth })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/api/users', headers: adminAuth })).statusCode, 200);
  });

  test("a narrowed admin key cannot reach another organization's sandbox; the full key can", async () => {
    assert.equal((await app.inject({ method: 'GET', url: `/api/sandbox/${otherSandbox}`, headers: narrowedAdmin })).statusCode, 404);
    assert.equal((await get(`/api/toolbox/${otherSandbox}/toolbox/version`, narrowedAdmin)).status, 404);
    assert.equal((await app.inject({ method: 'GET', url: `/api/sandbox/${otherSandbox}`, headers: adminAuth })).statusCode, 200);
  });

  test('key minting never grants more than the calling key holds', async () => {
    const escalate = await app.inject({ method: 'POST', url: '/api/api-keys', headers: narrowedAdmin, payload: { name: 'escalated', permissions: [...PERMISSIONS] } });
    assert.equal(escalate.statusCode, 403, escalate.body);
    const within = await app.inject({ method: 'POST', url: '/api/api-keys', headers: narrowedAdmin, payload: { name: 'within', permissions: ['write:sandboxes'] } });
    assert.equal(within.statusCode, 201, within.body);
    const viaReadOnly = await app.inject({ method: 'POST', url: '/api/api-keys', headers: readOnly, payload: { name: 'ro-escalated', permissions: ['write:sandboxes'] } });
    assert.equal(viaReadOnly.statusCode, 403);
  });
});

describe('runner tokens', () => {
  test('no runner DTO carries the token; only the create answer echoes it, once', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/runners',
      headers: adminAuth,
      payload: { domain: 'second.test', apiUrl: 'http://127.0.0.1:9', proxyUrl: 'http://127.0.0.1:9', apiKey: 'second-runner-token-abcdefghijklmnop', cpu: 1, memoryGiB: 1, diskGiB: 1 },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((created.json() as { apiKey?: string }).apiKey, 'second-runner-token-abcdefghijklmnop');
    for (const url of ['/api/runners', `/api/runners/by-sandbox/${sandboxId}`, '/api/runners/by-snapshot-ref?ref=x']) {
      const res = await app.inject({ method: 'GET', url, headers: adminAuth });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      for (const secret of [TOKEN, 'second-runner-token', runner.callToken]) assert.ok(!res.body.includes(secret), `${url} reveals ${secret}`);
      assert.ok(!/"apiKey"/.test(res.body), `${url}: ${res.body}`);
    }
    const patched = await app.inject({ method: 'PATCH', url: `/api/runners/${runnerId}/scheduling`, headers: adminAuth, payload: { unschedulable: false } });
    assert.equal(patched.statusCode, 200);
    assert.ok(!/"apiKey"/.test(patched.body) && !patched.body.includes(TOKEN));
  });

  test('the database holds only the SHA-256 of each token, and a runner still authenticates with its token', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const cols = await client.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'runner'");
      assert.ok(!cols.rows.some((c) => c.column_name === 'api_key'), 'no plain token column');
      const rows = await client.query<{ row: string }>('SELECT row_to_json(runner)::text AS row FROM runner');
      for (const r of rows.rows) assert.ok(!r.row.includes(TOKEN) && !r.row.includes('second-runner-token'), r.row);
      const mine = await client.query<{ api_key_hash: string }>('SELECT api_key_hash FROM runner WHERE id = $1', [runnerId]);
      assert.equal(mine.rows[0]?.api_key_hash, createHash('sha256').update(TOKEN).digest('hex'));
    } finally {
      await client.end();
    }
    const asRunner = await app.inject({ method: 'GET', url: '/api/sandbox/for-runner?states=started', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(asRunner.statusCode, 200, asRunner.body);
    const hashAsToken = await app.inject({ method: 'GET', url: '/api/sandbox/for-runner?states=started', headers: { authorization: `Bearer ${createHash('sha256').update(TOKEN).digest('hex')}` } });
    assert.equal(hashAsToken.statusCode, 401, 'the stored hash is not a credential');
  });

  test('the migration converts plain tokens of existing rows to their hash', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      await withMigrationLock(pool, async (c) => {
        // Put the table back as version 1 left it, with a plain-text token, then migrate again.
        await c.query(`DELETE FROM shoal_migration WHERE version >= 2;
          ALTER TABLE runner DROP CONSTRAINT runner_api_key_hash_key; ALTER TABLE runner RENAME COLUMN api_key_hash TO api_key;
          INSERT INTO runner (domain, api_url, proxy_url, api_key, cpu, memory_gib, disk_gib) VALUES ('legacy.test', 'http://127.0.0.1:9', 'http://127.0.0.1:9', 'legacy-plain-token-0123456789', 1, 1, 1)`);
        // The rows registered above hold hashes already; make them plain again so every row goes through the conversion.
        await c.query(`UPDATE runner SET api_key = $1 WHERE id = $2`, [TOKEN, runnerId]);
        assert.equal((await applyMigrations(c))[0], 2);
      });
      const rows = await pool.query<{ domain: string; api_key_hash: string }>('SELECT domain, api_key_hash FROM runner');
      const byDomain = Object.fromEntries(rows.rows.map((r) => [r.domain, r.api_key_hash]));
      assert.equal(byDomain['legacy.test'], createHash('sha256').update('legacy-plain-token-0123456789').digest('hex'));
      assert.equal(byDomain['runner-1.test'], createHash('sha256').update(TOKEN).digest('hex'));
    } finally {
      await pool.end();
    }
    const asLegacy = await app.inject({ method: 'GET', url: '/api/sandbox/for-runner?states=started', headers: { authorization: 'Bearer legacy-plain-token-0123456789' } });
    assert.equal(asLegacy.statusCode, 200, asLegacy.body);
  });
});

describe('preview token rotation', () => {
  test('every start hands out a new token; links fetched before the stop stop working', async () => {
    const before = await previewToken();
    assert.equal((await get(`/preview/3000-${sandboxId}/`, { 'x-daytona-preview-token': before })).status, 200);
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/stop`, headers: adminAuth })).statusCode, 200);
    await waitForState(sandboxId, 'stopped');
    const start = await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/start`, headers: adminAuth });
    assert.equal(start.statusCode, 200, start.body);
    await waitForState(sandboxId, 'started');
    const after = await previewToken();
    assert.notEqual(after, before);
    assert.equal((await get(`/preview/3000-${sandboxId}/`, { 'x-daytona-preview-token': before })).status, 401);
    assert.equal((await app.inject({ method: 'GET', url: `/api/preview/${sandboxId}/validate/${before}` })).statusCode, 404);
    assert.equal((await get(`/preview/3000-${sandboxId}/`, { 'x-daytona-preview-token': after })).status, 200);
  });

  test('POST /sandbox/{id}/preview-token/rotate replaces the token at once (write:sandboxes)', async () => {
    const before = await previewToken();
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/preview-token/rotate`, headers: readOnly })).statusCode, 403);
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/preview-token/rotate`, headers: other.auth })).statusCode, 404);
    assert.equal(await previewToken(), before);
    const r = await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/preview-token/rotate`, headers: adminAuth });
    assert.equal(r.statusCode, 204, r.body);
    const after = await previewToken();
    assert.notEqual(after, before);
    assert.equal((await get(`/preview/3000-${sandboxId}/`, { 'x-daytona-preview-token': before })).status, 401);
    assert.equal((await get(`/preview/3000-${sandboxId}/`, { 'x-daytona-preview-token': after })).status, 200);
  });
});

async function waitForState(id: string, state: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const sb = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string };
    if (sb.state === state) return;
    if (Date.now() > deadline) throw new Error(`sandbox ${id} still ${sb.state}, wanted ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
