import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentile, summarize } from './stats.js';

test('nearest-rank percentiles', () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(s, 50), 50);
  assert.equal(percentile(s, 99), 99);
  assert.equal(percentile(s, 100), 100);
  assert.equal(percentile([7], 99), 7);
  const sum = summarize([3, 1, 2]);
  assert.deepEqual([sum.n, sum.p50, sum.min, sum.max, sum.mean], [3, 2, 1, 3, 2]);
});
