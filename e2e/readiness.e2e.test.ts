// Issue 10 "Readiness" and "Recoverable credentials", end to end. The platform runs with its own empty registry, so
// the runner really builds the default image (from SHOAL_IMAGE_CACHE_DIR's rootfs tarball when set: tens of seconds;
// from Debian packages otherwise: minutes). While it builds: /health/ready answers 503 with what is missing,
// credentials.json does not exist, and a create() gets the 503 naming the build. A separate process that polls for
// credentials.json and then calls create() once succeeds on the first try. Then, as a user would: stop, delete
// credentials.json, `shoal up` prints the recovery command, the printed command mints a key that works, and the old
// key still works.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Daytona } from '@daytonaio/sdk';
import { startPlatform, type Platform } from '@shoal/platform';
import { pickApiPort, pickSubnetOctet } from './src/harness.js';
import { endPlatformProcesses, repoRoot, run, sleep } from './src/platform-process.js';

interface Observation {
  at: number;
  credentials: boolean;
  status: number | 'down';
  body?: { status: string; missing: string[]; checks: { runners: { status: string }; defaultSnapshot: { status: string; progress?: { phase: string } } } };
}

test('credentials.json appears only when create() works; a lost one is recovered with the printed command', { timeout: 900_000 }, async () => {
  const dataDir = await mkdtemp(join(process.env.SHOAL_TEST_SCRATCH ?? tmpdir(), 'e2e-readiness-'));
  await chmod(dataDir, 0o755);
  const credentialsFile = join(dataDir, 'credentials.json');
  const apiPort = await pickApiPort();
  const apiUrl = `http://127.0.0.1:${apiPort}/api`;
  const logs: string[] = [];
  let platform: Platform | undefined;
  let up: ReturnType<typeof run> | undefined;
  try {
    // No registryAddress and no databaseUrl: a registry and PostgreSQL of this data dir, so the image must be built.
    const starting = startPlatform({
      dataDir,
      apiPort,
      bridgePrefix: `shr${randomBytes(2).toString('hex')}`,
      preferWellKnownPorts: false,
      subnetOctet: pickSubnetOctet(1),
      ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
      log: (l) => logs.push(l),
    });
    let settled = false;
    starting.then(
      () => (settled = true),
      () => (settled = true),
    );
    const script = run(process.execPath, ['--import', 'tsx', join(repoRoot, 'e2e/src/readiness/poll-and-create.ts'), dataDir]);

    const seen: Observation[] = [];
    let createDuringBuild: string | undefined;
    while (!settled) {
      const credentials = existsSync(credentialsFile);
      const o: Observation = { at: Date.now(), credentials, status: 'down' };
      try {
        const res = await fetch(`${apiUrl}/health/ready`, { signal: AbortSignal.timeout(5000) });
        o.status = res.status;
        o.body = (await res.json()) as Observation['body'];
      } catch {
        // API not listening yet
      }
      seen.push(o);
      // A create while a healthy runner builds the image, with the first-start key the supervisor keeps private until ready.
      const pending = join(dataDir, '.credentials.pending.json');
      const building = o.status === 503 && o.body?.checks.runners.status === 'up' && o.body.checks.defaultSnapshot.status === 'down';
      if (createDuringBuild === undefined && building && existsSync(pending)) {
        const key = (JSON.parse(readFileSync(pending, 'utf8')) as { apiKey: string }).apiKey;
        try {
          const sb = await new Daytona({ apiUrl, apiKey: key, target: 'us' }).create({}, { timeout: 60 });
          createDuringBuild = `unexpectedly created ${sb.id} (state ${sb.state})`;
          await sb.delete().catch(() => undefined);
        } catch (err) {
          createDuringBuild = (err as Error).message;
        }
      }
      await sleep(300);
    }
    platform = await starting;

    const building = seen.filter((o) => o.status === 503 && o.body?.checks.defaultSnapshot.status === 'down');
    assert.ok(building.length > 0, `readiness never reported the build: ${JSON.stringify(seen.slice(-3))}`);
    assert.ok(building.every((o) => !o.credentials), 'credentials.json existed while readiness was 503');
    assert.ok(seen.every((o) => !o.credentials || o.status === 200), 'credentials.json existed before readiness answered 200');
    const phases = new Set(building.map((o) => o.body?.checks.defaultSnapshot.progress?.phase).filter(Boolean));
    assert.ok(phases.size > 0, 'readiness showed no build progress');
    console.log(`[readiness] build observed for ${((building.at(-1)!.at - building[0]!.at) / 1000).toFixed(1)} s; phases: ${[...phases].join(' | ')}`);
    assert.match(createDuringBuild ?? '(no create was tried)', /still being built.*retry when GET \/api\/health\/ready answers 200/);

    assert.equal(await script.exit, 0, script.out());
    const outcome = JSON.parse(script.out().trim().split('\n').pop()!) as { ok: boolean; waitedMs: number; error?: string };
    assert.ok(outcome.ok, `the polling script's first create() failed: ${outcome.error}`);
    console.log(`[readiness] the polling script waited ${(outcome.waitedMs / 1000).toFixed(1)} s for credentials.json, then create() worked first try`);
    const oldKey = (JSON.parse(await readFile(credentialsFile, 'utf8')) as { apiKey: string }).apiKey;
    assert.equal((await readFile(credentialsFile)).length > 0, true);

    // Lost credentials: the next `shoal up` (what npm start runs) starts anyway and prints the recovery command.
    await platform.stop();
    platform = undefined;
    await rm(credentialsFile);
    up = run(process.execPath, ['--import', 'tsx', join(repoRoot, 'apps/cli/src/main.ts'), 'up', '--data-dir', dataDir, '--port', String(apiPort)]);
    for (let i = 0; i < 600 && !up.out().includes('Press Ctrl-C to stop.'); i++) {
      if (up.child.exitCode !== null) break;
      await sleep(200);
    }
    assert.match(up.out(), /Press Ctrl-C to stop\./, up.out());
    const command = /^\s*(npx shoal credentials reset --data-dir \S+)\s*$/m.exec(up.out())?.[1];
    assert.ok(command, `no recovery command printed:\n${up.out()}`);
    assert.equal(existsSync(credentialsFile), false, 'start does not invent a key on its own');

    const reset = run('sh', ['-c', command]);
    assert.equal(await reset.exit, 0, reset.out());
    const creds = JSON.parse(await readFile(credentialsFile, 'utf8')) as { apiUrl: string; apiKey: string };
    assert.equal(creds.apiUrl, apiUrl);
    assert.notEqual(creds.apiKey, oldKey);
    const sb = await new Daytona({ apiUrl: creds.apiUrl, apiKey: creds.apiKey, target: 'us' }).create();
    assert.equal((await sb.process.executeCommand('echo recovered')).result.trim(), 'recovered');
    await sb.delete();
    const old = await new Daytona({ apiUrl, apiKey: oldKey, target: 'us' }).list();
    assert.ok(Array.isArray(old.items ?? old), 'the old key still works');

  } finally {
    if (up && up.child.exitCode === null) {
      up.child.kill('SIGINT');
      await Promise.race([up.exit, sleep(30_000)]);
      if (up.child.exitCode === null) up.child.kill('SIGKILL');
    }
    await platform?.stop().catch(() => undefined);
    // Whatever a failed step left running of this data dir's platform is ended by PID (e2e/shutdown tests that a
    // stopped platform leaves nothing; this is only this test's cleanup).
    await endPlatformProcesses(dataDir, 'readiness');
    if (process.env.SHOAL_TEST_VERBOSE) console.log(logs.join('\n'));
    const mountsBelow = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dataDir));
    // A runner still stopping its sandboxes unmounts within seconds.
    for (let i = 0; i < 60 && mountsBelow().length > 0; i++) await sleep(500);
    const mounted = mountsBelow();
    if (mounted.length === 0) await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    else console.error(`[readiness] ${mounted.length} mount(s) left below ${dataDir}; not removing it`);
  }
});
