/*
 * The platform as a user runs it: `shoal up` as a process of its own (optionally the leader of its own process group,
 * as in a terminal), and what it leaves on the host afterwards: its processes (found by data dir in their arguments
 * or environment, and by its runner's sandbox cgroups and uid range), mounts, netns, bridge, nft table, loop devices
 * and cgroups.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Spawned {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}

/** Runs a program, collecting stdout and stderr together; `group` makes it the leader of a new process group. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; group?: boolean } = {}): Spawned {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? { ...process.env },
    detached: opts.group === true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exit };
}

/** `shoal up` (what `npm start` runs) on `dataDir`, in a process group of its own as a terminal would start it. */
export function shoalUp(dataDir: string, apiPort: number, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Spawned {
  return run(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'apps/cli/src/main.ts'), 'up', '--data-dir', dataDir, '--port', String(apiPort), ...extraArgs],
    { group: true, env: { ...process.env, ...env } },
  );
}

/** Waits for `shoal up`'s ready banner; throws with its output if it exits or takes longer than `timeoutMs`. */
export async function waitUntilUp(up: Spawned, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!up.out().includes('Press Ctrl-C to stop')) {
    if (up.child.exitCode !== null) throw new Error(`shoal up exited with ${up.child.exitCode}:\n${up.out()}`);
    if (Date.now() > deadline) throw new Error(`shoal up not ready within ${timeoutMs} ms:\n${up.out()}`);
    await sleep(200);
  }
}

/** Processes whose arguments or environment name `dataDir` (that platform's), other than this test itself. */
export function platformPids(dataDir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8') + '\0' + readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (text.includes(dataDir)) out.push(pid);
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

/** SIGTERM, then SIGKILL after a few seconds, to every process of that platform still running (test cleanup). */
export async function endPlatformProcesses(dataDir: string, label: string): Promise<void> {
  for (const pid of platformPids(dataDir)) {
    console.error(`[${label}] ending a leftover process of the platform: ${pid}`);
    signal(pid, 'SIGTERM');
  }
  for (let i = 0; i < 20 && platformPids(dataDir).length > 0; i++) await sleep(250);
  for (const pid of platformPids(dataDir)) signal(pid, 'SIGKILL');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }) };
  } catch {
    return { ok: false, out: '' };
  }
}

export interface PlatformIdentity {
  dataDir: string;
  /** The runner's bridge: it also names its netns (`<bridge>-<n>`), nft table (`shoal_<bridge>`) and cgroups (`shoal_<bridge>`). */
  bridge: string;
  /** Second octet of the runner's subnet: its sandboxes' host uids are the 255 ranges from (octet+1) x 2^24. */
  subnetOctet: number;
}

/** A sandbox process: in one of the runner's sandbox cgroups, or running as a uid of its pool. */
function sandboxPids(p: PlatformIdentity): number[] {
  const low = (p.subnetOctet + 1) * 2 ** 24;
  const high = low + 255 * 65536;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if ((uid >= low && uid < high) || cgroup.includes(`/shoal_${p.bridge}/`)) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Everything of that platform still on the host, one line per kind; empty when nothing is left. */
export function leftovers(p: PlatformIdentity): string[] {
  const found: string[] = [];
  const procs = platformPids(p.dataDir).map((pid) => {
    const cmd = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 120);
      } catch {
        return '?';
      }
    })();
    return `${pid} ${cmd}`;
  });
  if (procs.length) found.push(`platform processes: ${procs.join(' | ')}`);
  const sandboxes = sandboxPids(p);
  if (sandboxes.length) found.push(`sandbox processes: ${sandboxes.join(', ')}`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(p.dataDir));
  if (mounts.length) found.push(`mounts: ${mounts.map((l) => l.split(' ')[4]).join(', ')}`);
  const netns = sh('ip', ['netns', 'list']).out.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${p.bridge}-`));
  if (netns.length) found.push(`netns: ${netns.join(', ')}`);
  if (sh('ip', ['link', 'show', 'dev', p.bridge]).ok) found.push(`bridge: ${p.bridge}`);
  if (sh('nft', ['list', 'table', 'inet', `shoal_${p.bridge}`]).ok) found.push(`nft table: inet shoal_${p.bridge}`);
  const loops = sh('losetup', ['-a']).out.split('\n').filter((l) => l.includes(p.dataDir));
  if (loops.length) found.push(`loop devices: ${loops.map((l) => l.split(':')[0]).join(', ')}`);
  const cgroups: string[] = [];
  for (const controller of ['', ...readdirSync('/sys/fs/cgroup')]) {
    const dir = join('/sys/fs/cgroup', controller, `shoal_${p.bridge}`);
    if (existsSync(dir)) cgroups.push(dir);
  }
  if (cgroups.length) found.push(`cgroups: ${cgroups.join(', ')}`);
  return found;
}

/** Polls until nothing of the platform is left or `timeoutMs` passed; returns what is left at the end. */
export async function leftoversAfter(p: PlatformIdentity, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = leftovers(p);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = leftovers(p);
  }
  return left;
}
