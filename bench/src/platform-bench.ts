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
import { access, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import type { Daytona, Sandbox } from '@daytonaio/sdk';
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
      if (!leftovers.some(Boolean)) return;
    }
    if (Date.now() > deadline) throw new Error(`sandbox ${id} still present ${timeoutMs} ms after delete (state ${body.state ?? res.status})`);
    await sleep(20);
  }
}

interface Sample {
  createdMs: number;
  interactiveMs: number;
  teardown: () => Promise<void>;
}

async function shoalSample(t: ShoalTarget): Promise<Sample> {
  const t0 = performance.now();
  const sandbox = await t.daytona.create();
  const createdMs = performance.now() - t0;
  const r = await sandbox.process.executeCommand('node -v');
  if (r.exitCode !== 0 || !/^v\d+\./.test(r.result.trim())) throw new Error(`node -v failed: ${r.result}`);
  const interactiveMs = performance.now() - t0;
  return {
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

export async function echoLatency(sandbox: Sandbox, n: number): Promise<Row> {
  for (let i = 0; i < 10; i++) await sandbox.process.executeCommand('echo hi');
  const r = await interleave(
    n,
    async () => (await timed(() => sandbox.process.executeCommand('echo hi')))[0],
    async () => (await timed(() => hostSpawn('sh', ['-c', 'echo hi'])))[0],
  );
  return { name: `executeCommand('echo hi') x${n}`, unit: 'ms', value: summarize(r.first), floor: summarize(r.second), floorName: 'host spawn sh -c' };
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

async function memAvailableMiB(): Promise<number> {
  const m = /MemAvailable:\s+(\d+) kB/.exec(await readFile('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

export async function density(daytona: Daytona, cap: number): Promise<Row[]> {
  const before = await memAvailableMiB();
  const sandboxes: Sandbox[] = [];
  let failure = '';
  try {
    while (sandboxes.length < cap) sandboxes.push(await daytona.create());
  } catch (err) {
    failure = (err as Error).message;
  }
  // Let the toolboxes settle to their idle footprint before measuring.
  await new Promise((r) => setTimeout(r, 5000));
  const after = await memAvailableMiB();
  const count = sandboxes.length;
  for (let i = 0; i < sandboxes.length; i += 10) {
    await Promise.all(sandboxes.slice(i, i + 10).map((s) => s.delete().catch(() => undefined)));
  }
  return [
    { name: `idle started sandboxes (cap ${cap})${failure ? `, stopped by: ${failure.slice(0, 60)}` : ''}`, unit: 'count', value: count },
    { name: 'host memory per idle sandbox', unit: 'MiB', value: count ? (before - after) / count : NaN },
  ];
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
