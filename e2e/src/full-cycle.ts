/*
 * "The platform works again": one create -> exec -> delete through the official SDK that must succeed on the first
 * try, and a delete that really finishes (the row gone or destroyed, and nothing of the sandbox left on the runner).
 * Fault and crash suites call it after each restart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestPlatform } from './harness.js';

export async function assertFullCycle(platform: TestPlatform, labels: Record<string, string>, after: string): Promise<void> {
  const token = `alive-${randomBytes(6).toString('hex')}`;
  const sb = await platform.sdk().create({ labels }, { timeout: 120 });
  assert.equal(sb.state, 'started', `create after the ${after}`);
  const r = await sb.process.executeCommand(`echo ${token}`);
  assert.deepEqual([r.exitCode, r.result.trim()], [0, token], `exec after the ${after}`);
  await sb.delete();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const state = await platform
      .sdk()
      .get(sb.id)
      .then((s) => String(s.state))
      .catch((err: Error) => (/not found/i.test(err.message) ? 'gone' : `error: ${err.message}`));
    // Every runner's sandbox directories: the sandbox may have been placed on any of them.
    const onRunners = await runnerSandboxIds(platform);
    if ((state === 'gone' || state === 'destroyed') && !onRunners.has(sb.id)) return;
    assert.ok(Date.now() < deadline, `delete after the ${after} did not finish: ${state}, on a runner: ${onRunners.has(sb.id)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function runnerSandboxIds(platform: TestPlatform): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const r of platform.runners) {
    const dir = join(platform.dataDir, r.index === 0 ? 'runner' : `runner-${r.index}`, 'sandboxes');
    for (const id of await readdir(dir).catch(() => [] as string[])) ids.add(id);
  }
  return ids;
}
