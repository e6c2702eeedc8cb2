import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CredentialCache } from '../src/auth/credential-cache.js';

function cache(now: { t: number }) {
  return new CredentialCache<string>({ ttlMs: 1000, maxEntries: 3, now: () => now.t });
}

test('serves nothing until live, and nothing once it stops being live', () => {
  const now = { t: 0 };
  const c = cache(now);
  c.set('k', 'v', c.snapshot());
  assert.equal(c.get('k'), undefined, 'not stored while not live');
  c.setLive(true);
  c.set('k', 'v', c.snapshot());
  assert.equal(c.get('k'), 'v');
  c.setLive(false);
  assert.equal(c.get('k'), undefined);
  c.setLive(true);
  assert.equal(c.get('k'), undefined, 'going live again starts empty');
});

test('entries expire after the TTL', () => {
  const now = { t: 0 };
  const c = cache(now);
  c.setLive(true);
  c.set('k', 'v', c.snapshot());
  now.t = 999;
  assert.equal(c.get('k'), 'v');
  now.t = 1000;
  assert.equal(c.get('k'), undefined);
});

test('a lookup that began before an invalidation cannot store what it read', () => {
  const c = cache({ t: 0 });
  c.setLive(true);
  const generation = c.snapshot();
  c.invalidate();
  c.set('k', 'stale', generation);
  assert.equal(c.get('k'), undefined);
  c.set('k', 'fresh', c.snapshot());
  assert.equal(c.get('k'), 'fresh');
});

test('never holds more than maxEntries', () => {
  const c = cache({ t: 0 });
  c.setLive(true);
  for (let i = 0; i < 10; i++) c.set(`k${i}`, 'v', c.snapshot());
  assert.ok(c.size <= 3);
  assert.equal(c.get('k9'), 'v');
});
