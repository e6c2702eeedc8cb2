// The internal registry of a platform that started its own (no shared test registry): every pull and push needs a
// token from the API. registry-push-access credentials (fetched with an API key; the SDK has no registry API) push
// into their organization's project only; anonymous callers get nothing; the runner, with its own token, pulls a
// pushed image for a snapshot and copies it into the organization's project.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

const run = promisify(execFile);
let platform: TestPlatform;
let dir: string;
let oci: string;

before(async () => {
  dir = await mkdtemp(join(process.env.SHOAL_TEST_SCRATCH ?? tmpdir(), 'e2e-registry-auth-'));
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/hello.txt'), 'hello\n');
  // The snapshot's validation runs the image as a sandbox: it needs sh and a command that keeps running.
  await mkdir(join(rootfs, 'bin'));
  await run('cp', ['/bin/busybox', join(rootfs, 'bin/busybox')]);
  for (const applet of ['sh', 'sleep']) await run('ln', ['-s', 'busybox', join(rootfs, 'bin', applet)]);
  await run('tar', ['-C', rootfs, '-cf', join(dir, 'layer.tar'), '.']);
  oci = join(dir, 'oci');
  await run('umoci', ['init', '--layout', oci]);
  await run('umoci', ['new', '--image', `${oci}:img`]);
  await run('umoci', ['raw', 'add-layer', '--image', `${oci}:img`, join(dir, 'layer.tar')]);
  await run('umoci', ['config', '--image', `${oci}:img`, '--config.env', 'PATH=/bin', '--config.cmd', '/bin/sleep', '--config.cmd', '3600']);
  // registryAddress undefined: this platform starts (and authenticates) its own registry. No default image needed.
  platform = await startTestPlatform({ registryAddress: undefined, prepareDefaultSnapshot: false });
});

after(async () => {
  await platform?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function api<T>(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function skopeo(args: string[]): Promise<{ ok: boolean; err: string }> {
  try {
    await run('skopeo', args, { env: { PATH: '/usr/bin:/bin', HOME: dir, REGISTRY_AUTH_FILE: join(dir, 'none.json') }, timeout: 60_000 });
    return { ok: true, err: '' };
  } catch (e) {
    return { ok: false, err: String((e as { stderr?: string }).stderr ?? e).trim().split('\n').pop() ?? '' };
  }
}

type Access = { username: string; secret: string; registryUrl: string; project: string };

test('push access is scoped to the organization; anonymous is refused; the runner pulls with its own token', { timeout: 300_000 }, async () => {
  const other = await api<{ apiKey: string }>(platform.apiKey, 'POST', '/users', { id: 'registry-e2e-other', name: 'other', createApiKey: true });
  assert.equal(other.status, 201);
  const mine = await api<Access>(platform.apiKey, 'GET', '/docker-registry/registry-push-access');
  const theirs = await api<Access>(other.body.apiKey, 'GET', '/docker-registry/registry-push-access');
  assert.equal(mine.status, 200);
  assert.equal(mine.body.registryUrl, platform.registryAddress);
  const push = (a: Access | null, repo: string) =>
    skopeo(['copy', '--quiet', '--dest-tls-verify=false', ...(a ? ['--dest-creds', `${a.username}:${a.secret}`] : ['--dest-no-creds']), `oci:${oci}:img`, `docker://${platform.registryAddress}/${repo}`]);

  const own = await push(mine.body, `${mine.body.project}/hello:1`);
  assert.ok(own.ok, own.err);
  assert.ok(!(await push(mine.body, `${theirs.body.project}/hello:1`)).ok, "pushed into another organization's project");
  assert.ok(!(await push(null, `${mine.body.project}/anon:1`)).ok, 'anonymous push accepted');
  const anonPull = await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${platform.registryAddress}/${mine.body.project}/hello:1`]);
  assert.ok(!anonPull.ok, 'anonymous pull accepted');

  // The snapshot pipeline's runner pulls it from the authenticated registry and copies it into the project.
  const created = await api<{ id: string }>(platform.apiKey, 'POST', '/snapshots', { name: 'registry-e2e:1', imageName: `${platform.registryAddress}/${mine.body.project}/hello:1` });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  let snap: { state: string; errorReason?: string | null } = { state: 'pending' };
  for (let i = 0; i < 240 && !['active', 'error', 'build_failed'].includes(snap.state); i++) {
    await new Promise((r) => setTimeout(r, 500));
    snap = (await api<typeof snap>(platform.apiKey, 'GET', `/snapshots/${created.body.id}`)).body;
  }
  assert.equal(snap.state, 'active', `snapshot ended ${snap.state}: ${snap.errorReason ?? ''}`);
});
