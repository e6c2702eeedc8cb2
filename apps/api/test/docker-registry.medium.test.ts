// The /docker-registry operations and the internal registry's token auth, for real: PostgreSQL, the API listening on
// loopback as the token server, Debian's docker-registry (distribution 2.8) started with token auth, and skopeo as the
// client. Images are made here with umoci; nothing leaves loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { REGISTRY_TOKEN_ISSUER, REGISTRY_TOKEN_PATH, REGISTRY_TOKEN_SERVICE } from '@shoal/contracts';
import { ensureRegistryTokenKeys, freePort, startRegistry, type RunningRegistry } from '@shoal/platform';
import type { ShoalApp } from '../src/app.js';
import { createDb } from '../src/db/database.js';
import { DockerRegistryRepository } from '../src/repositories/docker-registry.repository.js';
import { DockerRegistryService, imageLocation } from '../src/services/docker-registry.service.js';
import { internalRegistryProject as organizationProject } from '../src/services/registry-credentials.js';
import { RegistrySecrets } from '../src/services/registry-secrets.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';

const run = promisify(execFile);
const RUNNER_TOKEN = 'registry-test-runner-token-'.padEnd(64, 'r');

let dir: string;
let db: TestDatabase;
let app: ShoalApp;
let registry: RunningRegistry;
let apiBase: string;
let oci: string;
let a: Awaited<ReturnType<typeof createTenant>>;
let b: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-docker-registry-'));
  db = await createTestDatabase();
  const keys = await ensureRegistryTokenKeys(join(dir, 'registry-auth'));
  const registryPort = await freePort();
  app = await buildTestApp(db.url, {
    background: false,
    env: {
      SHOAL_REGISTRY_ADDRESS: `127.0.0.1:${registryPort}`,
      SHOAL_REGISTRY_TOKEN_KEY_FILE: keys.keyFile,
      SHOAL_REGISTRY_TOKEN_CERT_FILE: keys.certFile,
    },
  });
  apiBase = await app.listen({ host: '127.0.0.1', port: 0 });
  registry = await startRegistry({
    dataDir: join(dir, 'registry'),
    port: registryPort,
    tokenAuth: { realm: `${apiBase}${REGISTRY_TOKEN_PATH}`, service: REGISTRY_TOKEN_SERVICE, issuer: REGISTRY_TOKEN_ISSUER, certFile: keys.certFile },
  });
  a = await createTenant(app, 'registry-tenant-a');
  b = await createTenant(app, 'registry-tenant-b');
  await registerRunner(app, 'http://127.0.0.1:9', RUNNER_TOKEN, 'runner-registry.test');
  oci = await makeImage();
});

after(async () => {
  await registry?.stop();
  await app?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A one-file image in an OCI layout, enough for the registry to store and serve. */
async function makeImage(): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  await writeFile(join(rootfs, 'hello.txt'), 'hello\n');
  await run('tar', ['-C', rootfs, '-cf', join(dir, 'layer.tar'), '.']);
  const layout = join(dir, 'oci');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:img`]);
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:img`, join(dir, 'layer.tar')]);
  return layout;
}

type Creds = { username: string; password: string } | null;

/** skopeo's answer: ok, or the last line of its error. Never reads an auth file of this machine. */
async function skopeo(args: string[]): Promise<{ ok: boolean; err: string }> {
  try {
    await run('skopeo', args, { env: { PATH: '/usr/bin:/bin', HOME: dir, REGISTRY_AUTH_FILE: join(dir, 'no-auth.json') }, timeout: 60_000 });
    return { ok: true, err: '' };
  } catch (e) {
    return { ok: false, err: String((e as { stderr?: string }).stderr ?? e).trim().split('\n').pop() ?? '' };
  }
}

function push(repo: string, creds: Creds) {
  const auth = creds ? ['--dest-creds', `${creds.username}:${creds.password}`] : ['--dest-no-creds'];
  return skopeo(['copy', '--quiet', '--dest-tls-verify=false', ...auth, `oci:${oci}:img`, `docker://${registry.address}/${repo}`]);
}

function pull(repo: string, creds: Creds) {
  const auth = creds ? ['--creds', `${creds.username}:${creds.password}`] : ['--no-creds'];
  return skopeo(['inspect', '--raw', '--tls-verify=false', ...auth, `docker://${registry.address}/${repo}`]);
}

async function pushAccess(auth: { authorization: string }) {
  const res = await app.inject({ method: 'GET', url: '/api/docker-registry/registry-push-access', headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  const dto = res.json() as { username: string; secret: string; registryUrl: string; registryId: string; project: string; expiresAt: string };
  return { dto, creds: { username: dto.username, password: dto.secret } };
}

async function createRegistry(auth: { authorization: string }, body: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: '/api/docker-registry', headers: auth, payload: body });
}

async function rawRow(id: string): Promise<Record<string, unknown>> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query('SELECT * FROM docker_registry WHERE id = $1', [id])).rows[0] as Record<string, unknown>;
  } finally {
    await c.end();
  }
}

async function sqlExec(text: string, params: unknown[]): Promise<void> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(text, params);
  } finally {
    await c.end();
  }
}

describe('docker-registry operations', () => {
  test('create, list, get, update, delete; the password never comes back', async () => {
    const res = await createRegistry(a.auth, { name: 'ghcr', url: 'https://ghcr.io/acme/', username: 'bot', password: 'pa55-word-a', project: 'acme' });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(created).sort(), ['createdAt', 'id', 'name', 'project', 'registryType', 'updatedAt', 'url', 'username']);
    assert.equal(created.url, 'ghcr.io/acme');
    assert.equal(created.registryType, 'organization');
    assert.ok(!res.body.includes('pa55-word-a'));
    const id = created.id as string;

    const list = await app.inject({ method: 'GET', url: '/api/docker-registry', headers: a.auth });
    assert.deepEqual((list.json() as Array<{ id: string }>).map((r) => r.id), [id]);
    assert.ok(!list.body.includes('pa55-word-a'));
    const got = await app.inject({ method: 'GET', url: `/api/docker-registry/${id}`, headers: a.auth });
    assert.equal(got.statusCode, 200);
    assert.equal((got.json() as { name: string }).name, 'ghcr');

    const upd = await app.inject({ method: 'PATCH', url: `/api/docker-registry/${id}`, headers: a.auth, payload: { name: 'ghcr2', password: 'new-pa55' } });
    assert.equal(upd.statusCode, 200, upd.body);
    assert.equal((upd.json() as { name: string }).name, 'ghcr2');
    assert.ok(!upd.body.includes('new-pa55'));

    const del = await app.inject({ method: 'DELETE', url: `/api/docker-registry/${id}`, headers: a.auth });
    assert.equal(del.statusCode, 204);
    const gone = await app.inject({ method: 'GET', url: `/api/docker-registry/${id}`, headers: a.auth });
    assert.equal(gone.statusCode, 404);
    assert.match((gone.json() as { message: string }).message, /Docker registry with ID .* not found/);
    assert.equal((await app.inject({ method: 'GET', url: '/api/docker-registry/not-a-uuid', headers: a.auth })).statusCode, 404);
    assert.equal((await createRegistry(a.auth, { name: 'x', url: 'r.example' })).statusCode, 400);
  });

  test('passwords are encrypted at rest and decrypt only on their own row', async () => {
    const res = await createRegistry(a.auth, { name: 'private', url: 'registry.example.com', username: 'u', password: 'S3cret-at-rest!' });
    const id = (res.json() as { id: string }).id;
    const row = await rawRow(id);
    assert.ok(!JSON.stringify(row).includes('S3cret-at-rest!'), 'the password is stored in clear');
    assert.match(String(row.password_ciphertext), /^v1:/);

    const kdb = createDb(new pg.Pool({ connectionString: db.url, max: 2 }));
    try {
      const svc = new DockerRegistryService(new DockerRegistryRepository(kdb), new RegistrySecrets(TEST_PLATFORM_SECRET), '127.0.0.1:1');
      const creds = await svc.forImage(a.organizationId, 'registry.example.com/team/app:1');
      assert.deepEqual(creds, { url: 'registry.example.com', username: 'u', password: 'S3cret-at-rest!' });
      assert.equal(await svc.forImage(b.organizationId, 'registry.example.com/team/app:1'), undefined, "another organization's entry was used");
      assert.equal(await svc.forImage(a.organizationId, 'other.example.com/app:1'), undefined);
      // A ciphertext copied onto another row does not decrypt there.
      const other = (await createRegistry(a.auth, { name: 'o', url: 'other.example.com', username: 'u2', password: 'x' })).json() as { id: string };
      await sqlExec('UPDATE docker_registry SET password_ciphertext = $1 WHERE id = $2', [row.password_ciphertext, other.id]);
      await assert.rejects(svc.forImage(a.organizationId, 'other.example.com/app:1'));
      // With another platform secret nothing decrypts.
      const wrongKey = new DockerRegistryService(new DockerRegistryRepository(kdb), new RegistrySecrets('another-secret'.padEnd(40, 'z')), '127.0.0.1:1');
      await assert.rejects(wrongKey.forImage(a.organizationId, 'registry.example.com/team/app:1'));
    } finally {
      await kdb.destroy();
    }
  });

  test('another organization gets 404 on every operation by id and sees none in its list', async () => {
    const id = ((await createRegistry(a.auth, { name: 'mine', url: 'mine.example.com', username: 'u', password: 'p' })).json() as { id: string }).id;
    for (const [method, url, payload] of [
      ['GET', `/api/docker-registry/${id}`, undefined],
      ['PATCH', `/api/docker-registry/${id}`, { name: 'stolen' }],
      ['DELETE', `/api/docker-registry/${id}`, undefined],
    ] as const) {
      const res = await app.inject({ method, url, headers: b.auth, ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    }
    const listB = (await app.inject({ method: 'GET', url: '/api/docker-registry', headers: b.auth })).json() as Array<{ id: string }>;
    assert.ok(!listB.some((r) => r.id === id));
    assert.equal(((await app.inject({ method: 'GET', url: `/api/docker-registry/${id}`, headers: a.auth })).json() as { name: string }).name, 'mine');
  });

  test('roles: set-default is admin only; non-admins create only organization entries; keys need write/delete:registries', async () => {
    const id = ((await createRegistry(a.auth, { name: 'd', url: 'd.example.com', username: 'u', password: 'p' })).json() as { id: string }).id;
    assert.equal((await app.inject({ method: 'POST', url: `/api/docker-registry/${id}/set-default`, headers: a.auth })).statusCode, 403);
    const set = await app.inject({ method: 'POST', url: `/api/docker-registry/${id}/set-default`, headers: adminAuth });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal((await createRegistry(a.auth, { name: 'i', url: 'i.example.com', username: 'u', password: 'p', registryType: 'internal' })).statusCode, 403);
    assert.equal((await createRegistry(a.auth, { name: 'i', url: 'i.example.com', username: 'u', password: 'p', isDefault: true })).statusCode, 403);
    assert.equal((await createRegistry(adminAuth, { name: 'i', url: 'i.example.com', username: 'u', password: 'p', registryType: 'transient', isDefault: true })).statusCode, 201);

    const key = await app.inject({ method: 'POST', url: '/api/api-keys', headers: a.auth, payload: { name: 'sandboxes-only', permissions: ['write:sandboxes'] } });
    const narrow = { authorization: `Bearer ${(key.json() as { value: string }).value}` };
    assert.equal((await createRegistry(narrow, { name: 'n', url: 'n.example.com', username: 'u', password: 'p' })).statusCode, 403);
    assert.equal((await app.inject({ method: 'PATCH', url: `/api/docker-registry/${id}`, headers: narrow, payload: { name: 'z' } })).statusCode, 403);
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/docker-registry/${id}`, headers: narrow })).statusCode, 403);
    assert.equal((await app.inject({ method: 'GET', url: '/api/docker-registry/registry-push-access', headers: narrow })).statusCode, 403);
    assert.equal((await app.inject({ method: 'GET', url: '/api/docker-registry', headers: narrow })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/api/docker-registry' })).statusCode, 401);
  });

  test("a snapshot cannot name another organization's project of the internal registry (runners read it with their own login)", async () => {
    const host = '127.0.0.1:5100';
    const snap = (auth: { authorization: string }, name: string, imageName: string) => app.inject({ method: 'POST', url: '/api/snapshots', headers: auth, payload: { name, imageName } });
    const foreign = await snap(a.auth, 'steal:1', `${host}/${organizationProject(b.organizationId)}/0f0e:1`);
    assert.equal(foreign.statusCode, 400, foreign.body);
    assert.match((foreign.json() as { message: string }).message, /another organization's project/);
    assert.equal((await snap(a.auth, 'steal:2', `${host.toUpperCase()}/${organizationProject(b.organizationId)}/0f0e:1`)).statusCode, 400);
    assert.equal((await snap(a.auth, 'own:1', `${host}/${organizationProject(a.organizationId)}/app:1`)).statusCode, 200);
    assert.equal((await snap(a.auth, 'general:1', `${host}/shoal-general/app:1`)).statusCode, 200);
    assert.equal((await snap(a.auth, 'elsewhere:1', `registry.example.com/${organizationProject(b.organizationId)}/app:1`)).statusCode, 200);
  });

  test('image locations match registry entries the way Docker names images', () => {
    assert.equal(imageLocation('python:3.12'), 'docker.io/library/python');
    assert.equal(imageLocation('acme/app@sha256:abc'), 'docker.io/acme/app');
    assert.equal(imageLocation('127.0.0.1:5000/team/app:1'), '127.0.0.1:5000/team/app');
    assert.equal(imageLocation('Index.Docker.io/acme/app:1'), 'docker.io/acme/app');
  });
});

describe('internal registry token auth', () => {
  const runner = { username: 'runner', password: RUNNER_TOKEN };

  test('registry-push-access: short-lived credentials, only the secret hash stored', async () => {
    const { dto } = await pushAccess(a.auth);
    assert.equal(dto.registryUrl, registry.address);
    assert.equal(dto.project, organizationProject(a.organizationId));
    assert.match(dto.registryId, /^[0-9a-f-]{36}$/);
    const ttl = Date.parse(dto.expiresAt) - Date.now();
    assert.ok(ttl > 50 * 60_000 && ttl <= 3600_000, `expiresAt ${dto.expiresAt}`);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const rows = (await c.query('SELECT * FROM registry_push_access WHERE username = $1', [dto.username])).rows;
    await c.end();
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(dto.secret));
  });

  test('anonymous callers and wrong passwords are refused', async () => {
    assert.equal((await fetch(`http://${registry.address}/v2/`)).status, 401);
    assert.equal((await fetch(`${apiBase}${REGISTRY_TOKEN_PATH}?service=${REGISTRY_TOKEN_SERVICE}&scope=repository:x/y:pull`)).status, 401);
    const anon = await push('anon/app:1', null);
    assert.ok(!anon.ok, 'anonymous push succeeded');
    assert.ok(!(await pull('anon/app:1', null)).ok);
    assert.ok(!(await push('wrong/app:1', { username: 'runner', password: 'not-the-token' })).ok, 'a wrong runner token pushed');
    const { creds } = await pushAccess(a.auth);
    assert.ok(!(await push(`${organizationProject(a.organizationId)}/app:1`, { ...creds, password: `${creds.password}x` })).ok, 'a wrong secret pushed');
  });

  test('runners pull and push everything', async () => {
    const r1 = await push('shoal/sandbox:t', runner);
    assert.ok(r1.ok, r1.err);
    const r2 = await pull('shoal/sandbox:t', runner);
    assert.ok(r2.ok, r2.err);
  });

  test("push-access credentials write only their organization's project, and stop when they expire", async () => {
    const projA = organizationProject(a.organizationId);
    const projB = organizationProject(b.organizationId);
    const { dto, creds: credsA } = await pushAccess(a.auth);
    const { creds: credsB } = await pushAccess(b.auth);

    const own = await push(`${projA}/app:1`, credsA);
    assert.ok(own.ok, own.err);
    assert.ok((await pull(`${projA}/app:1`, credsA)).ok);

    const intoB = await push(`${projB}/app:1`, credsA);
    assert.ok(!intoB.ok, "A's credentials pushed into B's project");
    assert.ok(!(await push(`${projA}x/app:1`, credsA)).ok, 'a project name prefix was enough');
    assert.ok(!(await push('shoal/sandbox:t', credsA)).ok, "A's credentials overwrote Shoal's own image");
    assert.ok(!(await pull('shoal/sandbox:t', credsA)).ok, "A's credentials read outside their project");
    assert.ok(!(await pull(`${projA}/app:1`, credsB)).ok, "B's credentials read A's project");

    await sqlExec("UPDATE registry_push_access SET expires_at = now() - interval '1 second' WHERE username = $1", [dto.username]);
    assert.ok(!(await push(`${projA}/app:2`, credsA)).ok, 'expired credentials still pushed');
    assert.ok(!(await pull(`${projA}/app:1`, credsA)).ok, 'expired credentials still pulled');
  });

  test("a build's login writes its organization's project and reads Shoal's own images, never another organization's project", async () => {
    const projA = organizationProject(a.organizationId);
    const projB = organizationProject(b.organizationId);
    assert.ok((await push('shoal/sandbox:t', runner)).ok);
    assert.ok((await push('shoal-general/base:1', runner)).ok);
    assert.ok((await push(`${projB}/secret:1`, runner)).ok);
    const kdb = createDb(new pg.Pool({ connectionString: db.url, max: 2 }));
    try {
      const svc = new DockerRegistryService(new DockerRegistryRepository(kdb), new RegistrySecrets(TEST_PLATFORM_SECRET), registry.address);
      const build = await svc.buildAccess(a.organizationId);
      assert.equal(build.project, projA);
      const creds = { username: build.username, password: build.password };
      const own = await push(`${projA}/build-x:shoal`, creds);
      assert.ok(own.ok, own.err);
      assert.ok((await pull('shoal/sandbox:t', creds)).ok, 'a build could not read the default image');
      assert.ok((await pull('shoal-general/base:1', creds)).ok, 'a build could not read a general image');
      // The point of the build login: a FROM naming B's project (directly or through an ONBUILD of a base) is refused.
      assert.ok(!(await pull(`${projB}/secret:1`, creds)).ok, "a build of A read B's project");
      assert.ok(!(await push('shoal/sandbox:t', creds)).ok, "a build of A overwrote Shoal's own image");
      assert.ok(!(await push('shoal-general/base:1', creds)).ok, 'a build of A wrote the general project');
    } finally {
      await kdb.destroy();
    }
  });

  test('tokens carry only what was granted', async () => {
    const { creds } = await pushAccess(a.auth);
    const q = new URLSearchParams({ service: REGISTRY_TOKEN_SERVICE });
    q.append('scope', `repository:${organizationProject(a.organizationId)}/app:pull,push,delete`);
    q.append('scope', `repository:${organizationProject(b.organizationId)}/app:pull`);
    q.append('scope', 'registry:catalog:*');
    const res = await fetch(`${apiBase}${REGISTRY_TOKEN_PATH}?${q}`, { headers: { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: string; access_token: string; expires_in: number };
    assert.equal(body.token, body.access_token);
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { aud: string; iss: string; access: unknown };
    assert.equal(claims.aud, REGISTRY_TOKEN_SERVICE);
    assert.equal(claims.iss, REGISTRY_TOKEN_ISSUER);
    assert.deepEqual(claims.access, [{ type: 'repository', name: `${organizationProject(a.organizationId)}/app`, actions: ['pull', 'push'] }]);
  });
});
