import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { endpointHost, loadFloor, type FloorInput } from '../src/network/floor.js';
import { Network } from '../src/network/network.js';

const base: FloorInput = {
  env: {},
  subnet: { base: '10.210.0.0', prefix: 16 },
  apiUrl: 'http://203.0.113.10:3000/api',
  defaultImage: '203.0.113.11:5100/shoal/sandbox:0.1.0',
  hostAddresses: ['127.0.0.1', '192.168.1.5', '10.210.0.1'],
};

function floor(env: NodeJS.ProcessEnv, input: Partial<FloorInput> = {}) {
  const errors: string[] = [];
  const f = loadFloor({ ...base, ...input, env }, errors);
  return { f, errors };
}

describe('egress floor settings', () => {
  it('denies link-local, this runner and its peers, and the platform endpoints by default', () => {
    const { f, errors } = floor({ SHOAL_RUNNER_PEER_SUBNETS: '10.211.0.0/16' });
    assert.deepEqual(errors, []);
    const deny = f.deny.map((c) => `${c.base}/${c.prefix}`);
    for (const c of ['169.254.0.0/16', '127.0.0.0/8', '10.210.0.0/16', '10.211.0.0/16', '203.0.113.10/32', '203.0.113.11/32']) assert.ok(deny.includes(c), c);
    assert.deepEqual(f.allowPrivate, []);
    assert.deepEqual(
      f.privateRanges.map((c) => `${c.base}/${c.prefix}`),
      ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'],
    );
  });

  it('opens operator-listed private CIDRs', () => {
    const { f, errors } = floor({ SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS: '172.29.4.0/24, 192.168.7.9' });
    assert.deepEqual(errors, []);
    assert.deepEqual(f.allowPrivate, [
      { base: '172.29.4.0', prefix: 24 },
      { base: '192.168.7.9', prefix: 32 },
    ]);
  });

  it('rejects operator settings that would open what the floor denies, all reasons at once', () => {
    const { errors } = floor({
      SHOAL_RUNNER_PEER_SUBNETS: '10.211.0.0/16',
      SHOAL_RUNNER_DENY_CIDRS: '172.30.0.0/16',
      SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS: '10.0.0.0/8,192.168.1.0/24,169.254.169.254,172.30.1.0/24,8.8.8.0/24,nonsense',
      SHOAL_RUNNER_LIMITED_EGRESS_CIDRS: '203.0.113.10,172.31.0.0/16',
    });
    const text = errors.join('\n');
    assert.match(text, /10\.0\.0\.0\/8 would open this runner’s sandbox subnet/);
    assert.match(text, /10\.0\.0\.0\/8 would open another runner’s sandbox subnet/);
    assert.match(text, /192\.168\.1\.0\/24 contains this host's address 192\.168\.1\.5/);
    assert.match(text, /169\.254\.169\.254\/32 would open link-local/);
    assert.match(text, /172\.30\.1\.0\/24 would open SHOAL_RUNNER_DENY_CIDRS/);
    assert.match(text, /8\.8\.8\.0\/24 is not inside a private range/);
    assert.match(text, /"nonsense" is not an IPv4 address or CIDR/);
    assert.match(text, /LIMITED_EGRESS_CIDRS: 203\.0\.113\.10\/32 would open a platform endpoint/);
    assert.match(text, /LIMITED_EGRESS_CIDRS: 172\.31\.0\.0\/16 is in a private range; open it with SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS/);
  });

  it('loadConfig fails at start with the floor errors among the others', () => {
    assert.throws(
      () => loadConfig({ SHOAL_RUNNER_PORT: 'x', SHOAL_RUNNER_TOKEN: 't', SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS: '10.210.5.0/24' }),
      (err: Error) => /SHOAL_RUNNER_PORT/.test(err.message) && /10\.210\.5\.0\/24 would open this runner’s sandbox subnet/.test(err.message),
    );
  });

  it('finds the host of an API URL and of an image reference', () => {
    assert.equal(endpointHost('http://api.internal:3000/api'), 'api.internal');
    assert.equal(endpointHost('127.0.0.1:5100/shoal/sandbox:0.1.0'), '127.0.0.1');
    assert.equal(endpointHost('http://[fd00::1]:3000'), 'fd00::1');
    assert.equal(endpointHost('debian:12'), undefined);
    assert.equal(endpointHost(undefined), undefined);
  });

  it('puts the floor before any allow rule and gates DNS per sandbox', () => {
    const n = new Network('shoal0', { base: '10.210.0.0', prefix: 16 });
    const rules = n.ruleset();
    const forward = rules.slice(rules.indexOf('chain forward'));
    assert.ok(forward.indexOf('jump floor') < forward.indexOf('@open accept'));
    assert.ok(forward.indexOf('jump floor') < forward.indexOf('ct state established'));
    assert.match(rules, /ip daddr @private ip daddr != @private_open reject/);
    assert.match(rules, /ip saddr @dns ip daddr 10\.210\.0\.1 udp dport 53 accept/);
    assert.doesNotMatch(rules, /iifname "shoal0" ip daddr 10\.210\.0\.1 udp dport 53 accept/);
  });
});
