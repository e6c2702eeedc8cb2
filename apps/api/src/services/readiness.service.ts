import { request } from 'undici';
import { RUNNER_AUTH_HEADER, runnerCallToken } from '@shoal/contracts';
import { Errors } from '../errors.js';
import type { ReadinessRepository, RunnerProbeRow } from '../repositories/readiness.repository.js';

export type CheckStatus = 'up' | 'down';

export interface ReadinessReport {
  status: 'ready' | 'not_ready';
  /** What is missing, in plain words; empty when ready. */
  missing: string[];
  checks: {
    database: { status: CheckStatus; error?: string };
    runners: { status: CheckStatus; ready: number; total: number };
    defaultSnapshot: {
      status: CheckStatus;
      name: string;
      image: string;
      /** Runners (domains) holding the image, ready to create from it. */
      presentOn: string[];
      /** Healthy runners that did not answer whether they hold it (timeout, error): unknown, not absent. */
      unanswered?: string[];
      /** While a runner builds or pulls it: its latest progress line (e.g. "[default-image] debootstrap (41.2 s)"). */
      progress?: { runner: string; phase: string; at?: string };
    };
  };
}

/** How readiness asks a runner about an image; tests substitute a fake runner. */
export interface SnapshotProbe {
  exists(r: RunnerProbeRow, image: string): Promise<boolean>;
  /** The last line of the runner's pull/build log for the image, undefined when it has none. */
  lastLogLine(r: RunnerProbeRow, image: string): Promise<string | undefined>;
}

const PROBE_TIMEOUT_MS = 3000;

/** Asks the runner's own snapshot endpoints (contracts: GET /snapshots/exists, GET /snapshots/logs). */
export class HttpSnapshotProbe implements SnapshotProbe {
  constructor(private readonly platformSecret: string) {}

  private async get(r: RunnerProbeRow, path: string): Promise<{ status: number; text: string }> {
    const url = new URL(r.apiUrl.replace(/\/+$/, '') + path);
    const res = await request(url, {
      headers: { [RUNNER_AUTH_HEADER]: `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}` },
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    });
    return { status: res.statusCode, text: await res.body.text() };
  }

  async exists(r: RunnerProbeRow, image: string): Promise<boolean> {
    const res = await this.get(r, `/snapshots/exists?snapshot=${encodeURIComponent(image)}`);
    if (res.status !== 200) throw new Error(`runner ${r.domain} answered HTTP ${res.status}`);
    return (JSON.parse(res.text) as { exists?: boolean }).exists === true;
  }

  async lastLogLine(r: RunnerProbeRow, image: string): Promise<string | undefined> {
    const res = await this.get(r, `/snapshots/logs?snapshotRef=${encodeURIComponent(image)}`);
    if (res.status !== 200) return undefined;
    return res.text.trimEnd().split('\n').pop() || undefined;
  }
}

/**
 * Whether the platform can serve `create()` of the default snapshot: the database answers, a runner is healthy and a
 * healthy runner holds the default image. A runner that once reported the image is remembered (images are removed
 * only by an explicit snapshot removal, which the default snapshot never gets); a negative answer is reused for
 * `negativeTtlMs` so a burst of creates during a build does not hammer the runners.
 */
export class ReadinessService {
  private readonly present = new Set<string>();
  private cached: { at: number; report: ReadinessReport } | undefined;

  constructor(
    private readonly repo: ReadinessRepository,
    private readonly probe: SnapshotProbe,
    private readonly defaultSnapshot: { name: string; image: string },
    private readonly negativeTtlMs = 1000,
  ) {}

  async report(): Promise<ReadinessReport> {
    const c = this.cached;
    if (c && Date.now() - c.at < this.negativeTtlMs) return c.report;
    const report = await this.compute();
    this.cached = report.status === 'ready' ? undefined : { at: Date.now(), report };
    return report;
  }

  /**
   * Called by create for the default snapshot: answers 503 naming the build instead of accepting a sandbox that
   * would wait minutes for the image and fail in `error`.
   */
  async assertDefaultSnapshotServable(): Promise<void> {
    // Once a runner held the image, creates pay nothing here: another runner without it pulls it from the registry.
    if (this.present.size > 0) return;
    const r = await this.report();
    // Without a healthy runner the create path's own answer stands (400 "No available runners", as the reference).
    if (r.checks.defaultSnapshot.status === 'up' || r.checks.runners.status !== 'up') return;
    // A runner too busy to answer the probe in time may well hold the image: refusing would turn load into 503s.
    if (r.checks.defaultSnapshot.unanswered?.length) return;
    const p = r.checks.defaultSnapshot.progress;
    const detail = p ? `${p.runner}: ${p.phase}` : r.missing.join('; ');
    throw Errors.defaultSnapshotNotReady(r.checks.defaultSnapshot.name, detail);
  }

  private async compute(): Promise<ReadinessReport> {
    const { name, image } = this.defaultSnapshot;
    const report: ReadinessReport = {
      status: 'not_ready',
      missing: [],
      checks: {
        database: { status: 'up' },
        runners: { status: 'down', ready: 0, total: 0 },
        defaultSnapshot: { status: 'down', name, image, presentOn: [] },
      },
    };
    let runners: RunnerProbeRow[];
    try {
      await this.repo.ping();
      runners = await this.repo.runners();
    } catch (err) {
      report.checks.database = { status: 'down', error: (err as Error).message };
      report.missing.push('database: not reachable', 'runners: unknown (no database)', `default snapshot ${name}: unknown (no database)`);
      return report;
    }
    const healthy = runners.filter((r) => r.state === 'ready' && !r.unschedulable);
    report.checks.runners = { status: healthy.length > 0 ? 'up' : 'down', ready: healthy.length, total: runners.length };
    if (healthy.length === 0) {
      report.missing.push(runners.length === 0 ? 'runners: none registered yet' : `runners: none of ${runners.length} is healthy yet`);
    }
    const snap = report.checks.defaultSnapshot;
    for (const r of healthy) {
      const key = `${r.id} ${image}`;
      let has = this.present.has(key);
      if (!has) {
        has = await this.probe.exists(r, image).catch(() => {
          (snap.unanswered ??= []).push(r.domain);
          return false;
        });
      }
      if (has) {
        this.present.add(key);
        snap.presentOn.push(r.domain);
      }
    }
    if (snap.presentOn.length > 0) {
      snap.status = 'up';
    } else {
      // Progress from any runner working on it (the platform asks the first runner to build it).
      for (const r of runners) {
        const line = await this.probe.lastLogLine(r, image).catch(() => undefined);
        if (!line) continue;
        const m = /^(\d{4}-\d\d-\d\dT[^ ]+) (.*)$/.exec(line);
        snap.progress = { runner: r.domain, phase: m ? m[2]! : line, ...(m ? { at: m[1]! } : {}) };
        break;
      }
      report.missing.push(
        `default snapshot ${name}: ${snap.progress ? `being prepared (${snap.progress.phase})` : healthy.length ? 'not on any healthy runner yet' : 'waits for a healthy runner'}`,
      );
    }
    if (report.missing.length === 0) report.status = 'ready';
    return report;
  }
}
