/*
 * The host side of the isolation suite: TCP services a sandbox must not reach (run in a child process that is stopped
 * by its PID), a kernel key a sandbox must not find, a sweep of the host's filesystems for files a sandbox must not
 * have been able to create, and the neighbour-latency measurement.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Sandbox } from '@daytonaio/sdk';

const execFileP = promisify(execFile);

export interface HostServices {
  pid: number;
  /** Port of the listener on 127.0.0.1, on the bridge gateway address and on every address (0.0.0.0). */
  loopbackPort: number;
  gatewayPort: number;
  anyPort: number;
  stop(): Promise<void>;
}

/**
 * Starts one child node process listening on 127.0.0.1, on `gateway` and on 0.0.0.0, each answering `reply`.
 * `tag` goes into the child's argv so the sandbox-side process scan has a host process it must not see.
 */
export async function startHostServices(gateway: string, reply: string, tag: string): Promise<HostServices> {
  const code = `
    const net = require('node:net');
    const reply = process.argv[1];
    const listen = (host) => new Promise((r) => { const s = net.createServer((c) => c.end(reply)); s.listen(0, host, () => r(s.address().port)); });
    Promise.all([listen('127.0.0.1'), listen(process.argv[2]), listen('0.0.0.0')]).then((p) => console.log(JSON.stringify(p)));
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', code, reply, gateway, tag], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  const [loopbackPort, gatewayPort, anyPort] = JSON.parse(chunk.toString()) as [number, number, number];
  const pid = child.pid!;
  return {
    pid,
    loopbackPort,
    gatewayPort,
    anyPort,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Connects from the host and returns what the server sent (the positive control for the unreachable checks). */
export function hostConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host, port });
    let data = '';
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

/** The host's own IPv4 addresses other than loopback (the sandbox must not reach services on them either). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

const KEYCTL = `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == 'add':
    r = libc.syscall(ctypes.c_long(248), b'user', sys.argv[2].encode(), sys.argv[3].encode(), len(sys.argv[3]), ctypes.c_int(-4))
else:
    r = libc.syscall(ctypes.c_long(250), 21, ctypes.c_long(int(sys.argv[2])))
if r < 0: sys.exit('keyctl failed: errno %d' % ctypes.get_errno())
print(r)
`;

/** Adds a `user` key with `description` to the host root's user keyring; returns its serial. */
export async function addHostKey(description: string, payload: string): Promise<number> {
  const { stdout } = await execFileP('python3', ['-c', KEYCTL, 'add', description, payload]);
  return Number(stdout.trim());
}

export async function invalidateHostKey(serial: number): Promise<void> {
  await execFileP('python3', ['-c', KEYCTL, 'invalidate', String(serial)]);
}

/**
 * Every file on the host whose name contains `token`, outside the sandboxes' own filesystems: `find -xdev` on `/`
 * never descends into the per-sandbox ext4 disks and overlay roots (separate mounts), but does search the shared image
 * layers, the runner's data directory, /etc, /tmp and everything else on the root filesystem; /dev/shm is a tmpfs of
 * its own and is searched separately.
 */
export async function sweepHost(token: string): Promise<string[]> {
  const found: string[] = [];
  for (const root of ['/', '/dev/shm']) {
    const r = await execFileP('nice', ['-n', '10', 'find', root, '-xdev', '-name', `*${token}*`], {
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    found.push(...r.stdout.split('\n').filter(Boolean));
  }
  return found;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median wall time (ms) of `executeCommand('echo hi')` on `sandbox` over `samples` sequential calls. */
export async function echoLatency(sandbox: Sandbox, samples = 20): Promise<{ median: number; all: number[] }> {
  const all: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const r = await sandbox.process.executeCommand('echo hi');
    all.push(performance.now() - t0);
    if (r.exitCode !== 0 || r.result.trim() !== 'hi') throw new Error(`neighbour exec broke: ${r.exitCode} ${r.result}`);
  }
  return { median: median(all), all };
}
