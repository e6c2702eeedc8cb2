// No tenant can stall the control plane (issue 10, scope 6): organization A opens 200 log-follow streams through the
// API's toolbox proxy to one of its sandboxes, and organization B's create() p99, measured with the official SDK before
// and while the streams are open, may not grow by more than 2x. The per-organization cap (SHOAL_PROXY_MAX_STREAMS_PER_ORG,
// default 128) refuses the rest with a clear 429 in the Daytona envelope; every accepted stream must really stream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Daytona, type Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { api } from './src/tenancy/tenants.js';
import { deleteAndWait, eventually, isNotFound } from './src/toolbox-helpers.js';

const STREAMS = 200;
/** The API's default SHOAL_PROXY_MAX_STREAMS_PER_ORG; the platform is started without overriding it. */
const DEFAULT_CAP = 128;
/** create() samples per series; fewer only to show a broken build failing in less time. */
const SAMPLES = Number(process.env.SHOAL_FAIRNESS_SAMPLES ?? 15);

let platform: TestPlatform;
let streamer: Sandbox | undefined;
let daytonaB: Daytona;

before(async () => {
  platform = await startTestPlatform();
  const b = await api<{ apiKey: string }>(platform.apiUrl, platform.apiKey, 'POST', '/users', { name: `fairness-b-${Date.now()}`, createApiKey: true });
  assert.equal(b.status, 201, b.text);
  daytonaB = platform.sdk(b.json.apiKey);
});

after(async () => {
  if (streamer) await deleteAndWait(platform, streamer);
  await platform?.close();
});

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One timed create() of organization B; the delete (and its teardown) happens outside the timed region. */
async function timedCreate(label: string): Promise<number> {
  const t0 = performance.now();
  let sb: Sandbox;
  try {
    sb = await daytonaB.create({ labels: { suite: 'proxy-fairness', phase: label } }, { timeout: 120 });
  } catch (err) {
    console.log(`[proxy-fairness] ${label} create failed after ${Math.round(performance.now() - t0)} ms: ${(err as Error).message}`);
    return Number.POSITIVE_INFINITY;
  }
  const ms = performance.now() - t0;
  await sb.delete().catch(() => undefined);
  await eventually(
    async () => {
      try {
        return (await daytonaB.get(sb.id)).state === 'destroyed';
      } catch (err) {
        return isNotFound(err);
      }
    },
    `B's sandbox ${sb.id} destroyed`,
    120_000,
  );
  return ms;
}

async function series(label: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i++) out.push(await timedCreate(label));
  return out;
}

interface Stream {
  status: number;
  /** Every byte received, for the accepted ones. */
  text: string;
  chunks: number;
  lastDataAt: number;
  body?: unknown;
  error?: string;
}

test('200 log-follow streams of one organization do not move another organization\'s create() p99 by more than 2x', { timeout: 1_500_000 }, async () => {
  const daytonaA = platform.sdk();
  streamer = await daytonaA.create({ labels: { suite: 'proxy-fairness', role: 'streamer' } });
  const sid = 'fairness';
  await streamer.process.createSession(sid);
  const cmd = await streamer.process.executeSessionCommand(sid, { command: 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.5; done', runAsync: true });
  const logsUrl = `${platform.apiUrl}/toolbox/${streamer.id}/toolbox/process/session/${sid}/command/${cmd.cmdId}/logs?follow=true`;

  // Warm-up (image, caches) outside both series.
  await timedCreate('warm-up');
  const baseline = await series('baseline');

  const abort = new AbortController();
  const streams: Stream[] = [];
  const opened = Array.from({ length: STREAMS }, async (_, i) => {
    const s: Stream = { status: 0, text: '', chunks: 0, lastDataAt: 0 };
    streams[i] = s;
    try {
      const res = await fetch(logsUrl, { headers: { authorization: `Bearer ${platform.apiKey}` }, signal: abort.signal });
      s.status = res.status;
      if (res.status !== 200) {
        s.body = await res.json();
        return;
      }
      // Read in the background until the test aborts.
      void (async () => {
        const decoder = new TextDecoder();
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            s.text += decoder.decode(chunk, { stream: true });
            s.chunks++;
            s.lastDataAt = performance.now();
          }
        } catch (err) {
          if (!abort.signal.aborted) s.error = (err as Error).message;
        }
      })();
    } catch (err) {
      if (!abort.signal.aborted) s.error = (err as Error).message;
    }
  });
  // Every stream is answered, one way or the other (a stream queued behind others would never be).
  const answered = await Promise.race([Promise.all(opened).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 60_000))]);
  const accepted = streams.filter((s) => s.status === 200);
  const refused = streams.filter((s) => s.status === 429);
  console.log(`[proxy-fairness] streams: ${accepted.length} accepted, ${refused.length} refused with 429, ${streams.filter((s) => s.status === 0).length} unanswered after 60 s`);

  let loaded: number[] = [];
  let streamingAtEnd = 0;
  try {
    const loadStart = performance.now();
    loaded = await series('under-load');
    // Accepted streams must still be streaming: each saw data after the measured creates began.
    streamingAtEnd = accepted.filter((s) => s.lastDataAt > loadStart).length;
  } finally {
    abort.abort();
  }

  const p50b = percentile(baseline, 50);
  const p99b = percentile(baseline, 99);
  const p50l = percentile(loaded, 50);
  const p99l = percentile(loaded, 99);
  const fmt = (xs: number[]) => xs.map((x) => (Number.isFinite(x) ? Math.round(x) : 'failed')).join(', ');
  console.log(`[proxy-fairness] org B create() ms, baseline: ${fmt(baseline)}`);
  console.log(`[proxy-fairness] org B create() ms, with org A's streams open: ${fmt(loaded)}`);
  console.log(
    `[proxy-fairness] p50 ${Math.round(p50b)} -> ${Math.round(p50l)} ms; p99 ${Math.round(p99b)} -> ${Number.isFinite(p99l) ? Math.round(p99l) : 'failed'} ms (ratio ${(p99l / p99b).toFixed(2)}, bound 2.00); ${streamingAtEnd}/${accepted.length} accepted streams still streaming at the end`,
  );

  assert.ok(answered, 'every one of the 200 streams was answered (200 or 429) within 60 s');
  assert.equal(accepted.length, DEFAULT_CAP, 'the default cap admits exactly 128 streams of one organization');
  assert.equal(refused.length, STREAMS - DEFAULT_CAP, 'the rest are refused with 429');
  for (const r of refused) {
    const env = r.body as { statusCode?: number; error?: string; message?: string; path?: string; timestamp?: string };
    assert.equal(env.statusCode, 429);
    assert.equal(env.error, 'Too Many Requests');
    assert.match(env.message ?? '', /Too many open toolbox\/preview streams for this organization \(limit 128\)/);
    assert.equal(typeof env.path, 'string');
    assert.equal(typeof env.timestamp, 'string');
  }
  for (const s of accepted) {
    assert.equal(s.error, undefined, `an accepted stream failed: ${s.error}`);
    // The follow replays from the start and then keeps going: several distinct ticks, in order.
    const ticks = [...s.text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    assert.ok(ticks.length >= 3, `an accepted stream received only ${ticks.length} ticks`);
    for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i], ticks[i - 1]! + 1, 'ticks arrive in order, none lost');
  }
  assert.equal(streamingAtEnd, accepted.length, 'every accepted stream was still receiving output while B created');
  assert.ok(loaded.every(Number.isFinite), 'every create() of organization B succeeded');
  assert.ok(p99l <= 2 * p99b, `B's create() p99 moved from ${Math.round(p99b)} ms to ${Math.round(p99l)} ms (more than 2x)`);
});
