import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { FailureLimiter, HOST_KEY_FILE, loadGatewayConfig, loadOrCreateHostKey } from '../src/index.js';
import { generateEd25519PrivateKey } from '../src/host-key.js';

test('failed logins: an address is blocked at the limit, others are not, and the block ends with the window', () => {
  let now = 1_000_000;
  const limiter = new FailureLimiter(3, 60_000, () => now);
  for (let i = 0; i < 2; i++) limiter.fail('198.18.0.1');
  assert.equal(limiter.blocked('198.18.0.1'), false);
  limiter.fail('198.18.0.1');
  assert.equal(limiter.blocked('198.18.0.1'), true);
  assert.equal(limiter.blocked('198.18.0.2'), false);
  now += 60_001;
  assert.equal(limiter.blocked('198.18.0.1'), false);
});

test('the host key is ed25519, created once with mode 0600 and the same on every later load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ssh-gw-'));
  try {
    const first = await loadOrCreateHostKey(join(dir, 'gw'));
    assert.match(first.publicLine, /^ssh-ed25519 AAAA/);
    assert.match(first.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal((await stat(join(dir, 'gw', HOST_KEY_FILE))).mode & 0o777, 0o600);
    const again = await loadOrCreateHostKey(join(dir, 'gw'));
    assert.equal(again.publicLine, first.publicLine);
    // Gateways starting together on one data dir: every one loads the same, whole key (a loser once read an empty file).
    for (let round = 0; round < 100; round++) {
      const race = join(dir, `race-${round}`);
      const keys = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateHostKey(race)));
      assert.deepEqual(new Set(keys.map((k) => k.publicLine)).size, 1);
      assert.deepEqual(await readdir(race), [HOST_KEY_FILE], 'no temporary file is left behind');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('host key generation draws again when ssh2 produces a key it cannot load (public key starting with a zero byte)', () => {
  // Find a real broken key from ssh2's generator (about one in 128), then feed it first.
  let broken: string | undefined;
  for (let i = 0; i < 5000 && !broken; i++) {
    const text = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (ssh2.utils.parseKey(text) instanceof Error) broken = text;
  }
  assert.ok(broken, 'ssh2 produced no unloadable key in 5000 tries');
  const good = ssh2.utils.generateKeyPairSync('ed25519').private;
  const queue = [broken, broken, good];
  assert.equal(generateEd25519PrivateKey(() => queue.shift() ?? good), good);
  assert.throws(() => generateEd25519PrivateKey(() => broken!), /could not generate/);
});

test('configuration: the service credential and the data dir are required', () => {
  assert.throws(() => loadGatewayConfig({}), /SHOAL_SSH_GATEWAY_TOKEN[\s\S]*SHOAL_SSH_DATA_DIR/);
  assert.throws(() => loadGatewayConfig({ SHOAL_SSH_GATEWAY_TOKEN: 'short', SHOAL_SSH_DATA_DIR: '/x' }), /at least 32/);
  const c = loadGatewayConfig({ SHOAL_SSH_GATEWAY_TOKEN: 'k'.repeat(32), SHOAL_SSH_DATA_DIR: '/x', SHOAL_API_URL: 'http://127.0.0.1:9/api/' });
  assert.deepEqual([c.port, c.apiUrl, c.maxFailures], [2222, 'http://127.0.0.1:9', 10]);
});
