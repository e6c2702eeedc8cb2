// Issue 16 items 4-5 end to end: the API's and the runner's /metrics (parsed as Prometheus text) move when the
// official SDK creates a sandbox and runs a command; with SHOAL_OTLP_ENDPOINT pointed at a small OTLP/HTTP collector
// this file runs on loopback, a create and an exec sent under one client trace context come back as one trace with
// spans of the API, the runner and the toolbox step (recorded by the runner); the request id reaches the runner's log.
// A PTY WebSocket opened under the same trace context joins that trace too, and its request id is in the API's, the
// runner's and the toolbox's logs (the sandbox's toolbox.log in the runner's data directory).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import WebSocket from 'ws';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait } from './src/toolbox-helpers.js';

interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
}

let collector: Server;
const spans: CollectedSpan[] = [];
const logLines: string[] = [];
let platform: TestPlatform;
const sandboxes: Sandbox[] = [];
const extraIds: string[] = [];
/** The sandbox and client trace context of the create-and-exec trace, which the PTY test continues. */
let traced: { sandboxId: string; traceId: string; rootSpan: string } | undefined;

/** OTLP/HTTP with JSON bodies (what @opentelemetry/exporter-trace-otlp-http sends): only traces are accepted. */
function startCollector(): Promise<string> {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string }> }>;
        }>;
      };
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => collector.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(collector.address() as AddressInfo).port}`)));
}

before(async () => {
  const endpoint = await startCollector();
  platform = await startTestPlatform({
    otlpEndpoint: endpoint,
    // Request logs of the runner and the API (the platform keeps them at warn) show the API's request id.
    extraRunnerEnv: { SHOAL_RUNNER_LOG_LEVEL: 'info' },
    extraApiEnv: { SHOAL_API_LOG_LEVEL: 'info' },
    log: (line) => {
      if (process.env.SHOAL_TEST_VERBOSE) console.log(line);
      logLines.push(line);
      if (logLines.length > 5000) logLines.shift();
    },
  });
});

after(async () => {
  for (const sb of sandboxes) await deleteAndWait(platform, sb).catch(() => undefined);
  for (const id of extraIds) await fetch(`${platform.apiUrl}/sandbox/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } }).catch(() => undefined);
  await platform?.close();
  await new Promise((r) => collector?.close(r));
});

type Series = Map<string, Array<{ labels: Record<string, string>; value: number }>>;

/** Every series of an exposition by name; the text is parsed (once as is, to check it, once without HELP/TYPE to keep histogram labels). */
async function scrape(url: string): Promise<Series> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  const text = await res.text();
  const families = parsePrometheusTextFormat(text);
  assert.ok(families.length > 0, `${url} parsed to nothing`);
  const out: Series = new Map();
  for (const f of parsePrometheusTextFormat(text.replace(/^# (HELP|TYPE) .*$/gm, ''))) {
    const list = out.get(f.name) ?? [];
    for (const m of f.metrics) list.push({ labels: m.labels ?? {}, value: Number(m.value) });
    out.set(f.name, list);
  }
  return out;
}

function value(series: Series, name: string, labels: Record<string, string> = {}): number {
  return series.get(name)?.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value ?? 0;
}

const apiMetricsUrl = () => `${platform.apiUrl.replace(/\/api$/, '')}/metrics`;
const runnerMetricsUrl = () => `${platform.runners[0]!.url}/metrics`;

test('a create and an exec through the SDK move the API and runner create/start histograms and the request counters', async () => {
  const api0 = await scrape(apiMetricsUrl());
  const runner0 = await scrape(runnerMetricsUrl());
  const t0 = Date.now();
  const sb = await platform.sdk().create({ labels: { suite: 'observability' } });
  sandboxes.push(sb);
  console.log(`create took ${Date.now() - t0} ms`);
  const r = await sb.process.executeCommand('echo $((6*7))');
  assert.equal(r.result.trim(), '42');
  const api1 = await scrape(apiMetricsUrl());
  const runner1 = await scrape(runnerMetricsUrl());
  const created = { action: 'create', outcome: 'started' };
  assert.equal(value(api1, 'shoal_api_sandbox_start_duration_seconds_count', created), value(api0, 'shoal_api_sandbox_start_duration_seconds_count', created) + 1);
  assert.equal(value(api1, 'shoal_runner_sandbox_start_duration_seconds_count'), 0, 'the API exposes only its own metrics');
  assert.equal(value(runner1, 'shoal_runner_sandbox_start_duration_seconds_count'), value(runner0, 'shoal_runner_sandbox_start_duration_seconds_count') + 1);
  for (const step of ['prepare', 'runtime', 'toolbox']) {
    assert.equal(value(runner1, 'shoal_runner_sandbox_start_step_seconds_count', { step }), value(runner0, 'shoal_runner_sandbox_start_step_seconds_count', { step }) + 1, step);
  }
  const exec = { method: 'POST', route: '/api/toolbox/:sandboxId/toolbox/*', status_class: '2xx' };
  assert.ok(value(api1, 'shoal_api_http_requests_total', exec) >= value(api0, 'shoal_api_http_requests_total', exec) + 1);
  assert.ok(value(api1, 'shoal_api_sandboxes', { state: 'started' }) >= 0);
  console.log(
    `API create->started ${(value(api1, 'shoal_api_sandbox_start_duration_seconds_sum', created) - value(api0, 'shoal_api_sandbox_start_duration_seconds_sum', created)).toFixed(3)} s; ` +
      `runner steps prepare/runtime/toolbox sums ${['prepare', 'runtime', 'toolbox'].map((step) => value(runner1, 'shoal_runner_sandbox_start_step_seconds_sum', { step }).toFixed(3)).join('/')} s`,
  );
});

test('one client trace context: a create and an exec form one trace with API, runner and toolbox spans; the request id reaches the runner', async () => {
  const traceId = randomBytes(16).toString('hex');
  const rootSpan = randomBytes(8).toString('hex');
  const traceparent = `00-${traceId}-${rootSpan}-01`;
  const requestId = `obs-e2e-${randomBytes(4).toString('hex')}`;
  const auth = { authorization: `Bearer ${platform.apiKey}`, traceparent };
  const created = await fetch(`${platform.apiUrl}/sandbox`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ labels: { suite: 'observability-trace' } }) });
  const sb = (await created.json()) as { id: string; state: string };
  assert.equal(created.status, 200);
  extraIds.push(sb.id);
  assert.equal(sb.state, 'started');
  traced = { sandboxId: sb.id, traceId, rootSpan };
  const exec = await fetch(`${platform.apiUrl}/toolbox/${sb.id}/toolbox/process/execute`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', 'x-request-id': requestId },
    // The toolbox does not run a shell itself (the SDK wraps commands in one): ask for it.
    body: JSON.stringify({ command: "sh -c 'echo $((6*7))'" }),
  });
  assert.equal(exec.status, 200);
  assert.equal(((await exec.json()) as { result: string }).result.trim(), '42');
  assert.equal(exec.headers.get('x-request-id'), requestId);

  const wanted = [
    ['shoal-api', 'POST /api/sandbox'],
    ['shoal-api', 'reconcile create'],
    ['shoal-api', 'runner POST /sandboxes'],
    ['shoal-runner', 'runner POST /sandboxes'],
    ['shoal-runner', 'toolbox: ready'],
    ['shoal-api', 'POST /api/toolbox/:sandboxId/toolbox/*'],
    ['shoal-runner', 'runner POST /sandboxes/:id/toolbox/*'],
    ['shoal-runner', 'toolbox POST /process/execute'],
  ] as const;
  const deadline = Date.now() + 20_000;
  let mine: CollectedSpan[] = [];
  for (;;) {
    mine = spans.filter((s) => s.traceId === traceId);
    if (wanted.every(([svc, name]) => mine.some((s) => s.service === svc && s.name === name))) break;
    if (Date.now() > deadline) assert.fail(`missing spans; trace has ${JSON.stringify(mine.map((s) => `${s.service}:${s.name}`))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const byId = new Map(mine.map((s) => [s.spanId, s]));
  const one = (svc: string, name: string) => mine.find((s) => s.service === svc && s.name === name)!;
  // Parent links: client root -> API request -> (reconcile -> runner call ->) runner request -> toolbox step.
  assert.equal(one('shoal-api', 'POST /api/sandbox').parentSpanId, rootSpan);
  assert.equal(one('shoal-api', 'POST /api/toolbox/:sandboxId/toolbox/*').parentSpanId, rootSpan);
  assert.equal(byId.get(one('shoal-runner', 'runner POST /sandboxes').parentSpanId)?.name, 'runner POST /sandboxes');
  assert.equal(byId.get(one('shoal-runner', 'runner POST /sandboxes').parentSpanId)?.service, 'shoal-api');
  assert.equal(byId.get(one('shoal-runner', 'toolbox POST /process/execute').parentSpanId)?.name, 'runner POST /sandboxes/:id/toolbox/*');
  assert.equal(byId.get(one('shoal-runner', 'runner POST /sandboxes/:id/toolbox/*').parentSpanId)?.name, 'POST /api/toolbox/:sandboxId/toolbox/*');
  console.log(`trace ${traceId}: ${mine.length} spans (${[...new Set(mine.map((s) => s.service))].join(', ')})`);

  // The runner's request log carries the id the API was given.
  const logged = logLines.filter((l) => l.includes(requestId));
  assert.ok(logged.some((l) => l.includes('runner')), `the runner's log has no line with ${requestId}`);
});

/** Spans of `traceId` once every [service, name] of `wanted` is among them (the exporters batch every 500 ms). */
async function traceWith(traceId: string, wanted: ReadonlyArray<readonly [string, string]>): Promise<CollectedSpan[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const mine = spans.filter((s) => s.traceId === traceId);
    if (wanted.every(([svc, name]) => mine.some((s) => s.service === svc && s.name === name))) return mine;
    if (Date.now() > deadline) assert.fail(`missing spans; trace has ${JSON.stringify(mine.map((s) => `${s.service}:${s.name}`))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a PTY WebSocket under the same client trace context joins the trace across API, runner and toolbox; its request id is in all three logs', async () => {
  assert.ok(traced, 'the trace test created the sandbox');
  const { sandboxId, traceId, rootSpan } = traced;
  const requestId = `obs-pty-${randomBytes(4).toString('hex')}`;
  const auth = { authorization: `Bearer ${platform.apiKey}`, traceparent: `00-${traceId}-${rootSpan}-01` };
  const created = await fetch(`${platform.apiUrl}/toolbox/${sandboxId}/toolbox/process/pty`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'obs-pty', cols: 80, rows: 24 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const ws = new WebSocket(`${platform.apiUrl.replace(/^http/, 'ws')}/toolbox/${sandboxId}/toolbox/process/pty/obs-pty/connect`, { headers: { ...auth, 'x-request-id': requestId } });
  let answeredId: unknown;
  ws.once('upgrade', (res) => (answeredId = res.headers['x-request-id']));
  let output = '';
  ws.on('message', (d: Buffer) => (output += d.toString('utf8')));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  assert.equal(answeredId, requestId);
  ws.send('echo $((6*7))\n');
  const deadline = Date.now() + 20_000;
  while (!/\b42\b/.test(output.replace(/echo \$\(\(6\*7\)\)/g, ''))) {
    if (Date.now() > deadline) assert.fail(`no 42 from the PTY; got ${JSON.stringify(output)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const closed = new Promise((r) => ws.once('close', r));
  ws.close();
  await closed;

  // The upgrade's spans end when the connection closes.
  const mine = await traceWith(traceId, [
    ['shoal-api', 'upgrade /api/toolbox/:sandboxId/toolbox/*'],
    ['shoal-runner', 'runner upgrade /sandboxes/:id/toolbox/*'],
    ['shoal-runner', 'toolbox upgrade /process/pty/obs-pty/connect'],
  ]);
  const one = (svc: string, name: string) => mine.find((s) => s.service === svc && s.name === name)!;
  const apiSpan = one('shoal-api', 'upgrade /api/toolbox/:sandboxId/toolbox/*');
  const runnerSpan = one('shoal-runner', 'runner upgrade /sandboxes/:id/toolbox/*');
  const toolboxSpan = one('shoal-runner', 'toolbox upgrade /process/pty/obs-pty/connect');
  assert.equal(apiSpan.parentSpanId, rootSpan);
  assert.equal(runnerSpan.parentSpanId, apiSpan.spanId);
  assert.equal(toolboxSpan.parentSpanId, runnerSpan.spanId);

  // Request logs: the API's and the runner's (pino, through the platform's console), the toolbox's (its JSON lines in
  // the sandbox's toolbox.log, which the runner opened for it).
  const logged = logLines.filter((l) => l.includes(requestId));
  assert.ok(logged.some((l) => l.startsWith('[api]') && l.includes('incoming upgrade')), `the API's log has no upgrade line with ${requestId}`);
  assert.ok(logged.some((l) => l.startsWith('[runner]') && l.includes('incoming upgrade')), `the runner's log has no upgrade line with ${requestId}`);
  const toolboxLog = await readFile(join(platform.dataDir, 'runner', 'sandboxes', sandboxId, 'toolbox.log'), 'utf8');
  const toolboxLines = toolboxLog
    .split('\n')
    .filter((l) => l.includes(requestId))
    .map((l) => JSON.parse(l) as { reqId: string; msg: string; trace_id?: string; span_id?: string });
  const opened = toolboxLines.find((l) => l.msg === 'incoming upgrade');
  assert.ok(opened, `the toolbox's log has no upgrade line with ${requestId}: ${toolboxLog.slice(-2000)}`);
  assert.equal(opened.reqId, requestId);
  assert.equal(opened.trace_id, traceId);
  assert.equal(opened.span_id, toolboxSpan.spanId, 'the toolbox logs under the runner\'s toolbox span');
  // The exec of the trace test too: each toolbox request line carries the trace.
  assert.ok(toolboxLog.split('\n').some((l) => l.includes('"/process/execute"') && l.includes(traceId)), 'the exec\'s toolbox line carries its trace id');
  console.log(`PTY ${requestId}: ${mine.length} spans in trace ${traceId}; ${toolboxLines.length} toolbox log lines`);
});
