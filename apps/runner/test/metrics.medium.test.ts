import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { build } from '../src/app.js';
import type { ImageStore } from '../src/images/image-store.js';
import { HostMetrics } from '../src/metrics/host-metrics.js';
import { launchMetrics } from '../src/metrics/launch-metrics.js';
import type { SandboxService } from '../src/sandbox/sandbox.service.js';

// The runner's /metrics as Prometheus reads it: the hand-written host figures and the start-step histograms parse
// as one exposition, and a recorded launch moves each step's histogram. Request ids from the API are echoed.
const sandboxes = {
  all: () => [{ state: 'started', meta: { cpu: 1, memoryGiB: 1, diskGiB: 3 } }],
  startQueue: { active: 2, waiting: 5 },
} as unknown as SandboxService;
const images = { count: () => 2, diskBytes: () => 1024 } as unknown as ImageStore;
const dirs: string[] = [];

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function scrape(app: ReturnType<typeof build>): Promise<Map<string, Array<{ labels: Record<string, string>; value: number }>>> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  const families = parsePrometheusTextFormat(res.body);
  const byName = new Map(families.map((f) => [f.name, f]));
  assert.equal(byName.get('shoal_runner_sandbox_start_step_seconds')?.type, 'HISTOGRAM');
  assert.equal(byName.get('shoal_runner_sandbox_start_duration_seconds')?.type, 'HISTOGRAM');
  assert.equal(byName.get('shoal_runner_sandboxes')?.type, 'GAUGE');
  // Without HELP/TYPE every series keeps its labels (the parser folds a histogram's label sets together).
  const out = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  for (const f of parsePrometheusTextFormat(res.body.replace(/^# (HELP|TYPE) .*$/gm, ''))) {
    const list = out.get(f.name) ?? [];
    for (const m of f.metrics) list.push({ labels: m.labels ?? {}, value: Number(m.value) });
    out.set(f.name, list);
  }
  return out;
}

const count = (s: Map<string, Array<{ labels: Record<string, string>; value: number }>>, name: string, step?: string) =>
  s.get(name)?.find((m) => step === undefined || m.labels.step === step)?.value ?? 0;

test('a launch moves the per-step start histograms; the exposition parses', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-runner-metrics-'));
  dirs.push(dir);
  const app = build({ token: 'tok', version: '1', sandboxes, images, metrics: new HostMetrics(dir, sandboxes, images) });
  const before = await scrape(app);
  launchMetrics.recordLaunch('sb-1', 1000, 1040, 1100, 1500, 1750);
  const afterLaunch = await scrape(app);
  for (const step of ['prepare', 'runtime', 'toolbox']) {
    assert.equal(count(afterLaunch, 'shoal_runner_sandbox_start_step_seconds_count', step), count(before, 'shoal_runner_sandbox_start_step_seconds_count', step) + 1, step);
  }
  assert.equal(count(afterLaunch, 'shoal_runner_sandbox_start_duration_seconds_count'), count(before, 'shoal_runner_sandbox_start_duration_seconds_count') + 1);
  const sum = (s: typeof before, step: string) => count(s, 'shoal_runner_sandbox_start_step_seconds_sum', step);
  assert.ok(Math.abs(sum(afterLaunch, 'toolbox') - sum(before, 'toolbox') - 0.25) < 1e-9);
  // The 400 ms between the container running and its daemon's boot being asked for (a queue's wait) is no step's.
  const total = (s: typeof before) => count(s, 'shoal_runner_sandbox_start_duration_seconds_sum');
  assert.ok(Math.abs(total(afterLaunch) - total(before) - 0.35) < 1e-9);
  assert.equal(afterLaunch.get('shoal_runner_sandboxes')?.find((m) => m.labels.state === 'started')?.value, 1);
  // The start admission queue as the sandbox service reports it.
  assert.equal(count(afterLaunch, 'shoal_runner_starts_active'), 2);
  assert.equal(count(afterLaunch, 'shoal_runner_starts_waiting'), 5);
  await app.close();
});

test("the API's request id is echoed and kept only when plain", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-runner-metrics-'));
  dirs.push(dir);
  const app = build({ token: 'tok', version: '1', sandboxes, images, metrics: new HostMetrics(dir, sandboxes, images) });
  const ok = await app.inject({ method: 'GET', url: '/', headers: { 'x-request-id': 'api-req.7' } });
  assert.equal(ok.headers['x-request-id'], 'api-req.7');
  const bad = await app.inject({ method: 'GET', url: '/', headers: { 'x-request-id': 'two words' } });
  assert.match(String(bad.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  await app.close();
});
