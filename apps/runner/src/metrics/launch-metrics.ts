import client from 'prom-client';
import { recordSpan } from '@shoal/telemetry';

/** Seconds; a warm start's steps are tens of ms, a cold image's first mount or a slow toolbox seconds. */
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type LaunchStep = 'prepare' | 'runtime' | 'toolbox';

/**
 * Timings of container starts on this runner (README "Metrics"), appended to the runner's hand-written /metrics.
 * One registry per process: a process runs one runner (tests that build several share the counts, which they expect).
 */
export class LaunchMetrics {
  readonly registry = new client.Registry();
  private readonly steps = new client.Histogram({
    name: 'shoal_runner_sandbox_start_step_seconds',
    help: 'Duration of each step of a container start: prepare (network namespace, overlay and volume mounts, /etc files, OCI spec), runtime (crun run until the container runs), toolbox (from when the daemon is asked to boot until it answers).',
    labelNames: ['step'],
    buckets: STEP_BUCKETS,
    registers: [this.registry],
  });
  private readonly total = new client.Histogram({
    name: 'shoal_runner_sandbox_start_duration_seconds',
    help: 'Duration of a whole container start on this runner (the sum of the steps, without a wait between the container and its daemon), for creates and starts alike.',
    buckets: STEP_BUCKETS,
    registers: [this.registry],
  });

  /**
   * Records one launch from its `performance.now()` marks: histograms, and (tracing on) one span per step under the
   * active span, the toolbox step being what the runner saw of the daemon inside the sandbox (it cannot reach a
   * collector itself). The daemon's boot is asked for at `tBoot`, after the container runs (at once, or once no other
   * start waits): the time between is neither the start's nor the daemon's, and is left out of the total.
   */
  recordLaunch(sandboxId: string, t0: number, tPrepared: number, tRunning: number, tBoot: number, tReady: number): void {
    this.steps.observe({ step: 'prepare' }, (tPrepared - t0) / 1000);
    this.steps.observe({ step: 'runtime' }, (tRunning - tPrepared) / 1000);
    this.steps.observe({ step: 'toolbox' }, (tReady - tBoot) / 1000);
    this.total.observe((tRunning - t0 + (tReady - tBoot)) / 1000);
    const at = (t: number) => performance.timeOrigin + t;
    const attrs = { 'shoal.sandbox_id': sandboxId };
    recordSpan('start: prepare', at(t0), at(tPrepared), attrs);
    recordSpan('start: runtime', at(tPrepared), at(tRunning), attrs);
    recordSpan('toolbox: ready', at(tBoot), at(tReady), { ...attrs, 'shoal.observed_by': 'runner' });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

export const launchMetrics = new LaunchMetrics();
