import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, appendFile, chmod, mkdir, open, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegistryCredentials } from '@shoal/contracts';
import type { EgressPolicy } from '../network/network.js';
import { DEFAULT_CONTEXT_LIMITS, extractContexts, type ContextLimits } from './build-context.js';
import { Semaphore } from '../util/semaphore.js';

/*
 * Dockerfile builds without a daemon: buildah with runner-owned storage and configuration (environment variables, never
 * /etc), OCI isolation with the runner's own OCI runtime (crun after the runner's hugetlb fix, or runc), RUN steps in a
 * user namespace of their own host uid range, in a network namespace the runner made (never buildah's CNI default,
 * whose 10.88.0.0/16 bridge would collide with sandboxes) and in cgroups with CPU and memory limits. Output goes to the
 * snapshot's log file, which GET /snapshots/logs serves.
 */

export class BuildError extends Error {}

/** What one build needs from the host: the network namespace its RUN steps join and a uid range. */
export interface BuildSlot {
  netnsPath: string;
  /** The sysfs mounted from inside that namespace (Network.sysfsDir), for RUN steps' /sys. */
  sysfs: string;
  dns: string;
  uidBase: number;
  release(): Promise<void>;
}

export interface BuilderOptions {
  dataDir: string;
  /** The OCI runtime the runner chose (crun after the cgroup fix, or runc). */
  runtime: string;
  /** Name under every controller for the builds' cgroups (`shoal_<bridge>_builds`). */
  cgroupParent: string;
  concurrency: number;
  cpus: number;
  memoryBytes: number;
  contextLimits?: ContextLimits;
  /** Host of the internal registry (that of SHOAL_DEFAULT_IMAGE) and the runner's credentials there, if any. */
  internalRegistry: { host: string; username?: string; password?: string };
  /** A network namespace under `policy` (and the egress floor) and a uid range for one build; released when it ends. */
  acquireSlot: (policy: EgressPolicy) => Promise<BuildSlot>;
  /** Fetches the context tars of `hashes` into `dir`, returning their paths in order. */
  fetchContexts: (organizationId: string, hashes: string[], dir: string) => Promise<string[]>;
  /** Unpacks the pushed image so sandboxes start from it. */
  ensureImage: (ref: string) => Promise<unknown>;
  logPath: (ref: string) => string;
  log: (line: string) => void;
}

export interface BuildRequest {
  ref: string;
  dockerfile: string;
  organizationId: string;
  contextHashes?: string[];
  /** Local tars (tests and tools); the API's builds use `contextHashes`. */
  contextTars?: string[];
  registry?: RegistryCredentials;
  /** The organization's own internal-registry login; replaces the runner's all-access one for this build. */
  internalRegistry?: RegistryCredentials;
  /** The organization's egress policy for RUN steps (limited egress, block-all, allow list), under the floor. */
  network?: EgressPolicy;
}

/** How the build's log names its network policy (the user sees why a download was refused). */
function describePolicy(p: EgressPolicy): string | undefined {
  if (p.networkBlockAll) return 'RUN steps have no network (the organization blocks all egress)';
  const parts = [p.limitedEgress ? "limited to the operator's essential list" : '', p.networkAllowList ? `allowed to ${p.networkAllowList}` : ''].filter(Boolean);
  return parts.length ? `RUN steps' egress is ${parts.join(' and ')}` : undefined;
}

interface Running {
  promise: Promise<void>;
  /** This build's registries.conf (in its work dir): builds running at once never see each other's registries. */
  registriesConf?: string;
  child?: ChildProcess;
  cgroup?: string;
  /** buildah's own memory cgroup (outside `cgroup`: the OCI runtime manages that tree for the RUN containers). */
  buildahCgroup?: string;
  cancelled: boolean;
}

function registryHost(ref: string): string | undefined {
  const first = ref.split('/')[0] ?? '';
  return ref.includes('/') && (/[.:]/.test(first) || first === 'localhost') ? first : undefined;
}

function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
}

/** Registries the Dockerfile pulls from (FROM and COPY --from= lines); only to mark loopback ones insecure. */
export function referencedHosts(dockerfile: string): string[] {
  const hosts = new Set<string>();
  for (const line of dockerfile.split('\n')) {
    const from = /^\s*FROM\s+(?:--\S+\s+)*(\S+)/i.exec(line)?.[1];
    const copy = /--from=(\S+)/i.exec(line)?.[1];
    for (const r of [from, copy]) {
      const h = r ? registryHost(r) : undefined;
      if (h) hosts.add(h);
    }
  }
  return [...hosts];
}

/**
 * The failing step and its status from buildah's output (`error building at STEP "RUN exit 3": ... exit status 3`),
 * as `RUN exit 3: exit status 3`; otherwise buildah's last error line.
 */
export function failureReason(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith(HEARTBEAT_PREFIX));
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /(?:error )?building at STEP "(.*?)": (.*)$/.exec(lines[i]!);
    if (m) {
      const status = /exit status \d+/.exec(m[2]!)?.[0];
      return `${m[1]}: ${status ?? m[2]!.slice(0, 300)}`;
    }
  }
  const last = [...lines].reverse().find((l) => /^(Error|error)[: ]/.test(l)) ?? lines[lines.length - 1] ?? 'build failed';
  return last.replace(/^Error: /, '').slice(0, 400);
}

export class Builder {
  private readonly root: string;
  private readonly sem: Semaphore;
  private readonly running = new Map<string, Running>();

  constructor(private readonly o: BuilderOptions) {
    this.root = join(o.dataDir, 'buildah');
    this.sem = new Semaphore(Math.max(1, o.concurrency));
  }

  async init(): Promise<void> {
    // Traversable (not listable): RUN steps' root, a uid of the build's own range, must reach the bundle under tmp.
    await mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o711 });
    await chmod(this.root, 0o711);
    await chmod(join(this.root, 'tmp'), 0o711);
    await mkdir(join(this.root, 'builds'), { recursive: true, mode: 0o700 });
    // Work dirs of builds a previous runner process did not finish.
    for (const d of await readdir(join(this.root, 'builds'))) await rm(join(this.root, 'builds', d), { recursive: true, force: true });
    await writeFile(
      join(this.root, 'storage.conf'),
      // vfs, not overlay: with a user namespace map, buildah 1.28's native overlay diff commits RUN output owned by
      // the host uids of the build's range (measured), which no image may carry; vfs diffs are mapped back to 0.
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(this.root, 'graph')}"\nrunroot = "${join(this.root, 'run')}"\n`,
    );
    // Nothing from /etc/containers: an explicit policy, no hooks, no CNI (every build passes --network ns:...).
    await writeFile(join(this.root, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await writeFile(join(this.root, 'containers.conf'), '[containers]\nnetns = "none"\n[engine]\nhooks_dir = []\n');
  }

  get busy(): boolean {
    return this.sem.busy;
  }

  isBuilding(ref: string): boolean {
    return this.running.has(ref);
  }

  /** Builds `ref`, pushes it and unpacks it; a second call for a ref being built waits for that build. */
  build(req: BuildRequest): Promise<void> {
    const cur = this.running.get(req.ref);
    if (cur) return cur.promise;
    const r: Running = { promise: Promise.resolve(), cancelled: false };
    r.promise = this.run(req, r).finally(() => this.running.delete(req.ref));
    this.running.set(req.ref, r);
    return r.promise;
  }

  /** Kills the build of `ref` (its buildah and every RUN process); resolves once it has ended. */
  async cancel(ref: string): Promise<boolean> {
    const r = this.running.get(ref);
    if (!r) return false;
    r.cancelled = true;
    await this.kill(r);
    await r.promise.catch(() => undefined);
    return true;
  }

  async cancelAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((ref) => this.cancel(ref)));
  }

  /** Cancels every build and removes the builds' parent cgroups (the next build recreates them). */
  async close(): Promise<void> {
    await this.cancelAll();
    await killCgroup(`/${this.o.cgroupParent}`);
    await killCgroup(`/${this.o.cgroupParent}_buildah`);
  }

  private async kill(r: Running): Promise<void> {
    const pid = r.child?.pid;
    if (pid !== undefined && r.child?.exitCode === null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    // RUN processes live in their own pid namespace, out of buildah's process group: the cgroup finds them.
    if (r.cgroup) await killCgroup(r.cgroup);
    if (r.buildahCgroup) await killCgroup(r.buildahCgroup);
  }

  private env(r: Running): Record<string, string> {
    return {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      HOME: this.root,
      TMPDIR: join(this.root, 'tmp'),
      CONTAINERS_STORAGE_CONF: join(this.root, 'storage.conf'),
      CONTAINERS_CONF: join(this.root, 'containers.conf'),
      CONTAINERS_REGISTRIES_CONF: r.registriesConf ?? join(this.root, 'registries.conf'),
      BUILDAH_ISOLATION: 'oci',
    };
  }

  private async logLine(ref: string, line: string): Promise<void> {
    this.o.log(line);
    await appendFile(this.o.logPath(ref), `${line}\n`).catch(() => undefined);
  }

  private async run(req: BuildRequest, r: Running): Promise<void> {
    await mkdir(join(this.o.logPath(req.ref), '..'), { recursive: true });
    await writeFile(this.o.logPath(req.ref), '');
    const heartbeat = logHeartbeat(this.o.logPath(req.ref));
    try {
      await this.runLogged(req, r);
    } finally {
      heartbeat.stop();
    }
  }

  private async runLogged(req: BuildRequest, r: Running): Promise<void> {
    if (this.sem.busy) await this.logLine(req.ref, 'Waiting for a build slot on this runner');
    await this.sem.acquire();
    const work = join(this.root, 'builds', `${Date.now()}-${randomBytes(4).toString('hex')}`);
    let slot: BuildSlot | undefined;
    try {
      if (r.cancelled) throw new BuildError('Build cancelled');
      await mkdir(work, { mode: 0o700 });
      const tars = [...(req.contextTars ?? [])];
      if (req.contextHashes?.length) {
        await this.logLine(req.ref, `Fetching ${req.contextHashes.length} build context(s)`);
        await mkdir(join(work, 'tars'), { mode: 0o700 });
        tars.push(...(await this.o.fetchContexts(req.organizationId, req.contextHashes, join(work, 'tars'))));
      }
      const ctx = join(work, 'context');
      await extractContexts(tars, ctx, this.o.contextLimits ?? DEFAULT_CONTEXT_LIMITS).catch((err: Error) => {
        throw new BuildError(`Invalid build context: ${err.message}`);
      });
      await rm(join(work, 'tars'), { recursive: true, force: true });
      // The Dockerfile sits outside the context so a context file cannot replace it.
      await writeFile(join(work, 'Dockerfile'), req.dockerfile.endsWith('\n') ? req.dockerfile : `${req.dockerfile}\n`);
      const authFile = join(work, 'auth.json');
      await this.writeAuth(authFile, req);
      r.registriesConf = join(work, 'registries.conf');
      await this.writeRegistries(req, r.registriesConf);
      if (r.cancelled) throw new BuildError('Build cancelled');

      const policy = req.network ?? {};
      const described = describePolicy(policy);
      if (described) await this.logLine(req.ref, described);
      slot = await this.o.acquireSlot(policy);
      const cgroup = `/${this.o.cgroupParent}/${work.split('/').pop()}`;
      r.cgroup = cgroup;
      r.buildahCgroup = `/${this.o.cgroupParent}_buildah/${work.split('/').pop()}`;
      const map = `0:${slot.uidBase}:65536`;
      const args = [
        'build',
        '--isolation', 'oci',
        '--runtime', this.o.runtime,
        '--network', `ns:${slot.netnsPath}`,
        '--dns', slot.dns,
        // RUN steps join a network namespace their user namespace does not own, where a fresh sysfs cannot be mounted
        // (runc fails the step; crun falls back on its own to the host's): the slot's own, read-only, as sandboxes
        // get it (spec.ts), so a build's steps cannot list the host's interfaces or read sandboxes' traffic counters.
        '--volume', `${slot.sysfs}:/sys:ro,rbind,nosuid,nodev,noexec`,
        '--userns-uid-map', map,
        '--userns-gid-map', map,
        '--cgroup-parent', cgroup,
        '--cpu-period', '100000',
        '--cpu-quota', String(Math.round(this.o.cpus * 100000)),
        '--memory', String(this.o.memoryBytes),
        '--memory-swap', String(this.o.memoryBytes),
        '--layers', '--force-rm',
        '--signature-policy', join(this.root, 'policy.json'),
        '--authfile', authFile,
        '--format', 'oci',
        '-f', join(work, 'Dockerfile'),
        '-t', req.ref,
        ctx,
      ];
      await this.logLine(req.ref, `Building ${req.ref}`);
      const code = await this.spawnLogged(r, req.ref, args);
      if (r.cancelled) throw new BuildError('Build cancelled');
      if (code !== 0) throw new BuildError(failureReason(await tail(this.o.logPath(req.ref))));

      await this.logLine(req.ref, `Pushing ${req.ref}`);
      const host = registryHost(req.ref);
      const pushArgs = ['push', '--authfile', authFile, '--signature-policy', join(this.root, 'policy.json')];
      if (host && isLoopbackHost(host)) pushArgs.push('--tls-verify=false');
      pushArgs.push(req.ref, `docker://${req.ref}`);
      const pushCode = await this.spawnLogged(r, req.ref, pushArgs);
      if (r.cancelled) throw new BuildError('Build cancelled');
      if (pushCode !== 0) throw new BuildError(`Push of ${req.ref} failed: ${failureReason(await tail(this.o.logPath(req.ref)))}`);
      // The image store starts the ref's log afresh for its pull; the build's part is kept in front of it.
      const buildLog = await readFile(this.o.logPath(req.ref), 'utf8').catch(() => '');
      await this.o.ensureImage(req.ref);
      const pullLog = await readFile(this.o.logPath(req.ref), 'utf8').catch(() => '');
      if (!pullLog.startsWith(buildLog)) await writeFile(this.o.logPath(req.ref), buildLog + pullLog);
      await this.logLine(req.ref, `Built ${req.ref}`);
    } catch (err) {
      await this.logLine(req.ref, `Build failed: ${(err as Error).message}`);
      throw err instanceof BuildError ? err : new BuildError((err as Error).message.split('\n')[0] ?? 'build failed');
    } finally {
      if (r.cgroup) await killCgroup(r.cgroup);
      if (r.buildahCgroup) await killCgroup(r.buildahCgroup);
      await slot?.release().catch(() => undefined);
      await rm(work, { recursive: true, force: true }).catch(() => undefined);
      this.sem.release();
    }
  }

  /**
   * The memory cgroup buildah itself runs in, a tree of its own beside the RUN containers' (which the OCI runtime
   * manages and cleans as its containers end); a cancel and the end of the build kill and remove it like theirs.
   * Pulling, unpacking and committing layers are capped like the RUN steps. Returns its cgroup.procs.
   */
  private async buildahCgroup(r: Running): Promise<string> {
    const v2 = await access('/sys/fs/cgroup/cgroup.controllers').then(
      () => true,
      () => false,
    );
    const dir = v2 ? join('/sys/fs/cgroup', r.buildahCgroup!) : join('/sys/fs/cgroup/memory', r.buildahCgroup!);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(this.o.memoryBytes));
    } catch (err) {
      throw new BuildError(`Cannot limit the memory of the build: ${(err as Error).message}`);
    }
    return join(dir, 'cgroup.procs');
  }

  private async spawnLogged(r: Running, ref: string, args: string[]): Promise<number> {
    const procs = r.buildahCgroup ? await this.buildahCgroup(r) : undefined;
    const fh = await open(this.o.logPath(ref), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      return await new Promise<number>((resolve, reject) => {
        // The host's sh joins the cgroup and execs buildah, so buildah never runs a moment outside it.
        const [cmd, argv] = procs ? ['/bin/sh', ['-c', 'echo $$ > "$1" || exit 125; shift; exec buildah "$@"', 'sh', procs, ...args]] : ['buildah', args];
        // Its own process group, so a cancel kills buildah and whatever it started in one signal.
        const child = spawn(cmd, argv, { env: this.env(r), stdio: ['ignore', fh.fd, fh.fd], detached: true });
        r.child = child;
        child.on('error', reject);
        child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      });
    } finally {
      r.child = undefined;
      await fh.close();
    }
  }

  private async writeAuth(file: string, req: BuildRequest): Promise<void> {
    const auths: Record<string, { auth: string }> = {};
    const add = (host: string | undefined, user?: string, pass?: string) => {
      if (host && user) auths[host] = { auth: Buffer.from(`${user}:${pass ?? ''}`).toString('base64') };
    };
    if (req.registry) add(registryHost(`${req.registry.url.replace(/^https?:\/\//, '').replace(/\/+$/, '')}/x`), req.registry.username, req.registry.password);
    const ir = this.o.internalRegistry;
    // With the organization's login, a FROM (or an ONBUILD trigger of the base) naming another organization's project
    // is refused by the registry; the runner's own login would read every project.
    if (req.internalRegistry) add(ir.host, req.internalRegistry.username, req.internalRegistry.password);
    else add(ir.host, ir.username, ir.password);
    // 0600 file, never the command line (visible to every user in `ps`), removed with the work dir.
    await writeFile(file, JSON.stringify({ auths }), { mode: 0o600 });
  }

  private async writeRegistries(req: BuildRequest, file: string): Promise<void> {
    const hosts = new Set([...referencedHosts(req.dockerfile), registryHost(req.ref), this.o.internalRegistry.host].filter((h): h is string => !!h));
    const insecure = [...hosts].filter(isLoopbackHost);
    const conf = [
      'unqualified-search-registries = ["docker.io"]',
      'short-name-mode = "permissive"',
      ...insecure.map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true`),
    ].join('\n');
    await writeFile(file, `${conf}\n`);
  }
}

/** How long a build log may stay silent before the runner writes a line saying the build is still going. */
export const LOG_SILENCE_MS = 60_000;
const HEARTBEAT_PREFIX = '[shoal] still building';

/**
 * Watches a build log and appends a progress line whenever nothing was written to it for LOG_SILENCE_MS (a long
 * apt-get or compile step, a push, an unpack). Besides telling the user the build is alive, it keeps followed log
 * streams moving: the SDK reads them with fetch, whose body timeout (300 s) ends a stream that stays silent.
 */
export function logHeartbeat(path: string, silenceMs = LOG_SILENCE_MS, now: () => number = Date.now): { stop(): void } {
  const started = now();
  let lastSize = -1;
  let lastChange = started;
  const timer = setInterval(() => {
    void stat(path)
      .then(async (st) => {
        if (st.size !== lastSize) {
          lastSize = st.size;
          lastChange = now();
          return;
        }
        if (now() - lastChange < silenceMs) return;
        const line = `${HEARTBEAT_PREFIX} (${Math.round((now() - started) / 1000)} s so far, ${Math.round((now() - lastChange) / 1000)} s without output)\n`;
        await appendFile(path, line);
        lastSize += Buffer.byteLength(line);
        lastChange = now();
      })
      .catch(() => undefined);
  }, Math.min(5_000, silenceMs / 4));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

async function tail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.slice(-64 * 1024);
}

/** SIGKILLs every process in the build's cgroups (under every controller) and removes them, deepest first. */
export async function killCgroup(path: string): Promise<void> {
  const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  const roots = controllers.map((c) => join('/sys/fs/cgroup', c, path));
  roots.push(join('/sys/fs/cgroup', path));
  for (let round = 0; round < 20; round++) {
    let left = 0;
    for (const dir of roots) {
      for (const d of (await walkDirs(dir)).reverse()) {
        const procs = await readFile(join(d, 'cgroup.procs'), 'utf8').catch(() => '');
        for (const p of procs.split('\n').filter(Boolean)) {
          left++;
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        if (!procs.trim()) await rmdir(d).catch(() => undefined);
      }
    }
    if (left === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function walkDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return [];
  const out = [dir];
  for (const e of entries) if (e.isDirectory()) out.push(...(await walkDirs(join(dir, e.name))));
  return out;
}
