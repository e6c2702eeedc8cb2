// Issue 12 item 6: Shoal's own webhook delivery against a real PostgreSQL and a real receiver on 127.0.0.1 that
// verifies every signature with the standardwebhooks library. Sandbox and snapshot rows are changed directly in SQL:
// the events come from triggers, whichever code path changes a row.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant } from './helpers/app.js';
import { WebhookReceiver } from '../../../e2e/src/webhook-receiver.js';

const ENV = {
  SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
  SHOAL_WEBHOOK_RETRY_BASE_MS: '200',
  SHOAL_WEBHOOK_TIMEOUT_MS: '6000',
  SHOAL_RECONCILE_INTERVAL_MS: '60000',
};

/**
 * No runner here, so the reconciler must not move the rows the tests move: a desired state set in SQL wakes it
 * (NOTIFY), and it would fail the sandbox for having no runner, an extra state event. The app is built without it.
 */
async function buildQuietApp(url: string, env: Record<string, string> = ENV): Promise<ShoalApp> {
  const a = await buildTestApp(url, { env });
  await a.reconciler.stop();
  return a;
}

let db: TestDatabase;
let sql: pg.Client;
let app: ShoalApp;
let receiver: WebhookReceiver;

before(async () => {
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  app = await buildQuietApp(db.url);
  receiver = await new WebhookReceiver().start();
});

after(async () => {
  await app?.close();
  await receiver?.stop();
  await sql?.end();
  await db?.drop();
});

async function portalToken(a: ShoalApp, auth: { authorization: string }, orgId: string): Promise<string> {
  const res = await a.inject({ method: 'POST', url: `/api/webhooks/organizations/${orgId}/app-portal-access`, headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  const url = new URL((res.json() as { url: string }).url);
  assert.equal(url.pathname, '/api/webhooks/portal');
  return new URLSearchParams(url.hash.slice(1)).get('token')!;
}

async function addEndpoint(a: ShoalApp, token: string, path: string, eventTypes: string[] = []): Promise<{ id: string; secret: string }> {
  const res = await a.inject({
    method: 'POST',
    url: '/api/webhooks/portal/endpoints',
    headers: { 'x-shoal-portal-token': token },
    payload: { url: `${receiver.url}${path}`, eventTypes },
  });
  assert.equal(res.statusCode, 201, res.body);
  const ep = res.json() as { id: string; secret: string };
  assert.match(ep.secret, /^whsec_/);
  return ep;
}

async function insertSandbox(orgId: string): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(
    `INSERT INTO sandbox (organization_id, os_user, cpu, gpu, mem, disk, auth_token, state, desired_state)
     VALUES ($1, 'sandbox', 1, 0, 1, 1, 'tok', 'started', 'started') RETURNING id`,
    [orgId],
  );
  return rows[0]!.id;
}

async function setSandboxState(id: string, state: string): Promise<void> {
  await sql.query('UPDATE sandbox SET state = $2, desired_state = $2 WHERE id = $1', [id, state]);
}

test('sandbox and snapshot rows changing state produce the reference events, signed, filtered per endpoint', async () => {
  const t = await createTenant(app, 'hooks-events');
  const token = await portalToken(app, t.auth, t.organizationId);
  const all = await addEndpoint(app, token, '/all');
  const removedOnly = await addEndpoint(app, token, '/removed', ['snapshot.removed']);
  receiver.set('/all', 'ok', all.secret);
  receiver.set('/removed', 'ok', removedOnly.secret);

  const sandboxId = await insertSandbox(t.organizationId);
  // A stop as the API records it: the desired state first (clients see `stopping`), then the runner's result.
  await sql.query(`UPDATE sandbox SET desired_state = 'stopped' WHERE id = $1`, [sandboxId]);
  await sql.query(`UPDATE sandbox SET state = 'stopped' WHERE id = $1`, [sandboxId]);
  await sql.query('UPDATE sandbox SET labels = $2 WHERE id = $1', [sandboxId, '{"x":"y"}']); // not a state change: no event
  const { rows } = await sql.query<{ id: string }>(
    `INSERT INTO snapshot (organization_id, name, image_name, state) VALUES ($1, 'snap-a', 'busybox:1', 'pending') RETURNING id`,
    [t.organizationId],
  );
  const snapshotId = rows[0]!.id;
  await sql.query(`UPDATE snapshot SET state = 'active' WHERE id = $1`, [snapshotId]);
  await sql.query('DELETE FROM snapshot WHERE id = $1', [snapshotId]);

  await receiver.until(() => receiver.eventsAt('/all').length >= 6 && receiver.eventsAt('/removed').length >= 1, 15_000, 'six events');
  // Delivery is at least once and not ordered (a retried message arrives after later ones): compare by event type.
  const got = receiver.eventsAt('/all').map((e) => e.body);
  assert.deepEqual(
    got.map((b) => b.event).sort(),
    ['sandbox.created', 'sandbox.state.updated', 'sandbox.state.updated', 'snapshot.created', 'snapshot.removed', 'snapshot.state.updated'],
    JSON.stringify(receiver.requests),
  );
  const byType = (type: string) => got.find((b) => b.event === type) as Record<string, unknown>;
  const [created, updated, snapCreated, snapUpdated, removed] = ['sandbox.created', 'sandbox.state.updated', 'snapshot.created', 'snapshot.state.updated', 'snapshot.removed'].map(byType);
  assert.deepEqual(
    { id: created!.id, organizationId: created!.organizationId, state: created!.state, class: created!.class },
    { id: sandboxId, organizationId: t.organizationId, state: 'started', class: 'small' },
  );
  assert.ok(!Number.isNaN(Date.parse(String(created!.createdAt))));
  assert.equal(updated!.id, sandboxId);
  assert.deepEqual(
    got.filter((b) => b.event === 'sandbox.state.updated').map((b) => `${String(b.oldState)}>${String(b.newState)}`).sort(),
    ['started>stopping', 'stopping>stopped'],
  );
  assert.ok(!Number.isNaN(Date.parse(String(updated!.updatedAt))));
  assert.deepEqual({ name: snapCreated!.name, state: snapCreated!.state }, { name: 'snap-a', state: 'pending' });
  assert.deepEqual({ oldState: snapUpdated!.oldState, newState: snapUpdated!.newState }, { oldState: 'pending', newState: 'active' });
  assert.deepEqual({ id: removed!.id, name: removed!.name, organizationId: removed!.organizationId }, { id: snapshotId, name: 'snap-a', organizationId: t.organizationId });
  assert.deepEqual(
    receiver.eventsAt('/removed').map((e) => e.body.event),
    ['snapshot.removed'],
  );
  assert.equal(receiver.badSignatures, 0);

  // An organization deleted with its snapshots and endpoints goes away cleanly (the cascade emits nothing).
  await sql.query(`INSERT INTO snapshot (organization_id, name, image_name) VALUES ($1, 'snap-b', 'busybox:1')`, [t.organizationId]);
  await sql.query('DELETE FROM organization WHERE id = $1', [t.organizationId]);
  const left = await sql.query('SELECT count(*)::int AS n FROM webhook_message WHERE organization_id = $1', [t.organizationId]);
  assert.equal(left.rows[0].n, 0);
});

test('a receiver answering 500 for a while still gets every event; every attempt is listed', async () => {
  const t = await createTenant(app, 'hooks-flaky');
  const token = await portalToken(app, t.auth, t.organizationId);
  const ep = await addEndpoint(app, token, '/flaky');
  receiver.set('/flaky', 'fail', ep.secret);

  const sent: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await app.inject({
      method: 'POST',
      url: `/api/webhooks/organizations/${t.organizationId}/send`,
      headers: adminAuth,
      payload: { eventType: 'test.event', payload: { n: i } },
    });
    assert.equal(res.statusCode, 200, res.body);
    sent.push((res.json() as { id: string }).id);
  }
  await receiver.until(() => receiver.requests.filter((r) => r.path === '/flaky' && r.status === 500).length >= 8, 15_000, 'failed attempts');
  receiver.set('/flaky', 'ok');
  await receiver.until(() => receiver.eventsAt('/flaky').length === 4, 20_000, 'all four after recovery');
  assert.deepEqual(new Set(receiver.eventsAt('/flaky').map((e) => e.id)), new Set(sent));

  type Attempt = { status: number; responseStatusCode: number; attempt: number; endpointId: string; url: string; response: string };
  // The receiver counts the event when the request arrives; the worker records the attempt once the answer is back.
  let attempts: Attempt[] = [];
  for (const deadline = Date.now() + 15_000; ; ) {
    const res = await app.inject({ method: 'GET', url: `/api/webhooks/organizations/${t.organizationId}/messages/${sent[0]}/attempts`, headers: adminAuth });
    assert.equal(res.statusCode, 200, res.body);
    attempts = res.json() as Attempt[];
    if (attempts.at(-1)?.responseStatusCode === 204 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`[webhooks] attempts of the first message: ${attempts.map((a) => a.responseStatusCode).join(', ')}`);
  assert.ok(attempts.length >= 2, 'failed attempts and the successful one are recorded');
  assert.equal(attempts[0]!.responseStatusCode, 500);
  assert.equal(attempts[0]!.response, 'receiver is down');
  assert.equal(attempts.at(-1)!.responseStatusCode, 204);
  assert.equal(attempts.at(-1)!.status, 0);
  assert.deepEqual(
    attempts.map((a) => a.attempt),
    attempts.map((_a, i) => i + 1),
  );
  assert.equal(attempts[0]!.endpointId, ep.id);

  // The tenant itself is not an admin: send and attempts are admin operations (reference), a foreign org is 404.
  const other = await createTenant(app, 'hooks-flaky-other');
  assert.equal((await app.inject({ method: 'GET', url: `/api/webhooks/organizations/${t.organizationId}/messages/${sent[0]}/attempts`, headers: t.auth })).statusCode, 403);
  assert.equal((await app.inject({ method: 'POST', url: `/api/webhooks/organizations/${t.organizationId}/app-portal-access`, headers: other.auth })).statusCode, 404);
  // The portal lists the same attempts to the organization, and only its own messages.
  const portal = await app.inject({ method: 'GET', url: `/api/webhooks/portal/messages/${sent[0]}/attempts`, headers: { 'x-shoal-portal-token': token } });
  assert.equal(portal.statusCode, 200);
  assert.equal((portal.json() as unknown[]).length, attempts.length);
  const otherToken = await portalToken(app, other.auth, other.organizationId);
  assert.equal((await app.inject({ method: 'GET', url: `/api/webhooks/portal/messages/${sent[0]}/attempts`, headers: { 'x-shoal-portal-token': otherToken } })).statusCode, 404);
});

test('a hanging and a redirecting endpoint do not hold up a healthy one; the redirect is not followed', async () => {
  const t = await createTenant(app, 'hooks-hostile');
  const token = await portalToken(app, t.auth, t.organizationId);
  const hang = await addEndpoint(app, token, '/hang');
  const redirect = await addEndpoint(app, token, '/redirect');
  const healthy = await addEndpoint(app, token, '/healthy');
  receiver.set('/hang', 'hang', hang.secret);
  receiver.set('/redirect', 'redirect', redirect.secret);
  receiver.set('/healthy', 'ok', healthy.secret);
  receiver.set('/redirect-target', 'ok', healthy.secret);

  const started = Date.now();
  for (let i = 0; i < 6; i++) {
    const res = await app.inject({ method: 'POST', url: `/api/webhooks/organizations/${t.organizationId}/send`, headers: adminAuth, payload: { eventType: 'test.event', payload: { i } } });
    assert.equal(res.statusCode, 200);
  }
  // Before the 6 s timeout the hanging endpoint's first attempt is still waiting for.
  await receiver.until(() => receiver.eventsAt('/healthy').length === 6, 5000, 'six events at the healthy endpoint');
  console.log(`[webhooks] healthy endpoint got 6 events in ${Date.now() - started} ms next to a hanging and a redirecting one`);
  assert.equal(receiver.requests.filter((r) => r.path === '/redirect-target').length, 0, 'the redirect was not followed');
  await receiver.until(() => receiver.requests.some((r) => r.path === '/redirect'), 3000, 'a redirect attempt');

  const msgs = await sql.query<{ state: string; path: string; attempts: number }>(
    `SELECT d.state, e.url AS path, d.attempts FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id WHERE e.organization_id = $1`,
    [t.organizationId],
  );
  assert.ok(msgs.rows.filter((r) => r.path.endsWith('/hang')).every((r) => r.state === 'pending'));
  assert.ok(msgs.rows.filter((r) => r.path.endsWith('/redirect')).every((r) => r.state === 'pending'));
  // The hanging endpoint holds one attempt in flight, never more (one worker slot).
  assert.equal(receiver.requests.filter((r) => r.path === '/hang').length, 1);
  const redirectAttempt = await sql.query<{ status_code: number; error: string }>(
    `SELECT a.status_code, a.error FROM webhook_attempt a JOIN webhook_endpoint e ON e.id = a.endpoint_id WHERE e.id = $1 LIMIT 1`,
    [redirect.id],
  );
  assert.equal(redirectAttempt.rows[0]?.status_code, 302);
  assert.match(redirectAttempt.rows[0]!.error, /Redirect \(302\) not followed/);
  // Stop delivering to these before the next test.
  for (const id of [hang.id, redirect.id])
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/webhooks/portal/endpoints/${id}`, headers: { 'x-shoal-portal-token': token } })).statusCode, 204);
});

test('an API restart mid-delivery loses nothing: events committed while it is down are delivered by the new process', async () => {
  const t = await createTenant(app, 'hooks-restart');
  const token = await portalToken(app, t.auth, t.organizationId);
  const ep = await addEndpoint(app, token, '/restart');
  receiver.set('/restart', 'fail', ep.secret);

  const sandboxId = await insertSandbox(t.organizationId);
  await receiver.until(() => receiver.requests.some((r) => r.path === '/restart'), 10_000, 'a first attempt');
  await app.close();
  // Committed while no API process runs: the triggers still write the outbox.
  for (const s of ['stopping', 'stopped', 'starting', 'started']) await setSandboxState(sandboxId, s);
  receiver.set('/restart', 'ok');
  app = await buildQuietApp(db.url);
  await receiver.until(() => receiver.eventsAt('/restart').length === 5, 20_000, 'five events after the restart');
  assert.deepEqual(
    receiver.eventsAt('/restart').map((e) => (e.body.event === 'sandbox.created' ? 'created' : `${String(e.body.oldState)}>${String(e.body.newState)}`)).sort(),
    ['created', 'started>stopping', 'stopping>stopped', 'stopped>starting', 'starting>started'].sort(),
  );
});

test('a loopback or private target is refused without the operator flag, at save time and at connect time', async () => {
  const db2 = await createTestDatabase();
  const strict = await buildQuietApp(db2.url, { ...ENV, SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' });
  const c = new pg.Client({ connectionString: db2.url });
  await c.connect();
  try {
    const t = await createTenant(strict, 'hooks-ssrf');
    const token = await portalToken(strict, t.auth, t.organizationId);
    for (const url of [`${receiver.url}/ssrf`, 'http://169.254.169.254/latest/meta-data', 'http://[::1]:80/', 'http://localhost:9/', 'http://10.1.2.3/']) {
      const res = await strict.inject({ method: 'POST', url: '/api/webhooks/portal/endpoints', headers: { 'x-shoal-portal-token': token }, payload: { url } });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.match(res.body, /SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS/);
    }
    // A name that resolves to loopback (as a rebinding name would at delivery time) is refused when connecting.
    const port = new URL(receiver.url).port;
    await c.query(
      `INSERT INTO webhook_endpoint (id, organization_id, url, secret) VALUES ('ep_dns', $1, $2, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
                                                                           ('ep_lit', $1, $3, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')`,
      [t.organizationId, `http://localhost:${port}/ssrf`, `${receiver.url}/ssrf`],
    );
    receiver.set('/ssrf', 'ok', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const res = await strict.inject({ method: 'POST', url: `/api/webhooks/organizations/${t.organizationId}/send`, headers: adminAuth, payload: { eventType: 'test.event', payload: {} } });
    const msgId = (res.json() as { id: string }).id;
    const deadline = Date.now() + 10_000;
    let attempts: { endpointId: string; error: string | null; responseStatusCode: number }[] = [];
    while (Date.now() < deadline) {
      attempts = (await strict.inject({ method: 'GET', url: `/api/webhooks/organizations/${t.organizationId}/messages/${msgId}/attempts`, headers: adminAuth })).json();
      if (new Set(attempts.map((a) => a.endpointId)).size === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(new Set(attempts.map((a) => a.endpointId)), new Set(['ep_dns', 'ep_lit']));
    for (const a of attempts) {
      assert.equal(a.responseStatusCode, 0);
      assert.match(a.error ?? '', /not allowed/);
    }
    assert.equal(receiver.requests.filter((r) => r.path === '/ssrf').length, 0, 'the receiver was never reached');
  } finally {
    await strict.close();
    await c.end();
    await db2.drop();
  }
});

test('webhook routes: status, initialization, portal token checks, bad input', async () => {
  const t = await createTenant(app, 'hooks-routes');
  assert.deepEqual((await app.inject({ method: 'GET', url: '/api/webhooks/status', headers: adminAuth })).json(), { enabled: true });
  assert.equal((await app.inject({ method: 'GET', url: '/api/webhooks/status', headers: t.auth })).statusCode, 403);
  const status = () => app.inject({ method: 'GET', url: `/api/webhooks/organizations/${t.organizationId}/initialization-status`, headers: t.auth });
  assert.equal((await status()).statusCode, 404);
  assert.equal((await app.inject({ method: 'POST', url: `/api/webhooks/organizations/${t.organizationId}/initialize`, headers: t.auth })).statusCode, 403);
  assert.equal((await app.inject({ method: 'POST', url: `/api/webhooks/organizations/${t.organizationId}/initialize`, headers: adminAuth })).statusCode, 201);
  const s = (await status()).json() as { organizationId: string; retryCount: number };
  assert.equal(s.organizationId, t.organizationId);
  assert.equal((await app.inject({ method: 'POST', url: '/api/webhooks/organizations/00000000-0000-0000-0000-00000000dead/initialize', headers: adminAuth })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/api/webhooks/organizations/not-a-uuid/messages/msg_x/attempts', headers: adminAuth })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: `/api/webhooks/organizations/${t.organizationId}/messages/msg_x/attempts`, headers: adminAuth })).statusCode, 404);
  assert.equal((await app.inject({ method: 'POST', url: `/api/webhooks/organizations/${t.organizationId}/send`, headers: adminAuth, payload: { eventType: 'x' } })).statusCode, 400);

  const token = await portalToken(app, t.auth, t.organizationId);
  const [org, exp, sig] = token.split('.') as [string, string, string];
  const other = await createTenant(app, 'hooks-routes-other');
  for (const bad of [undefined, 'garbage', `${other.organizationId}.${exp}.${sig}`, `${org}.${Number(exp) + 3600}.${sig}`, `${org}.1000.${sig}`]) {
    const res = await app.inject({ method: 'GET', url: '/api/webhooks/portal/endpoints', headers: bad ? { 'x-shoal-portal-token': bad } : {} });
    assert.equal(res.statusCode, 401, `token ${bad}`);
  }
  const h = { 'x-shoal-portal-token': token };
  for (const payload of [{ url: 'ftp://example.com/' }, { url: 'not a url' }, { url: 'https://user:pw@example.com/' }, { url: 'https://example.com/', eventTypes: ['sandbox.exploded'] }, { url: 'https://example.com/', extra: 1 }]) {
    const res = await app.inject({ method: 'POST', url: '/api/webhooks/portal/endpoints', headers: h, payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
  }
  assert.equal((await app.inject({ method: 'GET', url: '/api/webhooks/portal/endpoints', headers: h })).json().length, 0);
  const created = await app.inject({ method: 'POST', url: '/api/webhooks/portal/endpoints', headers: h, payload: { url: 'https://example.com/hook', description: 'd' } });
  const id = (created.json() as { id: string }).id;
  const patched = await app.inject({ method: 'PATCH', url: `/api/webhooks/portal/endpoints/${id}`, headers: h, payload: { disabled: true, eventTypes: ['sandbox.created'] } });
  assert.equal(patched.statusCode, 200);
  assert.deepEqual((patched.json() as { eventTypes: string[] }).eventTypes, ['sandbox.created']);
  const otherToken = await portalToken(app, other.auth, other.organizationId);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/webhooks/portal/endpoints/${id}`, headers: { 'x-shoal-portal-token': otherToken } })).statusCode, 404);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/webhooks/portal/endpoints/${id}`, headers: h })).statusCode, 204);
  const page = await app.inject({ method: 'GET', url: '/api/webhooks/portal' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(page.body, /x-shoal-portal-token/);
});
