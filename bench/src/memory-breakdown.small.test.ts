import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBreakdown } from './platform-bench.js';

test('the density breakdown gives each /proc/meminfo part per sandbox, a missing field counting as zero', () => {
  const before = { AnonPages: 100, Shmem: 10, Cached: 500, Slab: 50, PageTables: 4, KernelStack: 2 };
  const after = { AnonPages: 190, Shmem: 10, Cached: 520, Slab: 56, PageTables: 5, KernelStack: 3, Percpu: 1 };
  assert.equal(
    memoryBreakdown(before, after, 10),
    'AnonPages 9.00, Shmem 0.00, Cached 2.00, Slab 0.60, PageTables 0.10, KernelStack 0.10, Percpu 0.10',
  );
});
