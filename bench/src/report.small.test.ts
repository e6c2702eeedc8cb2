import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareTable, rowKind } from './compare.js';
import { renderTable, rowRatios } from './report.js';
import { summarize } from './stats.js';
import type { Row } from './platform-bench.js';

test('old and new row names map to the same measurement', () => {
  assert.equal(rowKind('create()+exec(node -v), 5 concurrent'), rowKind('create()+exec(node -v), 20 concurrent x2'));
  assert.equal(rowKind('create() -> started, 10 sequential'), rowKind('create() -> started, 40 sequential'));
  assert.equal(rowKind('create() -> started, 5 concurrent'), rowKind('create() -> started, 10 concurrent x2'));
  assert.notEqual(rowKind('create() -> started, 10 sequential'), rowKind('create()+exec(node -v), 10 sequential'));
  assert.equal(rowKind('GET /sandbox/paginated, 50 connections'), rowKind('GET /sandbox/paginated?limit=20 (1000 sandboxes in the org), 50 connections'));
  assert.notEqual(rowKind('GET /sandbox (all 1000 sandboxes in the org), 10 connections'), rowKind('GET /sandbox/{id}, 50 connections'));
  assert.equal(rowKind('upload 100 MB'), 'upload 100 MB');
});

test('ratios are per percentile and the table shows both sides', () => {
  const row: Row = { name: 'x', unit: 'ms', value: summarize([100, 200, 400]), floor: summarize([50, 50, 100]), floorName: 'f' };
  assert.deepEqual(rowRatios(row), { p50: 4, p99: 4 });
  const table = renderTable([row]);
  assert.match(table, /\| x \| ms \| 3 \| 200 \| 400 \| 50\.0 \| 100 \| 4\.00x \| 4\.00x \| f \|/);
  const cmp = compareTable([{ ...row, floor: summarize([100]) }], [row]);
  assert.match(cmp, /\| x \(ms\) \| 200 \| 100 \| 2\.00x \| 200 \| 50\.0 \| 4\.00x \| 4\.00x \| f \|/);
});
