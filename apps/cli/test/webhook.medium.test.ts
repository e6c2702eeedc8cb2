import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShoalApp } from '../../api/src/app.js';
import { createTestDatabase, TEST_ADMIN_KEY, type TestDatabase } from '../../api/test/helpers/database.js';
import { buildTestApp, createTenant } from '../../api/test/helpers/app.js';
import { WebhookReceiver } from '../../../e2e/src/webhook-receiver.js';
import { runCli, type CliResult } from './helpers/run-cli.js';

/* `shoal webhook` as people run it: the CLI as a separate process against the API on loopback (real PostgreSQL). */


let dir: string;
let db: TestDatabase;
let app: ShoalApp;
let apiUrl: string;
let receiver: WebhookReceiver;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-webhook-'));
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { env: { SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', SHOAL_RECONCILE_INTERVAL_MS: '60000' } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
  receiver = await new WebhookReceiver().start();
});

after(async () => {
  await app?.close();
  await receiver?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[], key: string): Promise<CliResult> => runCli(argv, { apiUrl, key, dir });

test('shoal webhook endpoints add/list/remove, send (admin), attempts', async () => {
  const t = await createTenant(app, 'cli-webhook-tenant');
  const added = await cli(['webhook', 'endpoints', 'add', `${receiver.url}/cli`, '--events', 'test.cli,sandbox.created', '--json'], t.key);
  assert.equal(added.code, 1, 'an unknown event type is refused');
  assert.match(added.stderr, /Unknown event types: test\.cli/);

  const ok = await cli(['webhook', 'endpoints', 'add', `${receiver.url}/cli`, '--description', 'from the CLI', '--json'], t.key);
  assert.equal(ok.code, 0, ok.stderr);
  const ep = JSON.parse(ok.stdout) as { id: string; secret: string };
  receiver.set('/cli', 'ok', ep.secret);
  const list = await cli(['webhook', 'endpoints', '--json'], t.key);
  assert.deepEqual((JSON.parse(list.stdout) as { id: string }[]).map((e) => e.id), [ep.id]);

  const portal = await cli(['webhook', 'portal'], t.key);
  assert.match(portal.stdout, /\/api\/webhooks\/portal#token=/);

  assert.notEqual((await cli(['webhook', 'send', 'test.cli', '--org', t.organizationId], t.key)).code, 0, 'send is for admins');
  const sent = await cli(['webhook', 'send', 'test.cli', '--payload', '{"hello":"cli"}', '--org', t.organizationId, '--json'], TEST_ADMIN_KEY);
  assert.equal(sent.code, 0, sent.stderr);
  const msgId = (JSON.parse(sent.stdout) as { id: string }).id;
  await receiver.until(() => receiver.eventsAt('/cli').length === 1, 10_000, 'the sent message');
  assert.equal(receiver.eventsAt('/cli')[0]!.body.hello, 'cli');

  // The owner reads the attempts through the portal (the reference's attempts route is admin-only).
  const attempts = await cli(['webhook', 'attempts', msgId, '--json'], t.key);
  assert.equal(attempts.code, 0, attempts.stderr);
  assert.deepEqual((JSON.parse(attempts.stdout) as { responseStatusCode: number }[]).map((a) => a.responseStatusCode), [204]);
  const messages = await cli(['webhook', 'messages'], t.key);
  assert.match(messages.stdout, new RegExp(msgId));

  const removed = await cli(['webhook', 'endpoints', 'remove', ep.id], t.key);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(JSON.parse((await cli(['webhook', 'endpoints', '--json'], t.key)).stdout), []);
});
