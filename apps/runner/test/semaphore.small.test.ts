import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from '../src/util/semaphore.js';

test('never more than max at once, and waiters run in arrival order', async () => {
  const s = new Semaphore(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const jobs = Array.from({ length: 6 }, (_, i) =>
    s.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((r) => gates.push(r));
      running--;
    }),
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.load, { active: 2, waiting: 4 });
  while (order.length < 6 || gates.length) {
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(jobs);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(s.load, { active: 0, waiting: 0 });
});

test('a failing holder gives its slot back', async () => {
  const s = new Semaphore(1);
  await assert.rejects(s.run(async () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await s.run(async () => 'next'), 'next');
  assert.deepEqual(s.load, { active: 0, waiting: 0 });
});

test('low-priority callers get a slot only when no normal caller waits', async () => {
  const s = new Semaphore(1);
  const order: string[] = [];
  let open!: () => void;
  const first = s.run(() => new Promise<void>((r) => (open = r)));
  const jobs = [
    s.run(async () => void order.push('fill-1'), 'low'),
    s.run(async () => void order.push('user-1')),
    s.run(async () => void order.push('fill-2'), 'low'),
    s.run(async () => void order.push('user-2')),
  ];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.load, { active: 1, waiting: 4 });
  open();
  await Promise.all([first, ...jobs]);
  assert.deepEqual(order, ['user-1', 'user-2', 'fill-1', 'fill-2']);
  // With a slot free and nobody waiting, a low-priority caller starts at once.
  assert.equal(await s.run(async () => 'now', 'low'), 'now');
  assert.deepEqual(s.load, { active: 0, waiting: 0 });
});

test('idle callers get a slot only once no one holds or waits for one', async () => {
  const s = new Semaphore(2);
  const order: string[] = [];
  let openA!: () => void;
  let openB!: () => void;
  const a = s.run(() => new Promise<void>((r) => (openA = r)));
  const spare = s.run(async () => void order.push('spare'), 'idle');
  await new Promise((r) => setImmediate(r));
  // A slot is free, but a start holds the other one.
  assert.equal(order.length, 0);
  const b = s.run(() => new Promise<void>((r) => (openB = r)));
  const fill = s.run(async () => void order.push('fill'), 'low');
  openA();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['fill']);
  openB();
  await Promise.all([a, b, fill, spare]);
  assert.deepEqual(order, ['fill', 'spare']);
  assert.deepEqual(s.load, { active: 0, waiting: 0 });
});

test('a high-priority caller gets the next free slot before normal and low ones that waited longer', async () => {
  const s = new Semaphore(1);
  const order: string[] = [];
  let open!: () => void;
  const holder = s.run(() => new Promise<void>((r) => (open = r)));
  const jobs = [
    s.run(async () => void order.push('normal'), 'normal'),
    s.run(async () => void order.push('low'), 'low'),
    s.run(async () => void order.push('high'), 'high'),
  ];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.load, { active: 1, waiting: 3 });
  open();
  await Promise.all([holder, ...jobs]);
  assert.deepEqual(order, ['high', 'normal', 'low']);
});
