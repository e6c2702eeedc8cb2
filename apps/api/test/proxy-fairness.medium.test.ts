// Proxied user traffic cannot stall the control plane (issue 10, scope 6): per-organization caps with a 429 in the
// Daytona envelope, timeouts on proxied HTTP and WebSockets, connections of its own, and health checks that never hold
// up the reconcile tick. A stub runner on a real socket holds streams open for as long as a test wants.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { Socket, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Client, request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { runnerCallToken, runnerTokenHash } from '@shoal/contracts';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';

const TOKEN = 'proxy-fairness-runner-token-1';

/**
 * A runner that speaks just enough of the runner API to create sandboxes, and whose toolbox paths misbehave on
 * demand: `/stream` sends one chunk and then a beat every 200 ms until closed, `/silent-headers` never answers, `/silent-body` goes quiet after
 * one chunk, `/ticks?n=&every=` talks slowly and ends. It counts what is open so tests see what reached it.
 */
class StreamRunner {
  readonly calls: string[] = [];
  openStreams = 0;
  closedStreams = 0;
  pendingInfo = 0;
  hangInfo = false;
  /** pendingInfo at the moment each POST .../stop arrived. */
  readonly stopsSeenWithPendingInfo: number[] = [];
  private readonly held = new Set<http.ServerResponse>();
  private readonly heldSockets = new Set<import('node:stream').Duplex>();
  private server!: http.Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  readonly states = new Map<string, string>();
  url = '';

  private get callToken(): string {
    return `Bearer ${runnerCallToken(TEST_PLATFORM_SECRET, runnerTokenHash(TOKEN))}`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('upgrade', (req, socket, head) => {
      if (req.headers['x-daytona-authorization'] !== this.callToken) return socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      if ((req.url ?? '').includes('/silent-upgrade')) {
        this.heldSockets.add(socket);
        socket.on('close', () => this.heldSockets.delete(socket));
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.openStreams++;
        ws.on('close', () => {
          this.openStreams--;
          this.closedStreams++;
        });
        ws.send('connected');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    for (const s of this.heldSockets) s.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    this.calls.push(`${req.method} ${path}`);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers['x-daytona-authorization'] !== this.callToken && req.headers.authorization !== this.callToken) return json(401, { statusCode: 401, message: 'Unauthorized' });
    req.resume();
    if (path === '/info') {
      if (this.hangInfo) {
        this.pendingInfo++;
        req.socket.once('close', () => this.pendingInfo--);
        return; // never answers
      }
      return json(200, { version: 'stream-runner', metrics: {} });
    }
    if (path === '/snapshots/exists') return json(200, { exists: true });
    if (req.method === 'POST' && path === '/sandboxes') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.states.set((JSON.parse(body) as { id: string }).id, 'started');
        json(201, 'ok');
      });
      return;
    }
    let m = /^\/sandboxes\/([^/]+)\/(start|stop|destroy)$/.exec(path);
    if (req.method === 'POST' && m) {
      if (m[2] === 'stop') this.stopsSeenWithPendingInfo.push(this.pendingInfo);
      this.states.set(m[1]!, { start: 'started', stop: 'stopped', destroy: 'destroyed' }[m[2]!]!);
      return json(200, 'ok');
    }
    m = /^\/sandboxes\/([^/]+)$/.exec(path);
    if (m && req.method === 'DELETE') return json(200, 'ok');
    if (m && req.method === 'GET') return this.states.has(m[1]!) ? json(200, { state: this.states.get(m[1]!), backupState: 'NONE' }) : json(404, { statusCode: 404, message: 'not found' });
    m = /^\/sandboxes\/[^/]+\/toolbox(\/.*)?$/.exec(path);
    if (m) {
      const rest = m[1] ?? '/';
      if (rest === '/stream' || rest === '/silent-body') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        // A live stream (a log follow of a command that prints) talks now and then; the silent one never again.
        const beat = rest === '/stream' ? setInterval(() => res.write('.'), 200) : undefined;
        this.openStreams++;
        this.held.add(res);
        res.on('close', () => {
          clearInterval(beat);
          this.held.delete(res);
          this.openStreams--;
          this.closedStreams++;
        });
        return;
      }
      if (rest === '/silent-headers') {
        this.held.add(res);
        res.on('close', () => {
          this.held.delete(res);
          this.closedStreams++;
        });
        return;
      }
      if (rest === '/ticks') {
        const n = Number(url.searchParams.get('n'));
        const every = Number(url.searchParams.get('every'));
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const t = setInterval(() => {
          res.write(`tick ${i++}\n`);
          if (i === n) {
            clearInterval(t);
            res.end();
          }
        }, every);
        res.on('close', () => clearInterval(t));
        return;
      }
      return json(200, { ok: true, path: rest });
    }
    json(404, { statusCode: 404, message: `no route ${path}` });
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

interface Env {
  db: TestDatabase;
  runner: StreamRunner;
  app: ShoalApp;
  base: string;
}

async function setUp(env: Record<string, string>): Promise<Env> {
  const db = await createTestDatabase();
  const runner = await new StreamRunner().start();
  const app = await buildTestApp(db.url, { env });
  await app.listen({ host: '127.0.0.1', port: 0 });
  await registerRunner(app, runner.url, TOKEN);
  return { db, runner, app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

async function tearDown(e: Env | undefined): Promise<void> {
  await e?.app.close();
  await e?.runner.stop();
  await e?.db.drop();
}

async function createSandbox(e: Env, auth: { authorization: string }): Promise<{ id: string; state: string }> {
  const res = await e.app.inject({ method: 'POST', url: '/api/sandbox', headers: auth, payload: {} });
  assert.ok(res.statusCode < 300, res.body);
  return res.json() as { id: string; state: string };
}

/** Opens a proxied stream and waits for its first chunk; returns the response so the test can close it. */
async function openStream(e: Env, sandboxId: string, auth: { authorization: string }) {
  // Its own connection, as a separate client would have: nothing in this process can end it but the test.
  const client = new Client(e.base);
  const res = await request(`${e.base}/api/toolbox/${sandboxId}/toolbox/stream`, { headers: auth, dispatcher: client });
  res.body.once('close', () => void client.destroy().catch(() => {}));
  if (res.statusCode === 200) {
    const first = await new Promise<string>((resolve, reject) => {
      res.body.once('data', (d: Buffer) => resolve(d.toString()));
      res.body.once('error', reject);
    });
    assert.ok(first.startsWith('first\n'), first);
    res.body.on('data', () => {});
  }
  return res;
}

function assertEnvelope429(status: number, body: unknown, path: string): void {
  assert.equal(status, 429);
  const env = body as { statusCode: number; error: string; message: string; path: string; timestamp: string };
  assert.equal(env.statusCode, 429);
  assert.equal(env.error, 'Too Many Requests');
  assert.match(env.message, /Too many open toolbox\/preview streams for this organization \(limit 3\)/);
  assert.equal(env.path.split('?')[0], path);
  assert.ok(!Number.isNaN(Date.parse(env.timestamp)));
}

function openWs(e: Env, path: string, auth: { authorization: string }): Promise<{ ws: WebSocket; first: string } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${e.base.replace('http', 'ws')}${path}`, { headers: auth });
    ws.once('message', (d) => resolve({ ws, first: String(d) }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe('per-organization cap on proxied streams', () => {
  let e: Env;
  let tenantB: Awaited<ReturnType<typeof createTenant>>;
  let sbA: string;
  let sbB: string;
  before(async () => {
    e = await setUp({
      SHOAL_PROXY_MAX_STREAMS_PER_ORG: '3',
      SHOAL_PROXY_HEADERS_TIMEOUT_MS: '1000',
      SHOAL_PROXY_IDLE_TIMEOUT_MS: '1000',
      SHOAL_PROXY_WS_IDLE_TIMEOUT_MS: '1500',
      SHOAL_PROXY_CONNECT_TIMEOUT_MS: '500',
    });
    tenantB = await createTenant(e.app, 'fairness-b');
    sbA = (await createSandbox(e, adminAuth)).id;
    sbB = (await createSandbox(e, tenantB.auth)).id;
  });
  after(() => tearDown(e));

  test('the stream over the cap gets a clear 429 (HTTP and WebSocket); other organizations and freed slots are unaffected', { timeout: 90_000 }, async () => {
    const s1 = await openStream(e, sbA, adminAuth);
    const s2 = await openStream(e, sbA, adminAuth);
    assert.equal(s1.statusCode, 200);
    assert.equal(s2.statusCode, 200);
    const w1 = await openWs(e, `/api/toolbox/${sbA}/toolbox/process/pty/p1/connect`, adminAuth);
    assert.ok('ws' in w1, 'the third stream (a WebSocket) is accepted');
    assert.equal(w1.first, 'connected');
    await until('three streams at the runner', () => e.runner.openStreams === 3);

    const path = `/api/toolbox/${sbA}/toolbox/stream`;
    const refused = await request(`${e.base}${path}`, { headers: adminAuth });
    assert.equal(refused.statusCode, 429, 'a fourth stream is refused');
    assertEnvelope429(refused.statusCode, await refused.body.json(), path);
    const short = await request(`${e.base}/api/toolbox/${sbA}/toolbox/version`, { headers: adminAuth });
    assert.equal(short.statusCode, 429, 'every proxied request counts, short ones too');
    assertEnvelope429(short.statusCode, await short.body.json(), `/api/toolbox/${sbA}/toolbox/version`);
    const wsPath = `/api/toolbox/${sbA}/toolbox/process/session/s/command/c/logs?follow=true`;
    const wsRefused = await openWs(e, wsPath, adminAuth);
    assert.ok('status' in wsRefused, 'the WebSocket over the cap is refused');
    assertEnvelope429(wsRefused.status, JSON.parse(wsRefused.body), wsPath.split('?')[0]!);
    // Through the preview proxy (the SDK's path for log follow and PTY) the same organization's cap applies.
    const viaPreview = await openWs(e, `/preview/2280-${sbA}/process/pty/p2/connect`, adminAuth);
    assert.ok('status' in viaPreview && viaPreview.status === 429, 'the preview path counts against the same cap');
    assert.equal(e.runner.openStreams, 3, 'refused requests never reach the runner');

    const other = await openStream(e, sbB, tenantB.auth);
    assert.equal(other.statusCode, 200, 'another organization is not limited by the first one\'s streams');
    other.body.destroy();

    s1.body.destroy();
    await until('a freed slot', async () => {
      const again = await request(`${e.base}/api/toolbox/${sbA}/toolbox/version`, { headers: adminAuth });
      await again.body.dump();
      return again.statusCode === 200;
    });
    w1.ws.close();
    s2.body.destroy();
    await until('the runner saw every stream close', () => e.runner.openStreams === 0);
  });

  test('a runner that never answers: 504 after the headers timeout, and the request is gone from the runner', { timeout: 90_000 }, async () => {
    const closedBefore = e.runner.closedStreams;
    const path = `/api/toolbox/${sbA}/toolbox/silent-headers`;
    const res = await request(`${e.base}${path}`, { headers: adminAuth });
    assert.equal(res.statusCode, 504);
    const body = (await res.body.json()) as { statusCode: number; error: string; message: string };
    assert.equal(body.statusCode, 504);
    assert.equal(body.error, 'Gateway Timeout');
    assert.match(body.message, /did not answer within 1000 ms/);
    await until('the runner saw the request closed', () => e.runner.closedStreams > closedBefore);
  });

  test('a body that goes silent is cut after the idle timeout and frees both sides; one that keeps talking outlives it', { timeout: 90_000 }, async () => {
    const closedBefore = e.runner.closedStreams;
    const res = await request(`${e.base}/api/toolbox/${sbA}/toolbox/silent-body`, { headers: adminAuth });
    assert.equal(res.statusCode, 200);
    const outcome = await new Promise<string>((resolve) => {
      let text = '';
      res.body.on('data', (d: Buffer) => (text += d.toString()));
      res.body.on('end', () => resolve(`ended:${text}`));
      res.body.on('error', () => resolve(`error:${text}`));
    });
    assert.match(outcome, /^(ended|error):first\n$/, 'the client sees the stream end after its one chunk');
    await until('the runner saw the silent stream closed', () => e.runner.closedStreams > closedBefore);

    // 8 chunks 300 ms apart: 2.4 s in all, over twice the 1 s idle bound, never silent for a whole second.
    const slow = await request(`${e.base}/api/toolbox/${sbA}/toolbox/ticks?n=8&every=300`, { headers: adminAuth });
    assert.equal(slow.statusCode, 200);
    const text = await slow.body.text();
    assert.equal(text, Array.from({ length: 8 }, (_, i) => `tick ${i}\n`).join(''));
  });

  test('WebSockets: a handshake the runner never answers gets 504; an idle tunnel is closed', { timeout: 90_000 }, async () => {
    const hs = await openWs(e, `/api/toolbox/${sbA}/toolbox/silent-upgrade`, adminAuth);
    assert.ok('status' in hs, 'the handshake is answered by the proxy');
    assert.equal(hs.status, 504);
    assert.equal((JSON.parse(hs.body) as { statusCode: number }).statusCode, 504);

    const open = await openWs(e, `/api/toolbox/${sbA}/toolbox/process/pty/idle/connect`, adminAuth);
    assert.ok('ws' in open);
    const code = await new Promise<number>((resolve) => open.ws.once('close', (c) => resolve(c)));
    assert.ok(code > 0, `closed with ${code}`);
    await until('the runner saw the idle tunnel closed', () => e.runner.openStreams === 0);
  });

  test('a runner that accepts no connection: 502 after the connect timeout, for HTTP and WebSocket', { timeout: 90_000 }, async () => {
    // A loopback listener with a backlog of 0 that never accepts: once one connection fills its queue, the kernel
    // drops further SYNs and connects hang, as they would to a wedged runner host.
    const blackhole = spawn('python3', ['-u', '-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1])\ntime.sleep(300)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const filler = new Socket();
    try {
      const port = await new Promise<number>((resolve, reject) => {
        blackhole.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        blackhole.once('exit', () => reject(new Error('blackhole listener exited')));
      });
      await new Promise<void>((resolve, reject) => filler.connect(port, '127.0.0.1', resolve).once('error', reject));
      const client = new pg.Client({ connectionString: e.db.url });
      await client.connect();
      try {
        await client.query(`UPDATE runner SET api_url = $1, proxy_url = $1`, [`http://127.0.0.1:${port}`]);
      } finally {
        await client.end();
      }
      const res = await request(`${e.base}/api/toolbox/${sbA}/toolbox/version`, { headers: adminAuth });
      const body = (await res.body.json()) as { statusCode: number; message: string };
      assert.equal(res.statusCode, 502);
      assert.equal(body.statusCode, 502);
      assert.match(body.message, /Runner unreachable: .*(timeout|timed out)/i);
      const ws = await openWs(e, `/api/toolbox/${sbA}/toolbox/process/pty/p9/connect`, adminAuth);
      assert.ok('status' in ws, 'the handshake is answered by the proxy');
      assert.equal(ws.status, 502);
      assert.match((JSON.parse(ws.body) as { message: string }).message, /connect timed out after 500 ms/);
    } finally {
      filler.destroy();
      blackhole.kill('SIGKILL');
    }
  });
});

describe('proxied streams and control calls use separate connections', () => {
  let e: Env;
  before(async () => {
    e = await setUp({ SHOAL_PROXY_MAX_STREAMS_PER_ORG: '200' });
  });
  after(() => tearDown(e));

  test('100 open streams to a runner (more than the control pool holds) do not hold up create or health checks', { timeout: 90_000 }, async () => {
    const tenant = await createTenant(e.app, 'fairness-streamer');
    const sb = (await createSandbox(e, tenant.auth)).id;
    const opening = Array.from({ length: 100 }, () => openStream(e, sb, tenant.auth));
    // 64 is every connection of the control pool: were the pools shared, the create below would queue behind them.
    await until('at least 64 streams at the runner', () => e.runner.openStreams >= 64);

    // Create waits for `started` (SHOAL_CREATE_WAIT_MS 10 s in tests): a create queued behind the streams comes back
    // still `creating` instead.
    const created = await createSandbox(e, adminAuth);
    assert.equal(created.state, 'started');
    // Re-registering probes the runner at once: a probe queued behind the streams would time out as `unresponsive`.
    const again = await e.app.inject({
      method: 'POST',
      url: '/api/runners',
      headers: adminAuth,
      payload: { domain: 'runner-1.test', apiUrl: e.runner.url, proxyUrl: e.runner.url, apiKey: TOKEN, cpu: 64, memoryGiB: 128, diskGiB: 1000, region: 'us' },
    });
    assert.equal((again.json() as { state: string }).state, 'ready');
    const streams = await Promise.all(opening);
    assert.deepEqual(
      streams.map((s) => s.statusCode),
      streams.map(() => 200),
    );
    await until('100 streams at the runner', () => e.runner.openStreams === 100);
    for (const s of streams) s.body.destroy();
    await until('the runner saw every stream close', () => e.runner.openStreams === 0);
  });
});

describe('runner health checks are off the reconcile tick', () => {
  let e: Env;
  before(async () => {
    e = await setUp({ SHOAL_RUNNER_HEALTH_INTERVAL_MS: '200' });
  });
  after(() => tearDown(e));

  test('a health check that hangs does not hold up the work the tick picks up', { timeout: 90_000 }, async () => {
    const sb = await createSandbox(e, adminAuth);
    assert.equal(sb.state, 'started');
    e.runner.hangInfo = true;
    await until('a hung health check at the runner', () => e.runner.pendingInfo > 0);
    // Only the tick can pick this up: nothing but the database (and its NOTIFY) hears of the change.
    const client = new pg.Client({ connectionString: e.db.url });
    await client.connect();
    try {
      await client.query(`UPDATE sandbox SET desired_state = 'stopped' WHERE id = $1`, [sb.id]);
    } finally {
      await client.end();
    }
    await until('the stop at the runner', () => e.runner.stopsSeenWithPendingInfo.length > 0, 30_000);
    assert.ok(e.runner.stopsSeenWithPendingInfo[0]! > 0, 'the stop arrived while the health check was still unanswered');
    e.runner.hangInfo = false;
  });
});
