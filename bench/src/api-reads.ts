/*
 * `npm run bench:api`: issue 15's "GET /sandbox/{id} at 50 connections ≥ 3,000 req/s", and what the caches bring: the
 * credential cache (auth/credential-cache.ts) and the sandbox row cache (services/sandbox-row-cache.ts). Two API
 * processes on one embedded PostgreSQL and a stand-in runner (the API's test fake: no containers): one as shipped, one
 * with SHOAL_CREDENTIAL_CACHE_TTL_MS=0 and SHOAL_SANDBOX_CACHE_TTL_MS=0, which asks the database for the key and the
 * row on every request. autocannon loads one API at a time with 50 connections; the rounds alternate between the two
 * (off, on, off, on, ...) so load from elsewhere falls on both alike. Each row gives the median of the rounds' req/s
 * and the latency percentiles of the median round.
 * Options: --rounds N (default 4 per API), --seconds S (default 5 per round).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '@shoal/platform';
import { startEmbeddedPostgres } from '@shoal/postgres';
import { FakeRunner } from '../../apps/api/test/helpers/fake-runner.js';
import { createSandboxOnFakeRunner, startApiProcess, type ApiProcess } from './api-process.js';
import { summarize } from './stats.js';

const median = (xs: number[]) => summarize(xs).p50;

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const rounds = opt('--rounds', 4);
const seconds = opt('--seconds', 5);
const ADMIN_KEY = `dtn_${'c3'.repeat(32)}`;
const RUNNER_TOKEN = 'bench-api-reads-runner-token';
const CONNECTIONS = 50;
const GOAL_RPS = 3000;

interface Round {
  rps: number;
  p50: number;
  p99: number;
}

async function load(url: string, path: string): Promise<Round> {
  const result = await autocannon({ url: `${url}${path}`, connections: CONNECTIONS, duration: seconds, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${path}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

function summary(rs: Round[]): string {
  const sorted = [...rs].sort((x, y) => x.rps - y.rps);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return `${median(rs.map((r) => r.rps)).toFixed(0)} req/s (rounds ${rs.map((r) => r.rps.toFixed(0)).join(', ')}; median round p50 ${mid.p50} ms, p99 ${mid.p99} ms)`;
}

async function main(): Promise<void> {
  const scratch = await mkdtemp('/var/tmp/shoal-bench-api-');
  const apis: ApiProcess[] = [];
  const pg = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: await freePort() });
  const runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  try {
    const cached = await startApiProcess('cached', { databaseUrl: pg.url, dataDir: join(scratch, 'cached'), adminKey: ADMIN_KEY, env: { SHOAL_RUNNER_HEALTH_INTERVAL_MS: '500' } });
    apis.push(cached);
    const uncached = await startApiProcess('uncached', {
      databaseUrl: pg.url,
      dataDir: join(scratch, 'uncached'),
      adminKey: ADMIN_KEY,
      env: { SHOAL_RUNNER_HEALTH_INTERVAL_MS: '500', SHOAL_CREDENTIAL_CACHE_TTL_MS: '0', SHOAL_SANDBOX_CACHE_TTL_MS: '0' },
    });
    apis.push(uncached);
    const sb = await createSandboxOnFakeRunner(cached.url, ADMIN_KEY, { url: runner.url, token: RUNNER_TOKEN });
    console.log(`bench: sandbox ${sb.id}; ${rounds} rounds of ${seconds} s per API and path, ${CONNECTIONS} connections, alternating`);
    const lines: string[] = [];
    for (const path of [`/api/sandbox/${sb.id}`, '/api/sandbox/paginated?page=1&limit=20']) {
      // Untimed warm-up of both: JIT, schema compilation, pool connections.
      await load(cached.url, path);
      await load(uncached.url, path);
      const on: Round[] = [];
      const off: Round[] = [];
      for (let i = 0; i < rounds; i++) {
        off.push(await load(uncached.url, path));
        on.push(await load(cached.url, path));
      }
      const label = path.replace(sb.id, '{id}');
      lines.push(`GET ${label}, ${CONNECTIONS} connections`);
      lines.push(`  caches on : ${summary(on)}`);
      lines.push(`  caches off: ${summary(off)}`);
      lines.push(`  on / off: ${(median(on.map((r) => r.rps)) / median(off.map((r) => r.rps))).toFixed(2)}x` + (label.includes('{id}') ? `; goal ≥ ${GOAL_RPS} req/s: ${median(on.map((r) => r.rps)) >= GOAL_RPS ? 'met' : 'not met'}` : ''));
    }
    console.log('');
    for (const l of lines) console.log(l);
  } finally {
    for (const a of apis) await a.stop();
    await runner.stop();
    await pg.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
