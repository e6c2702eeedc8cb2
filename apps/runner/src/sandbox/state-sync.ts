import type { RuntimeBackend } from '../runtime/backend.js';
import type { ApiReporter } from './api-reporter.js';
import type { LiveSandbox } from './live-sandbox.js';

const TRANSITIONAL = ['creating', 'starting', 'stopping', 'destroying', 'pulling_snapshot', 'resizing'];

/**
 * Keeps the API's view of this runner's sandboxes true: notices containers that died on their own and, when an API
 * is configured, corrects sandboxes the API believes started.
 */
export class StateSync {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly d: {
      reporter: ApiReporter;
      backend: RuntimeBackend;
      sandboxes: () => Iterable<LiveSandbox>;
      find: (id: string) => LiveSandbox | undefined;
      /** Called for a started sandbox whose container is gone; the owner releases it and reports it stopped. */
      onDied: (l: LiveSandbox) => Promise<void>;
    },
  ) {}

  start(intervalMs: number): void {
    const tick = async () => {
      await this.checkAlive();
      if (!this.d.reporter.enabled) return;
      const remote = await this.d.reporter.sandboxesInStates(['started']);
      for (const r of remote ?? []) {
        const l = this.d.find(r.id);
        const local = l ? l.state : 'destroyed';
        if (local !== r.state && !TRANSITIONAL.includes(local)) {
          await this.d.reporter.reportState(r.id, local);
        }
      }
    };
    this.timer = setInterval(() => void tick().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Tells the API where every sandbox stands, e.g. after this runner was down. */
  reportAll(): void {
    for (const l of this.d.sandboxes()) void this.d.reporter.reportState(l.meta.id, l.state);
  }

  /** A started sandbox whose container died (OOM of the toolbox, host kill) is reported stopped. */
  private async checkAlive(): Promise<void> {
    for (const l of this.d.sandboxes()) {
      if (l.state !== 'started') continue;
      const st = await this.d.backend.state(l.meta.id);
      if (st?.status === 'running') continue;
      await this.d.onDied(l);
    }
  }
}
