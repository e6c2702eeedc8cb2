import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from '../src/app.js';
import { Errors } from '../src/errors.js';
import type { ImageStore } from '../src/images/image-store.js';
import type { HostMetrics } from '../src/metrics/host-metrics.js';
import type { SandboxService } from '../src/sandbox/sandbox.service.js';

// The HTTP layer through Fastify inject. The sandbox service is a stub that knows one stopped sandbox, so these
// tests cover auth, validation and the error envelope only; real sandboxes are covered by the e2e files.
const sandboxes = {
  info: (id: string) => {
    if (id !== 'known') throw Errors.sandboxNotFound(id);
    return { state: 'stopped', backupState: 'NONE' };
  },
  target: (id: string) => {
    if (id !== 'known') throw Errors.sandboxNotFound(id);
    throw Errors.notRunning(id);
  },
  bootFor: () => undefined,
  all: () => [],
} as unknown as SandboxService;
const images = { get: () => undefined, count: () => 0, logPath: () => '/nonexistent/log', openLog: () => undefined } as unknown as ImageStore;
const metrics = {
  collect: async () => ({
    currentCpuUsagePercentage: 1, currentMemoryUsagePercentage: 2, currentDiskUsagePercentage: 3, currentAllocatedCpu: 0,
    currentAllocatedMemoryGiB: 0, currentAllocatedDiskGiB: 0, currentSnapshotCount: 0,
  }),
  prometheus: async () => 'shoal_runner_snapshots 0\n',
} as unknown as HostMetrics;
const app = build({ token: 'tok', version: '9.9.9', sandboxes, images, metrics });
const auth = { authorization: 'Bearer tok' };

function assertEnvelope(body: Record<string, unknown>, status: number, path: string) {
  assert.equal(body.statusCode, status);
  assert.equal(body.path, path);
  assert.equal(typeof body.message, 'string');
  assert.equal(typeof body.error, 'string');
  assert.ok(!Number.isNaN(Date.parse(String(body.timestamp))));
}

describe('runner HTTP layer', () => {
  it('serves health and metrics without auth', async () => {
    const r = await app.inject({ method: 'GET', url: '/' });
    assert.deepEqual(r.json(), { status: 'ok', version: '9.9.9' });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(m.headers['content-type'] as string, /text\/plain/);
  });

  it('rejects missing or wrong tokens with a 401 envelope', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'tok' }, { 'x-daytona-authorization': 'Bearer tokk' }]) {
      const r = await app.inject({ method: 'GET', url: '/info', headers });
      assert.equal(r.statusCode, 401);
      assertEnvelope(r.json(), 401, '/info');
    }
    const ok = await app.inject({ method: 'GET', url: '/info', headers: { 'x-daytona-authorization': 'Bearer tok' } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().version, '9.9.9');
  });

  it('answers 404, 400 and 501 in the envelope', async () => {
    const missing = await app.inject({ method: 'GET', url: '/sandboxes/nope', headers: auth });
    assert.equal(missing.statusCode, 404);
    assertEnvelope(missing.json(), 404, '/sandboxes/nope');
    const invalid = await app.inject({ method: 'POST', url: '/sandboxes', headers: auth, payload: { id: 'x', cpuQuota: 'lots' } });
    assert.equal(invalid.statusCode, 400);
    assertEnvelope(invalid.json(), 400, '/sandboxes');
    const broken = await app.inject({ method: 'POST', url: '/sandboxes', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"id":' });
    assert.equal(broken.statusCode, 400);
    // A backup names its object key; the registry-image form of the reference's runner is refused.
    const backup = await app.inject({ method: 'POST', url: '/sandboxes/known/backup', headers: auth, payload: { snapshot: 's', registry: { url: 'u', username: 'a', password: 'b' } } });
    assert.equal(backup.statusCode, 400);
    assertEnvelope(backup.json(), 400, '/sandboxes/known/backup');
    const route = await app.inject({ method: 'GET', url: '/no/such/route', headers: auth });
    assert.equal(route.statusCode, 404);
    assertEnvelope(route.json(), 404, '/no/such/route');
    const logs = await app.inject({ method: 'GET', url: '/snapshots/logs?snapshotRef=x', headers: auth });
    assert.equal(logs.statusCode, 404);
  });

  it('refuses to proxy to a sandbox that is not running', async () => {
    const r = await app.inject({ method: 'POST', url: '/sandboxes/known/toolbox/process/execute', headers: auth, payload: { command: 'true' } });
    assert.equal(r.statusCode, 400);
    assertEnvelope(r.json(), 400, '/sandboxes/known/toolbox/process/execute');
    const unknown = await app.inject({ method: 'GET', url: '/sandboxes/other/ports/3000/', headers: auth });
    assert.equal(unknown.statusCode, 404);
  });
});

describe('API state reporting', () => {
  it('PUTs state changes to the API with the runner token and reads sandboxes for this runner', async () => {
    const { createServer } = await import('node:http');
    const { ApiReporter } = await import('../src/sandbox/api-reporter.js');
    const seen: { method?: string; url?: string; auth?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
        res.setHeader('content-type', 'application/json');
        res.end(req.method === 'GET' ? JSON.stringify([{ id: 'a', state: 'started' }, { bogus: true }]) : '{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const reporter = new ApiReporter(`http://127.0.0.1:${port}/api`, 'tok', () => undefined);
      // Only where a sandbox settles goes out: the steps in between are nothing the API acts on.
      for (const step of ['pulling_snapshot', 'creating', 'starting', 'stopping', 'destroying', 'resizing', 'restoring'] as const) await reporter.reportState('sb 1', step);
      assert.equal(seen.length, 0);
      await reporter.reportState('sb 1', 'stopped');
      assert.deepEqual(seen[0], { method: 'PUT', url: '/api/sandbox/sb%201/state', auth: 'Bearer tok', body: '{"state":"stopped"}' });
      assert.deepEqual(await reporter.sandboxesInStates(['started']), [{ id: 'a', state: 'started' }]);
      assert.match(seen[1]!.url!, /^\/api\/sandbox\/for-runner\?states=started/);
      const down = new ApiReporter('http://127.0.0.1:1/api', 'tok', () => undefined);
      await down.reportState('x', 'started');
      assert.equal(await down.sandboxesInStates(['started']), undefined);
    } finally {
      server.close();
    }
  });
});
