import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtRatio, interleave, percentile, ratio, summarize } from './stats.js';

test('nearest-rank percentiles', () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(s, 50), 50);
  assert.equal(percentile(s, 99), 99);
  assert.equal(percentile(s, 100), 100);
  assert.equal(percentile([7], 99), 7);
  const sum = summarize([3, 1, 2]);
  assert.deepEqual([sum.n, sum.p50, sum.min, sum.max, sum.mean], [3, 2, 1, 3, 2]);
});

test('interleave alternates the two series and never overlaps a sample with the previous one', async () => {
  const events: string[] = [];
  let busy = false;
  const sampler = (name: string, delays: number[]) => async (i: number) => {
    assert.equal(busy, false, `${name}${i} started while another sample was still running`);
    busy = true;
    events.push(`${name}${i}:start`);
    // The "teardown" part is awaited inside the sample, as the benchmark's samplers do.
    await new Promise((r) => setTimeout(r, delays[i % delays.length]));
    events.push(`${name}${i}:end`);
    busy = false;
    return `${name}${i}`;
  };
  const r = await interleave(3, sampler('s', [15, 1]), sampler('f', [1, 10]));
  assert.deepEqual(r.first, ['s0', 's1', 's2']);
  assert.deepEqual(r.second, ['f0', 'f1', 'f2']);
  assert.deepEqual(events, ['s0:start', 's0:end', 'f0:start', 'f0:end', 's1:start', 's1:end', 'f1:start', 'f1:end', 's2:start', 's2:end', 'f2:start', 'f2:end']);
});

test('interleave stops at the first failing sample', async () => {
  const seen: number[] = [];
  await assert.rejects(
    interleave(
      5,
      async (i) => seen.push(i),
      async (i) => {
        if (i === 1) throw new Error('floor failed');
      },
    ),
    /floor failed/,
  );
  assert.deepEqual(seen, [0, 1]);
});

test('ratios', () => {
  assert.equal(ratio(300, 100), 3);
  assert.ok(Number.isNaN(ratio(1, 0)));
  assert.ok(Number.isNaN(ratio(undefined, 2)));
  assert.equal(fmtRatio(ratio(50, 200)), '0.25x');
  assert.equal(fmtRatio(NaN), '');
});
