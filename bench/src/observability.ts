/*
 * `npm run bench:observability`: issue 16's "API p50 latency with and without metrics and tracing on". Two API
 * processes on one embedded PostgreSQL: one with SHOAL_METRICS=off and no OTLP endpoint (the OpenTelemetry SDK is
 * never loaded), one with /metrics on and SHOAL_OTLP_ENDPOINT pointed at a collector in this process that accepts
 * and drops the spans (export stays in the measured process's background, as in production). A sandbox is created
 * against a stand-in runner (the API's test fake: no containers, no root needed), then GET /sandbox/{id} is timed
 * on both, interleaved one request each, over one keep-alive connection per API. A scrape of /metrics runs every
 * 100 requests on the instrumented one, as Prometheus would.
 * Options: --samples N (default 2000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Pool } from 'undici';
import { freePort } from '@shoal/platform';
import { startEmbeddedPostgres } from '@shoal/postgres';
import { FakeRunner } from '../../apps/api/test/helpers/fake-runner.js';
import { createSandboxOnFakeRunner, startApiProcess, type ApiProcess } from './api-process.js';
import type { Row } from './platform-bench.js';
import { renderTable } from './report.js';
import { summarize } from './stats.js';

const args = process.argv.slice(2);
const samples = args.includes('--samples') ? Number(args[args.indexOf('--samples') + 1]) : 2000;
const ADMIN_KEY = `dtn_${'b2'.repeat(32)}`;
const RUNNER_TOKEN = 'bench-observability-runner-token';

async function main(): Promise<void> {
  const scratch = await mkdtemp('/var/tmp/shoal-bench-obs-');
  const procs: ApiProcess[] = [];
  let spansReceived = 0;
  const sink = createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      spansReceived++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const pg = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: await freePort() });
  const runner = await new FakeRunner({ token: RUNNER_TOKEN }).start();
  try {
    // The first API migrates and bootstraps; the second starts on the migrated database.
    const plain = await startApiProcess('plain', { databaseUrl: pg.url, dataDir: join(scratch, 'plain'), adminKey: ADMIN_KEY, env: { SHOAL_RUNNER_HEALTH_INTERVAL_MS: '500', SHOAL_METRICS: 'off' } });
    procs.push(plain);
    const observed = await startApiProcess('observed', {
      databaseUrl: pg.url,
      dataDir: join(scratch, 'observed'),
      adminKey: ADMIN_KEY,
      env: { SHOAL_RUNNER_HEALTH_INTERVAL_MS: '500', SHOAL_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}` },
    });
    procs.push(observed);
    const sb = await createSandboxOnFakeRunner(plain.url, ADMIN_KEY, { url: runner.url, token: RUNNER_TOKEN });
    console.log(`bench: sandbox ${sb.id} (${sb.state}); ${samples} interleaved GET /api/sandbox/{id} per API`);

    const pools = { plain: new Pool(plain.url, { connections: 1 }), observed: new Pool(observed.url, { connections: 1 }) };
    const get = async (which: 'plain' | 'observed') => {
      const t0 = performance.now();
      const res = await pools[which].request({ method: 'GET', path: `/api/sandbox/${sb.id}`, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      await res.body.text();
      const ms = performance.now() - t0;
      if (res.statusCode !== 200) throw new Error(`${which}: ${res.statusCode}`);
      return ms;
    };
    for (let i = 0; i < 200; i++) await Promise.all([get('plain'), get('observed')]); // warm-up, untimed
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < samples; i++) {
      // Alternate which goes first, so neither always runs right after the other's GC or export.
      if (i % 2 === 0) {
        a.push(await get('plain'));
        b.push(await get('observed'));
      } else {
        b.push(await get('observed'));
        a.push(await get('plain'));
      }
      if (i % 100 === 99) await (await pools.observed.request({ method: 'GET', path: '/metrics' })).body.text();
    }
    await new Promise((r) => setTimeout(r, 1500)); // the batch exporter's last flush
    const rows: Row[] = [
      {
        name: `GET /sandbox/{id}, metrics + tracing on (vs off), ${samples} interleaved`,
        unit: 'ms',
        value: summarize(b),
        floor: summarize(a),
        floorName: 'same API, SHOAL_METRICS=off, no SHOAL_OTLP_ENDPOINT',
      },
    ];
    console.log(renderTable(rows));
    const sa = summarize(a);
    const sbm = summarize(b);
    console.log(`p50 off ${sa.p50.toFixed(3)} ms, on ${sbm.p50.toFixed(3)} ms (+${(sbm.p50 - sa.p50).toFixed(3)} ms); p99 off ${sa.p99.toFixed(3)} ms, on ${sbm.p99.toFixed(3)} ms; OTLP export requests received: ${spansReceived}`);
    await pools.plain.close();
    await pools.observed.close();
  } finally {
    for (const p of procs) await p.stop();
    await runner.stop();
    await pg.stop();
    sink.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
