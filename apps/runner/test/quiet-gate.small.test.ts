import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuietGate } from '../src/util/quiet-gate.js';

/** A gate on a clock the test moves: each sleep advances it by what was asked. */
function gateOnFakeClock(quietMs: number, maxWaitMs: number) {
  const clock = { t: 1000, slept: [] as number[] };
  const gate = new QuietGate(quietMs, maxWaitMs, () => clock.t, async (ms) => {
    clock.slept.push(ms);
    clock.t += ms;
  });
  return { gate, clock };
}

test('quiet from the start, and settled() then returns without sleeping', async () => {
  const { gate, clock } = gateOnFakeClock(50, 2000);
  assert.equal(gate.quiet, true);
  await gate.settled();
  assert.deepEqual(clock.slept, []);
});

test('a request in flight keeps it busy; quiet comes quietMs after the request ended', async () => {
  const { gate, clock } = gateOnFakeClock(50, 2000);
  const end = gate.begin();
  assert.equal(gate.quiet, false);
  clock.t += 500;
  assert.equal(gate.quiet, false, 'still in flight');
  end();
  end(); // twice: counted once
  assert.equal(gate.quiet, false, 'just ended');
  await gate.settled();
  assert.equal(clock.t, 1550, 'settled 50 ms after the end');
  const other = gate.begin();
  assert.equal(gate.quiet, false, 'a second end() of the first request must not end the second one');
  other();
});

test('touch() restarts the quiet period', async () => {
  const { gate, clock } = gateOnFakeClock(50, 2000);
  gate.touch();
  clock.t += 30;
  assert.equal(gate.quiet, false);
  await gate.settled();
  assert.equal(clock.t, 1050);
});

test('a request that never ends delays settled() by maxWaitMs, no more', async () => {
  const { gate, clock } = gateOnFakeClock(50, 2000);
  gate.begin();
  await gate.settled();
  assert.equal(clock.t, 3000);
  assert.equal(gate.quiet, false);
});

test('on the real clock, settled() waits for the end of a request', async () => {
  const gate = new QuietGate(20, 5000);
  const end = gate.begin();
  let settled = false;
  const waiting = gate.settled().then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(settled, false);
  end();
  await waiting;
  assert.equal(gate.quiet, true);
});

test('waited(since) counts maxWaitMs from when the upkeep began to wait, not from the last look', async () => {
  const { gate, clock } = gateOnFakeClock(50, 2000);
  const since = gate.mark();
  gate.begin();
  clock.t += 1500;
  assert.equal(gate.waited(since), false);
  await gate.settled(since);
  assert.equal(clock.t, 3000, 'settled 2000 ms after the mark, though it was asked 1500 ms later');
  assert.equal(gate.waited(since), true);
  assert.equal(gate.waited(gate.mark()), false, 'a new mark waits again');
});
