/*
 * Issue 15's goals table: one line per goal, with the figure this run measured and a verdict. A figure the run did not
 * measure (skipped with --only, no Docker daemon, a failed step) is reported with its reason, never as met.
 */
import { fmt, fmtRatio, ratio, type Summary } from './stats.js';

/** What the run measured for a goal, or why it did not. */
export type Outcome<T> = { value: T } | { skipped: string };

export interface GoalInputs {
  /** create() + executeCommand('echo hi') claimed from a warm pool; `misses`: creates that were not claims. */
  warmHit: Outcome<{ tti: Summary; misses: number }>;
  /** create() + exec(node -v) sequential with no pooled sandbox, beside the OCI floor of the same run. */
  cold: Outcome<{ shoal: Summary; floor: Summary }>;
  /** The same Shoal sequence beside `docker run -d` + `docker exec node -v` on the same root filesystem, alternating. */
  docker: Outcome<{ shoal: Summary; docker: Summary; pool: number; claims: number; n: number; drained: { shoal: Summary; docker: Summary } }>;
  /** `n` concurrent create()s from a pool of `pool` ready sandboxes. */
  burst50: Outcome<{ n: number; pool: number; ok: number; create: Summary; failure?: string }>;
  /** `n` concurrent create()s with the default pool. */
  burst100: Outcome<{ n: number; pool: number; ok: number; create: Summary; failure?: string }>;
  echo: Outcome<Summary>;
  /** p50 MB/s of Shoal and of the floor, 100 MB each way. */
  transfer: Outcome<{ upload: { shoal: number; floor: number }; download: { shoal: number; floor: number } }>;
  getRps: Outcome<number>;
  density: Outcome<{ cap: number; count: number; mibEach: number; failure?: string }>;
}

export interface GoalRow {
  figure: string;
  measured: string;
  goal: string;
  verdict: string;
}

export const GOALS = {
  warmP50: 25,
  warmP99: 60,
  coldRatio: 1.3,
  dockerRatio: 0.25,
  burst50P99: 500,
  burst100P99: 2000,
  echoP50: 6,
  transferRatio: 0.5,
  getRps: 3000,
  density: 500,
  densityMiB: 10,
};

const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
const ms = (s: Summary) => `p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms (n=${s.n})`;

function row<T>(figure: string, goal: string, o: Outcome<T>, judge: (v: T) => { measured: string; verdict: string }): GoalRow {
  if ('skipped' in o) return { figure, measured: '-', goal, verdict: `not measured (${o.skipped})` };
  return { figure, goal, ...judge(o.value) };
}

function burstRow(figure: string, goal: string, o: GoalInputs['burst50'], p99Goal: number, allMustSucceed: boolean): GoalRow {
  return row(figure, goal, o, (b) => {
    const measured = `${b.ok}/${b.n} succeeded, create() ${b.ok ? `p50 ${fmt(b.create.p50)} ms, p99 ${fmt(b.create.p99)} ms` : '-'}; pool ${b.pool}${b.failure ? `; first failure: ${b.failure.slice(0, 80)}` : ''}`;
    if (b.ok === 0) return { measured, verdict: 'not met' };
    return { measured, verdict: verdict((!allMustSucceed || b.ok === b.n) && b.create.p99 <= p99Goal) };
  });
}

export function goalRows(g: GoalInputs): GoalRow[] {
  return [
    row('TTI, warm-pool hit, p50 / p99', `≤ ${GOALS.warmP50} ms / ≤ ${GOALS.warmP99} ms`, g.warmHit, (w) => {
      const measured = `${ms(w.tti)}${w.misses ? `; ${w.misses} create(s) missed the pool (left out)` : ''}`;
      if (w.tti.n === 0) return { measured, verdict: 'not measured (no create was a claim)' };
      return { measured, verdict: verdict(w.tti.p50 <= GOALS.warmP50 && w.tti.p99 <= GOALS.warmP99) };
    }),
    row('TTI, cold (pool empty), create()+exec(node -v) / OCI floor', `≤ ${GOALS.coldRatio}x`, g.cold, (c) => {
      const r = ratio(c.shoal.p50, c.floor.p50);
      return {
        measured: `${fmtRatio(r)} at p50 (${fmt(c.shoal.p50)} / ${fmt(c.floor.p50)} ms), ${fmtRatio(ratio(c.shoal.p99, c.floor.p99))} at p99`,
        verdict: verdict(r <= GOALS.coldRatio),
      };
    }),
    row('TTI vs Docker Engine, same rootfs, alternating', `≤ ${GOALS.dockerRatio}x`, g.docker, (d) => {
      const r = ratio(d.shoal.p50, d.docker.p50);
      const drained = `pool drained: ${fmtRatio(ratio(d.drained.shoal.p50, d.drained.docker.p50))} at p50 (${fmt(d.drained.shoal.p50)} / ${fmt(d.drained.docker.p50)} ms)`;
      return {
        measured:
          `${fmtRatio(r)} at p50 (${fmt(d.shoal.p50)} / ${fmt(d.docker.p50)} ms), ${fmtRatio(ratio(d.shoal.p99, d.docker.p99))} at p99, ` +
          `default warm pool (${d.pool}; ${d.claims} of ${d.n} creates were claims); ${drained}`,
        verdict: verdict(r <= GOALS.dockerRatio),
      };
    }),
    burstRow('Burst: concurrent creates from a full pool, p99', `≤ ${GOALS.burst50P99} ms (50 creates, pool of 50)`, g.burst50, GOALS.burst50P99, false),
    burstRow('Burst: concurrent creates, default pool', `100 % succeed, p99 ≤ ${GOALS.burst100P99} ms (100 creates)`, g.burst100, GOALS.burst100P99, true),
    row("executeCommand('echo hi') p50", `≤ ${GOALS.echoP50} ms`, g.echo, (s) => ({ measured: ms(s), verdict: verdict(s.p50 <= GOALS.echoP50) })),
    row('Upload / download 100 MB vs separate-process server', `≥ ${GOALS.transferRatio}x`, g.transfer, (t) => {
      const up = ratio(t.upload.shoal, t.upload.floor);
      const down = ratio(t.download.shoal, t.download.floor);
      return {
        measured: `upload ${fmtRatio(up)} (${fmt(t.upload.shoal)} / ${fmt(t.upload.floor)} MB/s), download ${fmtRatio(down)} (${fmt(t.download.shoal)} / ${fmt(t.download.floor)} MB/s)`,
        verdict: verdict(up >= GOALS.transferRatio && down >= GOALS.transferRatio),
      };
    }),
    row('GET /sandbox/{id} at 50 connections', `≥ ${GOALS.getRps.toLocaleString('en-US')} req/s`, g.getRps, (rps) => ({
      measured: `${fmt(rps)} req/s`,
      verdict: verdict(rps >= GOALS.getRps),
    })),
    row('Idle started sandboxes, memory each after one command', `≥ ${GOALS.density}, each ≤ ${GOALS.densityMiB} MiB`, g.density, (d) => {
      const measured = `${d.count} started (cap ${d.cap}), ${fmt(d.mibEach)} MiB each${d.failure ? `; stopped by: ${d.failure.slice(0, 80)}` : ''}`;
      const memOk = d.mibEach <= GOALS.densityMiB;
      // A cap below the goal (--quick) cannot show the count; the memory half is still judged.
      if (!d.failure && d.cap < GOALS.density && d.count === d.cap) {
        return { measured, verdict: `not measured (cap ${d.cap} < ${GOALS.density}; memory each: ${verdict(memOk)})` };
      }
      return { measured, verdict: verdict(d.count >= GOALS.density && memOk) };
    }),
  ];
}

export function renderGoals(rows: GoalRow[]): string {
  const out = ['| goal (issue 15) | measured in this run | goal | verdict |', '|---|---|---|---|'];
  for (const r of rows) out.push(`| ${r.figure} | ${r.measured} | ${r.goal} | ${r.verdict} |`);
  return out.join('\n');
}
