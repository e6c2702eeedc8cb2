import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exec } from '../src/util/exec.js';
import { api, crunExec, destroyRunner, requireRoot, sandboxBody, startRegistry, startRunner, toolboxExec, waitFor, type TestRunner } from './helpers.js';

// Limits, isolation and network policy of real sandboxes (real crun, netns, nftables). Needs root.
describe('runner sandbox isolation (e2e)', { timeout: 15 * 60_000 }, () => {
  before(requireRoot);
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let t: TestRunner;
  let image: string;
  const UP_NS = `shlup${randomBytes(2).toString('hex')}`;
  const UP_HOST_IF = `${UP_NS}h`;
  let upstream: ChildProcess | undefined;
  let hostService: Server | undefined;
  let hostPort = 0;
  const cg = (ctrl: string, id: string, file: string) => readFile(`/sys/fs/cgroup/${ctrl}/shoal_${t.cfg.bridge}/${id}/${file}`, 'utf8');

  before(async () => {
    registry = await startRegistry();
    image = `${registry.host}/shoal/sandbox:0.1.0`;
    t = await startRunner({
      SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-e2e-'),
      SHOAL_RUNNER_BRIDGE: 'shliso',
      SHOAL_RUNNER_SUBNET: '10.232.0.0/16',
      SHOAL_DEFAULT_IMAGE: image,
    });
    for (const [id, over] of [
      ['iso-a', { storageQuota: 1 }],
      ['iso-b', {}],
    ] as const) {
      const c = await api(t, 'POST', '/sandboxes', sandboxBody(id, image, over));
      assert.equal(c.status, 201, JSON.stringify(c.body));
    }
    // "The internet": a namespace of our own with two networks, 198.18.77.0/24 and 198.19.77.0/24, and a server on both.
    await exec('ip', ['-batch', '-'], {
      input: [
        `netns add ${UP_NS}`,
        `link add ${UP_HOST_IF} type veth peer name eth0 netns ${UP_NS}`,
        `addr add 198.18.77.1/24 dev ${UP_HOST_IF}`,
        `addr add 198.19.77.1/24 dev ${UP_HOST_IF}`,
        `link set ${UP_HOST_IF} up`,
      ].join('\n') + '\n',
    });
    await exec('ip', ['-n', UP_NS, '-batch', '-'], {
      input: ['link set lo up', 'addr add 198.18.77.2/24 dev eth0', 'addr add 198.19.77.2/24 dev eth0', 'link set eth0 up', 'route add default via 198.18.77.1'].join('\n') + '\n',
    });
    upstream = spawn('ip', ['netns', 'exec', UP_NS, '/usr/bin/python3', '-m', 'http.server', '8080', '--bind', '0.0.0.0', '--directory', '/usr/share'], { stdio: 'ignore' });
    await waitFor(async () => ((await exec('ip', ['netns', 'exec', UP_NS, 'curl', '-s', '-o', '/dev/null', 'http://198.18.77.2:8080/'], { allowFailure: true })).code === 0 ? true : undefined), 10_000, 'upstream server');
    // A host service on every host address: sandboxes must not reach it.
    hostService = createServer((s) => s.end('host-secret\n'));
    await new Promise<void>((r) => hostService!.listen(0, '0.0.0.0', () => r()));
    hostPort = (hostService.address() as { port: number }).port;
  });

  after(async () => {
    if (upstream?.pid) {
      upstream.kill('SIGTERM');
      await new Promise((r) => (upstream!.exitCode !== null ? r(null) : upstream!.once('exit', r)));
    }
    await exec('ip', ['netns', 'del', UP_NS], { allowFailure: true });
    await exec('ip', ['link', 'del', UP_HOST_IF], { allowFailure: true });
    hostService?.close();
    if (t) await destroyRunner(t);
    if (registry) await registry.stop();
  });

  const curl = async (id: string, url: string) => (await crunExec(t, id, `curl -s -o /dev/null -w '%{http_code}' --max-time 3 ${url}; echo " rc=$?"`)).stdout.trim();

  it('network: egress works by default, networkBlockAll blocks it, the allow list allows only its CIDRs, live', async () => {
    assert.match(await curl('iso-a', 'http://198.18.77.2:8080/'), /^200 rc=0$/);
    assert.match(await curl('iso-a', 'http://198.19.77.2:8080/'), /^200 rc=0$/);

    assert.equal((await api(t, 'POST', '/sandboxes/iso-a/network-settings', { networkBlockAll: true })).status, 200);
    assert.deepEqual((await api(t, 'GET', '/sandboxes/iso-a/network-settings')).body, { networkBlockAll: true, networkAllowList: '' });
    assert.doesNotMatch(await curl('iso-a', 'http://198.18.77.2:8080/'), /rc=0$/);
    // The other sandbox's policy is its own.
    assert.match(await curl('iso-b', 'http://198.18.77.2:8080/'), /^200 rc=0$/);

    assert.equal((await api(t, 'POST', '/sandboxes/iso-a/network-settings', { networkBlockAll: false, networkAllowList: '198.18.77.0/24' })).status, 200);
    assert.match(await curl('iso-a', 'http://198.18.77.2:8080/'), /^200 rc=0$/);
    assert.doesNotMatch(await curl('iso-a', 'http://198.19.77.2:8080/'), /rc=0$/);

    assert.equal((await api(t, 'POST', '/sandboxes/iso-a/network-settings', { networkAllowList: '1.2.3.4/40' })).status, 400);
    assert.equal((await api(t, 'POST', '/sandboxes/iso-a/network-settings', { networkAllowList: '' })).status, 200);
    assert.match(await curl('iso-a', 'http://198.19.77.2:8080/'), /^200 rc=0$/);
  });

  it('network: the host services and other sandboxes are unreachable; raw sockets and link changes are refused', async () => {
    const gateway = t.runner.network.gateway;
    assert.doesNotMatch(await curl('iso-a', `http://${gateway}:${hostPort}/`), /rc=0$/);
    assert.doesNotMatch(await curl('iso-a', `http://192.0.2.2:${hostPort}/`), /rc=0$/);
    assert.doesNotMatch(await curl('iso-a', `http://198.18.77.1:${hostPort}/`), /rc=0$/);
    await crunExec(t, 'iso-b', 'python3 -m http.server 8090 --directory /tmp >/dev/null 2>&1', { detach: true });
    await waitFor(async () => ((await api(t, 'GET', '/sandboxes/iso-b/ports/8090/')).status === 200 ? true : undefined), 15_000, 'server in iso-b');
    const ipB = t.runner.network.ipFor(t.runner.sandboxes.all().find((s) => s.meta.id === 'iso-b')!.meta.index);
    assert.doesNotMatch(await curl('iso-a', `http://${ipB}:8090/`), /rc=0$/);
    const raw = await crunExec(t, 'iso-a', `python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)"`);
    assert.notEqual(raw.code, 0);
    assert.match(raw.stderr, /PermissionError|Operation not permitted/);
    const link = await crunExec(t, 'iso-a', 'ip link set eth0 down');
    assert.notEqual(link.code, 0);
    assert.match(link.stderr, /Operation not permitted/);
    assert.match(await readFile(`${t.cfg.dataDir}/sandboxes/iso-a/etc/resolv.conf`, 'utf8'), new RegExp(`nameserver ${gateway.replace(/\./g, '\\.')}`));
  });

  it('isolation: own processes only, host and other sandboxes invisible, privileged operations fail as root', async () => {
    const marker = `/tmp/shoal-host-marker-${randomBytes(4).toString('hex')}`;
    await writeFile(marker, 'host');
    try {
      assert.equal((await crunExec(t, 'iso-b', 'echo b > /tmp/b-only')).code, 0);
      const ps = await crunExec(t, 'iso-a', 'ps -eo pid,comm --no-headers');
      const comms = ps.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[1]);
      assert.equal(ps.stdout.trim().split('\n')[0]!.trim(), '1 tini');
      assert.ok(!comms.includes('python3'), 'iso-b processes must not be visible');
      assert.ok(comms.length < 10, `unexpected processes: ${comms.join(',')}`);
      assert.notEqual((await crunExec(t, 'iso-a', `test -e ${marker}`)).code, 0);
      assert.notEqual((await crunExec(t, 'iso-a', 'test -e /tmp/b-only')).code, 0);
      assert.equal((await crunExec(t, 'iso-a', 'id -u')).stdout.trim(), '0');
      for (const cmd of [
        'mount -t tmpfs none /mnt',
        'echo 1 > /sys/kernel/mm/transparent_hugepage/khugepaged/defrag',
        `python3 -c "import ctypes,sys; r=ctypes.CDLL(None, use_errno=True).syscall(313, 0, b'', 0); sys.exit(0 if r == 0 else 1)"`,
        'cat /proc/kcore | head -c 1 >/dev/null && test -s /proc/kcore',
        'mknod /tmp/dev-null c 1 3',
      ]) {
        assert.notEqual((await crunExec(t, 'iso-a', cmd)).code, 0, `must fail as root inside: ${cmd}`);
      }
      assert.equal((await crunExec(t, 'iso-a', 'cat /proc/1/cmdline | tr "\\0" " "')).stdout.split(' ')[0], '/.shoal/bin/tini');
    } finally {
      await rm(marker, { force: true });
    }
  });

  it('network: the host side of a sandbox veth has no IPv6 address (a start is no address change on the host)', async () => {
    // A host-side link-local address per start and delete is an address change every program on the host hears; a
    // browser there aborts its requests in flight on it (net::ERR_NETWORK_CHANGED).
    for (const id of ['iso-a', 'iso-b']) {
      const veth = t.runner.network.vethName(t.runner.sandboxes.all().find((s) => s.meta.id === id)!.meta.index);
      const shown = (await exec('ip', ['-6', 'addr', 'show', 'dev', veth])).stdout;
      assert.doesNotMatch(shown, /inet6/, `${veth} of ${id}: ${shown}`);
      assert.match((await exec('ip', ['-d', 'link', 'show', 'dev', veth])).stdout, /addrgenmode none/);
    }
  });

  it("isolation: /sys shows the sandbox's own interfaces only, read-only", async () => {
    // The host's /sys would list the host's NICs, the bridge and every other sandbox's veth with its traffic counters.
    const hostNet = (await exec('ls', ['/sys/class/net'])).stdout.split(/\s+/);
    assert.ok(hostNet.includes(t.cfg.bridge), 'the host lists the bridge');
    assert.equal((await crunExec(t, 'iso-a', 'ls /sys/class/net | tr "\\n" " "')).stdout.trim(), 'eth0 lo');
    const index = t.runner.sandboxes.all().find((s) => s.meta.id === 'iso-a')!.meta.index;
    assert.equal((await crunExec(t, 'iso-a', 'cat /sys/class/net/eth0/address')).stdout.trim(), t.runner.network.macFor(index));
    assert.notEqual((await crunExec(t, 'iso-a', 'ls /sys/devices/virtual/net')).stdout.split(/\s+/).includes(t.cfg.bridge), true);
    assert.equal((await crunExec(t, 'iso-a', 'test -s /sys/devices/system/cpu/online')).code, 0);
    assert.match((await crunExec(t, 'iso-a', 'touch /sys/x')).stderr, /Read-only file system/);
  });

  it('limits: memory hog is OOM-killed and the toolbox survives', async () => {
    const hog = await crunExec(t, 'iso-a', `python3 -c "
a = []
while True: a.append(bytearray(64 * 1024 * 1024))
"; echo "rc=$?"`);
    assert.match(hog.stdout, /rc=137/);
    assert.match(await cg('memory', 'iso-a', 'memory.oom_control'), /oom_kill [1-9]/);
    assert.equal((await api(t, 'GET', '/sandboxes/iso-a/toolbox/version')).status, 200);
    assert.equal((await toolboxExec(t, 'iso-a', 'echo alive')).result.trim(), 'alive');
  });

  it('limits: a fork bomb stops at the pids limit and the sandbox stays usable', async () => {
    assert.equal((await cg('pids', 'iso-a', 'pids.max')).trim(), '1024');
    const bomb = await crunExec(t, 'iso-a', `python3 -c "
import os, time
pids, err = [], None
try:
    while len(pids) < 5000:
        p = os.fork()
        if p == 0:
            time.sleep(60); os._exit(0)
        pids.append(p)
except OSError as e:
    err = e.errno
print(len(pids), err)
for p in pids: os.kill(p, 9)
for p in pids: os.waitpid(p, 0)
"`);
    const [count, errno] = bomb.stdout.trim().split(' ');
    assert.equal(errno, '11', `fork must fail with EAGAIN: ${bomb.stdout} ${bomb.stderr}`);
    assert.ok(Number(count) < 1024);
    assert.equal((await toolboxExec(t, 'iso-a', 'echo usable')).result.trim(), 'usable');
  });

  it('limits: CPU is throttled to the quota', async () => {
    assert.equal((await cg('cpu', 'iso-a', 'cpu.cfs_quota_us')).trim(), '100000');
    assert.equal((await cg('cpu', 'iso-a', 'cpu.cfs_period_us')).trim(), '100000');
    const before = Number(await cg('cpuacct', 'iso-a', 'cpuacct.usage'));
    const throttledBefore = Number(/nr_throttled (\d+)/.exec(await cg('cpu', 'iso-a', 'cpu.stat'))![1]);
    const t0 = process.hrtime.bigint();
    await crunExec(t, 'iso-a', 'timeout 2 sh -c "while :; do :; done" & timeout 2 sh -c "while :; do :; done"; wait');
    const wallNs = Number(process.hrtime.bigint() - t0);
    const usedNs = Number(await cg('cpuacct', 'iso-a', 'cpuacct.usage')) - before;
    const throttled = Number(/nr_throttled (\d+)/.exec(await cg('cpu', 'iso-a', 'cpu.stat'))![1]) - throttledBefore;
    // Two busy loops on a 2-core host, quota 1 CPU: never more than one CPU's worth of time (plus slack for the tail).
    assert.ok(usedNs <= wallNs * 1.15, `used ${usedNs / 1e9}s CPU in ${wallNs / 1e9}s (throttled ${throttled} times)`);
  });

  it('limits: writing past the disk limit fails with ENOSPC and space comes back after deleting', async () => {
    const out = await toolboxExec(t, 'iso-a', 'dd if=/dev/zero of=/home/daytona/big bs=1M count=1300', 120);
    assert.notEqual(out.exitCode, 0);
    assert.match(out.result, /No space left on device/);
    assert.equal((await toolboxExec(t, 'iso-a', 'sh -c "rm /home/daytona/big && echo ok > /home/daytona/small && cat /home/daytona/small"')).result.trim(), 'ok');
  });
});
