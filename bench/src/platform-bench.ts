/*
 * Platform-level benchmarks through the official SDK, each beside a floor that does the same work without Shoal,
 * sampled in the same run and interleaved with it (a Shoal sample, a floor sample, ...), every sample starting only
 * once the previous one is fully torn down; teardown is never inside a timed region, on either side:
 *  - create() -> started and create() + executeCommand('node -v'), sequential and concurrent, beside the OCI floor
 *    (oci-floor.ts): the runner's mounts, user namespace and network namespace with `run --detach` [+ `exec node -v`];
 *  - executeCommand('echo hi') beside a host spawn of `sh -c 'echo hi'`;
 *  - upload/download beside a separate server process that writes the upload to disk and serves the download from it;
 *  - API requests per second (autocannon), the lists with 1,000 sandboxes in the organization;
 *  - density: idle started sandboxes until a create fails (or the cap), and memory per idle sandbox.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, readdir, readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import type { Daytona, Sandbox } from '@daytonaio/sdk';
import { RUNNER_AUTH_HEADER } from '@shoal/contracts';
import type { OciFloor } from './oci-floor.js';
import { interleave, summarize, timed, type Summary } from './stats.js';

export interface Row {
  name: string;
  unit: 'ms' | 'MB/s' | 'req/s' | 'count' | 'MiB';
  value: Summary | number;
  floor?: Summary | number;
  floorName?: string;
  note?: string;
}

export interface ShoalTarget {
  daytona: Daytona;
  apiUrl: string;
  apiKey: string;
  /** The platform runner's data dir: where "gone on the runner" is checked. */
  runnerDataDir: string;
  /** The platform runner's URL: its /metrics says when its start queue (spare disks and namespaces too) is idle. */
  runnerUrl?: string;
}

const byteSize = (mb: number) => Math.round(mb * 1024 * 1024);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * Until the sandbox is gone from the runner, not only deleted in the API: `delete()` returns once the API accepted
 * it, and the runner then kills, unmounts and removes in the background. Gone means the API says destroyed (the
 * runner reports it after removing everything), the runner holds no directory, runtime state or disk image for it,
 * and no mount on the host names it.
 */
export async function waitSandboxGone(t: ShoalTarget, id: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${t.apiUrl}/sandbox/${id}`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    const body = (await res.json().catch(() => ({}))) as { state?: string };
    const apiGone = res.status === 404 || body.state === 'destroyed';
    if (apiGone) {
      const leftovers = await Promise.all([
        exists(join(t.runnerDataDir, 'sandboxes', id)),
        exists(join(t.runnerDataDir, 'oci', id)),
        exists(join(t.runnerDataDir, 'pool', `${id}.img`)),
        readFile('/proc/self/mountinfo', 'utf8').then((m) => m.includes(id)),
      ]);
      if (!leftovers.some(Boolean)) {
        await waitRunnerIdle(t, deadline);
        return;
      }
    }
    if (Date.now() > deadline) throw new Error(`sandbox ${id} still present ${timeoutMs} ms after delete (state ${body.state ?? res.status})`);
    await sleep(20);
  }
}

/**
 * A create leaves work behind on the runner: the spare disk and network namespace it used are made again, on the
 * start queue's idle lane. That work is the sample's, so the next sample (the floor's, or Shoal's) starts only once
 * the queue is idle, seen twice 25 ms apart (one spare ends and the next one queues within a tick).
 */
async function waitRunnerIdle(t: ShoalTarget, deadline: number): Promise<void> {
  if (!t.runnerUrl) return;
  let idleSeen = 0;
  while (idleSeen < 2) {
    const text = await (await fetch(`${t.runnerUrl}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    idleSeen = gauge('shoal_runner_starts_active') === 0 && gauge('shoal_runner_starts_waiting') === 0 ? idleSeen + 1 : 0;
    if (Date.now() > deadline) throw new Error('the runner\'s start queue did not go idle after a sample');
    await sleep(25);
  }
}

/** waitSandboxGone for many sandboxes at once, with one list request and one look at the runner per poll. */
export async function waitManyGone(t: ShoalTarget, ids: string[], timeoutMs = 900_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${t.apiUrl}/sandbox`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    const listed = new Set(((await res.json()) as Array<{ id: string; state: string }>).filter((s) => s.state !== 'destroyed').map((s) => s.id));
    const onRunner = new Set(await readdir(join(t.runnerDataDir, 'sandboxes')).catch(() => [] as string[]));
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    const left = ids.filter((id) => listed.has(id) || onRunner.has(id) || mounts.includes(id));
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${left.length} sandbox(es) still present ${timeoutMs} ms after delete`);
    await sleep(250);
  }
}

interface Sample {
  createdMs: number;
  interactiveMs: number;
  teardown: () => Promise<void>;
}

async function shoalSample(t: ShoalTarget): Promise<Sample & { id: string }> {
  const t0 = performance.now();
  const sandbox = await t.daytona.create();
  const createdMs = performance.now() - t0;
  const r = await sandbox.process.executeCommand('node -v');
  if (r.exitCode !== 0 || !/^v\d+\./.test(r.result.trim())) throw new Error(`node -v failed: ${r.result}`);
  const interactiveMs = performance.now() - t0;
  return {
    id: sandbox.id,
    createdMs,
    interactiveMs,
    teardown: async () => {
      await sandbox.delete();
      await waitSandboxGone(t, sandbox.id);
    },
  };
}

async function sampleAndTearDown(take: () => Promise<Sample>): Promise<{ createdMs: number; interactiveMs: number }> {
  const s = await take();
  await s.teardown();
  return { createdMs: s.createdMs, interactiveMs: s.interactiveMs };
}

/** `c` samples at once, all torn down before returning (outside the timed region). */
async function concurrentRound(c: number, take: (i: number) => Promise<Sample>): Promise<Array<{ createdMs: number; interactiveMs: number }>> {
  const settled = await Promise.allSettled(Array.from({ length: c }, (_, i) => take(i)));
  await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.teardown() : undefined)));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((s) => {
    const v = (s as PromiseFulfilledResult<Sample>).value;
    return { createdMs: v.createdMs, interactiveMs: v.interactiveMs };
  });
}

export async function timeToInteractive(t: ShoalTarget, floor: OciFloor, sequential: number, concurrent: number, rounds: number): Promise<Row[]> {
  // Warm-up on both sides (first start pays page-cache misses for the image, node and the toolbox), not recorded.
  await sampleAndTearDown(() => shoalSample(t));
  await sampleAndTearDown(() => floor.sample(0));

  const seq = await interleave(
    sequential,
    () => sampleAndTearDown(() => shoalSample(t)),
    (i) => sampleAndTearDown(() => floor.sample(i)),
  );
  const par = await interleave(
    rounds,
    () => concurrentRound(concurrent, () => shoalSample(t)),
    () => concurrentRound(concurrent, (i) => floor.sample(i)),
  );
  const parShoal = par.first.flat();
  const parFloor = par.second.flat();
  const created = 'OCI floor: disk+overlay+netns, run -d';
  const interactive = 'OCI floor: disk+overlay+netns, run -d, exec node -v';
  return [
    { name: `create() -> started, ${sequential} sequential`, unit: 'ms', value: summarize(seq.first.map((s) => s.createdMs)), floor: summarize(seq.second.map((s) => s.createdMs)), floorName: created },
    { name: `create()+exec(node -v), ${sequential} sequential`, unit: 'ms', value: summarize(seq.first.map((s) => s.interactiveMs)), floor: summarize(seq.second.map((s) => s.interactiveMs)), floorName: interactive },
    { name: `create() -> started, ${concurrent} concurrent x${rounds}`, unit: 'ms', value: summarize(parShoal.map((s) => s.createdMs)), floor: summarize(parFloor.map((s) => s.createdMs)), floorName: `${created}, ${concurrent} at once` },
    { name: `create()+exec(node -v), ${concurrent} concurrent x${rounds}`, unit: 'ms', value: summarize(parShoal.map((s) => s.interactiveMs)), floor: summarize(parFloor.map((s) => s.interactiveMs)), floorName: `${interactive}, ${concurrent} at once` },
  ];
}

function hostSpawn(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout.resume();
    c.stderr.resume();
    c.on('error', reject);
    c.on('exit', () => resolve());
  });
}

/** Where the sandbox's toolbox is reached directly: the runner's address and token, its socket on this host. */
export interface ExecHops {
  runnerUrl: string;
  runnerToken: string;
  toolboxSocket: string;
}

export async function echoLatency(sandbox: Sandbox, n: number, t: ShoalTarget, hops?: ExecHops): Promise<Row> {
  for (let i = 0; i < 10; i++) await sandbox.process.executeCommand('echo hi');
  const r = await interleave(
    n,
    async () => (await timed(() => sandbox.process.executeCommand('echo hi')))[0],
    async () => (await timed(() => hostSpawn('sh', ['-c', 'echo hi'])))[0],
  );
  const row: Row = { name: `executeCommand('echo hi') x${n}`, unit: 'ms', value: summarize(r.first), floor: summarize(r.second), floorName: 'host spawn sh -c' };
  if (hops) row.note = await echoByHop(sandbox, n, t, hops);
  return row;
}

/**
 * The same execute, the SDK's wrapped command included, entered at each hop in turn (interleaved, one kept-alive
 * connection each), so the note says what each hop adds: SDK client -> API -> runner -> toolbox socket.
 */
async function echoByHop(sandbox: Sandbox, n: number, t: ShoalTarget, hops: ExecHops): Promise<string> {
  const command = `sh -c "echo '${Buffer.from('echo hi').toString('base64')}' | base64 -d | sh"`;
  const body = JSON.stringify({ command });
  const api = new URL(t.apiUrl);
  const runner = new URL(hops.runnerUrl);
  const entries: Array<[string, () => Promise<void>]> = [
    ['SDK', async () => void (await sandbox.process.executeCommand('echo hi'))],
    ['API', postExecute(body, { host: api.hostname, port: api.port, path: `${api.pathname.replace(/\/$/, '')}/toolbox/${sandbox.id}/toolbox/process/execute`, headers: { authorization: `Bearer ${t.apiKey}` } })],
    ['runner', postExecute(body, { host: runner.hostname, port: runner.port, path: `${runner.pathname.replace(/\/$/, '')}/sandboxes/${sandbox.id}/toolbox/process/execute`, headers: { [RUNNER_AUTH_HEADER]: `Bearer ${hops.runnerToken}` } })],
    ['toolbox socket', postExecute(body, { socketPath: hops.toolboxSocket, path: '/process/execute' })],
  ];
  const samples = entries.map(() => [] as number[]);
  for (let i = 0; i < n + 10; i++) {
    for (const [k, [, call]] of entries.entries()) {
      const [ms] = await timed(call);
      if (i >= 10) samples[k]!.push(ms);
    }
  }
  return `p50 entering at each hop, interleaved x${n}: ${entries.map(([name], k) => `${name} ${summarize(samples[k]!).p50.toFixed(2)} ms`).join(', ')}`;
}

/** A POST /process/execute on one kept-alive connection; rejects unless it answers 200 with `hi`. */
function postExecute(body: string, target: { host?: string; port?: string; socketPath?: string; path: string; headers?: Record<string, string> }): () => Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return () =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        { ...target, method: 'POST', agent, headers: { ...target.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => (res.statusCode === 200 && text.includes('hi') ? resolve() : reject(new Error(`execute via ${target.socketPath ?? target.host}: ${res.statusCode} ${text.slice(0, 200)}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

/** The transfer floor: transfer-floor-server.ts in a process of its own, writing to and reading from `dir`. */
export class TransferFloor {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(dir: string): Promise<TransferFloor> {
    const script = new URL('./transfer-floor-server.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      child.once('exit', (code) => reject(new Error(`transfer floor server exited with ${code}`)));
    });
    return new TransferFloor(child, `http://127.0.0.1:${port}/files`);
  }

  upload(name: string, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${this.url}/${name}`, { method: 'PUT', headers: { 'content-length': data.length } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`floor upload: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  download(name: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      httpRequest(`${this.url}/${name}`, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`floor download: HTTP ${res.statusCode}`))));
      })
        .on('error', reject)
        .end();
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

export async function transferThroughput(sandbox: Sandbox, floor: TransferFloor, mb: number, repeats: number): Promise<Row[]> {
  const bytes = byteSize(mb);
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) data.writeUInt32LE(i, i);
  const name = `bench-${mb}.bin`;
  const mbps = (ms: number) => mb / (ms / 1000);
  const check = (got: Buffer) => {
    if (got.length !== bytes || !got.equals(data)) throw new Error(`downloaded ${got.length} of ${bytes} bytes, or different bytes`);
  };
  const up = await interleave(
    repeats,
    async () => mbps((await timed(() => sandbox.fs.uploadFile(data, name)))[0]),
    async () => mbps((await timed(() => floor.upload(name, data)))[0]),
  );
  const down = await interleave(
    repeats,
    async () => {
      const [ms, got] = await timed(() => sandbox.fs.downloadFile(name));
      check(got);
      return mbps(ms);
    },
    async () => {
      const [ms, got] = await timed(() => floor.download(name));
      check(got);
      return mbps(ms);
    },
  );
  await sandbox.fs.deleteFile(name);
  const floorName = 'separate process, loopback HTTP, file on disk';
  return [
    { name: `upload ${mb} MB`, unit: 'MB/s', value: summarize(up.first), floor: summarize(up.second), floorName },
    { name: `download ${mb} MB`, unit: 'MB/s', value: summarize(down.first), floor: summarize(down.second), floorName },
  ];
}

export const SEED_LABEL = 'shoal-bench-seed';

/**
 * Fills the organization up to `total` sandboxes with rows inserted directly into PostgreSQL, each a copy of the
 * API-created row `templateId` (same runner, snapshot, sizes, labels shape) but `stopped`. Real creates cannot be
 * used at this size here: each one mounts a disk image, a namespace and a started toolbox, and creating, stopping
 * and later deleting 1,000 of them takes longer than the whole benchmark may on this machine. The rows are labelled
 * and the row names say "DB-seeded"; removeSeeded() deletes them again.
 */
export async function seedSandboxes(databaseUrl: string, templateId: string, total: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM sandbox WHERE organization_id = (SELECT organization_id FROM sandbox WHERE id = $1) AND state <> 'destroyed'`,
      [templateId],
    );
    const missing = total - Number(rows[0]!.n);
    if (missing <= 0) return 0;
    const cols = (
      await client.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'sandbox' AND table_schema = current_schema()`)
    ).rows
      .map((r) => r.column_name)
      .filter((c) => !['id', 'state', 'desired_state', 'labels', 'auth_token', 'created_at', 'updated_at', 'claimed_by', 'claim_expires_at'].includes(c));
    const list = cols.map((c) => `"${c}"`).join(', ');
    await client.query(
      `INSERT INTO sandbox (${list}, state, desired_state, labels, auth_token, created_at, updated_at)
       SELECT ${list}, 'stopped', 'stopped', jsonb_build_object($2::text, 'true'), md5(random()::text) || md5(random()::text),
              now() - make_interval(secs => g), now() - make_interval(secs => g)
       FROM sandbox, generate_series(1, $3::int) AS g WHERE sandbox.id = $1`,
      [templateId, SEED_LABEL, missing],
    );
    return missing;
  } finally {
    await client.end();
  }
}

export async function removeSeeded(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DELETE FROM sandbox WHERE labels ? $1`, [SEED_LABEL]);
  } finally {
    await client.end();
  }
}

export async function readThroughput(apiUrl: string, apiKey: string, sandboxId: string, seconds: number, inOrg: number, seeded: number): Promise<Row[]> {
  const rows: Row[] = [];
  const list = `${inOrg} sandboxes in the org${seeded ? `, ${seeded} DB-seeded` : ''}`;
  for (const [name, path] of [
    ['GET /sandbox/{id}', `/sandbox/${sandboxId}`],
    [`GET /sandbox/paginated?limit=20 (${list})`, '/sandbox/paginated?page=1&limit=20'],
    [`GET /sandbox (all ${list})`, '/sandbox'],
  ] as const) {
    // What each request returns is checked once, so a list that answers fast because it is short cannot pass.
    const probe = await fetch(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
    const body = (await probe.json()) as unknown;
    if (path === '/sandbox' && (!Array.isArray(body) || body.length !== inOrg)) throw new Error(`GET /sandbox listed ${Array.isArray(body) ? body.length : '?'} of ${inOrg}`);
    if (path.startsWith('/sandbox/paginated') && (body as { total?: number }).total !== inOrg) throw new Error(`paginated total ${(body as { total?: number }).total} != ${inOrg}`);
    const result = await autocannon({
      url: `${apiUrl}${path}`,
      connections: path === '/sandbox' ? 10 : 50,
      duration: seconds,
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
    rows.push({
      name: `${name}, ${path === '/sandbox' ? 10 : 50} connections`,
      unit: 'req/s',
      value: result.requests.average,
      note: `latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
    });
  }
  return rows;
}

/** /proc/meminfo in MiB by field name. */
async function meminfoMiB(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await readFile('/proc/meminfo', 'utf8')).matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]) / 1024;
  return out;
}

/** Fields whose growth says where a sandbox's memory goes: processes, kernel objects, page cache. */
const MEMORY_PARTS = ['AnonPages', 'Shmem', 'Cached', 'Slab', 'PageTables', 'KernelStack', 'Percpu'] as const;

/** Per-sandbox growth of each part, e.g. "AnonPages 8.9, Slab 0.6, ..." (MiB each). */
export function memoryBreakdown(before: Record<string, number>, after: Record<string, number>, count: number): string {
  return MEMORY_PARTS.map((k) => `${k} ${(((after[k] ?? 0) - (before[k] ?? 0)) / count).toFixed(2)}`).join(', ');
}

/**
 * Idle started sandboxes: create()s `parallel` at a time until the cap or the first failure, each running
 * executeCommand('true') once after its create (a toolbox that served a request, not one never touched); memory per
 * sandbox is the drop of the host's MemAvailable once they settled, divided by their count. Every sandbox is deleted
 * and gone from the runner before this returns.
 */
export async function density(t: ShoalTarget, cap: number, parallel = 4): Promise<{ rows: Row[]; count: number; mibEach: number; failure?: string }> {
  const before = await meminfoMiB();
  const sandboxes: Sandbox[] = [];
  let failure = '';
  let claimed = 0;
  let ready = 0;
  const worker = async () => {
    while (!failure && claimed < cap) {
      claimed++;
      try {
        const sb = await t.daytona.create();
        sandboxes.push(sb);
        const r = await sb.process.executeCommand('true');
        if (r.exitCode !== 0) throw new Error(`executeCommand('true') exited ${r.exitCode} in sandbox ${sandboxes.length}`);
        ready++;
      } catch (err) {
        failure ||= (err as Error).message;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, worker));
    // Let the toolboxes settle to their idle footprint before measuring.
    await sleep(5000);
    const after = await meminfoMiB();
    const count = ready;
    const mibEach = sandboxes.length ? ((before.MemAvailable ?? 0) - (after.MemAvailable ?? 0)) / sandboxes.length : NaN;
    return {
      count,
      mibEach,
      ...(failure ? { failure } : {}),
      rows: [
        { name: `idle started sandboxes (cap ${cap}, ${parallel} creates at a time)${failure ? `, stopped by: ${failure.slice(0, 60)}` : ''}`, unit: 'count', value: count },
        {
          name: "host memory per idle sandbox (after one executeCommand('true'))",
          unit: 'MiB',
          value: mibEach,
          ...(sandboxes.length ? { note: `growth of /proc/meminfo per sandbox (MiB): ${memoryBreakdown(before, after, sandboxes.length)}` } : {}),
        },
      ],
    };
  } finally {
    for (let i = 0; i < sandboxes.length; i += 10) {
      await Promise.all(sandboxes.slice(i, i + 10).map((s) => s.delete().catch(() => undefined)));
    }
    await waitManyGone(t, sandboxes.map((s) => s.id));
  }
}

/**
 * `delete()` returns once a sandbox is `destroying`; the runner tears it down in the background. Before the platform
 * stops, wait until nothing is left, so that no sandbox is cut off halfway through its teardown.
 */
export async function waitAllDestroyed(apiUrl: string, apiKey: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let left = -1;
  while (Date.now() < deadline) {
    const res = await fetch(`${apiUrl}/sandbox`, { headers: { authorization: `Bearer ${apiKey}` } });
    const items = (await res.json()) as Array<{ state: string }>;
    left = items.filter((s) => s.state !== 'destroyed').length;
    if (left === 0) return 0;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return left;
}

export interface WarmPoolState {
  id: string;
  snapshot: string;
  osUser: string;
  size: number;
  ready: number;
  filling: number;
  errorReason: string | null;
}

/**
 * The default snapshot's warm pool through the admin API (`/warm-pools`), and the waits the rows need around it: full
 * before a claim is timed, and empty (no pooled sandbox left on the runner either) before a cold row, so that a cold
 * row can never measure a claim nor share the host with a pool being filled or torn down.
 */
export class WarmPools {
  constructor(
    private readonly t: ShoalTarget,
    private readonly snapshot: string,
  ) {}

  private get auth() {
    return { authorization: `Bearer ${this.t.apiKey}` };
  }

  async list(): Promise<WarmPoolState[]> {
    const res = await fetch(`${this.t.apiUrl}/warm-pools`, { headers: this.auth });
    if (!res.ok) throw new Error(`GET /warm-pools: ${res.status} ${await res.text()}`);
    return (await res.json()) as WarmPoolState[];
  }

  /** The pool create() with no arguments claims from. */
  async current(): Promise<WarmPoolState | undefined> {
    return (await this.list()).find((p) => p.snapshot === this.snapshot && p.osUser === 'daytona');
  }

  async resize(size: number): Promise<void> {
    const res = await fetch(`${this.t.apiUrl}/warm-pools`, {
      method: 'PUT',
      headers: { ...this.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ snapshot: this.snapshot, size }),
    });
    if (!res.ok) throw new Error(`PUT /warm-pools size ${size}: ${res.status} ${await res.text()}`);
  }

  /** Until `size` pooled sandboxes are started and none is being filled. */
  async waitFull(size: number, timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.current();
      if (p && p.ready >= size && p.filling === 0) return;
      if (Date.now() > deadline) throw new Error(`the warm pool did not reach ${size} ready: ${JSON.stringify(p)}`);
      await sleep(100);
    }
  }

  /** The pool the API makes for the default snapshot at its first start, once it holds its size. */
  async waitDefault(timeoutMs = 600_000): Promise<WarmPoolState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.current();
      if (p && p.ready >= p.size && p.filling === 0) return p;
      if (Date.now() > deadline) throw new Error(`no full default warm pool: ${JSON.stringify(p)}`);
      await sleep(200);
    }
  }

  async fill(size: number): Promise<void> {
    await this.resize(size);
    await this.waitFull(size);
  }

  /**
   * Size 0, then until the API counts no pooled sandbox and the runner holds no sandbox directory other than the
   * bench organization's own (a trimmed pooled sandbox leaves the counts at once but is torn down in the background).
   */
  async drain(timeoutMs = 600_000): Promise<void> {
    await this.resize(0);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.current();
      if (!p || (p.ready === 0 && p.filling === 0)) {
        const res = await fetch(`${this.t.apiUrl}/sandbox`, { headers: this.auth });
        const ours = new Set(((await res.json()) as Array<{ id: string }>).map((s) => s.id));
        const onRunner = await readdir(join(this.t.runnerDataDir, 'sandboxes')).catch(() => [] as string[]);
        if (onRunner.every((id) => ours.has(id))) return;
      }
      if (Date.now() > deadline) throw new Error(`the warm pool did not drain: ${JSON.stringify(p)}`);
      await sleep(100);
    }
  }
}

/**
 * TTI of a warm-pool hit: create() + executeCommand('echo hi') with the pool full, alternating with the same calls
 * with the pool drained (a cold create). A hit is checked, not assumed: the sandbox create() returned must have been on
 * the runner before create() was called; creates that were not claims are counted and left out of the hit series.
 */
export async function warmPoolHit(t: ShoalTarget, pools: WarmPools, samples: number, poolSize: number): Promise<{ rows: Row[]; hit: Summary; misses: number }> {
  const sample = async (pooled: boolean) => {
    if (pooled) await pools.fill(poolSize);
    else await pools.drain();
    const before = new Set(await readdir(join(t.runnerDataDir, 'sandboxes')).catch(() => [] as string[]));
    const t0 = performance.now();
    const sb = await t.daytona.create();
    const createdMs = performance.now() - t0;
    const r = await sb.process.executeCommand('echo hi');
    const interactiveMs = performance.now() - t0;
    if (r.exitCode !== 0 || r.result.trim() !== 'hi') throw new Error(`echo failed: ${r.result}`);
    await sb.delete();
    await waitSandboxGone(t, sb.id);
    return { createdMs, interactiveMs, claimed: before.has(sb.id) };
  };
  await sample(true);
  await sample(false);
  const r = await interleave(
    samples,
    () => sample(true),
    () => sample(false),
  );
  await pools.drain();
  const hits = r.first.filter((s) => s.claimed);
  const colds = r.second.filter((s) => !s.claimed);
  const cold = 'cold create (pool drained), same platform';
  const misses = r.first.length - hits.length;
  const note = misses ? `${misses} of ${samples} creates with a full pool were not claims (left out)` : undefined;
  const hit = summarize(hits.map((s) => s.interactiveMs));
  return {
    hit,
    misses,
    rows: [
      { name: `create() -> started, warm-pool hit (pool ${poolSize})`, unit: 'ms', value: summarize(hits.map((s) => s.createdMs)), floor: summarize(colds.map((s) => s.createdMs)), floorName: cold, ...(note ? { note } : {}) },
      { name: `create()+executeCommand('echo hi'), warm-pool hit (pool ${poolSize})`, unit: 'ms', value: hit, floor: summarize(colds.map((s) => s.interactiveMs)), floorName: cold, ...(note ? { note } : {}) },
    ],
  };
}

export interface BurstResult {
  n: number;
  pool: number;
  ok: number;
  create: Summary;
  /** With `firstCommand`: from each create()'s call to its sandbox's first executeCommand('true') answered. */
  firstCommand?: Summary;
  failure?: string;
}

/**
 * Deletes every sandbox of the organization with `labels` and waits until all are gone. Asked again each second: a
 * create still in flight may refuse a delete ("State change in progress") until it has started.
 */
async function deleteLabelled(t: ShoalTarget, labels: Record<string, string>, timeoutMs = 600_000): Promise<void> {
  const auth = { authorization: `Bearer ${t.apiKey}` };
  const url = `${t.apiUrl}/sandbox?labels=${encodeURIComponent(JSON.stringify(labels))}`;
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  for (;;) {
    const left = ((await (await fetch(url, { headers: auth })).json()) as Array<{ id: string; state: string }>).filter((s) => s.state !== 'destroyed');
    if (left.length === 0) break;
    if (Date.now() > deadline) throw new Error(`${left.length} labelled sandbox(es) of a burst still present`);
    for (const s of left) {
      seen.add(s.id);
      if (s.state !== 'destroying') await fetch(`${t.apiUrl}/sandbox/${s.id}`, { method: 'DELETE', headers: auth }).then((r) => r.arrayBuffer()).catch(() => undefined);
    }
    await sleep(1000);
  }
  await waitManyGone(t, [...seen]);
}

/**
 * `n` create()s at once, each timed on its own; then every sandbox made is deleted and gone from the runner (not
 * timed). The pool is left as it was found: the caller sizes it before and drains it after. With `firstCommand`, each
 * create is followed by executeCommand('true') in its sandbox, timed from the create's call: what a user who creates
 * and uses at once waits for, toolbox starts included.
 */
export async function burst(t: ShoalTarget, n: number, pool: number, firstCommand = false): Promise<{ row: Row; result: BurstResult }> {
  // Labelled, so that creates the SDK gave up on (its timeout) but the platform finished are found and deleted too.
  const labels = { 'shoal-bench-burst': `${Date.now()}-${n}` };
  const made: Array<{ ms: number; sb: Sandbox }> = [];
  const ready: number[] = [];
  const settled = await Promise.allSettled(
    Array.from({ length: n }, async () => {
      const t0 = performance.now();
      const sb = await t.daytona.create({ labels });
      made.push({ ms: performance.now() - t0, sb });
      if (!firstCommand) return;
      const r = await sb.process.executeCommand('true');
      if (r.exitCode !== 0) throw new Error(`executeCommand('true') exited ${r.exitCode}`);
      ready.push(performance.now() - t0);
    }),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  for (let i = 0; i < made.length; i += 10) {
    await Promise.all(made.slice(i, i + 10).map(({ sb }) => sb.delete().catch(() => undefined)));
  }
  await waitManyGone(t, made.map(({ sb }) => sb.id));
  await deleteLabelled(t, labels);
  const ok = firstCommand ? ready.length : made.length;
  const result: BurstResult = {
    n,
    pool,
    ok,
    create: summarize(made.map((m) => m.ms)),
    ...(firstCommand ? { firstCommand: summarize(ready) } : {}),
    ...(failed ? { failure: String((failed.reason as Error)?.message ?? failed.reason) } : {}),
  };
  return {
    result,
    row: {
      name: firstCommand ? `create() then executeCommand('true'), ${n} concurrent, pool of ${pool} ready` : `create(), ${n} concurrent, pool of ${pool} ready`,
      unit: 'ms',
      value: firstCommand ? result.firstCommand! : result.create,
      note:
        `${ok}/${n} succeeded` +
        (firstCommand ? `; create() alone p50 ${result.create.p50.toFixed(0)} ms, p99 ${result.create.p99.toFixed(0)} ms` : '') +
        (result.failure ? `; first failure: ${result.failure.slice(0, 80)}` : ''),
    },
  };
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
    if (input !== undefined) c.stdin?.end(input);
  });
}

/** Whether a Docker Engine answers (the bench never installs or starts one: dockerd rewrites the host firewall). */
export async function dockerDaemonRuns(): Promise<boolean> {
  return run('docker', ['info']).then(
    (r) => r.code === 0,
    () => false,
  );
}

/**
 * Shoal's create() + exec(node -v) alternating with `docker run -d` + `docker exec node -v` of the same unpacked root
 * filesystem (`rootfsTar`, the image cache's tar of the default image, imported once). Teardown is not timed.
 * `pools` given: the default warm pool is full before every sample of either side (so no refill runs while Docker is
 * timed), and the Shoal side counts how many of its creates were claims; without it, the caller has drained the pool.
 */
export async function versusDocker(
  t: ShoalTarget,
  rootfsTar: string,
  samples: number,
  pools?: { pools: WarmPools; size: number },
): Promise<{ row: Row; shoal: Summary; docker: Summary; claims: number }> {
  const image = `shoal-bench-rootfs:${process.pid}`;
  const imported = await run('sh', ['-c', 'docker import - "$1" < "$2"', 'sh', image, rootfsTar]);
  if (imported.code !== 0) throw new Error(`docker import: ${imported.err.trim()}`);
  const ready = async () => {
    if (pools) await pools.pools.fill(pools.size);
  };
  let claims = 0;
  const shoalSide = async (): Promise<Sample> => {
    await ready();
    const before = new Set(await readdir(join(t.runnerDataDir, 'sandboxes')).catch(() => [] as string[]));
    const s = await shoalSample(t);
    if (before.has(s.id)) claims++;
    return s;
  };
  const dockerSample = async (): Promise<Sample> => {
    await ready();
    const t0 = performance.now();
    const started = await run('docker', ['run', '-d', image, 'sleep', 'infinity']);
    if (started.code !== 0) throw new Error(`docker run: ${started.err.trim()}`);
    const id = started.out.trim();
    const createdMs = performance.now() - t0;
    const v = await run('docker', ['exec', id, 'node', '-v']);
    if (v.code !== 0 || !/^v\d+\./.test(v.out.trim())) throw new Error(`docker exec node -v: ${v.out}${v.err}`);
    return {
      createdMs,
      interactiveMs: performance.now() - t0,
      teardown: async () => {
        await run('docker', ['rm', '-f', id]);
      },
    };
  };
  try {
    await sampleAndTearDown(shoalSide);
    await sampleAndTearDown(dockerSample);
    claims = 0;
    const r = await interleave(
      samples,
      () => sampleAndTearDown(shoalSide),
      () => sampleAndTearDown(dockerSample),
    );
    const shoal = summarize(r.first.map((s) => s.interactiveMs));
    const docker = summarize(r.second.map((s) => s.interactiveMs));
    const setting = pools ? `default warm pool (${pools.size}), full before each sample` : 'pool drained';
    return {
      shoal,
      docker,
      claims,
      row: {
        name: `create()+exec(node -v) vs Docker Engine, ${samples} sequential, ${setting}`,
        unit: 'ms',
        value: shoal,
        floor: docker,
        floorName: 'docker run -d + docker exec node -v, same rootfs',
        ...(pools ? { note: `${claims} of ${samples} creates were claims` } : {}),
      },
    };
  } finally {
    await run('docker', ['rmi', '-f', image]).catch(() => undefined);
  }
}
