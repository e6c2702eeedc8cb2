import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_DEFAULT_SNAPSHOT, type TestDatabase } from './helpers/database.js';
import { adminAuth, sshGatewayAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const RUNNER_TOKEN = 'fake-runner-token-sandbox-routes';
const emptyPost = { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' };

let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;
let other: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  app = await buildTestApp(db.url);
  await registerRunner(app, runner.url, RUNNER_TOKEN);
  other = await createTenant(app, 'tenant-b');
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

async function create(payload: Record<string, unknown> = {}, headers: Record<string, string> = adminAuth) {
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers, payload });
  return { res, body: res.json() as Record<string, unknown> & { id: string; state: string } };
}

function assertEnvelope(res: { statusCode: number; json: () => unknown }, status: number, message?: RegExp) {
  assert.equal(res.statusCode, status);
  const body = res.json() as { statusCode: number; message: string | string[]; error: string; timestamp: string; path: string };
  assert.equal(body.statusCode, status);
  assert.equal(typeof body.error, 'string');
  assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
  assert.ok(body.path.startsWith('/api/'));
  if (message) assert.match(Array.isArray(body.message) ? body.message.join('\n') : body.message, message);
}

async function waitFor(id: string, state: string, headers = adminAuth): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const r = await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers });
    const b = r.json() as { state: string };
    if (b.state === state) return b;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`sandbox ${id} never reached ${state}`);
}

describe('POST /api/sandbox', () => {
  test('creates from the default snapshot, echoes every stored field and answers started', async () => {
    const volume = (await app.inject({ method: 'POST', url: '/api/volumes', headers: adminAuth, payload: { name: 'vol-1' } })).json() as { id: string };
    const { res, body } = await create({
      user: 'daytona',
      env: { A: 'b c "d"' },
      labels: { k: 'v', 'code-toolbox-language': 'typescript' },
      public: true,
      autoStopInterval: 5,
      autoArchiveInterval: 60,
      autoDeleteInterval: 120,
      volumes: [{ volumeId: 'vol-1', mountPath: '/mnt' }],
      networkBlockAll: false,
      networkAllowList: '10.0.0.0/8',
    });
    assert.equal(res.statusCode, 200);
    assert.equal(body.state, 'started');
    assert.equal(body.snapshot, TEST_DEFAULT_SNAPSHOT);
    assert.deepEqual(body.env, { A: 'b c "d"' });
    assert.deepEqual(body.labels, { k: 'v', 'code-toolbox-language': 'typescript' });
    assert.equal(body.public, true);
    assert.equal(body.autoStopInterval, 5);
    assert.equal(body.autoArchiveInterval, 60);
    assert.equal(body.autoDeleteInterval, 120);
    // Mounted by name, stored and answered by id.
    assert.deepEqual(body.volumes, [{ volumeId: volume.id, mountPath: '/mnt' }]);
    assert.equal(body.networkAllowList, '10.0.0.0/8');
    assert.equal(body.target, 'us');
    assert.equal(body.runnerDomain, 'runner-1.test');
    assert.deepEqual([body.cpu, body.memory, body.disk, body.gpu], [1, 1, 3, 0]);
    const createCall = runner.callsTo('POST', /^\/sandboxes$/).find((c) => c.body.includes(body.id));
    assert.ok(createCall, 'runner received the create');
    const sent = JSON.parse(createCall.body) as Record<string, unknown>;
    assert.equal(sent.snapshot, '127.0.0.1:5100/shoal/sandbox:test');
    assert.deepEqual(sent.env, { A: 'b c "d"' });
    // The API calls its runner with the credential derived from the platform secret, never with the runner's token.
    assert.equal(createCall.headers['x-daytona-authorization'], `Bearer ${runner.callToken}`);
  });

  test('snapshot by name or id; unknown snapshot and resources with a snapshot are 400', async () => {
    const snap = (await app.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(TEST_DEFAULT_SNAPSHOT)}`, headers: adminAuth })).json() as { id: string };
    const byId = await create({ snapshot: snap.id });
    assert.equal(byId.res.statusCode, 200);
    assert.equal(byId.body.snapshot, TEST_DEFAULT_SNAPSHOT);
    assertEnvelope((await create({ snapshot: 'nope:1' })).res, 400, /^Snapshot nope:1 not found\. Did you add it through the Daytona Dashboard\?$/);
    assertEnvelope((await create({ cpu: 2 })).res, 400, /Cannot specify Sandbox resources when using a snapshot/);
  });

  test('invalid input is a 400 naming the field', async () => {
    assertEnvelope((await create({ autoStopInterval: -1 })).res, 400, /body\.autoStopInterval/);
    assertEnvelope((await create({ labels: 'x' })).res, 400, /body\.labels/);
    assertEnvelope((await create({ class: 'huge' })).res, 400, /body\.class/);
    assertEnvelope((await create({ networkAllowList: '10.0.0.1' })).res, 400, /Missing CIDR prefix/);
    const bad = await app.inject({ method: 'POST', url: '/api/sandbox', headers: { ...adminAuth, 'content-type': 'application/json' }, payload: '{"snap' });
    assertEnvelope(bad, 400, /JSON/);
  });

  test('missing, malformed and wrong keys are 401; a key without write:sandboxes is 403', async () => {
    assertEnvelope((await create({}, {})).res, 401);
    assertEnvelope((await create({}, { authorization: 'Basic abc' })).res, 401);
    assertEnvelope((await create({}, { authorization: `Bearer dtn_${'0'.repeat(64)}` })).res, 401, /Invalid API key/);
    const key = await app.inject({ method: 'POST', url: '/api/api-keys', headers: adminAuth, payload: { name: 'read-only', permissions: ['read:volumes'] } });
    assert.equal(key.statusCode, 201);
    assertEnvelope((await create({}, { authorization: `Bearer ${(key.json() as { value: string }).value}` })).res, 403);
  });

  test('quota: per-sandbox and total limits answer 403 with the reference messages', async () => {
    const t = await createTenant(app, 'tenant-quota');
    const patch = await app.inject({ method: 'PATCH', url: `/api/organizations/${t.organizationId}/quota`, headers: adminAuth, payload: { totalCpuQuota: 1 } });
    assert.equal(patch.statusCode, 200);
    assert.equal((await create({}, t.auth)).res.statusCode, 200);
    assertEnvelope((await create({}, t.auth)).res, 403, /^Total CPU quota exceeded\. Maximum allowed: 1$/);
    await app.inject({ method: 'PATCH', url: `/api/organizations/${t.organizationId}/quota`, headers: adminAuth, payload: { totalCpuQuota: 10, maxDiskPerSandbox: 2 } });
    assertEnvelope((await create({}, t.auth)).res, 403, /^Disk request 3GB exceeds maximum allowed per sandbox \(2GB\)$/);
    // Only admins change quotas.
    assertEnvelope(await app.inject({ method: 'PATCH', url: `/api/organizations/${t.organizationId}/quota`, headers: t.auth, payload: { totalCpuQuota: 99 } }), 403);
  });
});

describe('reading sandboxes', () => {
  test('GET another organization\'s sandbox is 404 with statusCode in the body', async () => {
    const { body } = await create();
    assertEnvelope(await app.inject({ method: 'GET', url: `/api/sandbox/${body.id}`, headers: other.auth }), 404, new RegExp(`Sandbox with ID ${body.id} not found`));
    assertEnvelope(await app.inject({ method: 'GET', url: '/api/sandbox/not-a-uuid', headers: adminAuth }), 404);
  });

  test('paginated list filters by exact labels, states, ids and sorts', async () => {
    const tag = `run-${Date.now()}`;
    const a = (await create({ labels: { tag, n: '1' } })).body;
    const b = (await create({ labels: { tag, n: '2' } })).body;
    const q = (labels: object, extra = '') =>
      app.inject({ method: 'GET', url: `/api/sandbox/paginated?labels=${encodeURIComponent(JSON.stringify(labels))}${extra}`, headers: adminAuth });
    const both = (await q({ tag }, '&sort=createdAt&order=asc')).json() as { items: { id: string }[]; total: number; page: number; totalPages: number };
    assert.deepEqual(both.items.map((i) => i.id), [a.id, b.id]);
    assert.equal(both.total, 2);
    assert.equal(both.totalPages, 1);
    const one = (await q({ tag, n: '2' })).json() as { items: { id: string }[] };
    assert.deepEqual(one.items.map((i) => i.id), [b.id]);
    const page2 = (await q({ tag }, '&page=2&limit=1&order=asc')).json() as { items: { id: string }[]; page: number; totalPages: number };
    assert.deepEqual([page2.items[0]?.id, page2.page, page2.totalPages], [b.id, 2, 2]);
    const byId = (await app.inject({ method: 'GET', url: `/api/sandbox/paginated?id=${a.id.slice(0, 8).toUpperCase()}`, headers: adminAuth })).json() as { items: { id: string }[] };
    assert.ok(byId.items.some((i) => i.id === a.id));
    const stopped = (await q({ tag }, '&states=stopped')).json() as { total: number };
    assert.equal(stopped.total, 0);
    const started = (await q({ tag }, '&states=started&states=stopped')).json() as { total: number };
    assert.equal(started.total, 2);
    // Another organization sees none of them.
    const foreign = (await app.inject({ method: 'GET', url: `/api/sandbox/paginated?labels=${encodeURIComponent(JSON.stringify({ tag }))}`, headers: other.auth })).json() as { total: number };
    assert.equal(foreign.total, 0);
    assertEnvelope(await app.inject({ method: 'GET', url: '/api/sandbox/paginated?labels=notjson', headers: adminAuth }), 400, /labels/);
    assertEnvelope(await app.inject({ method: 'GET', url: '/api/sandbox/paginated?limit=500', headers: adminAuth }), 400, /limit/);
    const legacy = (await app.inject({ method: 'GET', url: `/api/sandbox?labels=${encodeURIComponent(JSON.stringify({ tag }))}`, headers: adminAuth })).json() as unknown[];
    assert.equal(legacy.length, 2);
  });

  test('regions lists the organization\'s regions', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/sandbox/regions', headers: adminAuth });
    assert.deepEqual(r.json(), [{ name: 'us' }]);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/api/sandbox/regions', headers: other.auth })).json(), []);
  });
});

describe('lifecycle', () => {
  test('stop, start (returns the DTO), archive, start again, delete, GET after delete', async () => {
    const { body } = await create();
    const id = body.id;
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: { ...adminAuth, ...emptyPost } })).statusCode, 200);
    await waitFor(id, 'stopped');
    assertEnvelope(await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: { ...adminAuth, ...emptyPost } }), 400, /^Sandbox is not started$/);
    const started = await app.inject({ method: 'POST', url: `/api/sandbox/${id}/start`, headers: { ...adminAuth, ...emptyPost } });
    assert.equal(started.statusCode, 200);
    assert.equal((started.json() as { state: string; id: string }).state, 'started');
    assert.equal((started.json() as { id: string }).id, id);
    assertEnvelope(await app.inject({ method: 'POST', url: `/api/sandbox/${id}/archive`, headers: adminAuth }), 400, /^Sandbox is not stopped$/);
    await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth });
    await waitFor(id, 'stopped');
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/archive`, headers: { ...adminAuth, ...emptyPost } })).statusCode, 200);
    await waitFor(id, 'archived');
    const again = await app.inject({ method: 'POST', url: `/api/sandbox/${id}/start`, headers: adminAuth });
    assert.equal((again.json() as { state: string }).state, 'started');
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth })).statusCode, 200);
    const afterDelete = await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth });
    assert.equal(afterDelete.statusCode, 200);
    assert.ok(['destroying', 'destroyed'].includes((afterDelete.json() as { state: string }).state));
    await waitFor(id, 'destroyed');
    assert.equal(runner.states.has(id), false, 'runner copy removed');
    assert.equal(runner.callsTo('POST', new RegExp(`/sandboxes/${id}/destroy$`)).length, 1);
    // Another organization can neither act on nor see it.
    assertEnvelope(await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: other.auth }), 404);
  });

  test('an ephemeral sandbox is destroyed on stop and cannot be archived', async () => {
    const { body } = await create({ autoDeleteInterval: 0 });
    await app.inject({ method: 'POST', url: `/api/sandbox/${body.id}/stop`, headers: adminAuth });
    await waitFor(body.id, 'destroyed');
  });

  test('delete requires delete:sandboxes; actions on another organization are 404', async () => {
    const { body } = await create();
    const key = await app.inject({ method: 'POST', url: '/api/api-keys', headers: adminAuth, payload: { name: 'writer', permissions: ['write:sandboxes'] } });
    const writer = { authorization: `Bearer ${(key.json() as { value: string }).value}` };
    assertEnvelope(await app.inject({ method: 'DELETE', url: `/api/sandbox/${body.id}`, headers: writer }), 403);
    for (const [method, path] of [
      ['POST', 'stop'],
      ['POST', 'start'],
      ['POST', 'archive'],
      ['POST', 'autostop/5'],
      ['POST', 'public/true'],
      ['GET', 'ports/3000/preview-url'],
      ['POST', 'ssh-access'],
    ] as const) {
      assertEnvelope(await app.inject({ method, url: `/api/sandbox/${body.id}/${path}`, headers: other.auth }), 404);
    }
    assertEnvelope(await app.inject({ method: 'PUT', url: `/api/sandbox/${body.id}/labels`, headers: other.auth, payload: { labels: {} } }), 404);
  });

  test('runner failure on create ends in error with the runner\'s reason, visible through GET', async () => {
    const failing = await new FakeRunner({ token: 'failing-runner-token-xyz', failCreate: new Set(['*']) }).start();
    try {
      const t = await createTenant(app, 'tenant-fail');
      // Make the healthy runner unschedulable so the failing one is picked.
      const runners = (await app.inject({ method: 'GET', url: '/api/runners', headers: adminAuth })).json() as { id: string }[];
      for (const r of runners) await app.inject({ method: 'PATCH', url: `/api/runners/${r.id}/scheduling`, headers: adminAuth, payload: { unschedulable: true } });
      await registerRunner(app, failing.url, 'failing-runner-token-xyz', 'failing.test');
      const { res } = await create({}, t.auth);
      // The reference answers a create that ended in error with 400 and the reason (the sandbox stays, in error).
      assert.equal(res.statusCode, 400, res.body);
      assert.match((res.json() as { message: string }).message, /^Sandbox failed to start: .*image pull failed/);
      const listed = (await app.inject({ method: 'GET', url: '/api/sandbox?includeErroredDeleted=true', headers: t.auth })).json() as { id: string; state: string }[];
      assert.equal(listed.length, 1);
      const body = listed[0]!;
      const got = (await app.inject({ method: 'GET', url: `/api/sandbox/${body.id}`, headers: t.auth })).json() as { state: string };
      assert.equal(got.state, 'error');
      // The runner's own asynchronous report (no reason) arrives after the failed call: the precise reason stays.
      const late = await app.inject({ method: 'PUT', url: `/api/sandbox/${body.id}/state`, headers: { authorization: 'Bearer failing-runner-token-xyz' }, payload: { state: 'error' } });
      assert.equal(late.statusCode, 200);
      const kept = (await app.inject({ method: 'GET', url: `/api/sandbox/${body.id}`, headers: t.auth })).json() as { errorReason: string };
      assert.match(kept.errorReason, /image pull failed/);
      // Deleting an errored sandbox destroys it.
      await app.inject({ method: 'DELETE', url: `/api/sandbox/${body.id}`, headers: t.auth });
      await waitFor(body.id, 'destroyed', t.auth);
      const all = (await app.inject({ method: 'GET', url: '/api/runners', headers: adminAuth })).json() as { id: string; domain: string }[];
      for (const r of all) {
        await app.inject({ method: 'PATCH', url: `/api/runners/${r.id}/scheduling`, headers: adminAuth, payload: { unschedulable: r.domain === 'failing.test' } });
      }
    } finally {
      await failing.stop();
    }
  });

  test('no schedulable runner is a 400 "No available runners"', async () => {
    const { res } = await create({ target: 'mars' });
    assertEnvelope(res, 400, /^No available runners$/);
  });
});

describe('settings', () => {
  test('labels replace and return {labels}; public; intervals with 0 and negative semantics', async () => {
    const { body } = await create({ labels: { a: '1' } });
    const id = body.id;
    const put = await app.inject({ method: 'PUT', url: `/api/sandbox/${id}/labels`, headers: adminAuth, payload: { labels: { b: '2' } } });
    assert.deepEqual(put.json(), { labels: { b: '2' } });
    assertEnvelope(await app.inject({ method: 'PUT', url: `/api/sandbox/${id}/labels`, headers: adminAuth, payload: { labels: { b: { nested: true } } } }), 400, /labels/);
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/public/true`, headers: { ...adminAuth, ...emptyPost } })).statusCode, 201);
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/autostop/0`, headers: { ...adminAuth, ...emptyPost } })).statusCode, 201);
    assertEnvelope(await app.inject({ method: 'POST', url: `/api/sandbox/${id}/autostop/-1`, headers: adminAuth }), 400, /Auto-stop interval must be non-negative/);
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/autoarchive/0`, headers: adminAuth })).statusCode, 201);
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/autodelete/-1`, headers: adminAuth })).statusCode, 201);
    assertEnvelope(await app.inject({ method: 'POST', url: `/api/sandbox/${id}/autodelete/abc`, headers: adminAuth }), 400, /params\.interval/);
    const got = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as Record<string, unknown>;
    assert.deepEqual([got.labels, got.public, got.autoStopInterval, got.autoArchiveInterval, got.autoDeleteInterval], [{ b: '2' }, true, 0, 43200, -1]);
  });

  test('preview url, ssh access create/validate/revoke, backup', async () => {
    const { body } = await create();
    const id = body.id;
    const prev = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}/ports/2280/preview-url`, headers: adminAuth })).json() as { url: string; token: string };
    assert.equal(prev.url, `http://127.0.0.1:3000/preview/2280-${id}`);
    assert.match(prev.token, /^[a-z0-9]{32}$/);
    assertEnvelope(await app.inject({ method: 'GET', url: `/api/sandbox/${id}/ports/70000/preview-url`, headers: adminAuth }), 400, /Invalid port/);
    const ssh = (await app.inject({ method: 'POST', url: `/api/sandbox/${id}/ssh-access?expiresInMinutes=5`, headers: { ...adminAuth, ...emptyPost } })).json() as {
      token: string;
      sandboxId: string;
      expiresAt: string;
    };
    assert.equal(ssh.sandboxId, id);
    const minutes = (Date.parse(ssh.expiresAt) - Date.now()) / 60000;
    assert.ok(minutes > 4 && minutes <= 5.1);
    const valid = (await app.inject({ method: 'GET', url: `/api/sandbox/ssh-access/validate?token=${ssh.token}`, headers: sshGatewayAuth })).json() as { valid: boolean; sandboxId: string };
    assert.deepEqual([valid.valid, valid.sandboxId], [true, id]);
    await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}/ssh-access?token=${ssh.token}`, headers: adminAuth });
    const revoked = (await app.inject({ method: 'GET', url: `/api/sandbox/ssh-access/validate?token=${ssh.token}`, headers: sshGatewayAuth })).json() as { valid: boolean };
    // The reference's answer for a token it does not know: sandboxId is present and null.
    assert.deepEqual(revoked, { valid: false, sandboxId: null });
    const backup = await app.inject({ method: 'POST', url: `/api/sandbox/${id}/backup`, headers: adminAuth });
    assert.equal(backup.statusCode, 201);
    // The backup runs on the runner afterwards (reconciler/backup-driver.ts): the answer shows it requested.
    assert.ok(['Pending', 'InProgress', 'Completed', 'Error'].includes((backup.json() as { backupState: string }).backupState));
  });

  test('runner routes: for-runner and state reports need the runner token; users are refused', async () => {
    const { body } = await create();
    const runnerAuth = { authorization: `Bearer ${RUNNER_TOKEN}` };
    const mine = (await app.inject({ method: 'GET', url: '/api/sandbox/for-runner?states=started', headers: runnerAuth })).json() as { id: string }[];
    assert.ok(mine.some((s) => s.id === body.id));
    assertEnvelope(await app.inject({ method: 'GET', url: '/api/sandbox/for-runner', headers: adminAuth }), 403);
    assertEnvelope(await app.inject({ method: 'PUT', url: `/api/sandbox/${body.id}/state`, headers: adminAuth, payload: { state: 'stopped' } }), 403);
    assertEnvelope(await app.inject({ method: 'PUT', url: `/api/sandbox/${body.id}/state`, headers: runnerAuth, payload: { state: 'bogus' } }), 400, /body\.state/);
    const put = await app.inject({ method: 'PUT', url: `/api/sandbox/${body.id}/state`, headers: runnerAuth, payload: { state: 'error', errorReason: 'OOM killed' } });
    assert.equal(put.statusCode, 200);
    const got = (await app.inject({ method: 'GET', url: `/api/sandbox/${body.id}`, headers: adminAuth })).json() as { state: string; errorReason: string };
    assert.deepEqual([got.state, got.errorReason], ['error', 'OOM killed']);
  });

  test('deprecated /workspace routes reach the same sandboxes', async () => {
    const ws = await app.inject({ method: 'POST', url: '/api/workspace', headers: adminAuth, payload: { image: TEST_DEFAULT_SNAPSHOT } });
    assert.equal(ws.statusCode, 200);
    const created = ws.json() as { id: string; name: string; image: string; snapshot: string; snapshotState: string; info: { name: string; created: string; providerMetadata: string } };
    const id = created.id;
    // The old clients read the sandbox under the Workspace schema's names.
    assert.deepEqual([created.name, created.image, created.snapshot, created.info.name], [id, TEST_DEFAULT_SNAPSHOT, TEST_DEFAULT_SNAPSHOT, id]);
    assert.equal(created.snapshotState, 'None');
    const get = await app.inject({ method: 'GET', url: `/api/workspace/${id}`, headers: adminAuth });
    assert.equal(get.statusCode, 200);
    const meta = JSON.parse((get.json() as { info: { providerMetadata: string } }).info.providerMetadata) as { state: string; cpu: number };
    const sandbox = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string; cpu: number; name?: string };
    assert.deepEqual([meta.state, meta.cpu], [sandbox.state, sandbox.cpu]);
    assert.equal(sandbox.name, undefined, 'the sandbox API keeps its own schema');
    const list = (await app.inject({ method: 'GET', url: '/api/workspace', headers: adminAuth })).json() as { id: string; name: string }[];
    assert.ok(list.some((w) => w.id === id && w.name === id));
    const build = await app.inject({ method: 'POST', url: '/api/workspace', headers: adminAuth, payload: { image: TEST_DEFAULT_SNAPSHOT, buildInfo: { dockerfileContent: 'FROM busybox' } } });
    assertEnvelope(build, 403, /Build info is not supported in this deprecated API/);
  });
});

describe('database invariants', () => {
  test('only SHA-256 hashes of API keys are stored', async () => {
    const key = (await app.inject({ method: 'POST', url: '/api/api-keys', headers: adminAuth, payload: { name: 'hash-check', permissions: ['write:sandboxes'] } })).json() as { value: string };
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const rows = await c.query('SELECT * FROM api_key');
      assert.ok(!JSON.stringify(rows.rows).includes(key.value));
    } finally {
      await c.end();
    }
  });
});
