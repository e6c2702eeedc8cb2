// Declarative image builds end to end with the official SDK (issue 11 scope 4): `create({ image: Image.base(...)... })`
// sends buildInfo; the API creates the build's snapshot, the runner builds it with buildah (RUN in the runner's build
// network and uid range), pushes it to the internal registry and unpacks it; the SDK streams the build log and gets a
// started sandbox with the RUN output, WORKDIR and ENV. An identical create reuses the snapshot (no build log, no
// rebuild); a failing step fails the create with the step and its exit status.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Image } from '@daytonaio/sdk';
import { freePort, startRegistry, type RunningRegistry } from '@shoal/platform';
import { pushBusyboxImage } from './src/busybox-image.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;
let registry: RunningRegistry;
let dir: string;
let base: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-e2e-builds-'));
  registry = await startRegistry({ dataDir: join(dir, 'registry'), port: await freePort() });
  base = `${registry.address}/e2e/busybox:1`;
  await pushBusyboxImage(dir, base, ['sleep', '3600']);
  platform = await startTestPlatform();
});

after(async () => {
  await platform?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const image = () => Image.base(base).runCommands('echo hi > /built.txt').workdir('/work').runCommands('pwd > /pwd.txt').env({ A: '1' });

test('create({ image }) builds, streams the build log, and the sandbox has the RUN output, WORKDIR and ENV; an identical create reuses it', async () => {
  const daytona = platform.sdk();
  const logs: string[] = [];
  const sandbox = await daytona.create({ image: image() }, { onSnapshotCreateLogs: (l) => logs.push(l), timeout: 0 });
  try {
    assert.equal(sandbox.state, 'started');
    const text = logs.join('\n');
    assert.match(text, /STEP \d+\/\d+: RUN echo hi > \/built.txt/, `the build log reached onSnapshotCreateLogs: ${text.slice(-2000)}`);
    assert.equal((await sandbox.process.executeCommand('cat /built.txt')).result.trim(), 'hi');
    assert.equal((await sandbox.process.executeCommand('cat /pwd.txt')).result.trim(), '/work', 'RUN after WORKDIR ran in it');
    assert.equal((await sandbox.process.executeCommand('pwd')).result.trim(), '/work', 'the sandbox starts in the image WORKDIR');
    assert.match((await sandbox.process.executeCommand('env')).result, /^A=1$/m);

    const logs2: string[] = [];
    const second = await daytona.create({ image: image() }, { onSnapshotCreateLogs: (l) => logs2.push(l) });
    try {
      // Answered already started: the SDK streams no build log because there was no build.
      assert.equal(second.state, 'started');
      assert.deepEqual(logs2, []);
      assert.equal(second.snapshot, sandbox.snapshot);
      assert.equal((await second.process.executeCommand('cat /built.txt')).result.trim(), 'hi');
    } finally {
      await second.delete();
    }
  } finally {
    await sandbox.delete();
  }
});

test('a failing RUN step fails the create with the step and its exit status', async () => {
  const daytona = platform.sdk();
  await assert.rejects(daytona.create({ image: Image.base(base).runCommands('exit 3') }, { timeout: 0 }), /RUN exit 3: exit status 3/);
});
