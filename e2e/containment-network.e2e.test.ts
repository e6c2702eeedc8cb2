// The egress floor (issue 9, scope 2), from real sandboxes through the official SDK. The test builds its own
// "outside world": a network namespace routed from the host that answers HTTP on the cloud metadata address
// (169.254.169.254), on a private address the operator did not open (172.29.x.2), on one the operator opened
// (172.29.x.3, started with SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS) and on a benchmarking address that stands for the
// internet (198.18.x.2). The platform's API and runner listen on every host address for this test, so "unreachable"
// is the floor's doing and not a loopback-only bind. Everything the test creates is removed in `after`.
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { CreateSandboxFromSnapshotParams, Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { removeNamespaceServer, startNamespaceServer } from './src/netns-http-server.js';
import { deleteAndWait } from './src/toolbox-helpers.js';

const id = randomBytes(3).toString('hex');
const NS = `shcn${id}`;
const HOST_IF = `shcnh${id}`;
const NS_IF = `shcnn${id}`;
const SECRET = `floor-${randomBytes(6).toString('hex')}`;
const METADATA = '169.254.169.254';

let octet = 0;
let privateDenied = '';
let privateOpen = '';
let internet = '';
let platform: TestPlatform;
let server: ChildProcess | undefined;
let routeAdded = false;
let gateway = '';
let open: Sandbox;
let blockAll: Sandbox;
let tenantAllow: Sandbox;
let limited: Sandbox;
const sandboxes: Sandbox[] = [];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function freeOctet(): number {
  const routes = ip('-4', 'route', 'show');
  for (let i = 0; i < 100; i++) {
    const x = 1 + Math.floor(Math.random() * 250);
    if (!routes.includes(`172.29.${x}.`) && !routes.includes(`198.18.${x}.`)) return x;
  }
  throw new Error('no free 172.29.x.0/29 for the test namespace');
}

async function buildOutside(): Promise<void> {
  octet = freeOctet();
  privateDenied = `172.29.${octet}.2`;
  privateOpen = `172.29.${octet}.3`;
  internet = `198.18.${octet}.2`;
  ip('netns', 'add', NS);
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF, 'netns', NS);
  ip('addr', 'add', `172.29.${octet}.1/29`, 'dev', HOST_IF);
  ip('addr', 'add', `198.18.${octet}.1/30`, 'dev', HOST_IF);
  ip('link', 'set', HOST_IF, 'up');
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  for (const a of [`${privateDenied}/29`, `${privateOpen}/29`, `${internet}/30`, `${METADATA}/32`]) ip('-n', NS, 'addr', 'add', a, 'dev', NS_IF);
  ip('-n', NS, 'link', 'set', NS_IF, 'up');
  ip('-n', NS, 'route', 'add', 'default', 'via', `172.29.${octet}.1`);
  // The metadata address is routed into our namespace for the test's duration (a /32 beats any wider route).
  ip('route', 'add', `${METADATA}/32`, 'via', privateDenied, 'dev', HOST_IF);
  routeAdded = true;
  // One HTTP server on every address of the namespace; the answer names the address it was reached on.
  server = await startNamespaceServer(NS, SECRET);
}

async function removeOutside(): Promise<void> {
  // The route goes first: the veth it points at goes with the namespace.
  if (routeAdded) execFileSync('ip', ['route', 'del', `${METADATA}/32`, 'via', privateDenied], { stdio: 'ignore' });
  await removeNamespaceServer(server, NS, HOST_IF);
}

/**
 * Runs a Python probe in the sandbox: one thread per target, each recording the body it got or the error that
 * stopped it. A probe that prints no result fails the test, so a broken probe never passes for a blocked target.
 */
async function reach(sb: Sandbox, targets: Array<[string, number]>, timeout = 3): Promise<Record<string, string>> {
  const script = `
import socket, threading, json
out = {}
def get(h, p):
    key = '%s:%d' % (h, p)
    try:
        c = socket.create_connection((h, p), timeout=${timeout})
        c.settimeout(${timeout})
        c.sendall(b'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')
        data = b''
        while True:
            d = c.recv(4096)
            if not d: break
            data += d
        c.close()
        out[key] = 'OK ' + data.decode('utf8', 'replace')[-200:]
    except socket.timeout:
        out[key] = 'ERR TIMEOUT'
    except OSError as e:
        out[key] = 'ERR ' + (socket.errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__)
ts = [threading.Thread(target=get, args=t) for t in ${JSON.stringify(targets)}]
for t in ts: t.start()
for t in ts: t.join()
print('RESULT ' + json.dumps(out))
`;
  const b64 = Buffer.from(script).toString('base64');
  const r = await sb.process.executeCommand(`python3 -c "import base64;exec(base64.b64decode('${b64}'))"`, undefined, undefined, 60);
  const line = r.result.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `probe printed no result (exit ${r.exitCode}): ${r.result.slice(-1000)}`);
  return JSON.parse(line.slice(7)) as Record<string, string>;
}

function assertReached(results: Record<string, string>, host: string, port = 80): void {
  const r = results[`${host}:${port}`];
  assert.ok(r?.startsWith('OK ') && r.includes(`${SECRET}@${host}`), `${host}:${port} should be reachable, got ${r}`);
}

/**
 * Every target failed the way a filter fails it: dropped (timeout) or rejected (host unreachable). A refused
 * connection would mean the packet reached a host that answered, so it counts only on the sandbox's own loopback.
 */
function assertUnreachable(results: Record<string, string>, who: string): void {
  for (const [target, r] of Object.entries(results)) {
    const expected = target.startsWith('127.') ? /^ERR (TIMEOUT|ECONNREFUSED)$/ : /^ERR (TIMEOUT|EHOSTUNREACH|ENETUNREACH|EACCES|EPERM)$/;
    assert.match(r, expected, `${who}: ${target} must be unreachable, got ${r}`);
  }
}

/** A raw DNS query over UDP to the sandbox's resolver (the runner's forwarder on the bridge gateway). */
async function dnsQuery(sb: Sandbox): Promise<string> {
  const script = `
import socket, struct, random
q = struct.pack('>HHHHHH', random.randint(0, 65535), 0x0100, 1, 0, 0, 0)
for part in b'registry.npmjs.org'.split(b'.'): q += bytes([len(part)]) + part
q += b'\\x00' + struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(4)
try:
    s.sendto(q, ('${gateway}', 53))
    d, _ = s.recvfrom(4096)
    print('DNS ANSWERED rcode=%d' % (d[3] & 15))
except socket.timeout:
    print('DNS TIMEOUT')
except OSError as e:
    print('DNS ERROR %s' % e)
`;
  const b64 = Buffer.from(script).toString('base64');
  const r = await sb.process.executeCommand(`python3 -c "import base64;exec(base64.b64decode('${b64}'))"`, undefined, undefined, 30);
  const line = r.result.split('\n').find((l) => l.startsWith('DNS '));
  assert.ok(line, `dns probe printed nothing (exit ${r.exitCode}): ${r.result}`);
  return line;
}

function hostIpv4Addresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4')
    .map((a) => a!.address);
}

describe('containment: the egress floor', { timeout: 600_000 }, () => {
  before(async () => {
    await buildOutside();
    platform = await startTestPlatform({
      // The API and the runner listen on every host address: a sandbox that reached the host would find them.
      apiHost: '0.0.0.0',
      extraRunnerEnv: { SHOAL_RUNNER_HOST: '0.0.0.0' },
      network: { allowPrivateCidrs: [privateOpen], limitedEgressCidrs: [privateOpen] },
    });
    const sdk = platform.sdk();
    const create = async (params: CreateSandboxFromSnapshotParams) => {
      const sb = await sdk.create(params, { timeout: 120 });
      sandboxes.push(sb);
      return sb;
    };
    open = await create({});
    blockAll = await create({ networkBlockAll: true });
    tenantAllow = await create({ networkAllowList: `169.254.0.0/16,172.29.${octet}.0/29,${internet}/32` });
    // The organization's limited-egress default applies to sandboxes created after it is set.
    const orgId = open.organizationId;
    const res = await fetch(`${platform.apiUrl}/organizations/${orgId}/sandbox-default-limited-network-egress`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sandboxDefaultLimitedNetworkEgress: true }),
    });
    assert.ok(res.ok, `setting limited egress: HTTP ${res.status} ${await res.text()}`);
    limited = await create({});
    const orgs = (await (await fetch(`${platform.apiUrl}/organizations/${orgId}`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()) as {
      sandboxLimitedNetworkEgress: boolean;
    };
    assert.equal(orgs.sandboxLimitedNetworkEgress, true);
    const r = await open.process.executeCommand("awk '/^nameserver/ {print $2}' /etc/resolv.conf");
    gateway = r.result.trim();
    assert.match(gateway, /^10\.\d+\.0\.1$/);
  });

  after(async () => {
    for (const sb of sandboxes) await deleteAndWait(platform, sb).catch(() => undefined);
    await platform?.close();
    await removeOutside();
  });

  test('positive control: the host reaches every address of the test namespace', async () => {
    for (const a of [METADATA, privateDenied, privateOpen, internet]) {
      const body = await (await fetch(`http://${a}/`, { signal: AbortSignal.timeout(5000) })).text();
      assert.equal(body, `${SECRET}@${a}`);
    }
  });

  test('a default sandbox reaches the internet and the operator-opened private address', async () => {
    const r = await reach(open, [
      [internet, 80],
      [privateOpen, 80],
    ]);
    assertReached(r, internet);
    assertReached(r, privateOpen);
  });

  test('a default sandbox reaches neither the metadata address nor a private address the operator did not open', async () => {
    assertUnreachable(await reach(open, [[METADATA, 80], [privateDenied, 80]]), 'default sandbox');
  });

  test("the API, PostgreSQL, registry and runner ports are unreachable on every host address", async () => {
    const ports = [
      Number(new URL(platform.apiUrl).port),
      Number(new URL(platform.runners[0]!.url).port),
      Number(platform.registryAddress.split(':').pop()),
      Number(new URL(platform.databaseUrl).port || 5432),
    ];
    // Positive control: the API and the runner answer on a non-loopback host address from the host itself.
    const lan = hostIpv4Addresses().find((a) => !a.startsWith('127.'))!;
    assert.ok((await fetch(`http://${lan}:${ports[0]}/api/health`)).ok, 'the API listens on every host address');
    const targets = hostIpv4Addresses().flatMap((h) => ports.map((p): [string, number] => [h, p]));
    for (const sb of [open, tenantAllow]) assertUnreachable(await reach(sb, targets), 'sandbox to host');
  });

  test("a tenant's networkAllowList naming link-local or the private range does not open them", async () => {
    const r = await reach(tenantAllow, [
      [METADATA, 80],
      [privateDenied, 80],
      [internet, 80],
    ]);
    // Its allow list works for what the floor permits...
    assertReached(r, internet);
    delete r[`${internet}:80`];
    // ...and not for what the floor denies.
    assertUnreachable(r, 'tenant allow list');
  });

  test('under networkBlockAll the host resolver does not answer; a default sandbox gets answers', async () => {
    assert.match(await dnsQuery(open), /^DNS ANSWERED/);
    assert.equal(await dnsQuery(blockAll), 'DNS TIMEOUT');
    assertUnreachable(await reach(blockAll, [[internet, 80], [privateOpen, 80]]), 'networkBlockAll');
  });

  test("limited egress (the organization's default): only the operator's essential list and DNS", async () => {
    const r = await reach(limited, [
      [privateOpen, 80],
      [internet, 80],
      [METADATA, 80],
    ]);
    assertReached(r, privateOpen);
    delete r[`${privateOpen}:80`];
    assertUnreachable(r, 'limited egress');
    assert.match(await dnsQuery(limited), /^DNS ANSWERED/);
  });

  test('IPv6 is off inside a sandbox: no address but loopback, no unicast route, the host unreachable over it', async () => {
    const r = await open.process.executeCommand('cat /proc/net/if_inet6; echo ROUTES; cat /proc/net/ipv6_route');
    const [addrs, routes] = r.result.split('ROUTES');
    for (const line of addrs!.trim().split('\n').filter(Boolean)) assert.match(line, / lo$/, `only loopback may have an IPv6 address: ${line}`);
    // The kernel keeps its multicast route (ff00::/8) on every IPv6-capable link; nothing else may leave loopback.
    const outside = routes!.trim().split('\n').filter((l) => l && !/ lo$/.test(l) && !l.startsWith('ff000000000000000000000000000000 08 '));
    assert.deepEqual(outside, [], 'no IPv6 route outside loopback');

    // A dual-stack listener of the test on the host: reachable over the bridge's link-local address from the host,
    // never from the sandbox.
    const bridgeIf = Object.entries(networkInterfaces()).find(([, as]) => as?.some((a) => a.address === gateway))?.[0];
    const ll = networkInterfaces()[bridgeIf!]?.find((a) => a.family === 'IPv6' && a.address.startsWith('fe80'))?.address;
    assert.ok(ll, `the bridge ${bridgeIf} has a link-local address`);
    const srv = createServer((c) => c.end(SECRET));
    await new Promise<void>((res) => srv.listen(0, '::', () => res()));
    try {
      const port = (srv.address() as AddressInfo).port;
      const fromHost = await new Promise<string>((res, rej) => {
        const c = createConnection({ host: `${ll}%${bridgeIf}`, port }, () => undefined);
        let d = '';
        c.on('data', (x) => (d += x.toString()));
        c.on('end', () => res(d));
        c.on('error', rej);
      });
      assert.equal(fromHost, SECRET, 'positive control: the host reaches its own listener over IPv6');
      const probe = `
import socket
try:
    c = socket.create_connection(('${ll}%eth0', ${port}), timeout=3)
    print('V6 OK', c.recv(100))
except socket.timeout:
    print('V6 ERR TIMEOUT')
except OSError as e:
    print('V6 ERR', socket.errno.errorcode.get(e.errno, e.errno))
`;
      const b64 = Buffer.from(probe).toString('base64');
      const out = await open.process.executeCommand(`python3 -c "import base64;exec(base64.b64decode('${b64}'))"`, undefined, undefined, 30);
      assert.match(out.result, /^V6 ERR (TIMEOUT|EADDRNOTAVAIL|ENETUNREACH|EHOSTUNREACH|EACCES|EINVAL)/m, out.result);
    } finally {
      srv.close();
    }
  });
});
