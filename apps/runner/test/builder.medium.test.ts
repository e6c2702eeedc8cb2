// Dockerfile builds with buildah (issue 11 scope 4), for real: a registry on loopback holds a busybox base image made
// here; builds run with the runner's OCI runtime, in a network namespace and bridge this test creates (the same code as
// the runner's), in their own uid range; the result is pushed and unpacked by a real ImageStore.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRegistry, type RunningRegistry } from '@shoal/platform';
import { BuildError, Builder } from '../src/images/builder.js';
import { BuildNetwork } from '../src/images/build-network.js';
import { ImageStore } from '../src/images/image-store.js';
import { defaultFloor } from '../src/network/floor.js';
import { chooseRuntime } from '../src/runtime/detect.js';
import { UidPool } from '../src/sandbox/uid-pool.js';
import { exec } from '../src/util/exec.js';

let dir: string;
let registry: RunningRegistry;
let base: string;
let builder: Builder;
let images: ImageStore;
let net: BuildNetwork;
const uids = new UidPool(59000 * 65536, 2);
const bridge = `h4t${process.pid % 10000}`;

async function makeBaseImage(ref: string): Promise<void> {
  const rootfs = join(dir, 'base-rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await exec('cp', ['/bin/busybox', join(rootfs, 'bin/busybox')]);
  for (const app of ['sh', 'echo', 'cat', 'ls', 'id', 'sleep', 'mkdir']) await exec('ln', ['-s', 'busybox', join(rootfs, 'bin', app)]);
  await exec('tar', ['-C', rootfs, '-cf', join(dir, 'base.tar'), '.']);
  const oci = join(dir, 'base-oci');
  await exec('umoci', ['init', '--layout', oci]);
  await exec('umoci', ['new', '--image', `${oci}:b`]);
  await exec('umoci', ['raw', 'add-layer', '--image', `${oci}:b`, join(dir, 'base.tar')]);
  await exec('umoci', ['config', '--image', `${oci}:b`, '--config.env', 'PATH=/bin']);
  await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:b`, `docker://${ref}`]);
}

function tarOf(files: Record<string, string>, at: string): Promise<string> {
  return (async () => {
    const src = join(dir, `src-${Math.random().toString(36).slice(2)}`);
    await mkdir(src);
    for (const [name, body] of Object.entries(files)) await writeFile(join(src, name), body);
    await exec('tar', ['-C', src, '-cf', at, '.']);
    return at;
  })();
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-builder-'));
  // As the runner's data dir: RUN steps' root (a uid of the build's range) must traverse it to reach its bundle.
  await chmod(dir, 0o711);
  await mkdir(join(dir, 'runner'), { mode: 0o711 });
  registry = await startRegistry({ dataDir: join(dir, 'registry'), port: await freePort() });
  base = `${registry.address}/test/busybox:1`;
  await makeBaseImage(base);
  const runtime = await chooseRuntime('auto', false);
  images = new ImageStore({ dataDir: join(dir, 'runner'), uidBase: 100000, defaultImage: `${registry.address}/none:0`, imageCacheDir: undefined, log: () => undefined });
  await images.init();
  net = new BuildNetwork(bridge, { base: `10.251.${process.pid % 200}.0`, prefix: 24 }, defaultFloor({ base: '10.252.0.0', prefix: 16 }), uids);
  builder = new Builder({
    dataDir: join(dir, 'runner'),
    runtime: runtime.binary,
    cgroupParent: `shoal_${bridge}_builds`,
    concurrency: 1,
    cpus: 1,
    memoryBytes: 512 * 1024 ** 2,
    internalRegistry: { host: registry.address },
    acquireSlot: () => net.acquire(),
    fetchContexts: () => Promise.reject(new Error('no object storage in this test')),
    ensureImage: (ref) => images.ensure(ref),
    logPath: (ref) => images.logPath(ref),
    log: () => undefined,
  });
  await builder.init();
});

after(async () => {
  await builder?.close();
  await net?.close();
  // Storage of buildah (overlay mounts of layers) must not outlive the test.
  await exec('buildah', ['rm', '--all'], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CONTAINERS_STORAGE_CONF: join(dir, 'runner/buildah/storage.conf') },
    allowFailure: true,
  });
  await exec('umount', ['-R', join(dir, 'runner/buildah/graph/overlay')], { allowFailure: true });
  await registry?.stop();
  for (const c of await readdir('/sys/fs/cgroup')) {
    await assert.rejects(readdir(join('/sys/fs/cgroup', c, `shoal_${bridge}_builds`)), `cgroup ${c}/shoal_${bridge}_builds removed`);
  }
  await rm(dir, { recursive: true, force: true });
});

test('a Dockerfile builds in our netns and uid range, is pushed and unpacked; the image keeps WORKDIR and ENV', async () => {
  const ref = `${registry.address}/shoal/build-ok:1`;
  const ctx = await tarOf({ 'ctx.txt': 'from the context\n' }, join(dir, 'ctx-ok.tar'));
  await builder.build({
    ref,
    organizationId: 'org-1',
    contextTars: [ctx],
    dockerfile: [
      `FROM ${base}`,
      'RUN echo hi > /built.txt && cat /proc/self/uid_map > /uidmap.txt && cat /proc/net/dev > /net.txt && echo step-output-visible',
      'COPY ctx.txt /work/ctx.txt',
      'WORKDIR /work',
      'ENV A=1',
    ].join('\n'),
  });
  const rec = images.get(ref);
  assert.ok(rec, 'the built image is unpacked for sandboxes');
  const lower = images.lowerDir(rec.key);
  assert.equal(await readFile(join(lower, 'built.txt'), 'utf8'), 'hi\n');
  assert.equal(await readFile(join(lower, 'work/ctx.txt'), 'utf8'), 'from the context\n');
  assert.equal(rec.workdir, '/work');
  assert.ok(rec.env.includes('A=1'), rec.env.join(' '));
  // RUN ran as root of a user namespace mapped onto the pool's first range, not as host root.
  assert.match(await readFile(join(lower, 'uidmap.txt'), 'utf8'), new RegExp(`^\\s*0\\s+${uids.base}\\s+65536`));
  // ...and in the namespace this runner made: its eth0, not CNI's or the host's interfaces.
  const ifaces = [...(await readFile(join(lower, 'net.txt'), 'utf8')).matchAll(/^\s*([^\s:|]+):/gm)].map((m) => m[1]).sort();
  assert.deepEqual(ifaces, ['eth0', 'lo']);
  const log = await readFile(images.logPath(ref), 'utf8');
  assert.match(log, /step-output-visible/);
  assert.match(log, /Built /);
  // Nothing of the build is left on the host: no namespace, no work dir, uid range back in the pool.
  assert.deepEqual((await readdir('/run/netns')).filter((n) => n.startsWith(`${bridge}b-`)), []);
  assert.deepEqual(await readdir(join(dir, 'runner/buildah/builds')), []);
  assert.equal(uids.allocate(), uids.base);
  uids.release(uids.base);
});

test('a failing RUN step ends the build with the step and its exit status', async () => {
  const ref = `${registry.address}/shoal/build-fail:1`;
  await assert.rejects(builder.build({ ref, organizationId: 'org-1', dockerfile: `FROM ${base}\nRUN echo before\nRUN exit 3\n` }), (err: Error) => {
    assert.ok(err instanceof BuildError);
    assert.equal(err.message, 'RUN exit 3: exit status 3');
    return true;
  });
  assert.equal(images.get(ref), undefined);
  assert.match(await readFile(images.logPath(ref), 'utf8'), /Build failed: RUN exit 3: exit status 3/);
});

test('a hostile context fails the build before buildah runs', async () => {
  const ref = `${registry.address}/shoal/build-hostile:1`;
  const evil = join(dir, 'evil.tar');
  await exec('sh', ['-c', `cd ${dir} && ln -sf /etc/shadow shadowlink && tar -cf ${evil} shadowlink`]);
  await assert.rejects(
    builder.build({ ref, organizationId: 'org-1', contextTars: [evil], dockerfile: `FROM ${base}\nCOPY shadowlink /x\n` }),
    /Invalid build context: context symlink "shadowlink" points outside the context/,
  );
});

test('cancel kills a running build (RUN processes included) and frees its slot', async () => {
  const ref = `${registry.address}/shoal/build-cancel:1`;
  const p = builder.build({ ref, organizationId: 'org-1', dockerfile: `FROM ${base}\nRUN echo sleeping && sleep 3171\n` });
  p.catch(() => undefined);
  for (let i = 0; i < 600; i++) {
    if ((await readFile(images.logPath(ref), 'utf8').catch(() => '')).includes('sleeping')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const t0 = Date.now();
  assert.equal(await builder.cancel(ref), true);
  await assert.rejects(p, /Build cancelled/);
  assert.ok(Date.now() - t0 < 20_000);
  // A duration no other test on this host uses, and nothing left in the builds' cgroups.
  const ps = await exec('ps', ['-eo', 'args']);
  assert.ok(!ps.stdout.split('\n').some((l) => l.trim() === 'sleep 3171'), 'the RUN process is gone');
  const left = await readFile(`/sys/fs/cgroup/pids/shoal_${bridge}_builds/cgroup.procs`, 'utf8').catch(() => '');
  assert.equal(left.trim(), '');
  // The slot is free: another build runs at once.
  await assert.rejects(builder.build({ ref, organizationId: 'org-1', dockerfile: `FROM ${base}\nRUN exit 4\n` }), /RUN exit 4: exit status 4/);
});
