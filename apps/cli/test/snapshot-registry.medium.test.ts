import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ObjectStorage } from '@daytonaio/sdk/src/ObjectStorage.js';
import type { BuildSnapshot } from '@shoal/contracts';
import { objectStorageSessionKey } from '@shoal/contracts';
import { ObjectServer, type RunningObjectServer } from '@shoal/objects';
import { build, type ShoalApp } from '../../api/src/app.js';
import { loadConfig } from '../../api/src/config.js';
import { RunnerCallError, type RunnerTarget } from '../../api/src/reconciler/runner-client.js';
import type { BuildRunnerClient } from '../../api/src/services/build.service.js';
import { createTestDatabase, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from '../../api/test/helpers/database.js';
import { createTenant, registerRunner } from '../../api/test/helpers/app.js';
import { FakeRunner } from '../../api/test/helpers/fake-runner.js';
import { runCli, type CliResult } from './helpers/run-cli.js';

/*
 * `shoal snapshot …` and `shoal registry …` as a user runs them: the CLI as a separate process against the API
 * listening on loopback (real PostgreSQL), the embedded S3 server for build contexts, and the API tests' fake runner
 * (pulls) and a fake build endpoint (builds log three lines; a Dockerfile with `exit 3` fails like the runner does).
 */

const TOKEN = 'cli-fake-runner-token';
const SERVICE = { accessKeyId: 'SHOALSVCCLITEST000001', secretAccessKey: 'cli-test-service-secret-0123456789' };
const BUCKET = 'shoal-builds';

class FakeBuilds implements BuildRunnerClient {
  calls: BuildSnapshot[] = [];
  constructor(private readonly runner: FakeRunner) {}
  async cancel(_r: RunnerTarget, _ref: string): Promise<void> {}
  async build(_r: RunnerTarget, body: BuildSnapshot): Promise<void> {
    this.calls.push(body);
    for (const line of ['STEP 1/2: FROM base', 'STEP 2/2: RUN make', 'built']) {
      this.runner.pullLogs.set(body.snapshot, (this.runner.pullLogs.get(body.snapshot) ?? '') + `${line}\n`);
      await new Promise((r) => setTimeout(r, 200));
    }
    if (body.dockerfile.includes('exit 3')) throw new RunnerCallError('STEP 2/2: RUN exit 3: exit status 3', 400);
  }
}

let dir: string;
let s3: RunningObjectServer;
let db: TestDatabase;
let runner: FakeRunner;
let builds: FakeBuilds;
let app: ShoalApp;
let apiUrl: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let other: Awaited<ReturnType<typeof createTenant>>;
const pulls: Array<{ snapshot: string; registry?: { url: string; username: string; password: string } }> = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-test-'));
  s3 = await new ObjectServer({
    root: join(dir, 'objects'),
    host: '127.0.0.1',
    port: 0,
    region: 'us-east-1',
    buckets: [BUCKET],
    auth: { serviceAccessKey: SERVICE.accessKeyId, serviceSecretKey: SERVICE.secretAccessKey, sessionKey: objectStorageSessionKey(TEST_PLATFORM_SECRET), maxSkewMs: 900_000 },
    maxObjectBytes: 64 * 1024 * 1024,
    log: () => undefined,
  }).listen();
  db = await createTestDatabase();
  runner = await new FakeRunner({
    token: TOKEN,
    pullDelayMs: 300,
    pull: (body) => {
      pulls.push(body as (typeof pulls)[number]);
      return undefined as never;
    },
  }).start();
  builds = new FakeBuilds(runner);
  const config = loadConfig({
    DATABASE_URL: db.url,
    SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
    SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
    SHOAL_RECONCILE_INTERVAL_MS: '200',
    SHOAL_RUNNER_HEALTH_INTERVAL_MS: '60000',
    SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
    SHOAL_S3_URL: s3.url,
    SHOAL_S3_BUCKET: BUCKET,
    SHOAL_S3_ACCESS_KEY: SERVICE.accessKeyId,
    SHOAL_S3_SECRET_KEY: SERVICE.secretAccessKey,
  });
  app = await build({ config, background: true, buildRunner: builds });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
  await registerRunner(app, runner.url, TOKEN);
  tenant = await createTenant(app, 'cli-tenant');
  other = await createTenant(app, 'cli-other');
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[], opts: { key?: string; stdin?: string } = {}): Promise<CliResult> =>
  runCli(argv, { apiUrl, key: opts.key ?? tenant.key, dir, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) });

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

describe('shoal snapshot', () => {
  test('create --image follows the pull log until active; list, info, logs; deactivate, activate, delete', async () => {
    const created = ok(await cli(['snapshot', 'create', 'cli/py:1', '--image', '198.18.0.10:5000/team/python:3.12', '--cpu', '2', '--memory', '2', '--entrypoint', '/usr/bin/init --flag', '--json']));
    // Progress on stderr (the followed log names the image), the result on stdout as JSON.
    assert.match(created.stderr, /Snapshot cli\/py:1 \(pending\)/);
    assert.match(created.stderr, /pulling 198\.18\.0\.10:5000\/team\/python:3\.12/);
    const snap = JSON.parse(created.stdout) as { id: string; state: string; cpu: number; memory: number; entrypoint: string[]; size: string };
    assert.equal(snap.state, 'active');
    assert.equal(snap.cpu, 2);
    assert.equal(snap.memory, 2);
    assert.deepEqual(snap.entrypoint, ['/usr/bin/init', '--flag']);
    assert.equal(snap.size, '0.001 GB');

    const table = ok(await cli(['snapshot', 'list']));
    const lines = table.stdout.split('\n');
    assert.match(lines[0]!, /^NAME\s+STATE\s+SIZE\s+CREATED$/);
    assert.ok(lines.some((l) => /^cli\/py:1\s+active\s+0\.001 GB\s+\d{4}-\d\d-\d\dT/.test(l)), table.stdout);
    const listed = JSON.parse(ok(await cli(['snapshot', 'list', '--name', 'cli/py', '--json'])).stdout) as { items: Array<{ id: string }>; total: number };
    assert.deepEqual(listed.items.map((i) => i.id), [snap.id]);

    const info = ok(await cli(['snapshot', 'info', 'cli/py:1']));
    assert.match(info.stdout, new RegExp(`^id\\s+${snap.id}$`, 'm'));
    assert.match(info.stdout, /^imageName\s+198\.18\.0\.10:5000\/team\/python:3\.12$/m);
    assert.match(ok(await cli(['snapshot', 'logs', snap.id])).stdout, /pulling 198\.18\.0\.10:5000\/team\/python:3\.12\ndone /);

    assert.equal((JSON.parse(ok(await cli(['snapshot', 'deactivate', 'cli/py:1', '--json'])).stdout) as { state: string }).state, 'inactive');
    assert.equal((JSON.parse(ok(await cli(['snapshot', 'activate', 'cli/py:1', '--json'])).stdout) as { state: string }).state, 'active');

    // Another organization sees nothing: the API's 404 becomes exit code 3 with the API's message.
    const foreign = await cli(['snapshot', 'delete', snap.id], { key: other.key });
    assert.equal(foreign.code, 3, foreign.stderr);
    assert.match(foreign.stderr, /^shoal: .*not found.*\(HTTP 404\)$/im);

    assert.match(ok(await cli(['snapshot', 'delete', 'cli/py:1'])).stdout, new RegExp(`Deleted snapshot cli/py:1 \\(${snap.id}\\)`));
    const deadline = Date.now() + 15_000;
    let gone: CliResult;
    do {
      gone = await cli(['snapshot', 'info', snap.id]);
    } while (gone.code === 0 && Date.now() < deadline);
    assert.equal(gone.code, 3, gone.stdout + gone.stderr);
  });

  test('an image that cannot be pulled: exit 1 with the snapshot error reason', async () => {
    const r = await cli(['snapshot', 'create', 'cli-missing', '--image', '198.18.0.10:5000/team/unknown:1']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /shoal: snapshot cli-missing ended error: .*manifest unknown/);
  });

  test("the API's error envelope is printed as a message, not as JSON", async () => {
    const r = await cli(['snapshot', 'create', 'cli-bad', '--image', 'not a ref!!']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^shoal: .+ \(HTTP 400\)$/m);
    assert.doesNotMatch(r.stderr, /"statusCode"/);
  });

  test('create --dockerfile uploads the context as the SDK does, follows the build log, appends the entrypoint', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'src', 'empty'), { recursive: true });
    await writeFile(join(ctx, 'src', 'app.py'), 'print("hello from the context")\n');
    await writeFile(join(ctx, 'requirements.txt'), 'numpy\n');
    const dockerfile = join(dir, 'Dockerfile.app');
    await writeFile(dockerfile, `FROM ${TEST_DEFAULT_IMAGE}\nCOPY src /app/src\nRUN make\n`);
    const before = builds.calls.length;
    const r = ok(await cli(['snapshot', 'create', 'cli-built', '--dockerfile', dockerfile, '--context', ctx, '--entrypoint', '["/bin/sh","-c","sleep infinity"]']));
    assert.match(r.stderr, /Uploading build context/);
    assert.match(r.stderr, /STEP 1\/2: FROM base\nSTEP 2\/2: RUN make\nbuilt/);
    assert.match(r.stdout, /^state\s+active$/m);
    assert.equal(builds.calls.length, before + 1);
    const call = builds.calls.at(-1)!;
    assert.equal(call.dockerfile, `FROM ${TEST_DEFAULT_IMAGE}\nCOPY src /app/src\nRUN make\nENTRYPOINT ["/bin/sh","-c","sleep infinity"]\n`);
    // The key is the SDK's own for this directory with archive path '.', so CLI and SDK uploads are shared.
    const sdkHash = await (new ObjectStorage({ endpointUrl: s3.url, accessKeyId: 'x', secretAccessKey: 'x', sessionToken: 'x' }) as unknown as {
      computeHashForPathMd5(p: string, base: string): Promise<string>;
    }).computeHashForPathMd5(ctx, '.');
    assert.deepEqual(call.context, [sdkHash]);
    const service = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, credentials: SERVICE });
    const obj = await service.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${tenant.organizationId}/${sdkHash}/context.tar` }));
    const tar = Buffer.from(await obj.Body!.transformToByteArray());
    service.destroy();
    // ustar names at offset 0 of each header: the context is rooted at './'.
    assert.ok(tar.includes(Buffer.from('./src/app.py\0')), 'the tar holds ./src/app.py');
    assert.ok(tar.includes(Buffer.from('print("hello from the context")')));

    // The same context again is not uploaded twice.
    const again = ok(await cli(['snapshot', 'create', 'cli-built-2', '--dockerfile', dockerfile, '--context', ctx]));
    assert.match(again.stderr, /already uploaded/);
  });

  test('a failing build exits 1 with build_failed and the failing step', async () => {
    const ctx = join(dir, 'ctx-fail');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${TEST_DEFAULT_IMAGE}\nRUN exit 3\n`);
    const r = await cli(['snapshot', 'create', 'cli-fails', '--dockerfile', join(ctx, 'Dockerfile')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /STEP 2\/2: RUN make/);
    assert.match(r.stderr, /shoal: snapshot cli-fails ended build_failed: .*RUN exit 3: exit status 3/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await cli(['snapshot', 'create', 'x'])).code, 2);
    assert.equal((await cli(['snapshot', 'create', 'x', '--image', 'a', '--dockerfile', 'b'])).code, 2);
    const missing = await cli(['snapshot', 'create', 'x', '--dockerfile', join(dir, 'nope', 'Dockerfile')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the Dockerfile/);
  });
});

describe('shoal registry', () => {
  const PASSWORD = 'pa ss"w0rd$with spaces';

  test('create reads the password from stdin, never prints it; the entry is used for pulls from that registry', async () => {
    const created = ok(await cli(['registry', 'create', 'team', '--url', '198.18.0.20:5000', '--username', 'robot', '--json', '--password-stdin'], { stdin: `${PASSWORD}\n` }));
    assert.ok(!created.stdout.includes(PASSWORD) && !created.stderr.includes(PASSWORD));
    const reg = JSON.parse(created.stdout) as { id: string; name: string; username: string };
    assert.equal(reg.name, 'team');

    const list = ok(await cli(['registry', 'list']));
    assert.match(list.stdout, /^ID\s+NAME\s+URL\s+USERNAME\s+PROJECT\s+REGISTRYTYPE$/m);
    assert.match(list.stdout, new RegExp(`^${reg.id}\\s+team\\s+198\\.18\\.0\\.20:5000\\s+robot\\s+organization$`, 'm'));
    assert.ok(!list.stdout.includes(PASSWORD));
    assert.match(ok(await cli(['registry', 'info', 'team'])).stdout, new RegExp(`^id\\s+${reg.id}$`, 'm'));

    // The password reached the API intact (one trailing newline dropped): the runner gets it for a pull.
    ok(await cli(['snapshot', 'create', 'cli-private', '--image', '198.18.0.20:5000/team/app:1']));
    const pull = pulls.find((p) => p.snapshot === '198.18.0.20:5000/team/app:1');
    assert.equal(pull?.registry?.password, PASSWORD);
    assert.equal(pull?.registry?.username, 'robot');

    const updated = ok(await cli(['registry', 'update', 'team', '--username', 'robot2', '--project', 'team', '--password-stdin', '--json'], { stdin: 'new-secret' }));
    assert.equal((JSON.parse(updated.stdout) as { username: string; project: string }).username, 'robot2');
    ok(await cli(['snapshot', 'create', 'cli-private-2', '--image', '198.18.0.20:5000/team/app:2']));
    const pull2 = pulls.find((p) => p.snapshot === '198.18.0.20:5000/team/app:2');
    assert.equal(pull2?.registry?.password, 'new-secret');
    assert.equal(pull2?.registry?.username, 'robot2');

    // Choosing defaults is an admin operation: the API's refusal is printed as such.
    const setDefault = await cli(['registry', 'set-default', 'team']);
    assert.equal(setDefault.code, 1, setDefault.stdout + setDefault.stderr);
    assert.match(setDefault.stderr, /^shoal: .*\(HTTP 403\)$/m);

    // Another organization cannot see or delete it.
    const foreign = await cli(['registry', 'delete', reg.id], { key: other.key });
    assert.equal(foreign.code, 3, foreign.stderr);
    assert.match(ok(await cli(['registry', 'delete', 'team'])).stdout, new RegExp(`Deleted registry team \\(${reg.id}\\)`));
    assert.doesNotMatch(ok(await cli(['registry', 'list'])).stdout, /team/);
  });

  test('a password is never taken from argv, and without a terminal it must come from stdin', async () => {
    const argv = await cli(['registry', 'create', 'x', '--url', 'r.test', '--username', 'u', '--password', 'secret']);
    assert.equal(argv.code, 2);
    assert.match(argv.stderr, /use --password-stdin/);
    const noTty = await cli(['registry', 'create', 'x', '--url', 'r.test', '--username', 'u']);
    assert.equal(noTty.code, 2);
    assert.match(noTty.stderr, /pipe it with --password-stdin/);
    assert.doesNotMatch(ok(await cli(['registry', 'list'])).stdout, /^\S+\s+x\s/m);
  });
});
