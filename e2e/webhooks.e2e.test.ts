// Issue 12 acceptance: a webhook receiver on loopback gets `sandbox.created` and the state changes of a sandbox's life
// (create, stop, start, delete) driven by the SDK, verifies every signature (standardwebhooks), and still receives
// every event when it answers 500 for a while and when the API is killed and started again mid-delivery; the
// attempts of a message that failed first are listed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { WebhookReceiver, type ReceivedEvent } from './src/webhook-receiver.js';

let platform: TestPlatform;
let receiver: WebhookReceiver;

before(async () => {
  receiver = await new WebhookReceiver().start();
  platform = await startTestPlatform({
    // The receiver is on loopback, which the operator must allow; short retries keep the file fast.
    extraApiEnv: { SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', SHOAL_WEBHOOK_RETRY_BASE_MS: '300' },
  });
});

after(async () => {
  await platform?.close();
  await receiver?.stop();
});

async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const res = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${platform.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T };
}

function transitions(events: ReceivedEvent[], sandboxId: string): string[] {
  return events
    .filter((e) => e.body.id === sandboxId && e.body.event === 'sandbox.state.updated')
    .sort((a, b) => Date.parse(String(a.body.timestamp)) - Date.parse(String(b.body.timestamp)))
    .map((e) => `${String(e.body.oldState)}>${String(e.body.newState)}`);
}

test('a loopback receiver gets a sandbox life, signed, through 500s and an API restart', async () => {
  const t0 = Date.now();
  const orgs = await api<{ id: string }[]>('GET', '/organizations');
  const organizationId = orgs.json[0]!.id;
  const access = await api<{ url: string }>('POST', `/webhooks/organizations/${organizationId}/app-portal-access`);
  assert.equal(access.status, 200);
  const token = new URLSearchParams(new URL(access.json.url).hash.slice(1)).get('token')!;
  const created = await api<{ id: string; secret: string }>('POST', '/webhooks/portal/endpoints', { url: `${receiver.url}/e2e`, description: 'e2e' }, { 'x-shoal-portal-token': token });
  assert.equal(created.status, 201);
  receiver.set('/e2e', 'ok', created.json.secret);

  const sandbox = await platform.sdk().create({ labels: { suite: 'webhooks' } });
  await receiver.until(() => transitions(receiver.eventsAt('/e2e'), sandbox.id).some((s) => s.endsWith('>started')), 60_000, 'the sandbox started event');
  const createdEvent = receiver.eventsAt('/e2e').find((e) => e.body.event === 'sandbox.created' && e.body.id === sandbox.id);
  assert.ok(createdEvent, 'sandbox.created arrived');
  assert.equal(createdEvent.body.organizationId, organizationId);

  // The receiver fails for a while: the stop's events are retried, and the API is killed and started again meanwhile.
  receiver.set('/e2e', 'fail');
  await sandbox.stop();
  await receiver.until(() => receiver.requests.filter((r) => r.path === '/e2e' && r.status === 500).length >= 3, 30_000, 'failed attempts');
  const failedIds = [...new Set(receiver.requests.filter((r) => r.path === '/e2e' && r.status === 500).map((r) => r.id))];
  await platform.api.kill();
  await platform.startApi();
  receiver.set('/e2e', 'ok');
  await receiver.until(() => failedIds.every((id) => receiver.eventsAt('/e2e').some((e) => e.id === id)), 60_000, 'the failed messages after the restart');

  await sandbox.start();
  await sandbox.delete();
  await receiver.until(() => transitions(receiver.eventsAt('/e2e'), sandbox.id).some((s) => s.endsWith('>destroyed')), 60_000, 'the destroyed event');

  const chain = transitions(receiver.eventsAt('/e2e'), sandbox.id);
  console.log(`[webhooks e2e] ${chain.join(', ')}`);
  for (let i = 1; i < chain.length; i++) assert.equal(chain[i]!.split('>')[0], chain[i - 1]!.split('>')[1], `contiguous at ${i}: ${chain.join(', ')}`);
  assert.equal(chain[0]!.split('>')[0], createdEvent.body.state, 'the chain starts at the created state');
  const reached = chain.map((s) => s.split('>')[1]);
  // Transitional states are derived from the desired state (as clients see them), so receivers get them too.
  for (const state of ['stopping', 'stopped', 'starting', 'destroying']) assert.ok(reached.includes(state), `${state} in ${chain.join(', ')}`);
  assert.ok(reached.filter((s) => s === 'started').length >= 2, 'started, then started again after the stop');
  assert.equal(reached.at(-1), 'destroyed');
  assert.equal(receiver.badSignatures, 0);

  const attempts = await api<{ responseStatusCode: number; status: number }[]>('GET', `/webhooks/organizations/${organizationId}/messages/${failedIds[0]}/attempts`);
  assert.equal(attempts.status, 200);
  const codes = attempts.json.map((a) => a.responseStatusCode);
  assert.equal(codes[0], 500);
  assert.equal(codes.at(-1), 204);
  console.log(`[webhooks e2e] attempts of ${failedIds[0]}: ${codes.join(', ')}; ${receiver.eventsAt('/e2e').length} events in ${Date.now() - t0} ms`);
});
