// Toolbox limits in real sandboxes (issue 10, scope items 4 and 5), driven by the official SDK through the real API,
// runner and preview proxy: executeCommand on a sandbox whose disk is full returns the ENOSPC text, and a session
// command printing 2 GiB leaves the toolbox's RSS (read from the host, /proc of the toolbox process found through
// the sandbox's cgroup) under 100 MiB while the sandbox keeps answering and the logs keep their head and tail.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait, peakRssKiB, toolboxRaw } from './src/toolbox-helpers.js';

const MiB = 1024 * 1024;
let platform: TestPlatform;
let bridge: string;
let full: Sandbox;
let chatty: Sandbox;

before(async () => {
  platform = await startTestPlatform();
  const layout = JSON.parse(await readFile(join(platform.dataDir, 'platform.json'), 'utf8')) as { runners: Array<{ bridge: string }> };
  bridge = layout.runners[0]!.bridge;
  const daytona = platform.sdk();
  [full, chatty] = await Promise.all([
    daytona.create({ labels: { suite: 'toolbox-limits' } }),
    daytona.create({ labels: { suite: 'toolbox-limits' } }),
  ]);
});

after(async () => {
  await Promise.all([full, chatty].filter(Boolean).map((s) => deleteAndWait(platform, s)));
  await platform?.close();
});

/** The toolbox's host pid: the process of the sandbox's cgroup whose command line is the toolbox bundle. */
function toolboxPid(sandboxId: string): number {
  const candidates = ['pids', 'memory', 'unified', ''].map((c) => join('/sys/fs/cgroup', c, `shoal_${bridge}`, sandboxId, 'cgroup.procs'));
  const procs = candidates.find((p) => existsSync(p));
  assert.ok(procs, `no cgroup.procs for ${sandboxId} among ${candidates.join(', ')}`);
  for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number)) {
    let cmdline: string[];
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // a short-lived process of the sandbox exited after cgroup.procs listed it
    }
    if (cmdline.some((a) => a.endsWith('/.shoal/toolbox/toolbox.cjs')) && !cmdline[0]!.endsWith('tini')) return pid;
  }
  throw new Error(`no toolbox process in ${procs}`);
}

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

describe('a sandbox with a full disk', () => {
  test('executeCommand returns the No space left on device text', async () => {
    // Fill the disk to its last block: a big preallocation, then small writes until ENOSPC.
    await full.process.executeCommand('fallocate -l $(( $(df -B1 --output=avail . | tail -1) - 4096 )) fill; dd if=/dev/zero of=fill2 bs=4k 2>/dev/null; true', undefined, undefined, 120);
    const probe = await full.process.executeCommand('df -B1 --output=avail . | tail -1');
    assert.ok(Number(probe.result.trim()) < 64 * 1024, `disk not full: ${probe.result}`);
    const r = await full.process.executeCommand('fallocate -l 10G f');
    assert.notEqual(r.exitCode, 0);
    assert.match(r.result, /No space left on device/);
    // Output longer than a pipe buffer, mixed with the error, comes back whole and in order.
    const mixed = await full.process.executeCommand('seq 1 20000; dd if=/dev/zero of=g bs=1M count=8; echo done');
    assert.match(mixed.result, /^1\n2\n[\s\S]*\n20000\n[\s\S]*No space left on device[\s\S]*\ndone\n$/);
    // Sessions too: their scripts and logs are in the toolbox's own space.
    await full.process.createSession('full');
    const s = await full.process.executeSessionCommand('full', { command: 'echo in-session; fallocate -l 10G h' });
    assert.equal(s.stdout, 'in-session\n');
    assert.match(s.stderr ?? '', /No space left on device/);
  });
});

describe('a session command that prints 2 GiB', () => {
  test('toolbox RSS stays under 100 MiB, the sandbox keeps answering, the logs keep head and tail', async () => {
    const pid = toolboxPid(chatty.id);
    const baseline = rssKiB(pid);
    const p = chatty.process;
    await p.createSession('big');
    const size = 2 * 1024 * MiB;
    const { cmdId } = await p.executeSessionCommand('big', {
      command: `echo FIRST; yes $(head -c 65535 /dev/zero | tr '\\0' x) | head -c ${size}; echo; echo LAST`,
      runAsync: true,
    });
    // While it prints: the sandbox answers, and the toolbox's resident set is sampled.
    let maxRss = baseline;
    let answers = 0;
    for (;;) {
      const info = await p.getSessionCommand('big', cmdId!);
      maxRss = Math.max(maxRss, rssKiB(pid));
      if (info.exitCode !== undefined && info.exitCode !== null) break;
      const alive = await chatty.process.executeCommand('echo alive', undefined, undefined, 30);
      assert.equal(alive.result, 'alive\n');
      answers += 1;
      await new Promise((r) => setTimeout(r, 500));
    }
    // The follow WebSocket the SDK uses, once the command is over (attached while 2 GiB stream by, the SDK's own
    // demuxer, which copies every frame through a JS array, would still be consuming them long after): head and tail.
    let followed = 0;
    let head = '';
    let tail = '';
    await p.getSessionCommandLogs(
      'big',
      cmdId!,
      (chunk) => {
        followed += chunk.length;
        if (head.length < 64) head += chunk.slice(0, 64);
        tail = (tail + chunk).slice(-64);
      },
      () => undefined,
    );
    const peak = await peakRssKiB(pid);
    console.log(
      `# toolbox RSS: baseline ${(baseline / 1024).toFixed(1)} MiB, sampled max ${(maxRss / 1024).toFixed(1)} MiB, ` +
        `VmHWM ${(peak / 1024).toFixed(1)} MiB; ${answers} executeCommand answers while printing; follower got ${followed} chars`,
    );
    assert.ok(answers > 0, 'the command finished before the sandbox could be asked anything');
    assert.ok(peak < 100 * 1024, `toolbox peak RSS ${(peak / 1024).toFixed(1)} MiB`);
    assert.ok(head.startsWith('FIRST\nxxxx'), JSON.stringify(head));
    assert.match(tail, /xxxx\n+LAST\n$/);
    // The plain logs body (read raw: the SDK's own demuxer is quadratic in the number of lines of a body this size).
    const logs = await toolboxRaw(platform, chatty.id, 'GET', `process/session/big/command/${cmdId}/logs`);
    assert.equal(logs.status, 200);
    assert.ok(logs.text.startsWith('\x01\x01\x01FIRST\n'), JSON.stringify(logs.text.slice(0, 20)));
    assert.ok(logs.text.endsWith('\x01\x01\x01LAST\n'), JSON.stringify(logs.text.slice(-20)));
    assert.match(logs.text, /\[shoal: output truncated, \d+ bytes omitted here/);
    assert.ok(logs.text.length < 9 * MiB, `logs body of ${logs.text.length} bytes`);
  });
});
