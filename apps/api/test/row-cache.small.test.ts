import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RowCache } from '../src/services/row-cache.js';
import { sandboxWrites } from '../src/repositories/sandbox-writes.js';

/** A database of one-field rows whose loads can be held open, and a count of them. */
function world(opts: { maxEntries?: number } = {}) {
  const now = { t: 0 };
  const db = new Map<string, string>([
    ['a', 'a1'],
    ['b', 'b1'],
  ]);
  let loads = 0;
  const load = async (id: string) => {
    loads++;
    return db.get(id);
  };
  const cache = new RowCache<string>({ ttlMs: 1000, maxEntries: opts.maxEntries ?? 100, now: () => now.t });
  return { now, db, load, cache, loads: () => loads };
}

/** A load that reads the row now and answers only when released, like a query whose answer is still on its way. */
function heldLoad(db: Map<string, string>) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const load = async (id: string) => {
    const v = db.get(id);
    await gate;
    return v;
  };
  return { load, release };
}

test('serves from memory only while live; going live again starts empty', async () => {
  const w = world();
  assert.equal(await w.cache.read('a', w.load), 'a1');
  assert.equal(await w.cache.read('a', w.load), 'a1');
  assert.equal(w.loads(), 2, 'not live: every read loads');
  w.cache.setLive(true);
  await w.cache.read('a', w.load);
  await w.cache.read('a', w.load);
  assert.equal(w.loads(), 3, 'live: the second read is served from memory');
  w.cache.setLive(false);
  await w.cache.read('a', w.load);
  assert.equal(w.loads(), 4);
  w.cache.setLive(true);
  w.db.set('a', 'a2');
  assert.equal(await w.cache.read('a', w.load), 'a2', 'nothing from before the connection loss is served');
});

test('a heard change drops that row only; "*" drops all', async () => {
  const w = world();
  w.cache.setLive(true);
  await w.cache.read('a', w.load);
  await w.cache.read('b', w.load);
  w.db.set('a', 'a2');
  w.db.set('b', 'b2');
  w.cache.heard('a');
  assert.equal(await w.cache.read('a', w.load), 'a2');
  assert.equal(await w.cache.read('b', w.load), 'b1', 'b changed unheard: still the cached row');
  w.cache.heard('*');
  assert.equal(await w.cache.read('b', w.load), 'b2');
});

test('rows expire after the TTL; missing rows are never cached', async () => {
  const w = world();
  w.cache.setLive(true);
  await w.cache.read('a', w.load);
  w.db.set('a', 'a2');
  w.now.t = 999;
  assert.equal(await w.cache.read('a', w.load), 'a1');
  w.now.t = 1000;
  assert.equal(await w.cache.read('a', w.load), 'a2');
  assert.equal(await w.cache.read('new', w.load), undefined);
  w.db.set('new', 'n1');
  assert.equal(await w.cache.read('new', w.load), 'n1', 'an insert needs no notice');
});

test('a lookup that read before a change was heard does not store what it read', async () => {
  const w = world();
  w.cache.setLive(true);
  const held = heldLoad(w.db);
  const reading = w.cache.read('a', held.load);
  w.db.set('a', 'a2');
  w.cache.heard('a');
  held.release();
  assert.equal(await reading, 'a1', 'the caller gets what the query saw');
  assert.equal(await w.cache.read('a', w.load), 'a2', 'but it was not kept');
});

test('a row written here is dropped at once, and a lookup older than the write stores nothing', async () => {
  const w = world();
  w.cache.setLive(true);
  await w.cache.read('a', w.load);
  const held = heldLoad(w.db);
  const reading = w.cache.read('b', held.load);
  w.db.set('a', 'a2');
  w.db.set('b', 'b2');
  w.cache.wrote(['a', 'b']);
  assert.equal(await w.cache.read('a', w.load), 'a2', 'no notice needed');
  held.release();
  assert.equal(await reading, 'b1');
  assert.equal(await w.cache.read('b', w.load), 'b2');
});

test('sandboxWrites: a write in a transaction is told at once and again at commit, never when rolled back', () => {
  const told: string[][] = [];
  const stop = sandboxWrites.subscribe((ids) => told.push([...ids]));
  try {
    const plain = { isTransaction: false };
    sandboxWrites.wroteIf(plain, 'x', 0n);
    sandboxWrites.wroteIf(plain, 'x', 1n);
    assert.deepEqual(told, [['x']], 'a statement that changed nothing is not told');
    const trx = { isTransaction: true };
    sandboxWrites.wrote(trx, ['y']);
    sandboxWrites.wroteIf(trx, 'z', 1n);
    assert.deepEqual(told.slice(1), [['y'], ['z']]);
    sandboxWrites.committed(trx);
    assert.deepEqual(told.slice(3), [['y', 'z']]);
    sandboxWrites.committed(trx);
    assert.equal(told.length, 4, 'told once per commit');
    const rolledBack = { isTransaction: true };
    sandboxWrites.wrote(rolledBack, ['w']);
    assert.equal(told.length, 5);
  } finally {
    stop();
  }
  sandboxWrites.wrote({ isTransaction: false }, ['after']);
  assert.equal(told.length, 5, 'unsubscribed');
});

test('dropping the change records when full keeps older lookups from storing', async () => {
  const w = world({ maxEntries: 2 });
  w.cache.setLive(true);
  const held = heldLoad(w.db);
  const reading = w.cache.read('a', held.load);
  w.db.set('a', 'a2');
  w.cache.heard('a');
  w.cache.heard('x');
  w.cache.heard('y'); // the records are full: 'a''s is dropped
  held.release();
  await reading;
  assert.equal(await w.cache.read('a', w.load), 'a2');
});
