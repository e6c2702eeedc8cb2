import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner } from '../src/db/schema.js';
import { ActivityBumps, RecentRunners } from '../src/proxy/upstream-lookups.js';

test('runner rows are reused within the TTL and read again after it', async () => {
  const now = { t: 0 };
  let reads = 0;
  let row: Runner | undefined = { id: 'r1', apiUrl: 'http://a' } as Runner;
  const runners = new RecentRunners({ findById: async () => (reads++, row) }, 2000, () => now.t);
  assert.equal((await runners.findById('r1'))?.apiUrl, 'http://a');
  row = { id: 'r1', apiUrl: 'http://b' } as Runner;
  now.t = 1999;
  assert.equal((await runners.findById('r1'))?.apiUrl, 'http://a');
  assert.equal(reads, 1);
  now.t = 2000;
  assert.equal((await runners.findById('r1'))?.apiUrl, 'http://b');
  assert.equal(reads, 2);
});

test('a missing runner is never remembered', async () => {
  let reads = 0;
  const runners = new RecentRunners({ findById: async () => (reads++, undefined) }, 2000, () => 0);
  assert.equal(await runners.findById('gone'), undefined);
  assert.equal(await runners.findById('gone'), undefined);
  assert.equal(reads, 2);
});

test('activity is written at most once per interval per sandbox, and retried after a failed write', async () => {
  const now = { t: 0 };
  const writes: string[] = [];
  let fail = false;
  const bumps = new ActivityBumps({ bumpActivity: async (id) => (writes.push(id), fail ? Promise.reject(new Error('db down')) : undefined) }, 5000, () => now.t);
  bumps.bump('a');
  bumps.bump('a');
  bumps.bump('b');
  assert.deepEqual(writes, ['a', 'b']);
  now.t = 4999;
  bumps.bump('a');
  assert.deepEqual(writes, ['a', 'b']);
  now.t = 5000;
  fail = true;
  bumps.bump('a');
  await new Promise((r) => setImmediate(r));
  bumps.bump('a');
  assert.deepEqual(writes, ['a', 'b', 'a', 'a'], 'a failed write does not hold back the next one');
});
