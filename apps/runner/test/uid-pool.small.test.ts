import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { RANGE_SIZE, UidPool } from '../src/sandbox/uid-pool.js';

describe('uid pool', () => {
  it('hands out disjoint ranges, lowest free first, and reuses a released one', () => {
    const pool = new UidPool(2 ** 24, 3);
    const a = pool.allocate()!;
    const b = pool.allocate()!;
    const c = pool.allocate()!;
    assert.deepEqual([a, b, c], [2 ** 24, 2 ** 24 + RANGE_SIZE, 2 ** 24 + 2 * RANGE_SIZE]);
    assert.equal(pool.allocate(), undefined, 'full');
    pool.release(b);
    assert.equal(pool.allocate(), b);
  });

  it('never hands out a range a persisted sandbox holds, and reports a range claimed twice', () => {
    const pool = new UidPool(2 ** 24, 3);
    assert.equal(pool.adopt(2 ** 24 + RANGE_SIZE), true);
    assert.equal(pool.adopt(2 ** 24 + RANGE_SIZE), false);
    // A range from an older pool configuration stays taken without blocking the pool's own.
    assert.equal(pool.adopt(7 * 2 ** 24), true);
    assert.equal(pool.contains(7 * 2 ** 24), false);
    assert.deepEqual([pool.allocate(), pool.allocate(), pool.allocate()], [2 ** 24, 2 ** 24 + 2 * RANGE_SIZE, undefined]);
  });
});

describe('uid pool config', () => {
  const base = { SHOAL_RUNNER_TOKEN: 't' };
  it('follows the subnet by default, so runners on distinct subnets get disjoint pools', () => {
    const one = loadConfig({ ...base, SHOAL_RUNNER_SUBNET: '10.210.0.0/16' }).uidPool;
    const two = loadConfig({ ...base, SHOAL_RUNNER_SUBNET: '10.211.0.0/16' }).uidPool;
    assert.deepEqual(one, { base: 211 * 2 ** 24, ranges: 255 });
    assert.ok(one.base + one.ranges * RANGE_SIZE <= two.base);
    assert.ok(two.base + two.ranges * RANGE_SIZE - 1 <= 2 ** 32 - 2);
  });
  it('takes an explicit pool and rejects one past 2^32-2, unaligned, or over the image range', () => {
    assert.deepEqual(loadConfig({ ...base, SHOAL_RUNNER_UID_POOL_BASE: String(2 ** 20), SHOAL_RUNNER_UID_POOL_RANGES: '10' }).uidPool, {
      base: 2 ** 20,
      ranges: 10,
    });
    assert.throws(() => loadConfig({ ...base, SHOAL_RUNNER_UID_POOL_BASE: String(2 ** 32 - RANGE_SIZE), SHOAL_RUNNER_UID_POOL_RANGES: '1' }), /4294967294/);
    assert.throws(() => loadConfig({ ...base, SHOAL_RUNNER_SUBNET: '10.255.0.0/16' }), /4294967294/);
    assert.throws(() => loadConfig({ ...base, SHOAL_RUNNER_UID_POOL_BASE: '100001' }), /multiple of 65536/);
    assert.throws(() => loadConfig({ ...base, SHOAL_RUNNER_UID_POOL_BASE: String(65536), SHOAL_RUNNER_UID_POOL_RANGES: '2' }), /must not overlap/);
    assert.throws(() => loadConfig({ ...base, SHOAL_RUNNER_UID_POOL_RANGES: '0' }), /SHOAL_RUNNER_UID_POOL_RANGES/);
  });
});
