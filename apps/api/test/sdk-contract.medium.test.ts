import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Daytona } from '@daytonaio/sdk';
import { DaytonaNotFoundError } from '@daytonaio/sdk/src/errors/DaytonaError.js';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_ADMIN_KEY, type TestDatabase } from './helpers/database.js';
import { buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * The official SDK (unchanged) against the real API over HTTP, with the FAKE runner behind it: this pins the wire
 * contract of the control plane (request encodings, DTO fields, error classes). Real sandboxes are the e2e tests' job.
 */

const TOKEN = 'sdk-contract-fake-runner-token';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let daytona: Daytona;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url);
  await app.listen({ host: '127.0.0.1', port: 0 });
  await registerRunner(app, runner.url, TOKEN);
  daytona = new Daytona({ apiKey: TEST_ADMIN_KEY, apiUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`, target: 'us' });
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

test('SDK lifecycle: create, get, list, findOne, setLabels, stop, start, archive+start, intervals, preview, ssh, delete', async () => {
  const sb = await daytona.create({ language: 'typescript', labels: { suite: 'sdk' }, envVars: { A: 'b' }, autoStopInterval: 7 });
  assert.equal(sb.state, 'started');
  assert.deepEqual(sb.labels, { suite: 'sdk', 'code-toolbox-language': 'typescript' });
  assert.deepEqual(sb.env, { A: 'b' });
  assert.equal(sb.autoStopInterval, 7);

  const got = await daytona.get(sb.id);
  assert.equal(got.id, sb.id);
  const list = await daytona.list({ suite: 'sdk' });
  assert.deepEqual(list.items.map((s) => s.id), [sb.id]);
  assert.equal(list.total, 1);
  const found = await daytona.findOne({ labels: { suite: 'sdk' } });
  assert.equal(found.id, sb.id);

  const labels = await sb.setLabels({ public: 'true' });
  assert.deepEqual(labels, { public: 'true' });

  await sb.stop();
  assert.equal(sb.state, 'stopped');
  await sb.start();
  assert.equal(sb.state, 'started');
  await sb.stop();
  await sb.archive();
  await sb.refreshData();
  assert.ok(['archiving', 'archived'].includes(sb.state ?? ''));
  await sb.start();
  assert.equal(sb.state, 'started');

  await sb.setAutostopInterval(0);
  await sb.setAutoArchiveInterval(0);
  await sb.setAutoDeleteInterval(-1);
  await sb.refreshData();
  assert.deepEqual([sb.autoStopInterval, sb.autoArchiveInterval, sb.autoDeleteInterval], [0, 43200, -1]);

  const preview = await sb.getPreviewLink(3000);
  assert.match(preview.url, new RegExp(`/preview/3000-${sb.id}$`));
  assert.match(preview.token, /^[a-z0-9]{32}$/);

  const ssh = await sb.createSshAccess(30);
  assert.equal(ssh.sandboxId, sb.id);
  // validateSshAccess is the SSH gateway's alone (its service credential); an SDK user's key is refused.
  await assert.rejects(sb.validateSshAccess(ssh.token), /403|Forbidden/i);
  await sb.revokeSshAccess(ssh.token);

  // The fake runner answers with the command it received: the SDK's wrapping (wire contract §9.1) reached it unchanged.
  const exec = await sb.process.executeCommand('echo hi');
  assert.deepEqual([exec.exitCode, exec.result], [0, `sh -c "echo '${Buffer.from('echo hi').toString('base64')}' | base64 -d | sh"`]);

  await sb.delete();
  await assert.rejects(daytona.get('00000000-0000-0000-0000-000000000000'), DaytonaNotFoundError);
  await assert.rejects(daytona.create({ snapshot: 'missing:1' }), /Snapshot missing:1 not found/);
});
