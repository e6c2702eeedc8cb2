import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickPort } from '../src/ports.js';

test('a port the kernel offers twice is not handed to two of the platform\'s processes', async () => {
  const offers = [41031, 41031, 41031, 41044];
  const free = async () => offers.shift()!;
  const taken = new Set<number>([8080]);
  assert.equal(await pickPort(5300, false, taken, free), 41031);
  assert.equal(await pickPort(2222, false, taken, free), 41044);
  assert.deepEqual([...taken].sort(), [41031, 41044, 8080]);
});

test('a preferred port already taken by the layout is not reused, even when nothing listens on it yet', async () => {
  const taken = new Set<number>([65001]);
  const got = await pickPort(65001, true, taken, async () => 65002);
  assert.equal(got, 65002);
});

test('a kernel that keeps offering taken ports ends in an error, not a loop', async () => {
  await assert.rejects(pickPort(1, false, new Set([7]), async () => 7), /no free loopback port/);
});
