import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Network } from '../src/network/network.js';

/*
 * The gateway's MAC must not move. A Linux bridge whose address was never set takes the lowest MAC among its ports,
 * so a sandbox's veth joining with a lower one changed the gateway's MAC under every running sandbox, whose ARP cache
 * still named the old one: their DNS and egress went silent for seconds (seen in CI as timeouts in tests that had
 * passed minutes earlier against the same sandbox).
 */
describe('runner bridge', () => {
  const id = Math.floor(Math.random() * 0xfff).toString(16);
  const bridge = `shmac${id}`;
  const port = `shmacp${id}`;
  const net = new Network(bridge, { base: '10.239.0.0', prefix: 16 });
  const mac = () => readFileSync(`/sys/class/net/${bridge}/address`, 'utf8').trim();

  before(async () => {
    await net.init([]);
  });
  after(async () => {
    execFileSync('ip', ['link', 'del', port], { stdio: 'ignore' });
    await net.removeHostState();
  });

  test("keeps the gateway's MAC when a port with a lower MAC joins, and across a second init", async () => {
    assert.equal(mac(), '02:53:0a:ef:00:01');
    // What a sandbox's host-side veth may bring: the lowest MAC there is.
    execFileSync('ip', ['link', 'add', port, 'address', '00:00:00:00:00:05', 'type', 'veth', 'peer', 'name', `${port}x`]);
    execFileSync('ip', ['link', 'set', port, 'master', bridge]);
    assert.equal(mac(), '02:53:0a:ef:00:01');
    await net.init([]);
    assert.equal(mac(), '02:53:0a:ef:00:01');
  });
});
