import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { exec } from '../src/util/exec.js';
import { api, crunExec, destroyRunner, requireRoot, sandboxBody, startRegistry, startRunner, waitFor, type TestRunner } from './helpers.js';

// Two runners on one machine: separate data dirs, bridges, subnets and nftables tables that never interfere.
describe('two runners on one host (e2e)', { timeout: 15 * 60_000 }, () => {
  before(requireRoot);
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let a: TestRunner;
  let b: TestRunner;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    image = `${registry.host}/shoal/sandbox:0.1.0`;
    const env = async (bridge: string, subnet: string) => ({
      SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-e2e-'),
      SHOAL_RUNNER_BRIDGE: bridge,
      SHOAL_RUNNER_SUBNET: subnet,
      SHOAL_DEFAULT_IMAGE: image,
    });
    a = await startRunner(await env('shlma', '10.234.0.0/16'));
    b = await startRunner(await env('shlmb', '10.235.0.0/16'));
    // Runner a builds (or pulls) the default image and pushes it; runner b pulls what a pushed.
    assert.equal((await api(a, 'POST', '/sandboxes', sandboxBody('multi-a', image))).status, 201);
    const created = await api(b, 'POST', '/sandboxes', sandboxBody('multi-b', image));
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });

  after(async () => {
    if (a) await destroyRunner(a);
    if (b) await destroyRunner(b);
    if (registry) await registry.stop();
  });

  it('keeps separate tables, and sandboxes of one runner cannot reach the other runner\'s sandboxes', async () => {
    const tables = (await exec('nft', ['list', 'tables'])).stdout;
    assert.match(tables, /inet shoal_shlma/);
    assert.match(tables, /inet shoal_shlmb/);
    await crunExec(b, 'multi-b', 'python3 -m http.server 8080 --directory /tmp >/dev/null 2>&1', { detach: true });
    await waitFor(async () => ((await api(b, 'GET', '/sandboxes/multi-b/ports/8080/')).status === 200 ? true : undefined), 15_000, 'server in multi-b');
    const ipB = b.runner.network.ipFor(b.runner.sandboxes.all()[0]!.meta.index);
    assert.ok(ipB.startsWith('10.235.'));
    const r = await crunExec(a, 'multi-a', `curl -s -o /dev/null --max-time 3 http://${ipB}:8080/; echo rc=$?`);
    assert.doesNotMatch(r.stdout, /rc=0/);
    // The sandbox is not a runner: runner a's proxy does not know runner b's sandbox.
    assert.equal((await api(a, 'GET', '/sandboxes/multi-b/ports/8080/')).status, 404);
  });

  it('tearing one runner down leaves the other one working', async () => {
    await destroyRunner(a);
    a = undefined as unknown as TestRunner;
    assert.doesNotMatch((await exec('nft', ['list', 'tables'])).stdout, /shoal_shlma/);
    assert.equal((await api(b, 'GET', '/sandboxes/multi-b/ports/8080/')).status, 200);
    assert.equal((await api(b, 'GET', '/sandboxes/multi-b/toolbox/version')).status, 200);
  });
});
