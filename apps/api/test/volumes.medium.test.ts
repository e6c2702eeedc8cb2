import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { objectStorageSessionKey } from '@shoal/contracts';
import { ObjectServer, type RunningObjectServer } from '@shoal/objects';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Volumes against real PostgreSQL and the fake runner: the five operations and their messages, organization
 * isolation (another organization's volume is 404), quota, suspension and usage, the mount rules of sandbox create
 * (each bad request is a 4xx that creates nothing), names resolved to ids in what the runner receives, deletion
 * refused while a sandbox holds the volume and the data removal on every runner, transitions resumed from the
 * database after a crash, webhooks and audit rows, and the s3 driver against the embedded object storage.
 */

const TOKEN = 'volume-fake-runner-token';
type Auth = { authorization: string };
type Vol = { id: string; name: string; organizationId: string; state: string; createdAt: string; updatedAt: string; lastUsedAt: string | null; errorReason: string | null };

let db: TestDatabase;
let runner: FakeRunner;
let runner2: FakeRunner;
let app: ShoalApp;
let sql: pg.Client;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let other: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  runner2 = await new FakeRunner({ token: `${TOKEN}-2` }).start();
  app = await buildTestApp(db.url);
  await registerRunner(app, runner.url, TOKEN);
  await registerRunner(app, runner2.url, `${TOKEN}-2`, 'runner-2.test');
  tenant = await createTenant(app, 'vol-tenant');
  other = await createTenant(app, 'vol-other');
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  await sql?.end();
  await app?.close();
  await runner?.stop();
  await runner2?.stop();
  await db?.drop();
});

function expectError(res: { statusCode: number; body: string }, status: number, message?: string | RegExp): void {
  assert.equal(res.statusCode, status, res.body);
  const body = JSON.parse(res.body) as { statusCode: number; message: string; error: string; path: string; timestamp: string };
  assert.equal(body.statusCode, status);
  assert.ok(body.error && body.path && body.timestamp, `error envelope: ${res.body}`);
  if (typeof message === 'string') assert.equal(body.message, message);
  else if (message) assert.match(body.message, message);
}

async function createVolume(auth: Auth, name?: string): Promise<Vol> {
  const res = await app.inject({ method: 'POST', url: '/api/volumes', headers: auth, payload: name === undefined ? {} : { name } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as Vol;
}

const getVolume = (auth: Auth, id: string) => app.inject({ method: 'GET', url: `/api/volumes/${encodeURIComponent(id)}`, headers: auth });
const deleteVolume = (auth: Auth, id: string) => app.inject({ method: 'DELETE', url: `/api/volumes/${encodeURIComponent(id)}`, headers: auth });
const createSandbox = (auth: Auth, volumes: unknown[]) => app.inject({ method: 'POST', url: '/api/sandbox', headers: auth, payload: { volumes } });

async function sandboxCount(organizationId: string): Promise<number> {
  return (await sql.query('SELECT count(*)::int AS n FROM sandbox WHERE organization_id = $1', [organizationId])).rows[0].n as number;
}

async function waitVolume(auth: Auth, id: string, state: string, timeoutMs = 15_000): Promise<Vol> {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const v = (await getVolume(auth, id)).json() as Vol;
    if (seen.at(-1) !== v.state) seen.push(v.state);
    if (v.state === state) return v;
    if (Date.now() > deadline) assert.fail(`volume ${id} never reached ${state}; went through ${seen.join(' -> ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitSandboxDestroyed(id: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await sql.query('SELECT state FROM sandbox WHERE id = $1', [id])).rows[0]?.state !== 'destroyed') {
    if (Date.now() > deadline) assert.fail(`sandbox ${id} was never destroyed`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the five operations', () => {
  test('create answers ready with every VolumeDto key; get, by-name and list find it; by-name 404 has the message the SDK matches', async () => {
    const v = await createVolume(tenant.auth, 'data-1');
    assert.equal(v.state, 'ready');
    assert.equal(v.name, 'data-1');
    assert.equal(v.organizationId, tenant.organizationId);
    assert.deepEqual(Object.keys(v).sort(), ['createdAt', 'errorReason', 'id', 'lastUsedAt', 'name', 'organizationId', 'state', 'updatedAt']);
    assert.equal(v.errorReason, null);
    assert.equal(v.lastUsedAt, null);
    assert.deepEqual((await getVolume(tenant.auth, v.id)).json(), v);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/api/volumes/by-name/data-1', headers: tenant.auth })).json(), v);
    const list = (await app.inject({ method: 'GET', url: '/api/volumes', headers: tenant.auth })).json() as Vol[];
    assert.ok(list.some((x) => x.id === v.id));
    expectError(await app.inject({ method: 'GET', url: '/api/volumes/by-name/nope-1', headers: tenant.auth }), 404, 'Volume with name nope-1 not found');
    expectError(await getVolume(tenant.auth, 'not-a-uuid'), 404, 'Volume with ID not-a-uuid not found');
  });

  test('an empty name becomes the id; a taken name is 409; a bad name is 400', async () => {
    const v = await createVolume(tenant.auth, '');
    assert.equal(v.name, v.id);
    await createVolume(tenant.auth, 'dup-1');
    expectError(await app.inject({ method: 'POST', url: '/api/volumes', headers: tenant.auth, payload: { name: 'dup-1' } }), 409, 'Volume with name dup-1 already exists');
    for (const name of ['../x', 'a/b', ' spaced', '-lead', 'x'.repeat(256)]) {
      const res = await app.inject({ method: 'POST', url: '/api/volumes', headers: tenant.auth, payload: { name } });
      assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
    }
  });

  test("another organization's volume is 404 for get, by-name and delete, and is not listed", async () => {
    const v = await createVolume(other.auth, 'theirs-1');
    expectError(await getVolume(tenant.auth, v.id), 404, `Volume with ID ${v.id} not found`);
    expectError(await app.inject({ method: 'GET', url: '/api/volumes/by-name/theirs-1', headers: tenant.auth }), 404, 'Volume with name theirs-1 not found');
    expectError(await deleteVolume(tenant.auth, v.id), 404, `Volume with ID ${v.id} not found`);
    const list = (await app.inject({ method: 'GET', url: '/api/volumes?includeDeleted=true', headers: tenant.auth })).json() as Vol[];
    assert.ok(!list.some((x) => x.id === v.id));
    assert.equal(((await getVolume(other.auth, v.id)).json() as Vol).state, 'ready', 'the refused delete changed nothing');
  });
});

describe('quota, suspension, usage', () => {
  test('volumeQuota is enforced with the reference message and the usage overview counts volumes', async () => {
    const t = await createTenant(app, 'vol-quota');
    const patch = await app.inject({ method: 'PATCH', url: `/api/organizations/${t.organizationId}/quota`, headers: adminAuth, payload: { volumeQuota: 2 } });
    assert.equal(patch.statusCode, 200, patch.body);
    await createVolume(t.auth, 'q-1');
    await createVolume(t.auth, 'q-2');
    expectError(await app.inject({ method: 'POST', url: '/api/volumes', headers: t.auth, payload: { name: 'q-3' } }), 403, 'Volume quota exceeded. Maximum allowed: 2');
    const usage = (await app.inject({ method: 'GET', url: `/api/organizations/${t.organizationId}/usage`, headers: t.auth })).json() as Record<string, number>;
    assert.equal(usage.currentVolumeUsage, 2);
    assert.equal(usage.totalVolumeQuota, 2);
    assert.equal((await sql.query('SELECT count(*)::int AS n FROM volume WHERE organization_id = $1', [t.organizationId])).rows[0].n, 2);
  });

  test('a suspended organization cannot create volumes', async () => {
    const t = await createTenant(app, 'vol-suspended');
    const s = await app.inject({ method: 'POST', url: `/api/organizations/${t.organizationId}/suspend`, headers: adminAuth, payload: { reason: 'unpaid' } });
    assert.ok(s.statusCode < 300, s.body);
    expectError(await app.inject({ method: 'POST', url: '/api/volumes', headers: t.auth, payload: { name: 's-1' } }), 403, /Organization is suspended/);
    assert.equal((await sql.query('SELECT count(*)::int AS n FROM volume WHERE organization_id = $1', [t.organizationId])).rows[0].n, 0);
  });
});

describe('mounting in sandbox create', () => {
  test('bad mount paths and subpaths are 400 and create nothing', async () => {
    const v = await createVolume(tenant.auth, 'mnt-rules');
    const w = await createVolume(tenant.auth, 'mnt-rules-2');
    const before = await sandboxCount(tenant.organizationId);
    const cases: Array<[string, unknown[], RegExp]> = [
      ['root', [{ volumeId: v.id, mountPath: '/' }], /whole sandbox filesystem/],
      ['root with slashes', [{ volumeId: v.id, mountPath: '//' }], /whole sandbox filesystem/],
      ['/proc', [{ volumeId: v.id, mountPath: '/proc' }], /system directory \/proc/],
      ['inside /proc', [{ volumeId: v.id, mountPath: '/proc/self' }], /system directory \/proc/],
      ['/etc', [{ volumeId: v.id, mountPath: '/etc/' }], /system directory \/etc/],
      ['/usr/local', [{ volumeId: v.id, mountPath: '/usr/local/data' }], /system directory \/usr/],
      ['toolbox dir', [{ volumeId: v.id, mountPath: '/.shoal/toolbox' }], /system directory \/\.shoal/],
      ['dotdot', [{ volumeId: v.id, mountPath: '../x' }], /must be absolute/],
      ['dotdot inside', [{ volumeId: v.id, mountPath: '/home/../proc' }], /must not contain '\.\.'/],
      ['relative', [{ volumeId: v.id, mountPath: 'data' }], /must be absolute/],
      ['control character', [{ volumeId: v.id, mountPath: '/data\nx' }], /control characters/],
      ['two volumes on one path', [{ volumeId: v.id, mountPath: '/data' }, { volumeId: w.id, mountPath: '/data/' }], /two volumes are mounted at \/data/],
      ['one inside another', [{ volumeId: v.id, mountPath: '/data' }, { volumeId: w.id, mountPath: '/data/inner' }], /\/data\/inner is inside mount path \/data/],
      ['same volume twice', [{ volumeId: v.id, mountPath: '/a' }, { volumeId: v.id, mountPath: '/b' }], /mounted twice/],
      ['same volume by id and by name', [{ volumeId: v.id, mountPath: '/a' }, { volumeId: 'mnt-rules', mountPath: '/b' }], /mounted twice/],
      ['subpath with dotdot', [{ volumeId: v.id, mountPath: '/a', subpath: '../other' }], /subpath .* must not contain '\.\.'/],
      ['absolute subpath', [{ volumeId: v.id, mountPath: '/a', subpath: '/etc' }], /subpath .* must be relative/],
      ['too many', Array.from({ length: 17 }, (_, i) => ({ volumeId: v.id, mountPath: `/m${i}`, subpath: `s${i}` })), /at most 16 volumes/],
    ];
    for (const [name, volumes, message] of cases) {
      const res = await createSandbox(tenant.auth, volumes);
      assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
      assert.match((res.json() as { message: string }).message, message, name);
    }
    assert.equal(await sandboxCount(tenant.organizationId), before, 'no sandbox row was created');
  });

  test("another organization's volume, an unknown one and a volume still being created are refused", async () => {
    const theirs = await createVolume(other.auth, 'their-mount');
    const before = await sandboxCount(tenant.organizationId);
    expectError(await createSandbox(tenant.auth, [{ volumeId: theirs.id, mountPath: '/data' }]), 404, `Volume '${theirs.id}' not found`);
    expectError(await createSandbox(tenant.auth, [{ volumeId: 'their-mount', mountPath: '/data' }]), 404, "Volume 'their-mount' not found");
    expectError(await createSandbox(tenant.auth, [{ volumeId: 'no-such-volume', mountPath: '/data' }]), 404, "Volume 'no-such-volume' not found");
    const pending = await createVolume(tenant.auth, 'still-creating');
    // Settled first: set back to creating while the volume manager is still making it, its `ready` would land after.
    await waitVolume(tenant.auth, pending.id, 'ready');
    await sql.query(`UPDATE volume SET state = 'creating' WHERE id = $1`, [pending.id]);
    expectError(await createSandbox(tenant.auth, [{ volumeId: pending.id, mountPath: '/data' }]), 400, "Volume 'still-creating' is not in a ready state. Current state: creating");
    assert.equal(await sandboxCount(tenant.organizationId), before);
  });

  test('a name is resolved to the id: stored, answered and sent to the runner by id, with normalized paths; lastUsedAt is set', async () => {
    const v = await createVolume(tenant.auth, 'shared-1');
    const res = await createSandbox(tenant.auth, [
      { volumeId: 'shared-1', mountPath: '/home/daytona/volume/' },
      { volumeId: v.id, mountPath: '/mnt//cache', subpath: './cache/' },
    ]);
    assert.equal(res.statusCode, 200, res.body);
    const sb = res.json() as { id: string; volumes: unknown[] };
    const expected = [
      { volumeId: v.id, mountPath: '/home/daytona/volume' },
      { volumeId: v.id, mountPath: '/mnt/cache', subpath: 'cache' },
    ];
    assert.deepEqual(sb.volumes, expected);
    const stored = (await sql.query('SELECT volumes FROM sandbox WHERE id = $1', [sb.id])).rows[0].volumes as unknown[];
    assert.deepEqual(stored, expected);
    const sent = [...runner.callsTo('POST', /^\/sandboxes$/), ...runner2.callsTo('POST', /^\/sandboxes$/)].map((c) => JSON.parse(c.body) as { id: string; volumes?: unknown[] }).find((b) => b.id === sb.id);
    assert.ok(sent, 'the runner received the create');
    assert.deepEqual(sent.volumes, expected);
    assert.ok(((await getVolume(tenant.auth, v.id)).json() as Vol).lastUsedAt, 'lastUsedAt is set');
  });
});

describe('deletion', () => {
  test('refused while a sandbox that is not destroyed holds the volume and while not ready; then pending_delete -> deleting -> deleted with every runner asked to remove the data', async () => {
    const v = await createVolume(tenant.auth, 'del-1');
    const res = await createSandbox(tenant.auth, [{ volumeId: v.id, mountPath: '/data' }]);
    assert.equal(res.statusCode, 200, res.body);
    const sb = res.json() as { id: string };
    // Stopped still counts: the sandbox can start again and expects its files.
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${sb.id}/stop`, headers: tenant.auth })).statusCode, 200);
    expectError(await deleteVolume(tenant.auth, v.id), 409, new RegExp(`^Volume del-1 is in use by sandbox\\(es\\) ${sb.id}`));
    assert.equal(((await getVolume(tenant.auth, v.id)).json() as Vol).state, 'ready');
    assert.equal(runner.callsTo('DELETE', new RegExp(`^/volumes/${v.id}$`)).length, 0);

    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${sb.id}`, headers: tenant.auth })).statusCode, 200);
    await waitSandboxDestroyed(sb.id);

    await sql.query(`UPDATE volume SET state = 'creating' WHERE id = $1`, [v.id]);
    expectError(await deleteVolume(tenant.auth, v.id), 400, "Volume must be in 'ready' state in order to be deleted (current state: creating)");
    await sql.query(`UPDATE volume SET state = 'ready' WHERE id = $1`, [v.id]);

    const del = await deleteVolume(tenant.auth, v.id);
    assert.equal(del.statusCode, 200, del.body);
    await waitVolume(tenant.auth, v.id, 'deleted');
    for (const r of [runner, runner2]) assert.equal(r.callsTo('DELETE', new RegExp(`^/volumes/${v.id}$`)).length, 1, 'each runner was asked once');
    expectError(await app.inject({ method: 'GET', url: '/api/volumes/by-name/del-1', headers: tenant.auth }), 404, 'Volume with name del-1 not found');
    const visible = (await app.inject({ method: 'GET', url: '/api/volumes', headers: tenant.auth })).json() as Vol[];
    assert.ok(!visible.some((x) => x.id === v.id));
    const all = (await app.inject({ method: 'GET', url: '/api/volumes?includeDeleted=true', headers: tenant.auth })).json() as Vol[];
    assert.equal(all.find((x) => x.id === v.id)?.state, 'deleted');
    expectError(await deleteVolume(tenant.auth, v.id), 400, /current state: deleted/);
    expectError(await createSandbox(tenant.auth, [{ volumeId: v.id, mountPath: '/data' }]), 404, `Volume '${v.id}' not found`);
    // The name is free again.
    assert.notEqual((await createVolume(tenant.auth, 'del-1')).id, v.id);
  });

  test('transitions left half-way by a crash are finished from the database', async () => {
    const rows = (
      await sql.query(
        `INSERT INTO volume (organization_id, name, state, claimed_by, claim_expires_at) VALUES
           ($1, 'crash-create', 'pending_create', NULL, NULL),
           ($1, 'crash-creating', 'creating', 'dead-process', now() - interval '1 second'),
           ($1, 'crash-deleting', 'deleting', 'dead-process', now() - interval '1 second')
         RETURNING id, name`,
        [tenant.organizationId],
      )
    ).rows as Array<{ id: string; name: string }>;
    const byName = Object.fromEntries(rows.map((r) => [r.name, r.id]));
    await waitVolume(tenant.auth, byName['crash-create']!, 'ready');
    await waitVolume(tenant.auth, byName['crash-creating']!, 'ready');
    await waitVolume(tenant.auth, byName['crash-deleting']!, 'deleted');
    assert.equal(runner.callsTo('DELETE', new RegExp(`^/volumes/${byName['crash-deleting']}$`)).length, 1);
  });
});

describe('webhooks and audit', () => {
  test('volume.created and volume.state.updated reach the outbox; creates and deletes are audited', async () => {
    const t = await createTenant(app, 'vol-hooks');
    // Loopback port 9 (discard): a delivery attempt goes nowhere off the host.
    await sql.query(`INSERT INTO webhook_endpoint (id, organization_id, url, secret) VALUES ('vol-hooks-ep', $1, 'http://127.0.0.1:9/hook', 'whsec_x')`, [t.organizationId]);
    const v = await createVolume(t.auth, 'hooked');
    assert.equal((await deleteVolume(t.auth, v.id)).statusCode, 200);
    await waitVolume(t.auth, v.id, 'deleted');
    const events = (await sql.query(`SELECT event_type, payload FROM webhook_message WHERE organization_id = $1 ORDER BY created_at, id`, [t.organizationId])).rows as Array<{ event_type: string; payload: Record<string, string> }>;
    await sql.query(`DELETE FROM webhook_endpoint WHERE id = 'vol-hooks-ep'`);
    assert.deepEqual(
      events.map((e) => (e.event_type === 'volume.created' ? `created:${e.payload.state}` : `${e.payload.oldState}->${e.payload.newState}`)),
      ['created:pending_create', 'pending_create->creating', 'creating->ready', 'ready->pending_delete', 'pending_delete->deleting', 'deleting->deleted'],
    );
    assert.ok(events.every((e) => e.payload.id === v.id && e.payload.name === 'hooked' && e.payload.organizationId === t.organizationId));
    const audit = (await sql.query(`SELECT action, target_type, target_id, status_code FROM audit_log WHERE organization_id = $1 AND target_type = 'volume' ORDER BY created_at`, [t.organizationId])).rows;
    assert.deepEqual(audit, [
      { action: 'create', target_type: 'volume', target_id: v.id, status_code: 200 },
      { action: 'delete', target_type: 'volume', target_id: v.id, status_code: 200 },
    ]);
  });
});

describe('s3 driver', () => {
  const BUCKET = 'shoal-volumes-test';
  const SERVICE = { accessKeyId: 'SHOALSVCVOLTEST', secretAccessKey: 'volume-test-service-secret-0123456789' };
  let dir: string;
  let s3db: TestDatabase;
  let s3tenant: Awaited<ReturnType<typeof createTenant>>;
  let s3: RunningObjectServer;
  let s3app: ShoalApp;
  let client: S3Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-api-volumes-'));
    s3 = await new ObjectServer({
      root: join(dir, 'objects'),
      host: '127.0.0.1',
      port: 0,
      region: 'us-east-1',
      buckets: [BUCKET],
      auth: { serviceAccessKey: SERVICE.accessKeyId, serviceSecretKey: SERVICE.secretAccessKey, sessionKey: objectStorageSessionKey(TEST_PLATFORM_SECRET), maxSkewMs: 900_000 },
      maxObjectBytes: 1024 * 1024,
      log: () => undefined,
    }).listen();
    // A database of its own: two API processes with different drivers on one database would share the volumes' work.
    s3db = await createTestDatabase();
    s3app = await buildTestApp(s3db.url, {
      env: { SHOAL_VOLUME_DRIVER: 's3', SHOAL_S3_URL: s3.url, SHOAL_S3_BUCKET: BUCKET, SHOAL_S3_ACCESS_KEY: SERVICE.accessKeyId, SHOAL_S3_SECRET_KEY: SERVICE.secretAccessKey },
    });
    s3tenant = await createTenant(s3app, 'vol-s3');
    client = new S3Client({ endpoint: s3.url, region: 'us-east-1', forcePathStyle: true, credentials: SERVICE });
  });

  after(async () => {
    client?.destroy();
    await s3app?.close();
    await s3db?.drop();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const keys = async (prefix: string) => ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key).sort();

  test('create puts the marker volumes/<id>/; delete removes every object under the prefix and nothing else', async () => {
    const res = await s3app.inject({ method: 'POST', url: '/api/volumes', headers: s3tenant.auth, payload: { name: 's3-vol' } });
    assert.equal(res.statusCode, 200, res.body);
    const v = res.json() as Vol;
    assert.equal(v.state, 'ready');
    assert.deepEqual(await keys(`volumes/${v.id}/`), [`volumes/${v.id}/`]);
    for (const k of ['a.txt', 'dir/b.txt', 'dir/deep/c.bin']) await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `volumes/${v.id}/${k}`, Body: k }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `volumes/${v.id}-neighbour/keep.txt`, Body: 'keep' }));
    const del = await s3app.inject({ method: 'DELETE', url: `/api/volumes/${v.id}`, headers: s3tenant.auth });
    assert.equal(del.statusCode, 200, del.body);
    const deadline = Date.now() + 15_000;
    while (((await s3app.inject({ method: 'GET', url: `/api/volumes/${v.id}`, headers: s3tenant.auth })).json() as Vol).state !== 'deleted') {
      if (Date.now() > deadline) assert.fail('the s3 volume was never deleted');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(await keys(`volumes/${v.id}/`), []);
    assert.deepEqual(await keys(`volumes/${v.id}-neighbour/`), [`volumes/${v.id}-neighbour/keep.txt`]);
  });
});
