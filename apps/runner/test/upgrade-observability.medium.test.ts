// Issue 16 item 5 for WebSocket upgrades (PTY and other toolbox WebSockets), which bypass Fastify's hooks: the runner
// logs an upgrade under the API's request id (or one of its own), passes the id on to the toolbox, and continues the
// API's trace: its server span is a child of the API's traceparent, and the toolbox receives the traceparent of the
// runner's toolbox span. A fake toolbox on a real unix socket records what arrives; spans go to a loopback collector.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import WebSocket, { WebSocketServer } from 'ws';
import { startTracing, stopTracing } from '@shoal/telemetry';
import { startOtlpCollector, type OtlpCollector } from '../../../packages/telemetry/test/otlp-collector.js';
import { build } from '../src/app.js';
import type { ImageStore } from '../src/images/image-store.js';
import type { HostMetrics } from '../src/metrics/host-metrics.js';
import type { SandboxService } from '../src/sandbox/sandbox.service.js';

const TOKEN = 'runner-upgrade-observability-token';
let dir: string;
let toolbox: http.Server;
let app: FastifyInstance;
let base: string;
let collector: OtlpCollector;
const seen: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
const logLines: Array<Record<string, unknown>> = [];

before(async () => {
  collector = await startOtlpCollector();
  await startTracing(collector.endpoint, 'shoal-runner');
  dir = await mkdtemp(join(tmpdir(), 'shoal-upgrade-obs-'));
  const socketPath = join(dir, 'toolbox.sock');
  const wss = new WebSocketServer({ noServer: true });
  toolbox = http.createServer((_req, res) => res.end('ok'));
  toolbox.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    wss.handleUpgrade(req, socket, head, (ws) => ws.send('hello'));
  });
  await new Promise<void>((r) => toolbox.listen(socketPath, r));
  const sandboxes = { target: () => ({ socketPath, ip: '127.0.0.1' }), all: () => [] } as unknown as SandboxService;
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) logLines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  app = build({ token: TOKEN, version: 'test', sandboxes, images: {} as ImageStore, metrics: {} as HostMetrics, logger: { level: 'info', stream } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

after(async () => {
  await app?.close();
  toolbox?.closeAllConnections();
  await new Promise((r) => toolbox?.close(r));
  await stopTracing();
  await collector?.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(path: string, headers: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  await new Promise((resolve, reject) => {
    ws.once('message', resolve);
    ws.once('error', reject);
  });
  return ws;
}

async function closed(ws: WebSocket): Promise<void> {
  const done = new Promise((r) => ws.once('close', r));
  ws.close();
  await done;
}

test('a PTY upgrade: the toolbox gets the API\'s request id and the runner\'s toolbox span as parent; the runner logs the id', async () => {
  const traceId = randomBytes(16).toString('hex');
  const apiSpan = randomBytes(8).toString('hex');
  const reqId = `runner-ws-${randomBytes(4).toString('hex')}`;
  const ws = await open('/sandboxes/sb1/toolbox/process/pty/p1/connect', { 'x-request-id': reqId, traceparent: `00-${traceId}-${apiSpan}-01` });
  const arrived = seen.find((s) => s.url === '/process/pty/p1/connect' && s.headers['x-request-id'] === reqId);
  assert.ok(arrived, `the toolbox did not get ${reqId}: ${JSON.stringify(seen.map((s) => s.headers['x-request-id']))}`);
  const parent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(arrived.headers.traceparent));
  assert.ok(parent, `traceparent ${String(arrived.headers.traceparent)}`);
  assert.equal(parent[1], traceId, 'the toolbox is in the API\'s trace');
  assert.notEqual(parent[2], apiSpan, 'the API\'s traceparent was replaced by the runner\'s');
  await closed(ws);

  const spans = await collector.waitFor(traceId, ['runner upgrade /sandboxes/:id/toolbox/*', 'toolbox upgrade /process/pty/p1/connect']);
  const server = spans.find((s) => s.name === 'runner upgrade /sandboxes/:id/toolbox/*')!;
  const step = spans.find((s) => s.name === 'toolbox upgrade /process/pty/p1/connect')!;
  assert.equal(server.parentSpanId, apiSpan);
  assert.equal(server.attributes['shoal.request_id'], reqId);
  assert.equal(step.parentSpanId, server.spanId);
  assert.equal(step.spanId, parent[2], 'the toolbox\'s traceparent names the runner\'s toolbox span');

  const mine = logLines.filter((l) => l.reqId === reqId);
  assert.deepEqual(mine.map((l) => l.msg), ['incoming upgrade', 'upgrade closed']);
  assert.deepEqual(mine[0]!.req, { method: 'GET', url: '/sandboxes/sb1/toolbox/process/pty/p1/connect' });
  assert.equal(mine[0]!.upgrade, 'websocket');
});

test('an upgrade without an acceptable id gets a new one, logged and passed on', async () => {
  const ws = await open('/sandboxes/sb1/toolbox/process/pty/p2/connect', { 'x-request-id': 'not acceptable!' });
  const arrived = seen.find((s) => s.url === '/process/pty/p2/connect');
  assert.ok(arrived);
  const id = String(arrived.headers['x-request-id']);
  assert.match(id, /^[0-9a-f-]{36}$/);
  await closed(ws);
  assert.ok(logLines.some((l) => l.reqId === id && l.msg === 'incoming upgrade'));
});

test('a refused upgrade is logged under its id with the status', async () => {
  const reqId = `runner-ws-401-${randomBytes(4).toString('hex')}`;
  const ws = new WebSocket(`${base}/sandboxes/sb1/toolbox/process/pty/p3/connect`, { headers: { 'x-request-id': reqId } });
  const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  assert.equal(status, 401);
  const deadline = Date.now() + 5000;
  while (!logLines.some((l) => l.reqId === reqId && l.msg === 'upgrade refused') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const refused = logLines.find((l) => l.reqId === reqId && l.msg === 'upgrade refused');
  assert.deepEqual(refused?.res, { statusCode: 401 });
});
