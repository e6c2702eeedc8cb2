// The control plane driven end to end by the official SDK against a real runner: every lifecycle and settings call
// the SDK makes for sandboxes, each asserting the fields the server returns.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});

after(async () => {
  await platform?.close();
});

describe('sandbox lifecycle through the SDK', () => {
  let sandbox: Sandbox;
  const runLabel = `run-${Date.now()}`;

  test('create() echoes labels, env, intervals and network fields', async () => {
    const daytona = platform.sdk();
    sandbox = await daytona.create({
      language: 'javascript',
      labels: { suite: 'lifecycle', run: runLabel },
      envVars: { GREETING: 'hello world', QUOTED: `it's "quoted"` },
      autoStopInterval: 30,
      autoArchiveInterval: 120,
      autoDeleteInterval: -1,
      networkAllowList: '10.0.0.0/8',
    });
    assert.equal(sandbox.state, 'started');
    assert.match(sandbox.id, /^[0-9a-f-]{8,}/);
    assert.equal(sandbox.labels.suite, 'lifecycle');
    assert.equal(sandbox.labels['code-toolbox-language'], 'javascript');
    assert.equal(sandbox.env.GREETING, 'hello world');
    assert.equal(sandbox.autoStopInterval, 30);
    assert.equal(sandbox.autoArchiveInterval, 120);
    assert.equal(sandbox.autoDeleteInterval, -1);
    assert.equal(sandbox.networkBlockAll, false);
    assert.equal(sandbox.networkAllowList, '10.0.0.0/8');
    assert.equal(sandbox.user, 'daytona');
    assert.equal(sandbox.target, 'us');
    assert.equal(sandbox.snapshot, platform.defaultSnapshot);
    assert.ok(sandbox.cpu >= 1 && sandbox.memory >= 1 && sandbox.disk >= 1);
    const env = await sandbox.process.executeCommand('printf %s "$GREETING|$QUOTED"');
    assert.equal(env.result, `hello world|it's "quoted"`);
  });

  test('get, list with a label filter, and findOne return the same sandbox', async () => {
    const daytona = platform.sdk();
    const got = await daytona.get(sandbox.id);
    assert.equal(got.id, sandbox.id);
    assert.equal(got.state, 'started');
    const page = await daytona.list({ run: runLabel }, 1, 10);
    assert.equal(page.total, 1);
    assert.equal(page.page, 1);
    assert.equal(page.totalPages, 1);
    assert.equal(page.items[0]?.id, sandbox.id);
    const none = await daytona.list({ run: 'no-such-run' });
    assert.equal(none.total, 0);
    assert.deepEqual(none.items, []);
    const found = await daytona.findOne({ labels: { run: runLabel } });
    assert.equal(found.id, sandbox.id);
    await assert.rejects(daytona.findOne({ labels: { run: 'no-such-run' } }), /No sandbox found/);
  });

  test('setLabels replaces the labels', async () => {
    const labels = await sandbox.setLabels({ run: runLabel, public: 'true', 'code-toolbox-language': 'javascript' });
    assert.deepEqual(labels, { run: runLabel, public: 'true', 'code-toolbox-language': 'javascript' });
    const again = await platform.sdk().get(sandbox.id);
    assert.equal(again.labels.suite, undefined);
    assert.equal(again.labels.public, 'true');
  });

  test('stop keeps files; start brings the sandbox back with them', async () => {
    await sandbox.process.executeCommand('sh -c "echo persisted > keep.txt"');
    await sandbox.stop();
    assert.equal(sandbox.state, 'stopped');
    await assert.rejects(sandbox.process.executeCommand('true'), /not running|not started/i);
    await sandbox.start();
    assert.equal(sandbox.state, 'started');
    const cat = await sandbox.process.executeCommand('cat keep.txt');
    assert.equal(cat.result.trim(), 'persisted');
  });

  test('archive then start', async () => {
    await sandbox.stop();
    await sandbox.archive();
    await sandbox.refreshData();
    assert.ok(['archiving', 'archived'].includes(String(sandbox.state)), `state after archive: ${sandbox.state}`);
    await sandbox.start(120);
    assert.equal(sandbox.state, 'started');
    const cat = await sandbox.process.executeCommand('cat keep.txt');
    assert.equal(cat.result.trim(), 'persisted');
  });

  test('interval setters are stored', async () => {
    await sandbox.setAutostopInterval(0);
    await sandbox.setAutoArchiveInterval(0);
    await sandbox.setAutoDeleteInterval(90);
    const got = await platform.sdk().get(sandbox.id);
    assert.equal(got.autoStopInterval, 0);
    assert.equal(got.autoArchiveInterval, 43200, 'autoArchive 0 means the maximum');
    assert.equal(got.autoDeleteInterval, 90);
    await sandbox.setAutoDeleteInterval(-1);
    assert.equal((await platform.sdk().get(sandbox.id)).autoDeleteInterval, -1);
  });

  test('getPreviewLink returns a url and token that reach the sandbox', async () => {
    const link = await sandbox.getPreviewLink(2280);
    assert.match(link.url, /^https?:\/\//);
    assert.ok(link.token.length >= 16);
    // The toolbox port opens only with an API key that may change the sandbox, as the SDK sends on its WebSockets;
    // the preview token alone opens the user's app ports, never the toolbox.
    const auth = { authorization: `Bearer ${platform.apiKey}`, 'X-Daytona-Preview-Token': link.token };
    const res = await fetch(`${link.url}/version`, { headers: auth });
    assert.equal(res.status, 200);
    const tokenOnly = await fetch(`${link.url}/version`, { headers: { 'X-Daytona-Preview-Token': link.token } });
    assert.equal(tokenOnly.status, 401, `preview token alone on 2280: HTTP ${tokenOnly.status}`);
    const denied = await fetch(`${link.url}/version`);
    assert.ok(denied.status === 401 || denied.status === 403, `no token: HTTP ${denied.status}`);
  });

  test('ssh access tokens can be created and revoked; only the SSH gateway may validate them', async () => {
    const access = await sandbox.createSshAccess(30);
    assert.equal(access.sandboxId, sandbox.id);
    assert.ok(access.token.length >= 16);
    assert.ok(new Date(access.expiresAt).getTime() > Date.now() + 25 * 60_000);
    // Issue 13: validateSshAccess answers the gateway's service credential only, so a user's key is refused.
    await assert.rejects(sandbox.validateSshAccess(access.token), /Forbidden/);
    const validate = async () => {
      const res = await fetch(`${platform.apiUrl}/sandbox/ssh-access/validate?token=${access.token}`, { headers: { authorization: `Bearer ${platform.ssh!.token}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as { valid: boolean; sandboxId: string | null };
    };
    const valid = await validate();
    assert.equal(valid.valid, true);
    assert.equal(valid.sandboxId, sandbox.id);
    await sandbox.revokeSshAccess(access.token);
    const revoked = await validate();
    assert.equal(revoked.valid, false);
    assert.equal(revoked.sandboxId, null);
  });

  test('delete: GET right after still answers, then the sandbox is destroyed', async () => {
    await sandbox.delete();
    const got = await platform.sdk().get(sandbox.id);
    assert.ok(['destroying', 'destroyed'].includes(String(got.state)), `state after delete: ${got.state}`);
  });
});

test('a sandbox with an unknown snapshot is refused with the reference message', async () => {
  await assert.rejects(platform.sdk().create({ snapshot: 'no-such-snapshot:1' }), /Snapshot no-such-snapshot:1 not found/);
});
