import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ALLOW_LIST_NETWORKS, parseNetworkAllowList } from '../src/network-allow-list.js';

const ok = (raw: string | null | undefined) => {
  const r = parseNetworkAllowList(raw);
  assert.ok(r.ok, `expected ${JSON.stringify(raw)} to parse, got ${r.ok ? '' : r.message}`);
  return r.cidrs;
};
const refused = (raw: string) => {
  const r = parseNetworkAllowList(raw);
  assert.ok(!r.ok, `expected ${JSON.stringify(raw)} to be refused, got ${JSON.stringify(r)}`);
  return r.message;
};

test('empty, blank and absent lists mean no networks', () => {
  assert.deepEqual(ok(undefined), []);
  assert.deepEqual(ok(null), []);
  assert.deepEqual(ok(''), []);
  assert.deepEqual(ok('  ,  , '), []);
});

test('CIDRs are trimmed and canonical (host bits cleared, no leading zeros)', () => {
  assert.deepEqual(ok(' 198.18.0.7/24 ,10.1.2.3/8,, 192.168.001.010/32 '), ['198.18.0.0/24', '10.0.0.0/8', '192.168.1.10/32']);
  assert.deepEqual(ok('0.0.0.0/0'), ['0.0.0.0/0']);
  assert.deepEqual(ok('255.255.255.255/32'), ['255.255.255.255/32']);
});

test('a bare address is refused, as Daytona does, not read as /32', () => {
  assert.equal(refused('1.2.3.4'), 'Invalid network format: "1.2.3.4". Missing CIDR prefix length (e.g., /24)');
  assert.match(refused('10.0.0.0/8, 1.2.3.4'), /Missing CIDR prefix length/);
});

test('invalid addresses and prefixes name the offending network', () => {
  assert.equal(refused('10.0.0.300/8'), 'Invalid IP address: "10.0.0.300" in network "10.0.0.300/8". Must be a valid IPv4 address');
  for (const bad of ['example.com/24', '1.2.3/24', '1.2.3.4.5/24', '::1/128', '1.2.3.-4/24', '1.2.3.4 /24', '1.2.3.4; flush ruleset/24']) {
    assert.match(refused(bad), /^Invalid IP address: /, bad);
  }
  assert.equal(refused('10.0.0.0/33'), 'Invalid CIDR prefix length: "33" in network "10.0.0.0/33". Must be between 0 and 32');
  for (const bad of ['1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/100', '1.2.3.4/8/8', '1.2.3.4/2 4', '1.2.3.4/8; flush ruleset']) {
    assert.match(refused(bad), /^Invalid CIDR prefix length: /, bad);
  }
});

test('at most 5 networks; empty items do not count', () => {
  const five = Array.from({ length: MAX_ALLOW_LIST_NETWORKS }, (_, i) => `198.18.${i}.0/24`);
  assert.equal(ok(`${five.join(',')},,`).length, 5);
  assert.equal(refused([...five, '198.18.9.0/24'].join(',')), 'Network allow list cannot contain more than 5 networks');
});
