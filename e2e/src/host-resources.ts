/*
 * Counts the host resources one platform's sandboxes use, so tests can check that nothing is left behind: mounts below
 * its data directory, and its runners' network namespaces, links, cgroups, nftables lines and sandbox processes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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

/**
 * The platform's own names, read from its `platform.json`: every runner's bridge, and from it the netns prefix
 * (`<bridge>-`), the veth prefix, the nft table and the cgroup parents (`shoal_<bridge>`). Counting only these keeps
 * another platform on the same host (a parallel test, a developer's `npm start`) out of the comparison.
 */
function platformBridges(dataDir: string): string[] {
  try {
    const layout = JSON.parse(readFileSync(join(dataDir, 'platform.json'), 'utf8')) as { runners?: Array<{ bridge: string }> };
    return (layout.runners ?? []).map((r) => r.bridge);
  } catch {
    return [];
  }
}

function vethPrefix(bridge: string): string {
  return `v${createHash('sha1').update(bridge).digest('hex').slice(0, 5)}`;
}

/** Lines of the runner's own nft tables (`table <family> shoal_<bridge> { ... }`). */
function nftTableLines(bridges: string[]): number {
  const tables = sh('nft', ['list', 'tables']).split('\n').filter(Boolean);
  let n = 0;
  for (const line of tables) {
    const [, family, name] = line.trim().split(/\s+/);
    if (family && name && bridges.some((b) => name === `shoal_${b}`)) n += sh('nft', ['list', 'table', family, name]).split('\n').filter(Boolean).length;
  }
  return n;
}

/** Live processes in the runner's cgroups with a real uid in the sandbox range (root inside a sandbox is 100000+). */
function sandboxProcessCount(bridges: string[], minUid: number): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      // A zombie holds nothing but its PID; the container's init is reparented to the host's PID 1, which reaps it
      // in its own time.
      const zombie = /^State:\s+Z/m.test(status);
      if (uid < minUid || zombie) continue;
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (bridges.some((b) => cgroup.includes(`/shoal_${b}/`))) n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

export function hostResources(dataDir: string, minSandboxUid = 100000): HostResources {
  const bridges = platformBridges(dataDir);
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const links = sh('ip', ['-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '');
  const netns = sh('ip', ['netns', 'list']).split('\n').filter(Boolean).map((l) => l.split(' ')[0] ?? '');
  return {
    mounts: mountinfo.filter((l) => l.includes(dataDir)).length,
    netns: netns.filter((ns) => bridges.some((b) => ns.startsWith(`${b}-`))).length,
    links: links.filter((name) => bridges.some((b) => name === b || name.startsWith(vethPrefix(b)))).length,
    cgroups: bridges.reduce((n, b) => n + ['pids', 'memory', 'cpu', 'cpuacct', 'cpu,cpuacct', 'blkio'].reduce((m, c) => m + countDirs(`/sys/fs/cgroup/${c}/shoal_${b}`), 0), 0),
    nftLines: nftTableLines(bridges),
    sandboxProcesses: sandboxProcessCount(bridges, minSandboxUid),
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
