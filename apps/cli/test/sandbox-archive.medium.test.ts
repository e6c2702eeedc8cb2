import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShoalApp } from '../../api/src/app.js';
import { createTestDatabase, type TestDatabase } from '../../api/test/helpers/database.js';
import { buildTestApp, createTenant, registerRunner } from '../../api/test/helpers/app.js';
import { FakeRunner } from '../../api/test/helpers/fake-runner.js';
import { runCli, type CliResult } from './helpers/run-cli.js';

/* `shoal sandbox archive|backup` as a user runs them: the CLI in its own process against the API (real PostgreSQL, fake runner). */

const TOKEN = 'cli-archive-runner-token';
let dir: string;
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let apiUrl: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-archive-'));
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url, { env: { SHOAL_RECONCILE_INTERVAL_MS: '100' } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
  await registerRunner(app, runner.url, TOKEN);
  tenant = await createTenant(app, 'cli-archive-tenant');
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[]): Promise<CliResult> => runCli(argv, { apiUrl, key: tenant.key, dir });

test('backup waits for Completed; archive is refused while started, then archives a stopped sandbox', async () => {
  const sb = await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} });
  assert.equal(sb.statusCode, 200, sb.body);
  const id = (sb.json() as { id: string }).id;

  const backup = await cli(['sandbox', 'backup', id, '--json']);
  assert.equal(backup.code, 0, backup.stderr);
  const b = JSON.parse(backup.stdout) as { backupState: string; backupCreatedAt?: string };
  assert.equal(b.backupState, 'Completed');
  assert.ok(b.backupCreatedAt);

  const refused = await cli(['sandbox', 'archive', id]);
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(refused.stderr, /Sandbox is not stopped/);

  assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: tenant.auth })).statusCode, 200);
  for (let i = 0; i < 100; i++) {
    const s = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: tenant.auth })).json() as { state: string };
    if (s.state === 'stopped') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const archived = await cli(['sandbox', 'archive', id]);
  assert.equal(archived.code, 0, archived.stderr);
  assert.match(archived.stdout, /^state\s+archived$/m);
  assert.ok(!runner.states.has(id), "the runner's copy is gone");

  const usage = await cli(['sandbox', 'archive']);
  assert.equal(usage.code, 2, usage.stderr);
});
