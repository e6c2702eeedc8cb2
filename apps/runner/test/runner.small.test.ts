import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, parseSubnet } from '../src/config.js';
import { NetworkPolicyError, parseAllowList, Network } from '../src/network/network.js';
import { forwardHeaders, parseProxyUrl } from '../src/proxy/proxy.js';
import { SANDBOX_CAPABILITIES, sandboxSpec } from '../src/runtime/spec.js';

describe('config', () => {
  it('reports every invalid variable together', () => {
    assert.throws(
      () => loadConfig({ SHOAL_RUNNER_PORT: 'x', SHOAL_RUNNER_SUBNET: '10.88.0.0/16', SHOAL_RUNNER_BRIDGE: 'bad-name!' }),
      (err: Error) =>
        /SHOAL_RUNNER_TOKEN is required/.test(err.message) &&
        /SHOAL_RUNNER_PORT/.test(err.message) &&
        /10\.88/.test(err.message) &&
        /SHOAL_RUNNER_BRIDGE/.test(err.message),
    );
  });
  it('applies defaults', () => {
    const c = loadConfig({ SHOAL_RUNNER_TOKEN: 't' });
    assert.equal(c.port, 3003);
    assert.equal(c.host, '127.0.0.1');
    assert.deepEqual(c.subnet, { base: '10.210.0.0', prefix: 16 });
    assert.equal(c.bridge, 'shoal0');
    assert.equal(c.defaultImage, '127.0.0.1:5100/shoal/sandbox:0.1.0');
    assert.ok(Object.isFrozen(c));
  });
  it('normalises subnets', () => {
    assert.deepEqual(parseSubnet('10.210.3.4/16'), { base: '10.210.0.0', prefix: 16 });
    assert.equal(parseSubnet('10.210.0.0/8'), undefined);
    assert.equal(parseSubnet('300.1.1.1/16'), undefined);
  });
});

describe('network policy', () => {
  it('parses allow lists of at most 5 IPv4 CIDRs', () => {
    assert.deepEqual(parseAllowList(''), []);
    assert.deepEqual(parseAllowList(undefined), []);
    assert.deepEqual(parseAllowList(' 198.18.0.7/24 , 1.2.3.4/32 '), ['198.18.0.0/24', '1.2.3.4/32']);
    // A bare address is refused here exactly as the API refuses it (one parser, packages/contracts).
    assert.throws(() => parseAllowList('1.2.3.4'), /Missing CIDR prefix length/);
    assert.throws(() => parseAllowList('1.1.1.1/32,2.2.2.2/32,3.3.3.3/32,4.4.4.4/32,5.5.5.5/32,6.6.6.6/32'), NetworkPolicyError);
    assert.throws(() => parseAllowList('1.2.3.4/33'), NetworkPolicyError);
    assert.throws(() => parseAllowList('example.com'), NetworkPolicyError);
    assert.throws(() => parseAllowList('1.2.3.4; flush ruleset'), NetworkPolicyError);
  });
  it('derives names from the bridge so two runners never collide', () => {
    const a = new Network('shoal0', { base: '10.210.0.0', prefix: 16 });
    const b = new Network('shoal1', { base: '10.212.0.0', prefix: 16 });
    assert.equal(a.table, 'shoal_shoal0');
    assert.notEqual(a.vethName(5), b.vethName(5));
    assert.ok(a.vethName(65533).length <= 15);
    assert.equal(a.gateway, '10.210.0.1');
    assert.equal(a.ipFor(1), '10.210.0.2');
    assert.equal(a.ipFor(300), '10.210.1.45');
    assert.equal(a.capacity, 65533);
  });
  it("gives each address one MAC, the same for every sandbox that holds it, and no two addresses the same", () => {
    const a = new Network('shoal0', { base: '10.210.0.0', prefix: 16 });
    assert.equal(a.macFor(300), '02:53:0a:d2:01:2d');
    assert.equal(a.macFor(300), new Network('shoal0', { base: '10.210.0.0', prefix: 16 }).macFor(300));
    const macs = new Set(Array.from({ length: 600 }, (_, i) => a.macFor(i)));
    assert.equal(macs.size, 600);
  });
});

describe('proxy', () => {
  it('maps toolbox and port paths', () => {
    assert.deepEqual(parseProxyUrl('/sandboxes/abc/toolbox/files/?path=/x'), { id: 'abc', port: 2280, path: '/files/?path=/x' });
    assert.deepEqual(parseProxyUrl('/sandboxes/abc/toolbox'), { id: 'abc', port: 2280, path: '/' });
    assert.deepEqual(parseProxyUrl('/sandboxes/abc/ports/8080/a/b'), { id: 'abc', port: 8080, path: '/a/b' });
    assert.equal(parseProxyUrl('/sandboxes/abc/ports/70000/'), undefined);
    assert.equal(parseProxyUrl('/sandboxes/abc/other'), undefined);
  });
  it("refuses the toolbox's control paths however they are spelled, and only those", () => {
    for (const p of ['/.shoal/env', '/.shoal', '/x/../.shoal/env', '/%2e%2E/.shoal/env', '//.shoal/env', '/.SHOAL/env', '/files/%2e%2e/.shoal/env?x=1', '\\.shoal/env']) {
      assert.equal(parseProxyUrl(`/sandboxes/abc/toolbox${p}`), undefined, p);
      assert.equal(parseProxyUrl(`/sandboxes/abc/ports/2280${p}`), undefined, p);
    }
    assert.deepEqual(parseProxyUrl('/sandboxes/abc/toolbox/files/.shoalrc'), { id: 'abc', port: 2280, path: '/files/.shoalrc' });
    assert.deepEqual(parseProxyUrl('/sandboxes/abc/ports/8080/.shoal/env'), { id: 'abc', port: 8080, path: '/.shoal/env' });
  });
  it('never forwards a credential (runner token, caller API key, preview token, X-Daytona-*, platform cookies) or hop-by-hop headers', () => {
    const h = forwardHeaders(
      {
        'x-daytona-authorization': 'Bearer tok',
        authorization: 'Bearer tok',
        connection: 'keep-alive, x-hop',
        'x-hop': '1',
        'x-daytona-sdk-version': '0.108.1',
        'x-daytona-preview-token': 'preview-secret',
        'x-app': 'kept',
      },
      'tok',
    );
    assert.deepEqual(h, { 'x-app': 'kept' });
    // A user's API key (the SDK sends one on its port-2280 WebSockets) is dropped like the runner token.
    assert.deepEqual(forwardHeaders({ authorization: 'Bearer dtn_user-key' }, 'tok'), {});
    assert.deepEqual(forwardHeaders({ cookie: 'daytona-session=s1; app=1; Shoal_Auth=s2; theme=dark' }, 'tok'), { cookie: 'app=1; theme=dark' });
    assert.deepEqual(forwardHeaders({ cookie: 'daytona_x=1' }, 'tok'), {});
    const ws = forwardHeaders({ connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': 'p1' }, 'tok', true);
    assert.deepEqual(ws, { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': 'p1' });
  });
});

describe('OCI spec', () => {
  const spec = sandboxSpec({
    id: 'sb-1',
    rootfs: '/r',
    args: ['/x'],
    env: ['A=1'],
    netnsPath: '/run/netns/n',
    sysfs: '/run/shoal-sysfs/n',
    uidBase: 100000,
    cgroupsPath: '/shoal_x/sb-1',
    cpu: 2,
    memoryGiB: 3,
    pidsLimit: 2048,
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }],
    binds: [{ source: '/host/tb', destination: '/.shoal/toolbox', readonly: true }],
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the OCI config is plain JSON; the test reads it field by field
  }) as Record<string, any>;
  it('isolates with every namespace, root mapped to an unprivileged range', () => {
    assert.deepEqual(spec.linux.namespaces.map((n: { type: string }) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    assert.equal(spec.linux.namespaces.find((n: { type: string }) => n.type === 'network').path, '/run/netns/n');
    assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.equal(spec.hostname, 'sb-1');
  });
  it('limits cpu, memory without extra swap, and pids', () => {
    assert.deepEqual(spec.linux.resources.cpu, { period: 100000, quota: 200000 });
    assert.deepEqual(spec.linux.resources.memory, { limit: 3 * 1024 ** 3, swap: 3 * 1024 ** 3 });
    assert.deepEqual(spec.linux.resources.pids, { limit: 2048 });
  });
  it('drops NET_RAW, MKNOD and every admin capability; masks like Docker', () => {
    for (const cap of ['CAP_NET_RAW', 'CAP_MKNOD', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_MODULE']) {
      assert.ok(!SANDBOX_CAPABILITIES.includes(cap), cap);
    }
    assert.deepEqual(spec.process.capabilities.bounding, SANDBOX_CAPABILITIES);
    assert.ok(spec.linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(spec.linux.maskedPaths.includes('/sys/firmware'));
    const sys = spec.mounts.find((m: { destination: string }) => m.destination === '/sys');
    assert.ok(sys.options.includes('ro'));
    const tb = spec.mounts.find((m: { destination: string }) => m.destination === '/.shoal/toolbox');
    assert.ok(tb.options.includes('ro'));
  });
});
