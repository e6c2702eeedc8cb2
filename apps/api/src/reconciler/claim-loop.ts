import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';

/** The SQL side of work claimed by rows: SKIP LOCKED claims with a lease, renewed while the work runs. */
export interface ClaimedRows<T extends { id: string }> {
  claim(owner: string, leaseMs: number, limit: number): Promise<T[]>;
  renew(id: string, owner: string, leaseMs: number): Promise<void>;
  /** Keeps the row for this owner until `ms` from now (a retry later), so no other process takes it meanwhile. */
  postpone(id: string, owner: string, ms: number): Promise<void>;
  release(id: string, owner: string): Promise<void>;
}

export interface ClaimLoopOptions {
  /** Names the work in log lines and in the owner id (e.g. `snap`, `build`). */
  name: string;
  intervalMs: number;
  leaseMs: number;
  /** Rows this process works on at once at most. */
  maxConcurrent: number;
}

/**
 * Claims rows and works on each while renewing its lease, so a process that dies loses its rows to the others when
 * the lease lapses. Woken by its timer and by `wake()`; a wake during a pass runs one more pass after it, so no wake is
 * lost and passes never overlap. `work` returns how long to wait before the row is retried (0: done, released).
 */
export class ClaimLoop<T extends { id: string }> {
  readonly owner: string;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private rerun = false;
  private stopped = true;
  private active = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly rows: ClaimedRows<T>,
    private readonly work: (row: T) => Promise<number>,
    private readonly log: FastifyBaseLogger,
    private readonly opts: ClaimLoopOptions,
  ) {
    this.owner = `${opts.name}-${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  start(): void {
    this.stopped = false;
    const loop = () => {
      this.timer = setTimeout(() => {
        this.wake();
        if (!this.stopped) loop();
      }, this.opts.intervalMs);
      this.timer.unref();
    };
    loop();
    this.wake();
  }

  /** Stops claiming and waits for the work in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    this.track(
      this.claimAndWork()
        .catch((err: unknown) => this.log.error({ err }, `${this.opts.name} pass failed`))
        .finally(() => {
          this.running = false;
          if (this.rerun && !this.stopped) {
            this.rerun = false;
            this.wake();
          }
        }),
    );
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async claimAndWork(): Promise<void> {
    for (;;) {
      const capacity = this.opts.maxConcurrent - this.active;
      if (this.stopped || capacity <= 0) return;
      const batch = await this.rows.claim(this.owner, this.opts.leaseMs, capacity);
      if (batch.length === 0) return;
      for (const row of batch) {
        this.active++;
        this.track(
          this.workOn(row)
            .catch((err: unknown) => this.log.error({ err, id: row.id }, `${this.opts.name} work failed`))
            .finally(() => {
              this.active--;
              this.wake();
            }),
        );
      }
    }
  }

  private async workOn(row: T): Promise<void> {
    const renew = setInterval(() => {
      this.rows.renew(row.id, this.owner, this.opts.leaseMs).catch(() => {});
    }, Math.max(250, Math.floor(this.opts.leaseMs / 3)));
    renew.unref();
    let postponeMs = 0;
    try {
      postponeMs = await this.work(row);
    } finally {
      clearInterval(renew);
      if (postponeMs > 0) await this.rows.postpone(row.id, this.owner, postponeMs).catch(() => {});
      else await this.rows.release(row.id, this.owner).catch(() => {});
    }
  }
}
