import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * GET /metrics of the API, read the way Prometheus reads it: the text is parsed with a text-format parser (not the
 * registry's own objects), and requests and a sandbox create must move the counters and histograms they claim to.
 */

const TOKEN = 'metrics-fake-runner-token';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN, actionDelayMs: 30 }).start();
  app = await buildTestApp(db.url);
  await registerRunner(app, runner.url, TOKEN);
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

async function scrape(target: ShoalApp = app, headers: Record<string, string> = {}): Promise<{ text: string; families: Map<string, PromFamily> }> {
  const res = await target.inject({ method: 'GET', url: '/metrics', headers });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const families = new Map(parsePrometheusTextFormat(res.body).map((f) => [f.name, f]));
  // The parser folds a histogram's label sets into one (it keeps only unlabelled _count/_sum): read the series once
  // more without HELP/TYPE lines, where each series (name_count, name_bucket, ...) is its own untyped family with labels.
  // Series of one name come in several runs (buckets, sum and count per label set): their samples are merged.
  for (const f of parsePrometheusTextFormat(res.body.replace(/^# (HELP|TYPE) .*$/gm, ''))) {
    const known = families.get(f.name);
    if (!known) families.set(f.name, f);
    else if (known.type === 'UNTYPED') known.metrics.push(...f.metrics);
  }
  return { text: res.body, families };
}

/** A series' value; for a histogram `name`, `count` is its `name_count` series with the same labels. */
function sample(families: Map<string, PromFamily>, name: string, labels: Record<string, string>): { value: number; count: number } {
  const find = (n: string) => families.get(n)?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return { value: Number(find(name)?.value ?? 0), count: Number(find(`${name}_count`)?.value ?? 0) };
}

test('a create and reads move the request counters, the create histogram and reconcile lag; labels hold route templates only', async () => {
  const before = await scrape();
  const httpType = before.families.get('shoal_api_http_request_duration_seconds')?.type;
  assert.equal(httpType, 'HISTOGRAM');
  assert.equal(before.families.get('shoal_api_http_requests_total')?.type, 'COUNTER');
  const get404 = { method: 'GET', route: '/api/sandbox/:sandboxId', status_class: '4xx' };
  const n404 = sample(before.families, 'shoal_api_http_requests_total', get404).value;
  const created0 = sample(before.families, 'shoal_api_sandbox_start_duration_seconds', { action: 'create', outcome: 'started' }).count;

  const missing = randomUUID();
  for (let i = 0; i < 3; i++) {
    const r = await app.inject({ method: 'GET', url: `/api/sandbox/${missing}`, headers: adminAuth });
    assert.equal(r.statusCode, 404);
  }
  const created = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
  assert.equal(created.statusCode, 200, created.body);
  const sb = created.json() as { id: string; state: string };
  assert.equal(sb.state, 'started');

  const afterScrape = await scrape();
  assert.equal(sample(afterScrape.families, 'shoal_api_http_requests_total', get404).value, n404 + 3);
  assert.equal(sample(afterScrape.families, 'shoal_api_http_request_duration_seconds', get404).count, n404 + 3);
  assert.equal(sample(afterScrape.families, 'shoal_api_http_requests_total', { method: 'POST', route: '/api/sandbox', status_class: '2xx' }).value >= 1, true);
  assert.equal(sample(afterScrape.families, 'shoal_api_sandbox_start_duration_seconds', { action: 'create', outcome: 'started' }).count, created0 + 1);
  assert.ok(sample(afterScrape.families, 'shoal_api_reconcile_lag_seconds', { action: 'create' }).count >= 1);
  // Fresh app state cache (first scrape read before the create is at most 5 s old): the gauge counts what PostgreSQL has.
  const other = await buildTestApp(db.url, { background: false });
  try {
    const fresh = await scrape(other);
    assert.ok(sample(fresh.families, 'shoal_api_sandboxes', { state: 'started' }).value >= 1);
    assert.match(fresh.families.get('shoal_api_sandboxes')!.help, /same values/);
  } finally {
    await other.close();
  }
  // No tenant data and no raw URLs: neither id appears anywhere in the exposition.
  assert.ok(!afterScrape.text.includes(missing), 'a requested sandbox id leaked into a label');
  assert.ok(!afterScrape.text.includes(sb.id), 'a created sandbox id leaked into a label');
  const routes = new Set(afterScrape.families.get('shoal_api_http_requests_total')!.metrics.map((m) => m.labels?.route));
  for (const r of routes) assert.ok(r === 'unmatched' || r?.startsWith('/'), `route label ${r}`);
  await app.inject({ method: 'DELETE', url: `/api/sandbox/${sb.id}`, headers: adminAuth });
});

test('invented methods and unknown paths do not add label values', async () => {
  const a = await app.inject({ method: 'GET', url: `/no/such/${randomUUID()}` });
  assert.equal(a.statusCode, 404);
  const { text, families } = await scrape();
  assert.ok(sample(families, 'shoal_api_http_requests_total', { method: 'GET', route: 'unmatched', status_class: '4xx' }).value >= 1);
  assert.ok(!/no\/such/.test(text));
});

test('request ids: a plain incoming id is echoed and sent to the runner, anything else is replaced', async () => {
  const plain = await app.inject({ method: 'POST', url: '/api/sandbox', headers: { ...adminAuth, 'x-request-id': 'trace-me.42' }, payload: {} });
  assert.equal(plain.statusCode, 200, plain.body);
  assert.equal(plain.headers['x-request-id'], 'trace-me.42');
  const id = (plain.json() as { id: string }).id;
  const runnerCall = runner.calls.find((c) => c.method === 'POST' && c.path === '/sandboxes' && c.body.includes(id));
  assert.ok(runnerCall, 'the runner saw the create');
  assert.equal(runnerCall.headers['x-request-id'], 'trace-me.42');

  for (const bad of ['has space', 'x'.repeat(129), 'new\u2028line', '<script>']) {
    const res = await app.inject({ method: 'GET', url: '/api/health', headers: { 'x-request-id': bad } });
    const echoed = String(res.headers['x-request-id']);
    assert.notEqual(echoed, bad);
    assert.match(echoed, /^[0-9a-f-]{36}$/);
  }
  const errorReply = await app.inject({ method: 'GET', url: `/api/sandbox/${randomUUID()}`, headers: adminAuth });
  assert.equal(errorReply.statusCode, 404);
  assert.match(String(errorReply.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'error answers carry the id too');
  await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth });
});

test('SHOAL_METRICS_TOKEN protects /metrics; SHOAL_METRICS=off removes it', async () => {
  const token = 'scrape-token-0123456789';
  const guarded = await buildTestApp(db.url, { background: false, env: { SHOAL_METRICS_TOKEN: token } });
  try {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Bearer ${token}x` }]) {
      const res = await guarded.inject({ method: 'GET', url: '/metrics', headers });
      assert.equal(res.statusCode, 401);
      assert.equal((res.json() as { statusCode: number }).statusCode, 401);
    }
    await scrape(guarded, { authorization: `Bearer ${token}` });
  } finally {
    await guarded.close();
  }
  const off = await buildTestApp(db.url, { background: false, env: { SHOAL_METRICS: 'off' } });
  try {
    assert.equal((await off.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
  } finally {
    await off.close();
  }
});
