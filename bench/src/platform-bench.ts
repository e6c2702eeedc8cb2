/*
 * Platform-level benchmarks through the official SDK, each printed beside the floor measured in the same run:
 *  - time to interactive: create() + executeCommand('node -v'), sequential and concurrent;
 *  - executeCommand('echo hi') latency beside a direct host spawn of the same command;
 *  - upload/download MB/s beside raw loopback HTTP throughput;
 *  - GET /sandbox/{id} and GET /sandbox/paginated requests per second (autocannon, 50 connections);
 *  - density: idle started sandboxes until a create fails (or the cap), and memory per idle sandbox.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import type { Daytona, Sandbox } from '@daytonaio/sdk';
import { summarize, timed, type Summary } from './stats.js';

export interface Row {
  name: string;
  unit: 'ms' | 'MB/s' | 'req/s' | 'count' | 'MiB';
  value: Summary | number;
  floor?: Summary | number;
  floorName?: string;
}

const byteSize = (mb: number) => Math.round(mb * 1024 * 1024);

export async function timeToInteractive(daytona: Daytona, sequential: number, concurrent: number): Promise<Row[]> {
  const once = async () => {
    const t0 = performance.now();
    const sandbox = await daytona.create();
    const created = performance.now() - t0;
    const r = await sandbox.process.executeCommand('node -v');
    if (r.exitCode !== 0) throw new Error(`node -v failed: ${r.result}`);
    return { ms: performance.now() - t0, created, sb: sandbox };
  };
  const seq: Array<{ ms: number; created: number }> = [];
  for (let i = 0; i < sequential; i++) {
    const { ms, created, sb } = await once();
    seq.push({ ms, created });
    await sb.delete();
  }
  const par = await Promise.all(Array.from({ length: concurrent }, () => once()));
  await Promise.all(par.map((p) => p.sb.delete().catch(() => undefined)));
  return [
    { name: `create() -> started, ${sequential} sequential`, unit: 'ms', value: summarize(seq.map((s) => s.created)) },
    { name: `create()+exec(node -v), ${sequential} sequential`, unit: 'ms', value: summarize(seq.map((s) => s.ms)) },
    { name: `create()+exec(node -v), ${concurrent} concurrent`, unit: 'ms', value: summarize(par.map((p) => p.ms)) },
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
  const api: number[] = [];
  for (let i = 0; i < n; i++) api.push((await timed(() => sandbox.process.executeCommand('echo hi')))[0]);
  const floor: number[] = [];
  for (let i = 0; i < n; i++) floor.push((await timed(() => hostSpawn('sh', ['-c', 'echo hi'])))[0]);
  return { name: `executeCommand('echo hi') x${n}`, unit: 'ms', value: summarize(api), floor: summarize(floor), floorName: 'host spawn sh -c' };
}

/** Raw loopback HTTP: one POST of `bytes` to a server that discards it, one GET that returns it. */
async function loopbackThroughput(bytes: number): Promise<{ up: number; down: number }> {
  const payload = Buffer.alloc(bytes, 7);
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      req.resume();
      req.on('end', () => res.end('ok'));
    } else res.end(payload);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const [upMs] = await timed(async () => (await fetch(url, { method: 'POST', body: payload })).arrayBuffer());
  const [downMs] = await timed(async () => (await fetch(url)).arrayBuffer());
  server.close();
  return { up: bytes / 2 ** 20 / (upMs / 1000), down: bytes / 2 ** 20 / (downMs / 1000) };
}

export async function transferThroughput(sandbox: Sandbox, mb: number, repeats: number): Promise<Row[]> {
  const bytes = byteSize(mb);
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) data.writeUInt32LE(i, i);
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const [u] = await timed(() => sandbox.fs.uploadFile(data, `bench-${mb}.bin`));
    up.push(mb / (u / 1000));
    const [d, got] = await timed(() => sandbox.fs.downloadFile(`bench-${mb}.bin`));
    if (got.length !== bytes) throw new Error(`downloaded ${got.length} of ${bytes} bytes`);
    down.push(mb / (d / 1000));
  }
  const floorUp: number[] = [];
  const floorDown: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const f = await loopbackThroughput(bytes);
    floorUp.push(f.up);
    floorDown.push(f.down);
  }
  await sandbox.fs.deleteFile(`bench-${mb}.bin`);
  return [
    { name: `upload ${mb} MB`, unit: 'MB/s', value: summarize(up), floor: summarize(floorUp), floorName: 'loopback HTTP' },
    { name: `download ${mb} MB`, unit: 'MB/s', value: summarize(down), floor: summarize(floorDown), floorName: 'loopback HTTP' },
  ];
}

export async function readThroughput(apiUrl: string, apiKey: string, sandboxId: string, seconds: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [name, path] of [
    ['GET /sandbox/{id}', `/sandbox/${sandboxId}`],
    ['GET /sandbox/paginated', '/sandbox/paginated?page=1&limit=20'],
  ] as const) {
    const result = await autocannon({
      url: `${apiUrl}${path}`,
      connections: 50,
      duration: seconds,
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (result.non2xx > 0) throw new Error(`${name}: ${result.non2xx} non-2xx responses`);
    rows.push({ name: `${name}, 50 connections`, unit: 'req/s', value: result.requests.average });
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
