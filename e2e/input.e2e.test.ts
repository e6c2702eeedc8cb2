// Input suite: every operation of Shoal's OpenAPI document fed schema-violating and boundary inputs generated from
// its own schemas with fast-check (wrong types, missing required fields, huge and odd strings, negative and huge
// numbers, malformed JSON, wrong content types, path parameters with `../`, `%00` and very long ids). No answer may be
// a 5xx, every 4xx carries the Daytona envelope, and the API process is alive and healthy at the end.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { envelopeProblem, send } from './src/envelope.js';
import { fetchOpenApi, listOperations, type Operation } from './src/openapi.js';
import { fuzzOperation, type FuzzTarget } from './src/input/fuzz.js';
import { api, setUpTenants, type Tenants } from './src/tenancy/tenants.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

/** Generated requests per operation; about 70 operations, so a few thousand requests in all. */
const RUNS_PER_OPERATION = Number(process.env.SHOAL_INPUT_RUNS ?? 30);

let platform: TestPlatform;
let baseUrl: string;
let operations: Operation[];
let tenants: Tenants;
let target: FuzzTarget;

before(async () => {
  platform = await startTestPlatform();
  baseUrl = platform.apiUrl.replace(/\/api$/, '');
  operations = listOperations(await fetchOpenApi(baseUrl));
  tenants = await setUpTenants(platform.apiUrl, platform.apiKey);
  console.log(`[input] org A sandbox ${tenants.a.sandbox.id}: ${tenants.a.sandboxNote}`);
  // With no compute quota left, generated creates that pass validation are refused (403) instead of starting
  // containers; everything before the quota check (schema, snapshot, resources, network rules) still runs.
  // No snapshot quota and no CPU per sandbox either: a generated snapshot or build that passed validation (an image
  // such as `a:1`) would otherwise send the runner to a public registry, and tests reach only loopback.
  const quota = await api(platform.apiUrl, platform.apiKey, 'PATCH', `/organizations/${tenants.a.organizationId}/quota`, {
    totalCpuQuota: 0,
    totalMemoryQuota: 0,
    totalDiskQuota: 0,
    maxCpuPerSandbox: 0,
    snapshotQuota: 0,
  });
  assert.ok(quota.status < 300, quota.text);
  // A throwaway key whose name the delete routes may consume; the admin key itself is never a generated target.
  await api(platform.apiUrl, platform.apiKey, 'POST', '/api-keys', { name: 'input-suite-disposable', permissions: ['write:sandboxes'] });
  // A volume the volume operations may read, mount and delete.
  const volume = await api<{ id: string }>(platform.apiUrl, platform.apiKey, 'POST', '/volumes', { name: 'input-suite-volume' });
  assert.ok(volume.status < 300, volume.text);
  const runnerToken = platform.runners[0]?.token;
  target = {
    baseUrl,
    authorization: (op) => (runnerToken && /ForRunner|updateSandboxState/.test(op.operationId) ? `Bearer ${runnerToken}` : `Bearer ${platform.apiKey}`),
    pathParams: (op) => ({
      sandboxId: tenants.a.sandbox.id,
      // Quota updates aim at org B, so no generated request can give org A its quota back.
      organizationId: op.operationId === 'updateOrganizationQuota' ? tenants.b.organizationId : tenants.a.organizationId,
      userId: tenants.a.userId,
      name: 'input-suite-disposable',
      id: op.path.includes('/users/') ? tenants.b.userId : op.path.includes('/snapshots/') ? tenants.defaultSnapshotId : tenants.runnerId,
      port: '3000',
      interval: '5',
      isPublic: 'false',
      authToken: tenants.a.previewToken || 'token',
      // Organization, user and webhook operations (issue 12): a global role (read-only, so updates and deletes are
      // refused), ids that exist nowhere (404), and a provider name.
      roleId: '00000000-0000-0000-0000-000000000001',
      invitationId: '7d1e3f0a-0000-4000-8000-000000000001',
      messageId: 'msg_input_suite_unknown',
      provider: 'github',
      providerUserId: 'input-suite',
      volumeId: volume.json.id,
    }),
  };
});

after(async () => {
  await platform?.close();
  await tenants?.close();
});

describe('hostile input on every documented operation', () => {
  // Test names must exist before the document is fetched; the operations are grouped by their tag-like path prefix.
  const groups = ['/api/sandbox', '/api/workspace', '/api/api-keys', '/api/users', '/api/organizations', '/api/snapshots', '/api/runners', '/api/preview', '/api/health', '/api/config', '/api/audit', '/api/webhooks', '/api/volumes'];
  for (const prefix of groups) {
    test(`${prefix}*: generated bad input never yields a 5xx or an answer without the error envelope`, async () => {
      const ops = operations.filter((o) => o.path === prefix || o.path.startsWith(`${prefix}/`));
      assert.ok(ops.length > 0, `the document has operations under ${prefix}`);
      // Destructive operations last, so the others still find org A's sandbox and keys.
      const destructive = (o: Operation) => o.method === 'DELETE' || /stop|archive|updateSandboxState/.test(o.operationId);
      const ordered = [...ops.filter((o) => !destructive(o)), ...ops.filter(destructive)];
      const findings: string[] = [];
      for (const op of ordered) {
        const { finding, seed } = await fuzzOperation(target, op, RUNS_PER_OPERATION);
        if (finding) findings.push(`${op.operationId} (seed ${seed}): ${finding.kind} ${finding.method} ${finding.path} -> ${finding.status}: ${finding.problem} ${finding.body ?? ''}`);
      }
      assert.deepEqual(findings, []);
    });
  }
});

test('a body over the size limit is refused with the envelope (413), not a crash', async () => {
  const body = JSON.stringify({ labels: { big: 'x'.repeat(11 * 1024 * 1024) } });
  // The API answers 413 from the Content-Length alone and closes without reading the rest: the client only sends the
  // first bytes and waits, or its write of the remainder would race the close (EPIPE) instead of reading the answer.
  const r = await sendHead(`/api/sandbox/${tenants.a.sandbox.id}/labels`, Buffer.byteLength(body), body.slice(0, 64 * 1024));
  assert.equal(r.status, 413, r.text.slice(0, 200));
  assert.equal(envelopeProblem(r.status, r.text), null);
});

/** A PUT announcing `length` bytes of JSON that sends only `head` of them, resolved with the server's answer. */
function sendHead(path: string, length: number, head: string): Promise<{ status: number; text: string }> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: 'PUT',
        path,
        agent: false,
        timeout: 30_000,
        headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json', 'content-length': String(length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          req.destroy();
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`PUT ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.write(head);
  });
}

test('unknown routes and methods answer 404 in the envelope', async () => {
  for (const [method, path] of [['GET', '/api/no-such-route'], ['PATCH', '/api/sandbox'], ['GET', '/api/../../etc/passwd'], ['GET', '/api/sandbox/%00/../x']]) {
    const r = await send(baseUrl, method!, path!, { headers: { authorization: `Bearer ${platform.apiKey}` } });
    assert.ok(r.status >= 400 && r.status < 500, `${method} ${path} -> ${r.status}`);
    assert.equal(envelopeProblem(r.status, r.text), null, `${method} ${path}: ${r.text.slice(0, 200)}`);
  }
});

test('after all of it the API process is alive and healthy and org A can still be served', async () => {
  assert.ok(platform.api.running, 'the API process is still running');
  const health = await send(baseUrl, 'GET', '/api/health');
  assert.equal(health.status, 200, health.text);
  const me = await api(platform.apiUrl, platform.apiKey, 'GET', '/users/me');
  assert.equal(me.status, 200, me.text);
});
