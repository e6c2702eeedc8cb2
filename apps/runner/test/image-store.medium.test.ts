import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { build } from '../src/app.js';
import { recipeKey } from '../src/images/default-image.js';
import { desktopImageFor, desktopRecipeKey } from '../src/images/desktop-image.js';
import { ImageStore } from '../src/images/image-store.js';
import { HostMetrics } from '../src/metrics/host-metrics.js';
import type { SandboxService } from '../src/sandbox/sandbox.service.js';
import { authFile, buildAndPush, startTestRegistry, writeLayer, type TestRegistry } from './image-fixtures.js';

// Real docker-registry processes on loopback, real skopeo and umoci: pulls by tag, digest and index, registry
// authentication, the copy into the internal registry, the pull log, removal and hostile layers.
const UID_BASE = 100000;
const ORG = { username: 'alice', password: 'alice-secret' };
const RUNNER = { username: 'runner', password: 'runner-secret' };

let work: string;
let source: TestRegistry;
let internal: TestRegistry;
let store: ImageStore;
let app: FastifyInstance;
let url: string;
const sandboxes: { state: string; meta: { snapshot: string } }[] = [];
let plain: { ref: string; digest: string; sizeBytes: number };
const auth = { authorization: 'Bearer tok' };

function newStore(dataDir: string, extra: Partial<ConstructorParameters<typeof ImageStore>[0]> = {}): ImageStore {
  return new ImageStore({
    dataDir,
    uidBase: UID_BASE,
    defaultImage: `${internal.host}/shoal/sandbox:0.1.0`,
    imageCacheDir: undefined,
    internalRegistry: RUNNER,
    log: () => undefined,
    ...extra,
  });
}

async function pull(body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${url}/snapshots/pull`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

/** Every block or character device under `dir`, found without following symlinks. */
async function devicesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isBlockDevice() || e.isCharacterDevice()) found.push(p);
    else if (e.isDirectory()) found.push(...(await devicesUnder(p)));
  }
  return found;
}

describe('runner image store (real registries, skopeo, umoci)', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'shoal-images-'));
    source = await startTestRegistry(join(work, 'reg-source'), ORG);
    internal = await startTestRegistry(join(work, 'reg-internal'), RUNNER);
    const orgAuth = await authFile(join(work, 'org-auth.json'), source.host, ORG.username, ORG.password);
    const base = await writeLayer(join(work, 'base.tar'), [
      { name: 'etc', type: 'dir' },
      { name: 'etc/os-release', type: 'file', content: 'ID=test\n' },
      { name: 'app', type: 'dir' },
      { name: 'app/hello.txt', type: 'file', content: 'hello\n' },
    ]);
    const built = await buildAndPush(work, `${source.host}/acme/app:1`, [base], {
      authFile: orgAuth,
      config: ['--config.entrypoint', '/bin/app', '--config.cmd', 'serve', '--config.workingdir', '/app'],
    });
    plain = { ref: `${source.host}/acme/app:1`, ...built };
    store = newStore(join(work, 'runner'));
    await store.init();
    const fakeSandboxes = { all: () => sandboxes, startQueue: { active: 0, waiting: 0 } } as unknown as SandboxService;
    app = build({ token: 'tok', version: '0.0.0', sandboxes: fakeSandboxes, images: store, metrics: new HostMetrics(work, fakeSandboxes, store) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await app?.close();
    await source?.stop();
    await internal?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls by tag with the organization credentials and answers what it learned', async () => {
    const r = await pull({ snapshot: plain.ref, registry: { url: source.host, ...ORG } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { sizeBytes: plain.sizeBytes, digest: plain.digest, entrypoint: ['/bin/app'], cmd: ['serve'], workdir: '/app' });
    const rec = store.get(plain.ref)!;
    assert.equal(await readFile(join(store.lowerDir(rec.key), 'app/hello.txt'), 'utf8'), 'hello\n');
    // Unpacked uid-shifted into the sandboxes' range.
    assert.equal((await stat(join(store.lowerDir(rec.key), 'app/hello.txt'))).uid, UID_BASE);
    const exists = await fetch(`${url}/snapshots/exists?snapshot=${encodeURIComponent(plain.ref)}`, { headers: auth });
    assert.deepEqual(await exists.json(), { exists: true });
  });

  it('pulls by digest', async () => {
    const ref = `${source.host}/acme/app@${plain.digest}`;
    const r = await pull({ snapshot: ref, registry: { url: source.host, ...ORG } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.digest, plain.digest);
    assert.ok(store.get(ref));
  });

  it('answers 400 naming authentication for wrong or missing credentials, and 400 for unknown or malformed refs', async () => {
    // The digest ref is unpacked by the previous test; removed, a pull must reach the registry again.
    const fresh = `${source.host}/acme/app@${plain.digest}`;
    await store.remove(fresh);
    const bad = await pull({ snapshot: fresh, registry: { url: source.host, username: 'alice', password: 'nope' } });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.message), /authentication to registry 127\.0\.0\.1:\d+ failed/);
    const none = await pull({ snapshot: fresh });
    assert.equal(none.status, 400);
    assert.match(String(none.json.message), /authentication/);
    const unknown = await pull({ snapshot: `${source.host}/acme/nothing:1`, registry: { url: source.host, ...ORG } });
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.json.message), /not found/);
    for (const ref of ['UPPER/case:1', 'a b', `${source.host}/x:bad tag`, `${source.host}/x@sha256:zz`]) {
      const m = await pull({ snapshot: ref });
      assert.equal(m.status, 400, ref);
      assert.match(String(m.json.message), /invalid image reference/, ref);
    }
    assert.equal(store.get(fresh), undefined);
  });

  it('resolves a multi-architecture index to the host architecture and refuses one without it', async () => {
    const orgAuth = join(work, 'org-auth.json');
    const layer = (arch: string) => writeLayer(join(work, `arch-${arch}.tar`), [{ name: 'arch', type: 'file', content: `${arch}\n` }]);
    const host = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const other = host === 'amd64' ? 'arm64' : 'amd64';
    const mine = await buildAndPush(work, `${source.host}/acme/multi:${host}`, [await layer(host)], { arch: host, authFile: orgAuth });
    const theirs = await buildAndPush(work, `${source.host}/acme/multi:${other}`, [await layer(other)], { arch: other, authFile: orgAuth });
    const entry = async (tag: string, d: string, arch: string) => {
      const raw = await fetch(`http://${source.host}/v2/acme/multi/manifests/${tag}`, {
        headers: { authorization: `Basic ${Buffer.from(`${ORG.username}:${ORG.password}`).toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: (await raw.arrayBuffer()).byteLength, platform: { os: 'linux', architecture: arch } };
    };
    const putIndex = async (tag: string, manifests: unknown[]) => {
      const res = await fetch(`http://${source.host}/v2/acme/multi/manifests/${tag}`, {
        method: 'PUT',
        headers: { authorization: `Basic ${Buffer.from(`${ORG.username}:${ORG.password}`).toString('base64')}`, 'content-type': 'application/vnd.oci.image.index.v1+json' },
        body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
      });
      assert.equal(res.status, 201, await res.text());
    };
    await putIndex('both', [await entry(other, theirs.digest, other), await entry(host, mine.digest, host)]);
    await putIndex('foreign', [await entry(other, theirs.digest, other)]);
    const r = await pull({ snapshot: `${source.host}/acme/multi:both`, registry: { url: source.host, ...ORG } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.digest, mine.digest);
    assert.equal(await readFile(join(store.lowerDir(store.get(`${source.host}/acme/multi:both`)!.key), 'arch'), 'utf8'), `${host}\n`);
    const f = await pull({ snapshot: `${source.host}/acme/multi:foreign`, registry: { url: source.host, ...ORG } });
    assert.equal(f.status, 400);
    assert.match(String(f.json.message), new RegExp(`no linux/${host} variant`));
  });

  it('copies into the internal registry with the runner credentials and keys the local image by the internal ref', async () => {
    const dest = `${internal.host}/org-1/app:v1`;
    const r = await pull({ snapshot: `${source.host}/acme/app:1`, registry: { url: source.host, ...ORG }, destinationRef: dest });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.digest, plain.digest, 'the manifest is copied unchanged');
    assert.equal(r.json.sizeBytes, plain.sizeBytes);
    assert.ok(store.get(dest));
    // The internal registry requires authentication: the manifest is there under the destination tag.
    const head = await fetch(`http://${internal.host}/v2/org-1/app/manifests/v1`, {
      method: 'HEAD',
      headers: { authorization: `Basic ${Buffer.from(`${RUNNER.username}:${RUNNER.password}`).toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-content-digest'), plain.digest);
    // Without the runner's credentials the same copy is refused by the internal registry.
    const anon = newStore(join(work, 'anon'), { internalRegistry: undefined });
    await anon.init();
    await assert.rejects(anon.ensure(`${internal.host}/org-1/app:v2`, { url: source.host, ...ORG }, { copyFrom: `${source.host}/acme/app:1` }), /authentication/);
  });

  it('streams the pull log while the pull runs and ends the stream when it ends', async () => {
    const dest = `${internal.host}/org-1/app:streamed`;
    const pulling = pull({ snapshot: `${source.host}/acme/app:1`, registry: { url: source.host, ...ORG }, destinationRef: dest });
    // The pull's first line is written synchronously when the request is handled.
    let res: Response | undefined;
    for (let i = 0; i < 200 && !res; i++) {
      const r = await fetch(`${url}/snapshots/logs?snapshotRef=${encodeURIComponent(dest)}&follow=true`, { headers: auth });
      if (r.status === 200) res = r;
      else await new Promise((s) => setTimeout(s, 10));
    }
    assert.ok(res, 'the log appeared');
    let pulled = false;
    void pulling.then(() => (pulled = true));
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(pulled, false, 'the first chunk arrived while the pull was running');
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const c = await reader.read();
      if (c.done) break;
      text += new TextDecoder().decode(c.value);
    }
    assert.equal((await pulling).status, 200);
    assert.match(text, /pulling .*acme\/app:1 into/);
    assert.match(text, /Copying blob/);
    assert.match(text, /image .*streamed ready/);
    // The source ref's log is the same pull's.
    const bySource = await fetch(`${url}/snapshots/logs?snapshotRef=${encodeURIComponent(`${source.host}/acme/app:1`)}`, { headers: auth });
    assert.match(await bySource.text(), /streamed ready/);
  });

  it('reports image count and disk bytes, and removes an image only when no sandbox uses it', async () => {
    const dest = `${internal.host}/org-1/app:v1`;
    const info = await (await fetch(`${url}/info`, { headers: auth })).json() as { metrics: { currentSnapshotCount: number; currentImageDiskBytes: number } };
    assert.equal(info.metrics.currentSnapshotCount, store.count());
    assert.ok(info.metrics.currentImageDiskBytes > 0);
    const prom = await (await fetch(`${url}/metrics`)).text();
    assert.match(prom, new RegExp(`shoal_runner_image_disk_bytes ${info.metrics.currentImageDiskBytes}\\n`));
    const key = store.get(dest)!.key;
    sandboxes.push({ state: 'stopped', meta: { snapshot: dest } });
    const busy = await fetch(`${url}/snapshots/remove?snapshot=${encodeURIComponent(dest)}`, { method: 'POST', headers: auth });
    assert.equal(busy.status, 409);
    assert.ok(store.get(dest));
    sandboxes[0]!.state = 'destroyed';
    const ok = await fetch(`${url}/snapshots/remove?snapshot=${encodeURIComponent(dest)}`, { method: 'POST', headers: auth });
    assert.equal(ok.status, 200);
    const exists = await fetch(`${url}/snapshots/exists?snapshot=${encodeURIComponent(dest)}`, { headers: auth });
    assert.deepEqual(await exists.json(), { exists: false });
    await assert.rejects(stat(store.lowerDir(key)));
    const after = await (await fetch(`${url}/info`, { headers: auth })).json() as { metrics: { currentImageDiskBytes: number } };
    assert.ok(after.metrics.currentImageDiskBytes < info.metrics.currentImageDiskBytes);
  });

  describe('hostile layers', () => {
    const orgAuth = () => join(work, 'org-auth.json');
    const outside = () => join(work, 'outside');

    it('keeps traversal, symlinks and hard links inside the image, strips device nodes and keeps setuid ids mapped', async () => {
      await mkdir(outside(), { recursive: true });
      const l1 = await writeLayer(join(work, 'hostile1.tar'), [
        { name: 'etc', type: 'dir' },
        { name: 'etc/passwd', type: 'file', content: 'root:x:0:0::/root:/bin/sh\n' },
        { name: `../../../../../../..${outside()}/dotdot`, type: 'file', content: 'escaped\n' },
        { name: 'abs', type: 'symlink', link: outside() },
        { name: 'rel', type: 'symlink', link: `../../../../../../../..${outside()}` },
        { name: 'dev-sda', type: 'block', major: 8, minor: 0, mode: 0o666 },
        { name: 'dev-mem', type: 'char', major: 1, minor: 1, mode: 0o666 },
        { name: 'suid', type: 'file', content: 'x', mode: 0o4755 },
        { name: 'hl-abs', type: 'hardlink', link: '/etc/passwd' },
        { name: 'hl-dotdot', type: 'hardlink', link: '../../../../../../etc/passwd' },
      ]);
      const l2 = await writeLayer(join(work, 'hostile2.tar'), [
        { name: 'abs/through-abs', type: 'file', content: 'escaped\n' },
        { name: 'rel/through-rel', type: 'file', content: 'escaped\n' },
        { name: 'hl-through', type: 'hardlink', link: 'abs/../../../../../../etc/passwd' },
      ]);
      const ref = `${source.host}/evil/tricks:1`;
      await buildAndPush(work, ref, [l1, l2], { authFile: orgAuth() });
      const r = await pull({ snapshot: ref, registry: { url: source.host, ...ORG } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const lower = store.lowerDir(store.get(ref)!.key);
      assert.deepEqual(await readdir(outside()), [], 'nothing was written outside the image');
      assert.deepEqual(await devicesUnder(lower), [], 'no device node is left in the image');
      assert.equal((await lstat(join(lower, 'abs'))).isSymbolicLink(), true);
      const hostPasswd = await stat('/etc/passwd');
      for (const hl of ['hl-abs', 'hl-dotdot', 'hl-through']) {
        const st = await stat(join(lower, hl));
        assert.notEqual(st.ino, hostPasswd.ino, `${hl} is not the host's /etc/passwd`);
        assert.equal(st.ino, (await stat(join(lower, 'etc/passwd'))).ino, `${hl} links the image's own /etc/passwd`);
      }
      const suid = await stat(join(lower, 'suid'));
      assert.equal(suid.uid, UID_BASE, 'a setuid file belongs to the mapped root, never to host root');
      // Paths that tried to leave landed inside the rootfs.
      assert.equal(await readFile(join(lower, outside(), 'through-abs'), 'utf8'), 'escaped\n');
      const log = await (await fetch(`${url}/snapshots/logs?snapshotRef=${encodeURIComponent(ref)}`, { headers: auth })).text();
      assert.match(log, /removed 2 device node\(s\)/);
    });

    it('refuses ids outside the mapped range and images with too many files', async () => {
      const uid = await writeLayer(join(work, 'biguid.tar'), [{ name: 'owned', type: 'file', content: 'x', uid: 70000 }]);
      const uidRef = `${source.host}/evil/uid:1`;
      await buildAndPush(work, uidRef, [uid], { authFile: orgAuth() });
      const u = await pull({ snapshot: uidRef, registry: { url: source.host, ...ORG } });
      assert.equal(u.status, 400);
      assert.match(String(u.json.message), /unpacking failed/);
      const many = await writeLayer(join(work, 'many.tar'), [{ name: 'f', type: 'file', repeat: 3000 }]);
      const manyRef = `${source.host}/evil/many:1`;
      await buildAndPush(work, manyRef, [many], { authFile: orgAuth() });
      const small = newStore(join(work, 'small'), { maxFiles: 1000 });
      await small.init();
      await assert.rejects(small.ensure(manyRef, { url: source.host, ...ORG }), /more than the 1000 files this runner accepts/);
      assert.equal(small.get(manyRef), undefined);
      assert.deepEqual(await readdir(join(work, 'small', 'images')), [], 'nothing is left of the refused pull');
      // Refused from the layer listing, before a single file was created.
      assert.doesNotMatch(await readFile(small.logPath(manyRef), 'utf8'), /unpacking/);
      // A layer that inflates far beyond its compressed size (5 MB of one byte, a few KB gzipped).
      const bomb = await writeLayer(join(work, 'bomb.tar'), [{ name: 'zeros', type: 'file', content: 'x'.repeat(5 * 2 ** 20) }]);
      const bombRef = `${source.host}/evil/bomb:1`;
      await buildAndPush(work, bombRef, [bomb], { authFile: orgAuth() });
      const tight = newStore(join(work, 'tight'), { maxUnpackedBytes: 2 ** 20 });
      await tight.init();
      await assert.rejects(tight.ensure(bombRef, { url: source.host, ...ORG }), /more than the 1048576 bytes this runner accepts unpacked/);
      assert.doesNotMatch(await readFile(tight.logPath(bombRef), 'utf8'), /unpacking/);
    });
  });

  it('builds the default image when its registry lacks it and pushes it with the runner credentials', async () => {
    // A tiny cached root filesystem stands in for the Debian one (same cache file name), so no debootstrap runs.
    const cache = join(work, 'cache');
    await mkdir(cache, { recursive: true });
    await writeLayer(join(cache, `shoal-sandbox-${recipeKey()}.tar`), [{ name: 'etc', type: 'dir' }, { name: 'etc/os-release', type: 'file', content: 'ID=debian\n' }]);
    const ref = `${internal.host}/shoal/sandbox:0.1.0`;
    const s = newStore(join(work, 'default'), { imageCacheDir: cache });
    await s.init();
    const rec = await s.ensure(ref);
    const head = await fetch(`http://${internal.host}/v2/shoal/sandbox/manifests/0.1.0`, {
      method: 'HEAD',
      headers: { authorization: `Basic ${Buffer.from(`${RUNNER.username}:${RUNNER.password}`).toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(head.status, 200, 'pushed to the authenticated internal registry');
    assert.equal(rec.digest, head.headers.get('docker-content-digest'));
    assert.ok((rec.sizeBytes ?? 0) > 0);
    assert.deepEqual(rec.cmd, ['sleep', 'infinity']);
  });

  it('builds the desktop image from its cached root filesystem; the same name on another registry is only ever pulled', async () => {
    // A tiny cached root filesystem stands in for the Debian desktop one (same cache file name), so no apt runs.
    const cache = join(work, 'cache-desktop');
    await mkdir(cache, { recursive: true });
    await writeLayer(join(cache, `shoal-desktop-${desktopRecipeKey()}.tar`), [{ name: 'etc', type: 'dir' }, { name: 'etc/os-release', type: 'file', content: 'ID=debian\n' }]);
    const ref = desktopImageFor(`${internal.host}/shoal/sandbox:0.1.0`);
    assert.equal(ref, `${internal.host}/shoal/desktop:1`);
    const s = newStore(join(work, 'desktop'), { imageCacheDir: cache, desktopImage: ref });
    await s.init();
    const rec = await s.ensure(ref);
    assert.ok(rec.env.includes('DISPLAY=:0'), rec.env.join(' '));
    const head = await fetch(`http://${internal.host}/v2/shoal/desktop/manifests/1`, {
      method: 'HEAD',
      headers: { authorization: `Basic ${Buffer.from(`${RUNNER.username}:${RUNNER.password}`).toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(head.status, 200, 'pushed to the authenticated internal registry');
    // Anyone may name an image shoal/desktop:1 on their own registry: missing there, it is a pull failure, not a build.
    const elsewhere = `${source.host}/shoal/desktop:1`;
    await assert.rejects(s.ensure(elsewhere, { url: source.host, ...ORG }), /Failed to pull snapshot/);
    assert.doesNotMatch(await readFile(s.logPath(elsewhere), 'utf8'), /building it locally/);
  });
});
