import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  api, crunExec, destroyRunner, hostCounts, requireRoot, sandboxBody, startRegistry, startRunner, toolboxExec, waitFor, TOKEN,
  type TestRunner,
} from './helpers.js';
import { DiskPool, isMounted } from '../src/storage/quota.js';

// Real crun, real images, real network: needs root (the e2e tier runs as root).
describe('runner sandbox lifecycle (e2e)', { timeout: 15 * 60_000 }, () => {
  before(requireRoot);
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let t: TestRunner;
  let image: string;
  let env: Record<string, string>;

  before(async () => {
    registry = await startRegistry();
    image = `${registry.host}/shoal/sandbox:0.1.0`;
    env = {
      SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-e2e-'),
      SHOAL_RUNNER_BRIDGE: 'shlcyc',
      SHOAL_RUNNER_SUBNET: '10.231.0.0/16',
      SHOAL_DEFAULT_IMAGE: image,
      // Whatever the host's CPU count: the test of a burst's deferred daemon boots counts on a queue of starts.
      SHOAL_RUNNER_MAX_CONCURRENT_STARTS: '2',
    };
    t = await startRunner(env);
    // First use builds the default image (or reuses the cached root filesystem) and pushes it to the registry.
    const pulled = await api(t, 'POST', '/snapshots/pull', { snapshot: image });
    assert.equal(pulled.status, 200, JSON.stringify(pulled.body));
  });

  after(async () => {
    if (t) await destroyRunner(t);
    if (registry) await registry.stop();
  });

  it('pushed the locally built default image to the registry', async () => {
    const res = await fetch(`http://${registry.host}/v2/shoal/sandbox/tags/list`);
    assert.deepEqual(((await res.json()) as { tags: string[] }).tags, ['0.1.0']);
    assert.deepEqual((await api(t, 'GET', `/snapshots/exists?snapshot=${encodeURIComponent(image)}`)).body, { exists: true });
  });

  it('requires the runner token except on / and /metrics, and answers errors in the envelope', async () => {
    const anon = await fetch(`${t.url}/info`);
    assert.equal(anon.status, 401);
    const body = (await anon.json()) as Record<string, unknown>;
    assert.equal(body.statusCode, 401);
    assert.equal(body.path, '/info');
    const viaDaytonaHeader = await fetch(`${t.url}/info`, { headers: { 'x-daytona-authorization': `Bearer ${TOKEN}` } });
    assert.equal(viaDaytonaHeader.status, 200);
    assert.equal((await fetch(`${t.url}/`)).status, 200);
    const metrics = await fetch(`${t.url}/metrics`);
    assert.match(await metrics.text(), /shoal_runner_snapshots 1/);
    const missing = await api(t, 'GET', '/sandboxes/nope');
    assert.equal(missing.status, 404);
    assert.equal((missing.body as { statusCode: number }).statusCode, 404);
    const bad = await api(t, 'POST', '/sandboxes', { id: 'x' });
    assert.equal(bad.status, 400);
    const badId = await api(t, 'POST', '/sandboxes', sandboxBody('../etc', image));
    assert.equal(badId.status, 400);
    const badCidr = await api(t, 'POST', '/sandboxes', sandboxBody('cidr', image, { networkAllowList: '1.2.3.4/33' }));
    assert.equal(badCidr.status, 400);
    const pullMissing = await api(t, 'POST', '/snapshots/pull', { snapshot: `${registry.host}/nothing/here:1` });
    assert.equal(pullMissing.status, 400);
    const createMissing = await api(t, 'POST', '/sandboxes', sandboxBody('no-image', `${registry.host}/nothing/here:1`));
    assert.equal(createMissing.status, 400);
    assert.deepEqual(((await api(t, 'GET', '/sandboxes/no-image')).body as { state: string }).state, 'error');
    assert.equal((await api(t, 'DELETE', '/sandboxes/no-image')).status, 200);
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('bad-user', image, { osUser: 'Robert; rm' }))).status, 400);
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('huge', image, { storageQuota: 100000 }))).status, 400);
  });

  it('creates a started sandbox whose toolbox answers through the proxy, and reports metrics', async () => {
    const created = await api(t, 'POST', '/sandboxes', sandboxBody('life-1', image, { env: { GREETING: 'hi' } }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body, 'life-1');
    assert.deepEqual((await api(t, 'GET', '/sandboxes/life-1')).body, { state: 'started', backupState: 'NONE' });
    const v = await api(t, 'GET', '/sandboxes/life-1/toolbox/version');
    assert.equal(v.status, 200);
    const out = await toolboxExec(t, 'life-1', 'sh -c "echo $GREETING; whoami; hostname; env | grep -c NODE_EXTRA_CA_CERTS || true"');
    assert.equal(out.exitCode, 0);
    assert.deepEqual(out.result.trim().split('\n'), ['hi', 'daytona', 'life-1', '0']);
    // The daemon ran from the code cache the build made on the host: the injected Node accepted it.
    const log = await t.runner.sandboxes.toolboxLog('life-1');
    assert.match(log, /listening|started|request completed/, log.slice(0, 500));
    assert.doesNotMatch(log, /code cache not used/);
    // Idempotent create of a started sandbox.
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('life-1', image))).status, 201);
    const info = (await api(t, 'GET', '/info')).body as { metrics: Record<string, number> };
    assert.equal(info.metrics.currentAllocatedCpu, 1);
    assert.equal(info.metrics.currentAllocatedDiskGiB, 2);
    assert.equal(info.metrics.currentSnapshotCount, 1);
  });

  it('variables Node, OpenSSL or the loader read at a start reach user processes but not the toolbox; its own settings are the runner\'s', async () => {
    // Each of these alone stops a Node process from starting; a user's programs must still get them as given.
    const held = { NODE_OPTIONS: '--require /nonexistent/hook.js', OPENSSL_CONF: '/etc/passwd', LD_PRELOAD: '/nonexistent/lib.so' };
    // And the daemon's own settings are the runner's: only the session idle time may come from a sandbox's env.
    const own = {
      SHOAL_TOOLBOX_SOCKET: '/tmp/user-chosen.sock',
      SHOAL_ENTRYPOINT: '["sh","-c","touch /tmp/entrypoint-ran"]',
      SHOAL_TOOLBOX_SESSION_IDLE_SECONDS: '600',
    };
    const created = await api(t, 'POST', '/sandboxes', sandboxBody('held-env', image, { env: { ...held, ...own, PLAIN: 'kept' } }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    try {
      const out = await toolboxExec(t, 'held-env', 'sh -c \'echo "$NODE_OPTIONS|$OPENSSL_CONF|$LD_PRELOAD|$PLAIN|${SHOAL_HELD_ENV:-unset}"\'');
      assert.equal(out.exitCode, 0, out.result);
      // The loader warns about the missing preload on stderr of every process; the line asked for is the last one.
      assert.equal(out.result.trim().split('\n').at(-1), `${held.NODE_OPTIONS}|${held.OPENSSL_CONF}|${held.LD_PRELOAD}|kept|unset`);
      // The daemon's own start had none of them. Read from tini (pid 1), which hands its environment to the daemon
      // unchanged: the daemon itself is not readable there once it dropped to the sandbox user.
      const environ = (await crunExec(t, 'held-env', 'cat /proc/1/environ')).stdout.split('\0');
      assert.ok(environ.some((kv) => kv.startsWith('SHOAL_HELD_ENV=')), `the daemon got the held values under its own name: ${JSON.stringify(environ).slice(0, 400)}`);
      for (const name of Object.keys(held)) assert.ok(!environ.some((kv) => kv.startsWith(`${name}=`)), `${name} reached the daemon's start`);
      assert.ok(!environ.some((kv) => kv.startsWith('SHOAL_TOOLBOX_SOCKET=') || kv.startsWith('SHOAL_ENTRYPOINT=')), JSON.stringify(environ));
      assert.ok(environ.includes('SHOAL_TOOLBOX_SESSION_IDLE_SECONDS=600'));
      const left = await toolboxExec(t, 'held-env', 'sh -c "ls /tmp/user-chosen.sock /tmp/entrypoint-ran 2>&1 | grep -c \'No such file\'"');
      assert.equal(left.result.trim().split('\n').at(-1), '2', left.result);
      assert.deepEqual((await api(t, 'GET', '/sandboxes/held-env')).body, { state: 'started', backupState: 'NONE' });
    } finally {
      assert.equal((await api(t, 'DELETE', '/sandboxes/held-env')).status, 200);
    }
  });

  it('a create answers once the container runs; a toolbox that then never answers puts the sandbox in error', async () => {
    // A second runner whose toolbox bundle exits at once: the create cannot know that before it answers.
    const toolboxDir = await mkdtemp('/var/tmp/shoal-broken-toolbox-');
    await writeFile(join(toolboxDir, 'toolbox.cjs'), "process.stderr.write('broken toolbox for a test\\n'); process.exit(3);\n", { mode: 0o644 });
    // The sandbox's own (unprivileged) root reads it through the bind mount, as it reads the real bundle.
    await chmod(toolboxDir, 0o755);
    const broken = await startRunner({
      SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-e2e-'),
      SHOAL_RUNNER_BRIDGE: 'shlbrk',
      SHOAL_RUNNER_SUBNET: '10.237.0.0/16',
      SHOAL_DEFAULT_IMAGE: image,
      SHOAL_TOOLBOX_DIR: toolboxDir,
    });
    try {
      const created = await api(broken, 'POST', '/sandboxes', sandboxBody('broken-1', image));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const failed = await waitFor(
        async () => {
          const info = (await api(broken, 'GET', '/sandboxes/broken-1')).body as { state: string; errorReason?: string };
          return info.state === 'error' ? info : undefined;
        },
        30_000,
        'the sandbox to go to error',
      );
      assert.match(failed.errorReason ?? '', /toolbox exited before answering.*broken toolbox for a test/s);
      // What the start made is undone: no container, netns, cgroup or root filesystem mount stays.
      const meta = broken.runner.sandboxes.all().find((s) => s.meta.id === 'broken-1')!.meta;
      assert.equal(await broken.runner.backend.state('broken-1'), undefined);
      // The netns goes in the background (tens of ms of kernel time).
      await waitFor(async () => ((await broken.runner.network.exists(meta.index)) ? undefined : true), 10_000, 'the netns to go');
      assert.doesNotMatch(await readFile('/proc/self/mounts', 'utf8'), /broken-1\/bundle\/rootfs/);
      assert.equal((await api(broken, 'DELETE', '/sandboxes/broken-1')).status, 200);
    } finally {
      await destroyRunner(broken);
      await rm(toolboxDir, { recursive: true, force: true });
    }
  });

  it('a create takes a disk and a network namespace made ahead, and neither had a sandbox before', async () => {
    const prefix = `${t.cfg.bridge}-`;
    const held = () => new Set(t.runner.sandboxes.all().map((l) => `${prefix}${l.meta.index}`));
    const spareNets = async () => (await readdir('/run/netns')).filter((n) => n.startsWith(prefix) && !held().has(n));
    const spareDisks = async () => (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(`${t.cfg.dataDir}/pool/.spare-2-`)).length;
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('ahead-1', image))).status, 201);
    // Made once no start runs or waits: after ahead-1's toolbox answered.
    const nets = await waitFor(async () => {
      const n = await spareNets();
      return n.length >= 2 && (await spareDisks()) >= 2 ? n : undefined;
    }, 30_000, 'spare network namespaces and disks');
    const inodes = new Map(await Promise.all(nets.map(async (n) => [n, (await stat(join('/run/netns', n))).ino] as const)));
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('ahead-2', image))).status, 201);
    const index = t.runner.sandboxes.all().find((l) => l.meta.id === 'ahead-2')!.meta.index;
    const name = `${prefix}${index}`;
    assert.ok(inodes.has(name), `${name} is not one of the spares ${nets.join(', ')}`);
    assert.equal((await stat(join('/run/netns', name))).ino, inodes.get(name), 'the spare namespace was set up again');
    const out = await toolboxExec(t, 'ahead-2', 'sh -c "echo ok > /tmp/f && cat /tmp/f"');
    assert.deepEqual([out.exitCode, out.result.trim()], [0, 'ok']);
    for (const id of ['ahead-1', 'ahead-2']) assert.equal((await api(t, 'DELETE', `/sandboxes/${id}`)).status, 200);
  });

  it('the spares a create used up are made again in a pause of requests to sandboxes, not beside one', async () => {
    const prefix = `${t.cfg.bridge}-`;
    const held = () => new Set(t.runner.sandboxes.all().map((l) => `${prefix}${l.meta.index}`));
    const spareNets = async () => (await readdir('/run/netns')).filter((n) => n.startsWith(prefix) && !held().has(n)).length;
    const spareDisks = async () => (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(`${t.cfg.dataDir}/pool/.spare-2-`)).length;
    const full = async () => ((await spareNets()) >= 2 && (await spareDisks()) >= 2 ? true : undefined);
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('pause-1', image))).status, 201);
    await waitFor(full, 30_000, 'spare network namespaces and disks');
    // A request through the runner's proxy, in flight for the next 2 s (the gate waits at most 2 s for a pause).
    let inFlight = true;
    const long = toolboxExec(t, 'pause-1', 'sleep 2').finally(() => (inFlight = false));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('pause-2', image))).status, 201);
    assert.equal((await api(t, 'GET', '/sandboxes/pause-2/toolbox/version')).status, 200);
    // Without the gate the spares are made again here, right after pause-2's daemon answered.
    await new Promise((r) => setTimeout(r, 300));
    // Namespaces only: the disk pause-2 took stays mounted under its spare's name until upkeep, gated too, unmounts it.
    const nets = await spareNets();
    assert.ok(inFlight, 'the long request ended before the check: this machine is too slow for the test to say anything');
    assert.ok(nets < 2, `a spare network namespace was made while a request was in flight (${nets} spare)`);
    assert.equal((await long).exitCode, 0);
    await waitFor(full, 30_000, 'the spares to be made again after the request');
    for (const id of ['pause-1', 'pause-2']) assert.equal((await api(t, 'DELETE', `/sandboxes/${id}`)).status, 200);
  });

  it('proxies HTTP and WebSocket to other ports, streaming large bodies both ways', { timeout: 120_000 }, async () => {
    // A tiny server inside the sandbox: echoes POST bodies (hashing them) and answers a WebSocket handshake.
    const server = String.raw`
import base64, hashlib, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_POST(self):
        n = int(self.headers['content-length']); h = hashlib.sha256(); left = n
        while left > 0:
            c = self.rfile.read(min(left, 1 << 20)); h.update(c); left -= len(c)
        body = ('%d %s' % (n, h.hexdigest())).encode()
        self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        if self.headers.get('upgrade', '').lower() == 'websocket':
            acc = base64.b64encode(hashlib.sha1((self.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
            self.send_response(101); self.send_header('upgrade', 'websocket'); self.send_header('connection', 'Upgrade')
            self.send_header('sec-websocket-accept', acc); self.send_header('sec-websocket-protocol', self.headers['sec-websocket-protocol'])
            self.end_headers(); self.wfile.write(bytes([0x81, 5]) + b'hello'); self.wfile.flush(); self.rfile.read(2); return
        body = self.path.encode()
        self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever()
`;
    await crunExec(t, 'life-1', `cat > /tmp/srv.py <<'PYEOF'\n${server}\nPYEOF`);
    await crunExec(t, 'life-1', 'python3 /tmp/srv.py >/dev/null 2>&1', { detach: true });
    await waitFor(async () => ((await api(t, 'GET', '/sandboxes/life-1/ports/8080/ready')).status === 200 ? true : undefined), 15_000, 'server');
    const get = await api(t, 'GET', '/sandboxes/life-1/ports/8080/a/b?c=d');
    assert.equal(get.body, '/a/b?c=d');

    const size = 64 * 1024 * 1024;
    const payload = Buffer.alloc(size, 7);
    const { createHash } = await import('node:crypto');
    const res = await fetch(`${t.url}/sandboxes/life-1/ports/8080/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
      body: payload,
    });
    assert.equal(await res.text(), `${size} ${createHash('sha256').update(payload).digest('hex')}`);

    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/sandboxes/life-1/ports/8080/ws`, ['shoal-test'], {
      headers: { 'x-daytona-authorization': `Bearer ${TOKEN}` },
    });
    const msg = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    assert.equal(msg, 'hello');
    assert.equal(ws.protocol, 'shoal-test');
    ws.terminate();

    const noAuth = new WebSocket(`${t.url.replace('http', 'ws')}/sandboxes/life-1/ports/8080/ws`);
    const status = await new Promise<number>((resolve) => noAuth.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)));
    assert.equal(status, 401);
  });

  it('never forwards the runner token into the sandbox', async () => {
    await crunExec(t, 'life-1', String.raw`cat > /tmp/hdr.py <<'PYEOF'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(dict(self.headers)).encode()
        self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(('0.0.0.0', 8081), H).serve_forever()
PYEOF`);
    await crunExec(t, 'life-1', 'python3 /tmp/hdr.py >/dev/null 2>&1', { detach: true });
    const seen = await waitFor(
      async () => {
        const r = await fetch(`${t.url}/sandboxes/life-1/ports/8081/`, {
          headers: { authorization: `Bearer ${TOKEN}`, 'x-daytona-authorization': `Bearer ${TOKEN}`, 'x-keep': 'yes' },
        }).catch(() => undefined);
        return r?.status === 200 ? r.text() : undefined;
      },
      15_000,
      'header server',
    );
    assert.match(seen, /x-keep/i);
    assert.doesNotMatch(seen, new RegExp(TOKEN));
  });

  it('keeps files across stop/start and runner restarts; files written as root belong to an unprivileged uid on the host', async () => {
    assert.equal((await crunExec(t, 'life-1', 'echo persisted > /root/marker')).code, 0);
    const upperFile = join(t.cfg.dataDir, 'pool', 'life-1', 'upper', 'root', 'marker');
    const st = await stat(upperFile);
    // Its own range from the runner's pool, not the legacy shared one.
    const range = t.runner.sandboxes.all().find((s) => s.meta.id === 'life-1')!.meta.uidBase!;
    assert.equal(st.uid, range);
    assert.ok(range >= t.cfg.uidPool.base && range !== t.cfg.uidBase, `range ${range}`);

    assert.equal((await api(t, 'POST', '/sandboxes/life-1/stop')).status, 200);
    assert.equal(((await api(t, 'GET', '/sandboxes/life-1')).body as { state: string }).state, 'stopped');
    assert.equal((await api(t, 'GET', '/sandboxes/life-1/toolbox/version')).status, 400);
    assert.equal((await api(t, 'POST', '/sandboxes/life-1/start')).status, 200);
    assert.equal((await crunExec(t, 'life-1', 'cat /root/marker')).stdout.trim(), 'persisted');

    // Runner restart with the sandbox running: re-adopted, still started, same files.
    await t.stop();
    t = await startRunner(env);
    assert.equal(((await api(t, 'GET', '/sandboxes/life-1')).body as { state: string }).state, 'started');
    assert.equal((await api(t, 'GET', '/sandboxes/life-1/toolbox/version')).status, 200);
    assert.equal((await toolboxExec(t, 'life-1', 'cat /root/marker')).exitCode, 1, 'the sandbox user cannot read root-only /root');
    assert.equal((await crunExec(t, 'life-1', 'cat /root/marker')).stdout.trim(), 'persisted');

    // Runner restart with the sandbox stopped: it can be started again.
    assert.equal((await api(t, 'POST', '/sandboxes/life-1/stop')).status, 200);
    await t.stop();
    // Meanwhile a create the runner was killed in left a mounted disk and no metadata: the restart removes it.
    const killedCreate = new DiskPool(t.cfg.dataDir);
    await killedCreate.init('auto');
    await killedCreate.prepare('ghost-1', 1);
    await killedCreate.mount('ghost-1');
    assert.equal(await isMounted(killedCreate.dir('ghost-1')), true);
    t = await startRunner(env);
    assert.equal(await isMounted(killedCreate.dir('ghost-1')), false, 'the disk of a create never recorded is unmounted');
    assert.deepEqual((await readdir(join(t.cfg.dataDir, 'pool'))).filter((n) => n.startsWith('ghost-1')), []);
    assert.equal(((await api(t, 'GET', '/sandboxes/life-1')).body as { state: string }).state, 'stopped');
    assert.equal((await api(t, 'POST', '/sandboxes/life-1/start')).status, 200);
    assert.equal((await crunExec(t, 'life-1', 'cat /root/marker')).stdout.trim(), 'persisted');
  });

  it('resizes a running sandbox through its cgroup', async () => {
    assert.equal((await api(t, 'POST', '/sandboxes/life-1/resize', { cpu: 2, memory: 2 })).status, 200);
    const quota = await import('node:fs/promises').then((fs) => fs.readFile(`/sys/fs/cgroup/cpu/shoal_${t.cfg.bridge}/life-1/cpu.cfs_quota_us`, 'utf8'));
    assert.equal(quota.trim(), '200000');
    const mem = await import('node:fs/promises').then((fs) => fs.readFile(`/sys/fs/cgroup/memory/shoal_${t.cfg.bridge}/life-1/memory.limit_in_bytes`, 'utf8'));
    assert.equal(Number(mem.trim()), 2 * 1024 ** 3);
  });

  it('a claim merges env into every later process and applies the policy; its control path is never proxied', async () => {
    const id = 'claim-1';
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody(id, image))).status, 201);
    try {
      const claim = {
        userId: 'org-claimer',
        env: { CLAIMED: 'yes please', HOME: '/evil', SHOAL_EXEC_HELPER: '/evil', 'bad-name': 'x', PATH: '/opt/claimed:/usr/bin:/bin' },
        networkBlockAll: true,
        metadata: { organizationId: 'org-claimer' },
      };
      const applied = await api(t, 'POST', `/sandboxes/${id}/claim`, claim);
      assert.equal(applied.status, 200, JSON.stringify(applied.body));
      const out = await toolboxExec(t, id, 'sh -c \'echo "$CLAIMED|$HOME|$PATH|${SHOAL_EXEC_HELPER:-unset}"; env | grep -c "^bad-name=" || true\'');
      assert.deepEqual(out.result.trim().split('\n'), ['yes please|/home/daytona|/opt/claimed:/usr/bin:/bin|unset', '0']);
      assert.deepEqual((await api(t, 'GET', `/sandboxes/${id}/network-settings`)).body, { networkBlockAll: true, networkAllowList: '' });
      const meta = t.runner.sandboxes.all().find((s) => s.meta.id === id)!.meta;
      assert.equal(meta.userId, 'org-claimer');
      assert.equal(meta.env.CLAIMED, 'yes please');
      // Kept for later starts: the container's own environment has it after a stop/start.
      assert.equal((await api(t, 'POST', `/sandboxes/${id}/stop`)).status, 200);
      assert.equal((await api(t, 'POST', `/sandboxes/${id}/start`)).status, 200);
      assert.equal((await toolboxExec(t, id, 'sh -c \'echo "$CLAIMED"\'')).result.trim(), 'yes please');
      // Proxied traffic never reaches the control path, however it is spelled.
      for (const path of ['/.shoal/env', '/x/../.shoal/env', '/%2e%2E/.shoal/env', '//.shoal/env', '/.SHOAL/env', '/files/%2e%2e/.shoal/env']) {
        const res = await api(t, 'POST', `/sandboxes/${id}/toolbox${path}`, { env: { CLAIMED: 'overwritten' } });
        assert.notEqual(res.status, 200, `${path} reached the toolbox's control path`);
      }
      assert.equal((await toolboxExec(t, id, 'sh -c \'echo "$CLAIMED"\'')).result.trim(), 'yes please');
      // Only a started sandbox can be claimed.
      assert.equal((await api(t, 'POST', `/sandboxes/${id}/stop`)).status, 200);
      assert.equal((await api(t, 'POST', `/sandboxes/${id}/claim`, claim)).status, 409);
      assert.equal((await api(t, 'POST', '/sandboxes/nope/claim', claim)).status, 404);
    } finally {
      await api(t, 'POST', `/sandboxes/${id}/destroy`);
      await api(t, 'DELETE', `/sandboxes/${id}`);
    }
  });

  it('starts sandboxes concurrently with every one in the egress policy set', async () => {
    const ids = ['conc-1', 'conc-2', 'conc-3', 'conc-4'];
    const results = await Promise.all(ids.map((id) => api(t, 'POST', '/sandboxes', sandboxBody(id, image))));
    for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
    const { exec } = await import('../src/util/exec.js');
    const set = JSON.parse((await exec('nft', ['-j', 'list', 'set', 'inet', `shoal_${t.cfg.bridge}`, 'open'])).stdout) as { nftables: { set?: { elem?: string[] } }[] };
    const elems = set.nftables.flatMap((o) => o.set?.elem ?? []);
    for (const id of ids) {
      const meta = t.runner.sandboxes.all().find((s) => s.meta.id === id)!.meta;
      assert.ok(elems.includes(t.runner.network.ipFor(meta.index)), `${id} missing from the open set`);
    }
    await Promise.all(ids.map((id) => api(t, 'DELETE', `/sandboxes/${id}`)));
    for (const id of ids) assert.equal((await api(t, 'GET', `/sandboxes/${id}`)).status, 404);
  });

  it("in a burst, a create answers before its daemon boots; the daemon boots on its first request, or once no start waits", async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `burst-${i + 1}`);
    const results = await Promise.all(ids.map((id) => api(t, 'POST', '/sandboxes', sandboxBody(id, image))));
    for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
    const programs = async (id: string) => {
      const procs = await readFile(`/sys/fs/cgroup/pids/shoal_${t.cfg.bridge}/${id}/cgroup.procs`, 'utf8');
      const names = await Promise.all(procs.split('\n').filter(Boolean).map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').then((c) => c.trim(), () => '')));
      return names.filter(Boolean);
    };
    // Two starts at a time, eight asked at once: the daemons of the creates answered last cannot all be up yet. The
    // container of each runs (tini, and shoal-exec waiting for a connection to its daemon's socket), not its Node.js.
    const sleeping: string[] = [];
    for (const id of ids) {
      assert.equal(((await api(t, 'GET', `/sandboxes/${id}`)).body as { state: string }).state, 'started');
      const names = await programs(id);
      assert.ok(names.includes('tini'), `${id}: ${names.join(',')}`);
      if (!names.includes('node')) sleeping.push(id);
    }
    assert.ok(sleeping.length > 0, 'every daemon of the burst had booted by the time the last create answered');
    // A request to a sandbox whose daemon has not booted boots it and is answered.
    const first = sleeping.at(-1)!;
    const out = await toolboxExec(t, first, 'echo woken');
    assert.equal(out.exitCode, 0);
    assert.equal(out.result.trim(), 'woken');
    // The others boot without any request once the burst's starts are done.
    await waitFor(
      async () => ((await Promise.all(ids.map(async (id) => (await programs(id)).includes('node')))).every(Boolean) ? true : undefined),
      60_000,
      "every daemon of the burst to boot",
    );
    for (const id of ids) assert.equal((await api(t, 'GET', `/sandboxes/${id}/toolbox/version`)).status, 200);
    await Promise.all(ids.map((id) => api(t, 'DELETE', `/sandboxes/${id}`)));
  });

  it('a container the runtime lost track of is still ended by destroy: no process, cgroup or loop device stays', async () => {
    const { readFile, rm, access } = await import('node:fs/promises');
    const { exec } = await import('../src/util/exec.js');
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('lost-1', image))).status, 201);
    const pid = (await t.runner.backend.state('lost-1'))?.pid ?? 0;
    assert.ok(pid > 0);
    // What a runtime killed between fork and writing its state leaves: processes in the sandbox's cgroup, no state.
    await rm(join(t.cfg.dataDir, 'oci', 'lost-1'), { recursive: true, force: true });
    assert.equal((await api(t, 'POST', '/sandboxes/lost-1/destroy')).status, 200);
    assert.equal((await api(t, 'DELETE', '/sandboxes/lost-1')).status, 200);
    const alive = await readFile(`/proc/${pid}/stat`, 'utf8').then((s) => !/ Z /.test(s.slice(s.lastIndexOf(')'))), () => false);
    assert.equal(alive, false, `the sandbox's init (pid ${pid}) still runs`);
    for (const ctrl of ['memory', 'pids', 'cpu']) {
      await assert.rejects(access(`/sys/fs/cgroup/${ctrl}/shoal_${t.cfg.bridge}/lost-1`), `${ctrl} cgroup of lost-1 left`);
    }
    const loops = (await exec('losetup', ['-a'])).stdout.split('\n').filter((l) => l.includes('lost-1'));
    assert.deepEqual(loops, []);
  });

  it('destroy then remove leaves nothing; 30 create/destroy cycles leave host resource counts unchanged', async () => {
    assert.equal((await api(t, 'POST', '/sandboxes/life-1/destroy')).status, 200);
    assert.equal(((await api(t, 'GET', '/sandboxes/life-1')).body as { state: string }).state, 'destroyed');
    assert.equal((await api(t, 'DELETE', '/sandboxes/life-1')).status, 200);
    assert.equal((await api(t, 'GET', '/sandboxes/life-1')).status, 404);

    const settle = async (want?: Record<string, number>) =>
      waitFor(
        async () => {
          const a = await hostCounts(t.cfg.bridge);
          await new Promise((r) => setTimeout(r, 300));
          const b = await hostCounts(t.cfg.bridge);
          if (JSON.stringify(a) !== JSON.stringify(b)) return undefined;
          if (want && JSON.stringify(b) !== JSON.stringify(want)) return undefined;
          return b;
        },
        want ? 20_000 : 10_000,
        'host resource counts to settle',
      ).catch(async () => hostCounts(t.cfg.bridge));
    const before = await settle();
    for (let i = 0; i < 30; i++) {
      const id = `cycle-${i}`;
      const c = await api(t, 'POST', '/sandboxes', sandboxBody(id, image, i % 2 ? { networkAllowList: '192.0.2.0/24' } : {}));
      assert.equal(c.status, 201, JSON.stringify(c.body));
      assert.equal((await api(t, 'POST', `/sandboxes/${id}/destroy`)).status, 200);
      assert.equal((await api(t, 'DELETE', `/sandboxes/${id}`)).status, 200);
    }
    const afterCounts = await settle(before);
    assert.deepEqual(afterCounts, before);
  });
});
