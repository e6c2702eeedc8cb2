// Dockerfile builds with buildah (issue 11 scope 4), for real: a registry on loopback holds a busybox base image made
// here; builds run with the runner's OCI runtime, in a network namespace and bridge this test creates (the same code as
// the runner's), in their own uid range; the result is pushed and unpacked by a real ImageStore.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
  // A static HTTP GET by address (busybox's static wget crashes in glibc's resolver code without its NSS libraries).
  await writeFile(join(dir, 'tcpget.c'), TCPGET_C);
  await exec('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', join(rootfs, 'bin/tcpget'), join(dir, 'tcpget.c')]);
  await exec('tar', ['-C', rootfs, '-cf', join(dir, 'base.tar'), '.']);
  const oci = join(dir, 'base-oci');
  await exec('umoci', ['init', '--layout', oci]);
  await exec('umoci', ['new', '--image', `${oci}:b`]);
  await exec('umoci', ['raw', 'add-layer', '--image', `${oci}:b`, join(dir, 'base.tar')]);
  await exec('umoci', ['config', '--image', `${oci}:b`, '--config.env', 'PATH=/bin']);
  await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:b`, `docker://${ref}`]);
}

const TCPGET_C = `#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) return 2;
  alarm(5);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n", argv[3], argv[1]);
  if (write(s, req, (size_t)n) != n) return 1;
  char buf[4096];
  ssize_t r;
  while ((r = read(s, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)r, stdout);
  return r < 0 ? 1 : 0;
}
`;

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
  // Builds must work under either runtime: SHOAL_TEST_OCI_RUNTIME=/usr/sbin/runc runs these under the fallback.
  const runtime = await chooseRuntime(process.env.SHOAL_TEST_OCI_RUNTIME ?? 'auto', false);
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
    acquireSlot: (policy) => net.acquire(policy),
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
    await assert.rejects(readdir(join('/sys/fs/cgroup', c, `shoal_${bridge}_builds_buildah`)), `cgroup ${c}/shoal_${bridge}_builds_buildah removed`);
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
  // buildah itself runs in a memory cgroup of the build with the build's limit, not in the runner's.
  const parent = `/sys/fs/cgroup/memory/shoal_${bridge}_builds_buildah`;
  const [build] = (await readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(parent, e.name));
  assert.ok(build, 'a build cgroup exists');
  assert.equal((await readFile(join(build, 'memory.limit_in_bytes'), 'utf8')).trim(), String(512 * 1024 ** 2));
  const pids = (await readFile(join(build, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean);
  const cmds = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  assert.ok(cmds.some((c) => c.split('\0')[0]!.endsWith('buildah') && c.includes('\0build\0')), `buildah in the cgroup: ${cmds.join(' | ')}`);
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

test('RUN steps get the organization egress policy on top of the floor: open reaches a server, limited egress and block-all do not', async () => {
  // "The internet": a namespace this test makes, with a server at 198.18.<n>.2 routed through the host.
  const n = 100 + (process.pid % 100);
  const ns = `shlbu${randomBytes(2).toString('hex')}`;
  const hostIf = `${ns}h`;
  const served = join(dir, 'served');
  await mkdir(served);
  await writeFile(join(served, 'ok.txt'), 'reached the server\n');
  let server: ChildProcess | undefined;
  try {
    await exec('ip', ['-batch', '-'], {
      input: [`netns add ${ns}`, `link add ${hostIf} type veth peer name eth0 netns ${ns}`, `addr add 198.18.${n}.1/24 dev ${hostIf}`, `link set ${hostIf} up`].join('\n') + '\n',
    });
    await exec('ip', ['-n', ns, '-batch', '-'], { input: ['link set lo up', `addr add 198.18.${n}.2/24 dev eth0`, 'link set eth0 up', `route add default via 198.18.${n}.1`].join('\n') + '\n' });
    server = spawn('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-m', 'http.server', '8080', '--bind', `198.18.${n}.2`, '--directory', served], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      if ((await exec('ip', ['netns', 'exec', ns, 'wget', '-q', '-O', '/dev/null', `http://198.18.${n}.2:8080/ok.txt`], { allowFailure: true })).code === 0) break;
      if (i > 300) assert.fail('test server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Each Dockerfile differs, so no RUN step is taken from buildah's layer cache.
    const fetch = (tag: string) => `FROM ${base}\nRUN echo ${tag} && tcpget 198.18.${n}.2 8080 /ok.txt > /got.txt\n`;
    const open = `${registry.address}/shoal/build-net-open:1`;
    await builder.build({ ref: open, organizationId: 'org-1', dockerfile: fetch('open') }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await readFile(images.logPath(open), 'utf8').catch(() => '')}`);
    });
    assert.match(await readFile(join(images.lowerDir(images.get(open)!.key), 'got.txt'), 'utf8'), /^HTTP\/1\.0 200 [^]*\r\n\r\nreached the server\n$/);

    const limited = `${registry.address}/shoal/build-net-limited:1`;
    await assert.rejects(builder.build({ ref: limited, organizationId: 'org-1', dockerfile: fetch('limited'), network: { limitedEgress: true } }), (err: Error) => {
      assert.ok(err instanceof BuildError);
      assert.match(err.message, /tcpget .*: exit status 1$/);
      return true;
    });
    assert.match(await readFile(images.logPath(limited), 'utf8'), /RUN steps' egress is limited to the operator's essential list/);

    const blocked = `${registry.address}/shoal/build-net-blocked:1`;
    await assert.rejects(builder.build({ ref: blocked, organizationId: 'org-1', dockerfile: fetch('blocked'), network: { networkBlockAll: true } }), /tcpget .*: exit status 1$/);
    assert.match(await readFile(images.logPath(blocked), 'utf8'), /RUN steps have no network/);

    // An allow list naming the server's network reaches it; one naming another does not.
    const allowed = `${registry.address}/shoal/build-net-allowed:1`;
    await builder.build({ ref: allowed, organizationId: 'org-1', dockerfile: fetch('allowed'), network: { networkAllowList: `198.18.${n}.0/24` } });
    const other = `${registry.address}/shoal/build-net-other:1`;
    await assert.rejects(builder.build({ ref: other, organizationId: 'org-1', dockerfile: fetch('other'), network: { networkAllowList: '198.19.0.0/24' } }), /exit status 1$/);
  } finally {
    if (server?.pid) {
      server.kill('SIGTERM');
      if (server.exitCode === null) await new Promise((r) => server!.once('exit', r));
    }
    await exec('ip', ['netns', 'del', ns], { allowFailure: true });
    await exec('ip', ['link', 'del', hostIf], { allowFailure: true });
  }
});
