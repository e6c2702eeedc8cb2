import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { failureReason, logHeartbeat } from '../src/images/builder.js';

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a silent build log gets a progress line (streams followed by fetch would otherwise time out), new output starts the silence again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'build-log-'));
  const log = join(dir, 'build.log');
  await writeFile(log, 'STEP 1/2: RUN apt-get install -y big\n');
  const beat = logHeartbeat(log, 200);
  try {
    await until(async () => (await readFile(log, 'utf8')).includes('[shoal] still building'));
    const text = await readFile(log, 'utf8');
    assert.match(text, /^STEP 1\/2: RUN apt-get install -y big\n\[shoal\] still building \(\d+ s so far, \d+ s without output\)\n$/);
    // New output counts as activity: the next progress line comes only after another silence, below the new line.
    await appendFile(log, 'Setting up big (1.0)\n');
    await until(async () => (await readFile(log, 'utf8')).split('[shoal] still building').length === 3);
    assert.match(await readFile(log, 'utf8'), /Setting up big \(1\.0\)\n\[shoal\] still building/);
  } finally {
    beat.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a failed build's reason never comes from a progress line", () => {
  const out = 'STEP 2/2: RUN false\nError: building at STEP "RUN false": exit status 1\n[shoal] still building (120 s so far, 60 s without output)\n';
  assert.equal(failureReason(out), 'RUN false: exit status 1');
  assert.equal(failureReason('Error: no space left on device\n[shoal] still building (61 s so far, 60 s without output)\n'), 'no space left on device');
});
