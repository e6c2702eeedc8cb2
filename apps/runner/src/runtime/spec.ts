import { readFile } from 'node:fs/promises';
import { seccompProfile, type SeccompLevel } from './seccomp.js';

/** Docker's default capability set minus NET_RAW (no raw sockets / ping spoofing) and MKNOD. */
export const SANDBOX_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP',
  'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

const WANTED_RLIMITS: Record<string, { name: string; want: number }> = {
  RLIMIT_NOFILE: { name: 'Max open files', want: 1048576 },
  RLIMIT_NPROC: { name: 'Max processes', want: 65536 },
};

/**
 * Rlimits for sandboxes, each clamped to the runner's own hard limit: without CAP_SYS_RESOURCE (absent from this
 * host's bounding set) a runtime cannot raise a hard limit, and `setrlimit` would fail the whole start.
 */
export async function clampedRlimits(): Promise<Rlimit[]> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const out: Rlimit[] = [];
  for (const [type, { name, want }] of Object.entries(WANTED_RLIMITS)) {
    const line = text.split('\n').find((l) => l.startsWith(name));
    const hardRaw = line?.slice(26).trim().split(/\s+/)[1];
    const hard = !hardRaw || hardRaw === 'unlimited' ? want : Math.min(want, Number(hardRaw));
    out.push({ type, soft: hard, hard });
  }
  return out;
}

export interface SpecInput {
  id: string;
  rootfs: string;
  args: string[];
  env: string[];
  netnsPath: string;
  /** The host directory bound read-only at /sys: the sysfs mounted from the sandbox's network namespace (Network.sysfsDir). */
  sysfs: string;
  uidBase: number;
  cgroupsPath: string;
  cpu: number;
  memoryGiB: number;
  pidsLimit: number;
  rlimits: Rlimit[];
  /** `default` unless the operator listed the snapshot in SHOAL_RUNNER_UNCONFINED_SNAPSHOTS (`relaxed`). */
  seccomp?: SeccompLevel;
  /** Host files or directories bind-mounted read-only (toolbox, node runtime, tini, resolv.conf...). */
  binds: { source: string; destination: string; readonly: boolean }[];
}

/**
 * The toolbox's own scratch filesystem (session scripts, session log spool): a small tmpfs, so that neither a full
 * sandbox disk nor the disk quota can take session output away, and its size bounds what the spool can cost the
 * sandbox's memory. The toolbox takes it over (0700, its own uid) before dropping privileges.
 */
export const TOOLBOX_RUN_DIR = '/.shoal/run';
const TOOLBOX_RUN_SIZE = '144m';

/** The toolbox's run dir is the runner's to say (a user's env var of the same name is dropped). */
function toolboxEnv(env: string[]): string[] {
  return [...env.filter((kv) => !kv.startsWith('SHOAL_TOOLBOX_RUN_DIR=')), `SHOAL_TOOLBOX_RUN_DIR=${TOOLBOX_RUN_DIR}`];
}

/** The OCI runtime config.json for one sandbox. */
export function sandboxSpec(s: SpecInput): Record<string, unknown> {
  const memory = s.memoryGiB * 1024 ** 3;
  const caps = SANDBOX_CAPABILITIES;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: s.args,
      env: toolboxEnv(s.env),
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: s.rlimits,
      // Every process of the sandbox descends from this one and no_new_privs can never be cleared, so setting it here
      // would break sudo (setuid) for the sandbox user; see README "Containment" for what confines root instead.
      noNewPrivileges: false,
    },
    root: { path: s.rootfs, readonly: false },
    hostname: s.id,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: TOOLBOX_RUN_DIR, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'mode=700', `size=${TOOLBOX_RUN_SIZE}`, 'nr_inodes=16384'] },
      // A fresh sysfs cannot be mounted from a user namespace that does not own the network namespace, so the runner
      // mounts one from inside that namespace (only the sandbox's own interfaces), bound here read-only. Not rbind:
      // nothing is mounted under it, and the cgroup mount below goes over it.
      { destination: '/sys', type: 'bind', source: s.sysfs, options: ['bind', 'nosuid', 'noexec', 'nodev', 'ro'] },
      // Over the host's cgroup tree: the sandbox's own cgroup only (read-only), seen from its cgroup namespace as the
      // root, so runtimes that size themselves from cgroup limits (JVM, libuv) read the sandbox's limits.
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      ...s.binds.map((b) => ({
        destination: b.destination,
        type: 'bind',
        source: b.source,
        options: ['bind', 'nosuid', 'nodev', ...(b.readonly ? ['ro'] : ['rw'])],
      })),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'user' },
        { type: 'network', path: s.netnsPath },
        // /proc/self/cgroup shows "/" instead of the host's hierarchy (runner name, sandbox ids of the host).
        { type: 'cgroup' },
      ],
      seccomp: seccompProfile(s.seccomp),
      // One shared unprivileged range for every sandbox: images are unpacked uid-shifted into it once.
      uidMappings: [{ containerID: 0, hostID: s.uidBase, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: s.uidBase, size: 65536 }],
      cgroupsPath: s.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        cpu: { period: 100000, quota: s.cpu * 100000 },
        memory: { limit: memory, swap: memory },
        pids: { limit: s.pidsLimit },
      },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
