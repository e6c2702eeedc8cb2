/*
 * Counts the host resources sandboxes use, so tests can check that nothing is left behind: mounts below a data
 * directory, network namespaces, network links, cgroups, nftables lines and processes running as a sandbox uid.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface HostResources {
  mounts: number;
  netns: number;
  links: number;
  cgroups: number;
  nftLines: number;
  sandboxProcesses: number;
}

function countDirs(dir: string, depth = 0): number {
  if (depth > 6) return 0;
  let n = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.isDirectory()) n += 1 + countDirs(join(dir, e.name), depth + 1);
  }
  return n;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** Processes whose real uid lies in the sandbox range (root inside a sandbox maps to 100000 and up outside). */
function sandboxProcessCount(minUid: number): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      // A zombie holds nothing but its PID; the container's init is reparented to the host's PID 1, which reaps it
      // in its own time.
      const zombie = /^State:\s+Z/m.test(status);
      if (uid >= minUid && !zombie) n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

export function hostResources(dataDir: string, minSandboxUid = 100000): HostResources {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return {
    mounts: mountinfo.filter((l) => l.includes(dataDir)).length,
    netns: sh('ip', ['netns', 'list']).split('\n').filter(Boolean).length,
    links: sh('ip', ['-o', 'link', 'show']).split('\n').filter(Boolean).length,
    cgroups: countDirs('/sys/fs/cgroup/pids') + countDirs('/sys/fs/cgroup/memory'),
    nftLines: sh('nft', ['list', 'ruleset']).split('\n').filter(Boolean).length,
    sandboxProcesses: sandboxProcessCount(minSandboxUid),
  };
}

/** Polls until the host's resources equal `baseline` (teardown is partly asynchronous), then returns the last reading. */
export async function settledResources(dataDir: string, baseline: HostResources, timeoutMs = 30000): Promise<HostResources> {
  const deadline = Date.now() + timeoutMs;
  let now = hostResources(dataDir);
  while (Date.now() < deadline && JSON.stringify(now) !== JSON.stringify(baseline)) {
    await new Promise((r) => setTimeout(r, 500));
    now = hostResources(dataDir);
  }
  return now;
}

/** A reading that held still for two consecutive polls a second apart (a just-stopped sandbox's processes exit late). */
export async function stableResources(dataDir: string, timeoutMs = 20000): Promise<HostResources> {
  const deadline = Date.now() + timeoutMs;
  let last = hostResources(dataDir);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = hostResources(dataDir);
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  return last;
}
