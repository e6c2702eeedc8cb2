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

/* `shoal volume …` as a user runs it: the CLI in its own process against the API on loopback (real PostgreSQL, fake runner). */

const TOKEN = 'cli-volume-runner-token';
let dir: string;
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let apiUrl: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let other: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-volume-'));
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url);
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
  await registerRunner(app, runner.url, TOKEN);
  tenant = await createTenant(app, 'cli-vol-tenant');
  other = await createTenant(app, 'cli-vol-other');
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[], key = tenant.key): Promise<CliResult> => runCli(argv, { apiUrl, key, dir });

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

test('create waits for ready; list, get by name and id; delete refused while a sandbox uses it, then done; errors name the volume', async () => {
  const created = JSON.parse(ok(await cli(['volume', 'create', 'cli-data', '--json'])).stdout) as { id: string; name: string; state: string };
  assert.equal(created.state, 'ready');
  assert.equal(created.name, 'cli-data');

  const table = ok(await cli(['volume', 'list'])).stdout.split('\n');
  assert.match(table[0]!, /^NAME\s+STATE\s+ID\s+LASTUSED\s+CREATED$/);
  assert.ok(table.some((l) => new RegExp(`^cli-data\\s+ready\\s+${created.id}\\s+\\d{4}-`).test(l)), table.join('\n'));
  assert.match(ok(await cli(['volume', 'get', 'cli-data'])).stdout, new RegExp(`^id\\s+${created.id}$`, 'm'));
  assert.equal((JSON.parse(ok(await cli(['volume', 'get', created.id, '--json'])).stdout) as { name: string }).name, 'cli-data');

  // Another organization sees nothing of it.
  const foreign = await cli(['volume', 'get', created.id], other.key);
  assert.equal(foreign.code, 3, foreign.stderr);
  assert.match(foreign.stderr, /Volume with name .* not found/);

  const sb = await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { volumes: [{ volumeId: 'cli-data', mountPath: '/data' }] } });
  assert.equal(sb.statusCode, 200, sb.body);
  const refused = await cli(['volume', 'delete', 'cli-data']);
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(refused.stderr, /Volume cli-data is in use by sandbox\(es\)/);

  const sandboxId = (sb.json() as { id: string }).id;
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${sandboxId}`, headers: tenant.auth })).statusCode, 200);
  const deadline = Date.now() + 15_000;
  const gone = async () => {
    const r = await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}`, headers: tenant.auth });
    return r.statusCode === 404 || (r.json() as { state?: string }).state === 'destroyed';
  };
  while (!(await gone())) {
    if (Date.now() > deadline) assert.fail('the sandbox was never destroyed');
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.deepEqual(JSON.parse(ok(await cli(['volume', 'delete', 'cli-data', '--json'])).stdout), { id: created.id, name: 'cli-data', state: 'deleted' });
  assert.equal((await cli(['volume', 'get', 'cli-data'])).code, 3);
  assert.equal((JSON.parse(ok(await cli(['volume', 'list', '--include-deleted', '--json'])).stdout) as Array<{ state: string }>)[0]?.state, 'deleted');
  const usage = await cli(['volume', 'create']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /shoal volume create <name>/);
});
