import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Network } from '../src/network/network.js';

/*
 * A sandbox's /sys is a sysfs mounted from inside its own network namespace. The host's /sys (bound before) listed
 * every host interface and every other sandbox's veth with its traffic counters. A sysfs stays mounted after its
 * namespace is deleted (holding the namespace's memory), so the runner unmounts it with the namespace.
 */
describe('sandbox sysfs', () => {
  const id = Math.floor(Math.random() * 0xfff).toString(16);
  const bridge = `shsys${id}`;
  const net = new Network(bridge, { base: '10.238.0.0', prefix: 16 });
  const mounts = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === dir).length;
  const bridgePorts = () => readdirSync(`/sys/class/net/${bridge}/brif`).sort();

  before(async () => {
    await net.init([]);
  });
  after(async () => {
    await net.removeHostState();
    assert.equal(existsSync(`/run/shoal-sysfs/${bridge}-1`), false);
  });

  test("shows only the sandbox's own interfaces and goes with its namespace", async () => {
    await net.setup(1);
    const dir = net.sysfsDir(1);
    assert.equal(mounts(dir), 1);
    assert.deepEqual(readdirSync(`${dir}/class/net`).sort(), ['eth0', 'lo']);
    assert.equal(readFileSync(`${dir}/class/net/eth0/address`, 'utf8').trim(), net.macFor(1));
    assert.deepEqual(bridgePorts(), [net.vethName(1)]);

    // A setup over a crashed run's leftovers (the same index still set up) ends with one mount, not two.
    await net.setup(1);
    assert.equal(mounts(dir), 1);
    assert.deepEqual(bridgePorts(), [net.vethName(1)]);

    await net.teardown(1);
    assert.equal(mounts(dir), 0);
    assert.equal(existsSync(dir), false);
    // The namespace really went: its veth left the bridge.
    await waitFor(() => bridgePorts().length === 0);
  });

  test("the stray sweep unmounts a sysfs whose namespace someone else deleted, and keeps a held index's", async () => {
    await net.setup(2);
    await net.setup(3);
    // Deleted behind the runner's back: the namespaces go, their sysfs mounts stay.
    execFileSync('ip', ['netns', 'del', `${bridge}-2`]);
    execFileSync('ip', ['netns', 'del', `${bridge}-3`]);
    assert.equal(mounts(net.sysfsDir(2)), 1);
    assert.equal(mounts(net.sysfsDir(3)), 1);

    await net.removeStrays(new Set([3]));
    assert.equal(mounts(net.sysfsDir(2)), 0);
    assert.equal(mounts(net.sysfsDir(3)), 1);
    assert.equal(existsSync(net.sysfsDir(2)), false);

    await net.teardown(3);
    assert.equal(mounts(net.sysfsDir(3)), 0);
  });
});

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ok());
}
