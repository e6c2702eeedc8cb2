// Issue 16 item 5 for the proxy's WebSocket upgrades (PTY, session follow, preview WebSockets), which bypass Fastify's
// routing and hooks: the API takes the caller's request id or makes one, logs the upgrade under it, answers with it,
// sends it to the runner with a traceparent whose parent is the API's own server span of the upgrade (itself a child of
// the caller's traceparent). Tracing is on, exporting to a loopback collector; the runner is the fake one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { startTracing, stopTracing } from '@shoal/telemetry';
import { startOtlpCollector, type OtlpCollector } from '../../../packages/telemetry/test/otlp-collector.js';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'upgrade-observability-runner-token';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let collector: OtlpCollector;
let ws: string;
let sandboxId: string;
let previewToken: string;
const logLines: Array<Record<string, unknown>> = [];

before(async () => {
  collector = await startOtlpCollector();
  await startTracing(collector.endpoint, 'shoal-api');
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) logLines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  app = await buildTestApp(db.url, { logger: { level: 'info', stream } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  ws = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  await registerRunner(app, runner.url, TOKEN);
  sandboxId = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} })).json() as { id: string }).id;
  previewToken = ((await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/6080/preview-url`, headers: adminAuth })).json() as { token: string }).token;
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
  await stopTracing();
  await collector?.close();
});

/** Opens a WebSocket through the API; resolves with the 101's request id once the runner's first frame arrived. */
async function open(url: string, headers: Record<string, string>): Promise<{ socket: WebSocket; answeredId: string }> {
  const socket = new WebSocket(url, { headers });
  let answeredId = '';
  socket.once('upgrade', (res) => (answeredId = String(res.headers['x-request-id'])));
  await new Promise((resolve, reject) => {
    socket.once('message', resolve);
    socket.once('error', reject);
  });
  return { socket, answeredId };
}

async function close(socket: WebSocket): Promise<void> {
  const done = new Promise((r) => socket.once('close', r));
  socket.close();
  await done;
}

async function logged(reqId: string, msg: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = logLines.find((l) => l.reqId === reqId && l.msg === msg);
    if (line) return line;
    if (Date.now() > deadline) assert.fail(`no "${msg}" line for ${reqId}: ${JSON.stringify(logLines.filter((l) => l.reqId === reqId))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('proxied WebSocket upgrades', () => {
  test('a PTY upgrade reaches the runner with the id the API logged and answered, and the API\'s span as traceparent', async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const reqId = `api-ws-${randomBytes(4).toString('hex')}`;
    const { socket, answeredId } = await open(`${ws}/api/toolbox/${sandboxId}/toolbox/process/pty/obs1/connect`, {
      ...adminAuth,
      'x-request-id': reqId,
      traceparent: `00-${traceId}-${clientSpan}-01`,
    });
    assert.equal(answeredId, reqId);
    const seen = runner.upgrades.find((u) => u.path.endsWith('/process/pty/obs1/connect'));
    assert.ok(seen);
    assert.equal(seen.headers['x-request-id'], reqId);
    const parent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen.headers.traceparent));
    assert.ok(parent, `traceparent ${String(seen.headers.traceparent)}`);
    assert.equal(parent[1], traceId);
    assert.notEqual(parent[2], clientSpan, 'the caller\'s traceparent was passed on instead of the API\'s');
    const opened = await logged(reqId, 'incoming upgrade');
    assert.deepEqual(opened.req, { method: 'GET', url: `/api/toolbox/${sandboxId}/toolbox/process/pty/obs1/connect` });
    await close(socket);

    const [span] = (await collector.waitFor(traceId, ['upgrade /api/toolbox/:sandboxId/toolbox/*'])).filter((s) => s.service === 'shoal-api');
    assert.ok(span);
    assert.equal(span.parentSpanId, clientSpan);
    assert.equal(span.spanId, parent[2], 'the runner\'s parent is the API\'s upgrade span');
    assert.equal(span.attributes['shoal.request_id'], reqId);
    assert.equal(span.attributes['http.response.status_code'], 101);
    const closed = await logged(reqId, 'upgrade closed');
    assert.deepEqual(closed.res, { statusCode: 101 });
  });

  test('without an acceptable id the API makes one: the same in its log, its answer and the runner\'s request', async () => {
    const { socket, answeredId } = await open(`${ws}/api/toolbox/${sandboxId}/toolbox/process/pty/obs2/connect`, { ...adminAuth, 'x-request-id': 'spaces are not accepted' });
    await close(socket);
    assert.match(answeredId, /^[0-9a-f-]{36}$/);
    const seen = runner.upgrades.find((u) => u.path.endsWith('/process/pty/obs2/connect'));
    assert.equal(seen?.headers['x-request-id'], answeredId);
    await logged(answeredId, 'incoming upgrade');
  });

  test('a refused upgrade answers and logs its id and status', async () => {
    const reqId = `api-ws-401-${randomBytes(4).toString('hex')}`;
    const socket = new WebSocket(`${ws}/api/toolbox/${sandboxId}/toolbox/process/pty/obs3/connect`, { headers: { 'x-request-id': reqId } });
    const res = await new Promise<{ status: number; id: unknown }>((resolve) => socket.once('unexpected-response', (_req, r) => resolve({ status: r.statusCode ?? 0, id: r.headers['x-request-id'] })));
    assert.deepEqual(res, { status: 401, id: reqId });
    assert.deepEqual((await logged(reqId, 'upgrade refused')).res, { statusCode: 401 });
    assert.ok(!runner.upgrades.some((u) => u.path.endsWith('/obs3/connect')));
  });

  test('a preview WebSocket is logged without its query (it may carry the sandbox\'s token)', async () => {
    const reqId = `api-ws-preview-${randomBytes(4).toString('hex')}`;
    const { socket } = await open(`${ws}/preview/6080-${sandboxId}/websockify?DAYTONA_SANDBOX_AUTH_KEY=${previewToken}`, { 'x-request-id': reqId });
    await close(socket);
    const opened = await logged(reqId, 'incoming upgrade');
    assert.deepEqual(opened.req, { method: 'GET', url: `/preview/6080-${sandboxId}/websockify` });
    assert.ok(!JSON.stringify(logLines).includes(previewToken), 'the preview token reached the log');
    assert.equal(runner.upgrades.find((u) => u.path.includes('/ports/6080/websockify'))?.headers['x-request-id'], reqId);
  });
});
