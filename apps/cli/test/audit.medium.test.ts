import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShoalApp } from '../../api/src/app.js';
import { createTestDatabase, type TestDatabase } from '../../api/test/helpers/database.js';
import { buildTestApp, createTenant } from '../../api/test/helpers/app.js';
import { TEST_ADMIN_KEY } from '../../api/test/helpers/database.js';
import { runCli, type CliResult } from './helpers/run-cli.js';

/* `shoal audit` as people run it: the CLI as a separate process against the API on loopback (real PostgreSQL). */


let dir: string;
let db: TestDatabase;
let app: ShoalApp;
let apiUrl: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-audit-'));
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
  tenant = await createTenant(app, 'cli-audit-tenant');
  for (const name of ['cli-audit-k1', 'cli-audit-k2']) {
    const res = await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name, permissions: ['write:sandboxes'] } });
    assert.equal(res.statusCode, 201, res.body);
  }
  const del = await app.inject({ method: 'DELETE', url: '/api/api-keys/cli-audit-k2', headers: tenant.auth });
  assert.ok(del.statusCode < 300, del.body);
});

after(async () => {
  await app?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[], key: string): Promise<CliResult> => runCli(argv, { apiUrl, key, dir });

test('shoal audit --org lists the organization newest first (table and --json); --limit, --action, --from/--to filter', async () => {
  const json = await cli(['audit', '--org', tenant.organizationId, '--json'], tenant.key);
  assert.equal(json.code, 0, json.stderr);
  const page = JSON.parse(json.stdout) as { items: Array<{ action: string; targetType: string; targetId: string; actorId: string }>; total: number };
  assert.deepEqual(
    page.items.map((r) => [r.action, r.targetType, r.targetId, r.actorId]),
    [
      ['delete', 'api_key', 'cli-audit-k2', 'cli-audit-tenant'],
      ['create', 'api_key', 'cli-audit-k2', 'cli-audit-tenant'],
      ['create', 'api_key', 'cli-audit-k1', 'cli-audit-tenant'],
    ],
  );

  const table = await cli(['audit', '--org', tenant.organizationId, '--limit', '1', '--action', 'create'], tenant.key);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0]!, /^CREATEDAT\s+ACTOR\s+ACTION\s+TARGET\s+STATUS/);
  assert.match(lines[1]!, /cli-audit-tenant\s+create\s+api_key cli-audit-k2\s+201/);
  assert.equal(lines[2], 'page 1 of 2 (2 entries)');

  const future = await cli(['audit', '--org', tenant.organizationId, '--from', new Date(Date.now() + 3600_000).toISOString(), '--json'], tenant.key);
  assert.equal((JSON.parse(future.stdout) as { total: number }).total, 0);
  const bad = await cli(['audit', '--org', tenant.organizationId, '--to', 'someday'], tenant.key);
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
});

test('without --org: every organization for the admin; a plain key gets the 403 and a non-zero exit', async () => {
  const all = await cli(['audit', '--json', '--limit', '200'], TEST_ADMIN_KEY);
  assert.equal(all.code, 0, all.stderr);
  const items = (JSON.parse(all.stdout) as { items: Array<{ organizationId?: string; action: string; targetType: string }> }).items;
  assert.ok(items.some((r) => r.organizationId === tenant.organizationId));
  assert.ok(items.some((r) => r.action === 'create' && r.targetType === 'user'), 'the admin created the tenant');
  const denied = await cli(['audit'], tenant.key);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /403/);
});
