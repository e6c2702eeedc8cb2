import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goalRows, renderGoals, type GoalInputs } from './goals.js';
import { summarize } from './stats.js';

const skipped = { skipped: 'no Docker daemon' };
const base: GoalInputs = {
  warmHit: { value: { tti: summarize([10, 20, 70]), misses: 0 } },
  cold: { value: { shoal: summarize([120]), floor: summarize([100]) } },
  docker: skipped,
  burst50: { value: { n: 50, pool: 50, ok: 50, create: summarize([100, 400, 450]) } },
  burst100: { value: { n: 100, pool: 2, ok: 99, create: summarize([100, 900]), failure: 'Sandbox failed to start: x' } },
  echo: { value: summarize([5, 6, 7]) },
  transfer: { value: { upload: { shoal: 60, floor: 100 }, download: { shoal: 40, floor: 100 } } },
  getRps: { value: 3100 },
  density: { value: { cap: 500, count: 500, mibEach: 9.5 } },
};

test('one line per goal of issue 15, in its order, each with a verdict', () => {
  const rows = goalRows(base);
  assert.equal(rows.length, 9);
  assert.deepEqual(
    rows.map((r) => r.verdict),
    ['not met', 'met', 'not measured (no Docker daemon)', 'met', 'not met', 'met', 'not met', 'met', 'met'],
  );
  // The warm-pool hit needs both percentiles: p50 20 passes, p99 70 does not; p50 30 fails with a good p99.
  assert.equal(goalRows({ ...base, warmHit: { value: { tti: summarize([20, 24]), misses: 0 } } })[0]!.verdict, 'met');
  assert.equal(goalRows({ ...base, warmHit: { value: { tti: summarize([30, 30, 40]), misses: 0 } } })[0]!.verdict, 'not met');
  assert.match(rows[4]!.measured, /99\/100 succeeded.*first failure: Sandbox failed/);
  assert.match(rows[6]!.measured, /upload 0\.60x.*download 0\.40x/);
});

test('a warm-pool row with no claim, a failed density run and a capped one are never met', () => {
  const noHit = goalRows({ ...base, warmHit: { value: { tti: summarize([]), misses: 5 } } })[0]!;
  assert.equal(noHit.verdict, 'not measured (no create was a claim)');
  const failed = goalRows({ ...base, density: { value: { cap: 500, count: 212, mibEach: 8, failure: 'out of memory' } } })[8]!;
  assert.equal(failed.verdict, 'not met');
  assert.match(failed.measured, /212 started \(cap 500\).*stopped by: out of memory/);
  const capped = goalRows({ ...base, density: { value: { cap: 20, count: 20, mibEach: 12 } } })[8]!;
  assert.equal(capped.verdict, 'not measured (cap 20 < 500; memory each: not met)');
  const zeroOk = goalRows({ ...base, burst50: { value: { n: 10, pool: 10, ok: 0, create: summarize([]), failure: 'boom' } } })[3]!;
  assert.equal(zeroOk.verdict, 'not met');
});

test('the Docker row is judged on the default pool and shows the drained comparison beside it', () => {
  const docker = (shoal: number[]) => ({
    value: { shoal: summarize(shoal), docker: summarize([300, 320]), pool: 2, claims: 2, n: 2, drained: { shoal: summarize([200, 220]), docker: summarize([300, 320]) } },
  });
  const met = goalRows({ ...base, docker: docker([30, 40]) })[2]!;
  assert.equal(met.verdict, 'met');
  assert.match(met.measured, /default warm pool \(2; 2 of 2 creates were claims\); pool drained: 0\.\d+x at p50/);
  assert.equal(goalRows({ ...base, docker: docker([100, 120]) })[2]!.verdict, 'not met');
});

test('the rendered table has a header and one Markdown line per goal', () => {
  const out = renderGoals(goalRows(base)).split('\n');
  assert.equal(out.length, 11);
  assert.equal(out[0], '| goal (issue 15) | measured in this run | goal | verdict |');
  assert.match(out[2]!, /^\| TTI, warm-pool hit, p50 \/ p99 \| p50 20\.0 ms, p99 70\.0 ms \(n=3\) \| ≤ 25 ms \/ ≤ 60 ms \| not met \|$/);
  assert.match(out[4]!, /^\| TTI vs Docker Engine.* \| - \| ≤ 0\.25x \| not measured \(no Docker daemon\) \|$/);
});
