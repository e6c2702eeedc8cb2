import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_DEFAULT_SNAPSHOT, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * The snapshot API against real PostgreSQL and the fake runner of the sandbox reconciler tests: every operation of
 * the reference, the name and image rules, pagination and search, the pull state machine (including a runner that
 * answers the older plain-string pull), organization isolation, quotas, and two API processes sharing the work.
 */

const TOKEN = 'snapshot-fake-runner-token';

type Snap = { id: string; name: string; state: string; errorReason: string | null; size: number | null; entrypoint: string[] | null; imageName: string; lastUsedAt: string | null; general: boolean };

let db: TestDatabase;
let runner: FakeRunner;
let a: ShoalApp;
let b: ShoalApp;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let other: Awaited<ReturnType<typeof createTenant>>;
/** What the fake runner answers to the next pulls; undefined = its default (a PullSnapshotResult). */
let pullAnswer: ((body: { snapshot: string; destinationRef?: string }) => { status: number; body: unknown } | undefined) | undefined;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({
    token: TOKEN,
    pullDelayMs: 300,
    pull: (body) => pullAnswer?.(body) ?? (undefined as never),
  }).start();
  const env = { SHOAL_CLAIM_LEASE_MS: '3000' };
  a = await buildTestApp(db.url, { env });
  b = await buildTestApp(db.url, { env });
  await registerRunner(a, runner.url, TOKEN);
  tenant = await createTenant(a, 'snap-tenant');
  other = await createTenant(a, 'snap-other');
});

after(async () => {
  await a?.close();
  await b?.close();
  await runner?.stop();
  await db?.drop();
});

function expectError(res: { statusCode: number; json: () => unknown; body: string }, status: number, message?: RegExp): void {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json() as { statusCode: number; message: string };
  assert.equal(body.statusCode, status);
  if (message) assert.match(String(body.message), message);
}

async function create(auth: { authorization: string }, payload: Record<string, unknown>, app = a) {
  return app.inject({ method: 'POST', url: '/api/snapshots', headers: auth, payload });
}

async function get(auth: { authorization: string }, idOrName: string): Promise<Snap & { statusCode: number }> {
  const res = await a.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(idOrName)}`, headers: auth });
  return { ...(res.json() as Snap), statusCode: res.statusCode };
}

async function waitState(auth: { authorization: string }, id: string, states: string[], timeoutMs = 15_000): Promise<Snap> {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const s = await get(auth, id);
    if (seen.at(-1) !== s.state) seen.push(s.state);
    if (states.includes(s.state)) return s;
    if (Date.now() > deadline) assert.fail(`snapshot ${id} never reached ${states.join('|')}; went through ${seen.join(' -> ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('create from an image and pull', () => {
  test('pending -> pulling -> active; copied into the organization project of the internal registry; entrypoint from the image; size in GB', async () => {
    const res = await create(tenant.auth, { name: 'tools/py:3.12', imageName: '198.18.0.10:5000/team/python:3.12-slim' });
    assert.equal(res.statusCode, 200, res.body);
    const created = res.json() as Snap;
    assert.equal(created.state, 'pending');
    assert.equal(created.imageName, '198.18.0.10:5000/team/python:3.12-slim');
    for (const k of ['size', 'entrypoint', 'errorReason', 'lastUsedAt']) assert.ok(k in created, `${k} must be present`);
    const seen = new Set<string>();
    const deadline = Date.now() + 15_000;
    let s: Snap;
    do {
      s = await get(tenant.auth, created.id);
      seen.add(s.state);
      await new Promise((r) => setTimeout(r, 20));
    } while (s.state !== 'active' && s.state !== 'error' && Date.now() < deadline);
    assert.equal(s.state, 'active', JSON.stringify(s));
    assert.ok(seen.has('pulling'), `states seen: ${[...seen].join(',')}`);
    assert.deepEqual(s.entrypoint, ['/bin/sh', '-c', 'sleep 1']);
    assert.equal(s.size, 0.001);
    const pulls = runner.callsTo('POST', /^\/snapshots\/pull$/).map((c) => JSON.parse(c.body) as { snapshot: string; destinationRef: string });
    const mine = pulls.filter((p) => p.snapshot === '198.18.0.10:5000/team/python:3.12-slim');
    assert.equal(mine.length, 1, 'pulled exactly once although two API processes run the manager');
    assert.equal(mine[0]!.destinationRef, `127.0.0.1:5100/shoal-${tenant.organizationId}/${created.id}:3.12-slim`);
  });

  test('a sandbox from the snapshot runs the internal image with the snapshot entrypoint (request entrypoint wins over the image)', async () => {
    const res = await create(tenant.auth, { name: 'with-entry', imageName: 'docker.io/library/alpine:3.20', entrypoint: ['/usr/bin/my-init', '--flag'] });
    assert.equal(res.statusCode, 200, res.body);
    const snap = await waitState(tenant.auth, (res.json() as Snap).id, ['active', 'error']);
    assert.equal(snap.state, 'active');
    assert.deepEqual(snap.entrypoint, ['/usr/bin/my-init', '--flag']);
    assert.equal(snap.lastUsedAt, null);
    const sb = await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'with-entry' } });
    assert.equal(sb.statusCode, 200, sb.body);
    const sandboxId = (sb.json() as { id: string }).id;
    const createCall = runner.callsTo('POST', /^\/sandboxes$/).map((c) => JSON.parse(c.body) as { id: string; snapshot: string; entrypoint?: string[] }).find((c) => c.id === sandboxId);
    assert.ok(createCall);
    assert.equal(createCall.snapshot, `127.0.0.1:5100/shoal-${tenant.organizationId}/${snap.id}:3.20`);
    assert.deepEqual(createCall.entrypoint, ['/usr/bin/my-init', '--flag']);
    const deadline = Date.now() + 5000;
    while ((await get(tenant.auth, snap.id)).lastUsedAt === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual((await get(tenant.auth, snap.id)).lastUsedAt, null);
  });

  test('an image the registry does not know ends in error with the reason; a sandbox from it is refused', async () => {
    const res = await create(tenant.auth, { name: 'bad-image', imageName: '127.0.0.1:5999/nope/unknown:1.0' });
    assert.equal(res.statusCode, 200, res.body);
    const s = await waitState(tenant.auth, (res.json() as Snap).id, ['active', 'error']);
    assert.equal(s.state, 'error');
    assert.match(s.errorReason ?? '', /manifest unknown/);
    assert.match(s.errorReason ?? '', /127\.0\.0\.1:5999\/nope\/unknown:1\.0/);
    expectError(await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'bad-image' } }), 400, /^Snapshot bad-image is error$/);
  });

  test('a registry refusing credentials gives a reason naming authentication', async () => {
    pullAnswer = (body) =>
      body.snapshot.includes('private') ? { status: 400, body: { statusCode: 400, message: `Failed to pull snapshot ${body.snapshot}: unauthorized: authentication required` } } : undefined;
    try {
      const res = await create(tenant.auth, { name: 'private-one', imageName: '127.0.0.1:5998/private/app:1' });
      const s = await waitState(tenant.auth, (res.json() as Snap).id, ['active', 'error']);
      assert.equal(s.state, 'error');
      assert.match(s.errorReason ?? '', /authentication/);
    } finally {
      pullAnswer = undefined;
    }
  });

  test('a runner answering the older plain-string pull still gets the snapshot active (under its source reference)', async () => {
    pullAnswer = (body) => (body.snapshot.includes('legacy') ? { status: 200, body: 'Snapshot pulled' } : undefined);
    try {
      const res = await create(tenant.auth, { name: 'legacy', imageName: '127.0.0.1:5997/legacy/app:2' });
      const s = await waitState(tenant.auth, (res.json() as Snap).id, ['active', 'error']);
      assert.equal(s.state, 'active', JSON.stringify(s));
      assert.equal(s.size, null);
      const sb = await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'legacy' } });
      assert.equal(sb.statusCode, 200, sb.body);
      const id = (sb.json() as { id: string }).id;
      const call = runner.callsTo('POST', /^\/sandboxes$/).map((c) => JSON.parse(c.body) as { id: string; snapshot: string }).find((c) => c.id === id);
      assert.equal(call?.snapshot, '127.0.0.1:5997/legacy/app:2');
    } finally {
      pullAnswer = undefined;
    }
  });

  test('an image larger than the organization allows ends in error with the size message', async () => {
    pullAnswer = (body) =>
      body.snapshot.includes('huge')
        ? { status: 200, body: { sizeBytes: 25 * 1024 ** 3, digest: 'sha256:' + '1'.repeat(64), entrypoint: [], cmd: [], workdir: '/' } }
        : undefined;
    try {
      const res = await create(tenant.auth, { name: 'huge', imageName: '127.0.0.1:5996/huge/app:1' });
      const s = await waitState(tenant.auth, (res.json() as Snap).id, ['active', 'error']);
      assert.equal(s.state, 'error');
      assert.equal(s.errorReason, 'Snapshot size (25.00GB) exceeds maximum allowed size of 20GB');
    } finally {
      pullAnswer = undefined;
    }
  });

  test('build logs: follow streams the runner pull log and ends once the snapshot settles', async () => {
    const res = await create(tenant.auth, { name: 'logged', imageName: '127.0.0.1:5995/logged/app:7' });
    const id = (res.json() as Snap).id;
    const started = Date.now();
    const logs = await a.inject({ method: 'GET', url: `/api/snapshots/${id}/build-logs?follow=true`, headers: tenant.auth });
    assert.equal(logs.statusCode, 200);
    assert.match(logs.body, /pulling 127\.0\.0\.1:5995\/logged\/app:7/);
    assert.equal((logs.body.match(/pulling /g) ?? []).length, 1, 'no line sent twice');
    assert.equal((await get(tenant.auth, id)).state, 'active');
    assert.ok(Date.now() - started < 15_000);
    expectError(await a.inject({ method: 'GET', url: `/api/snapshots/${id}/build-logs`, headers: other.auth }), 404);
  });
});

describe('validation', () => {
  test('name and image rules, duplicates, build info', async () => {
    for (const name of ['bad name', 'a//b', '/lead', 'trail/', 'x$y']) {
      expectError(await create(tenant.auth, { name, imageName: 'alpine:3.20' }), 400, /Invalid snapshot name/);
    }
    expectError(await create(tenant.auth, { name: 'no-image' }), 400, /^Must specify an image name when not using a build info entry$/);
    expectError(await create(tenant.auth, { name: 'latest', imageName: 'alpine:latest' }), 400, /:latest/);
    expectError(await create(tenant.auth, { name: 'untagged', imageName: '127.0.0.1:5000/alpine' }), 400, /Invalid image name/);
    expectError(await create(tenant.auth, { name: 'spaces', imageName: 'alp ine:1' }), 400, /Invalid image name/);
    expectError(await create(tenant.auth, { name: 'bi', imageName: 'alpine:3', buildInfo: { dockerfileContent: 'FROM alpine:3' } }), 400, /^Cannot specify an image name when using a build info entry$/);
    expectError(await create(tenant.auth, { name: 'bi', entrypoint: ['x'], buildInfo: { dockerfileContent: 'FROM alpine:3' } }), 400, /^Cannot specify an entrypoint when using a build info entry$/);
    assert.equal((await create(tenant.auth, { name: 'dup', imageName: 'alpine:3.19' })).statusCode, 200);
    expectError(await create(tenant.auth, { name: 'dup', imageName: 'alpine:3.18' }), 409, /^Snapshot with name "dup" already exists for this organization$/);
    // Another organization may use the same name.
    assert.equal((await create(other.auth, { name: 'dup', imageName: 'alpine:3.18' })).statusCode, 200);
    const digest = `alpine@sha256:${'a'.repeat(64)}`;
    assert.equal((await create(tenant.auth, { name: 'by-digest', imageName: digest })).statusCode, 200);
    expectError(await create(tenant.auth, { name: 'general-try', imageName: 'alpine:3.17', general: true }), 403);
    expectError(await create(tenant.auth, { name: 'too-big', imageName: 'alpine:3.17', cpu: 64 }), 403, /^CPU request 64 exceeds maximum allowed per sandbox \(4\)$/);
  });

  test('GET by name with / and : URL-encoded, by id; unknown is 404', async () => {
    const s = await get(tenant.auth, 'tools/py:3.12');
    assert.equal(s.statusCode, 200);
    assert.equal((await get(tenant.auth, s.id)).name, 'tools/py:3.12');
    expectError(await a.inject({ method: 'GET', url: '/api/snapshots/none%2Fhere:1', headers: tenant.auth }), 404, /none\/here:1/);
  });

  test('can-cleanup-image is not shadowed by /snapshots/:id and is admin only', async () => {
    const free = await a.inject({ method: 'GET', url: '/api/snapshots/can-cleanup-image?imageName=127.0.0.1%3A5000%2Fnothing%3A1', headers: adminAuth });
    assert.equal(free.statusCode, 200, free.body);
    assert.equal(free.json(), true);
    const used = await a.inject({ method: 'GET', url: `/api/snapshots/can-cleanup-image?imageName=${encodeURIComponent('127.0.0.1:5100/shoal/sandbox:test')}`, headers: adminAuth });
    assert.equal(used.json(), false);
    expectError(await a.inject({ method: 'GET', url: '/api/snapshots/can-cleanup-image?imageName=x:1', headers: tenant.auth }), 403);
  });
});

describe('listing', () => {
  test('page/limit/total/totalPages, name search (case-insensitive, wildcards literal), sort by name; general ones last', async () => {
    for (const n of ['list-c', 'list-a', 'list-b', 'LIST_x']) assert.equal((await create(other.auth, { name: n, imageName: 'alpine:3.16' })).statusCode, 200);
    const page = (await a.inject({ method: 'GET', url: '/api/snapshots?name=list-&sort=name&order=asc&limit=2&page=2', headers: other.auth })).json() as {
      items: Snap[];
      total: number;
      page: number;
      totalPages: number;
    };
    assert.equal(page.total, 3);
    assert.equal(page.totalPages, 2);
    assert.equal(page.page, 2);
    assert.deepEqual(page.items.map((s) => s.name), ['list-c']);
    const ci = (await a.inject({ method: 'GET', url: '/api/snapshots?name=list_', headers: other.auth })).json() as { items: Snap[] };
    assert.deepEqual(ci.items.map((s) => s.name), ['LIST_x']);
    const all = (await a.inject({ method: 'GET', url: '/api/snapshots?limit=200', headers: other.auth })).json() as { items: Snap[] };
    assert.equal(all.items.at(-1)!.name, TEST_DEFAULT_SNAPSHOT);
    assert.ok(!all.items.some((s) => s.name === 'tools/py:3.12'), "another organization's snapshot is not listed");
    expectError(await a.inject({ method: 'GET', url: '/api/snapshots?limit=201', headers: other.auth }), 400);
  });
});

describe('organization isolation', () => {
  test("another organization cannot see, use, delete, activate or deactivate the snapshot (404 / not found)", async () => {
    const mine = await get(tenant.auth, 'tools/py:3.12');
    for (const ref of [mine.id, 'tools/py:3.12']) {
      expectError(await a.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(ref)}`, headers: other.auth }), 404);
      expectError(await a.inject({ method: 'DELETE', url: `/api/snapshots/${encodeURIComponent(ref)}`, headers: other.auth }), 404);
      expectError(await a.inject({ method: 'POST', url: `/api/snapshots/${encodeURIComponent(ref)}/deactivate`, headers: other.auth }), 404);
      expectError(await a.inject({ method: 'POST', url: `/api/snapshots/${encodeURIComponent(ref)}/activate`, headers: other.auth }), 404);
      expectError(await a.inject({ method: 'POST', url: '/api/sandbox', headers: other.auth, payload: { snapshot: ref } }), 400, /not found/);
    }
    assert.equal((await get(tenant.auth, mine.id)).state, 'active', 'untouched by the other organization');
  });
});

describe('lifecycle', () => {
  test('deactivate (204) refuses new sandboxes; activate only from inactive; delete goes removing then gone', async () => {
    const s = await get(tenant.auth, 'with-entry');
    const d = await a.inject({ method: 'POST', url: `/api/snapshots/${s.id}/deactivate`, headers: tenant.auth });
    assert.equal(d.statusCode, 204, d.body);
    assert.equal((await get(tenant.auth, s.id)).state, 'inactive');
    expectError(await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'with-entry' } }), 400, /^Snapshot with-entry is inactive$/);
    const act = await a.inject({ method: 'POST', url: `/api/snapshots/${s.id}/activate`, headers: tenant.auth });
    assert.equal(act.statusCode, 200, act.body);
    assert.equal((act.json() as Snap).state, 'active');
    expectError(await a.inject({ method: 'POST', url: `/api/snapshots/${s.id}/activate`, headers: tenant.auth }), 400, /already active/);
    const bad = await get(tenant.auth, 'bad-image');
    expectError(await a.inject({ method: 'POST', url: `/api/snapshots/${bad.id}/activate`, headers: tenant.auth }), 400, /it is in error state/);

    const del = await a.inject({ method: 'DELETE', url: `/api/snapshots/${bad.id}`, headers: tenant.auth });
    assert.equal(del.statusCode, 200, del.body);
    const deadline = Date.now() + 10_000;
    while ((await get(tenant.auth, bad.id)).statusCode !== 404 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await get(tenant.auth, bad.id)).statusCode, 404);
    // The name is free again.
    assert.equal((await create(tenant.auth, { name: 'bad-image', imageName: 'alpine:3.15' })).statusCode, 200);
  });

  test('deleting an active snapshot takes its internal image off the runners', async () => {
    const s = await get(tenant.auth, 'logged');
    const ref = `127.0.0.1:5100/shoal-${tenant.organizationId}/${s.id}:7`;
    assert.equal((await a.inject({ method: 'DELETE', url: `/api/snapshots/${s.id}`, headers: tenant.auth })).statusCode, 200);
    const deadline = Date.now() + 10_000;
    while ((await get(tenant.auth, s.id)).statusCode !== 404 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(runner.callsTo('POST', /^\/snapshots\/remove\?/).some((c) => new URL(c.path, 'http://x').searchParams.get('snapshot') === ref));
  });

  test('deleted while pulling: the pull result is discarded, the copy is taken off the runner, the snapshot is gone', async () => {
    const res = await create(tenant.auth, { name: 'deleted-mid-pull', imageName: '127.0.0.1:5994/slow/app:3' });
    const id = (res.json() as Snap).id;
    await waitState(tenant.auth, id, ['pulling']);
    assert.equal((await a.inject({ method: 'DELETE', url: `/api/snapshots/${id}`, headers: tenant.auth })).statusCode, 200);
    const deadline = Date.now() + 10_000;
    while ((await get(tenant.auth, id)).statusCode !== 404 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await get(tenant.auth, id)).statusCode, 404);
    const ref = `127.0.0.1:5100/shoal-${tenant.organizationId}/${id}:3`;
    const until = Date.now() + 5000;
    const removed = () => runner.callsTo('POST', /^\/snapshots\/remove\?/).some((c) => new URL(c.path, 'http://x').searchParams.get('snapshot') === ref);
    while (!removed() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.ok(removed(), 'the internal copy made by the interrupted pull is removed from the runner');
  });

  test('the general default snapshot cannot be deleted; general status is admin only', async () => {
    const def = await get(adminAuth, TEST_DEFAULT_SNAPSHOT);
    expectError(await a.inject({ method: 'DELETE', url: `/api/snapshots/${def.id}`, headers: adminAuth }), 403, /^You cannot delete a general snapshot$/);
    expectError(await a.inject({ method: 'POST', url: `/api/snapshots/${def.id}/deactivate`, headers: adminAuth }), 403, /^You cannot deactivate a general snapshot$/);
    assert.equal((await get(adminAuth, def.id)).state, 'active');
    const mine = await get(tenant.auth, 'tools/py:3.12');
    expectError(await a.inject({ method: 'PATCH', url: `/api/snapshots/${mine.id}/general`, headers: tenant.auth, payload: { general: true } }), 403);
    const g = await a.inject({ method: 'PATCH', url: `/api/snapshots/${mine.id}/general`, headers: adminAuth, payload: { general: true } });
    assert.equal(g.statusCode, 200, g.body);
    assert.equal((g.json() as Snap).general, true);
    assert.equal((await get(other.auth, mine.id)).statusCode, 200, 'a general snapshot is visible to every organization');
    await a.inject({ method: 'PATCH', url: `/api/snapshots/${mine.id}/general`, headers: adminAuth, payload: { general: false } });
    assert.equal((await get(other.auth, mine.id)).statusCode, 404);
  });
});

describe('quotas', () => {
  test('snapshot count quota with the reference message; deletes free it', async () => {
    const q = await a.inject({ method: 'PATCH', url: `/api/organizations/${other.organizationId}/quota`, headers: adminAuth, payload: { snapshotQuota: 1 } });
    assert.equal(q.statusCode, 200, q.body);
    expectError(await create(other.auth, { name: 'over', imageName: 'alpine:3.14' }), 403, /^Snapshot quota exceeded\. Maximum allowed: 1$/);
  });
});
