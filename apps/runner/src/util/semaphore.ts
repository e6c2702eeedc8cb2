export type SemaphorePriority = 'high' | 'normal' | 'low' | 'idle';

/**
 * At most `max` holders at once; the others wait in arrival order. High-priority callers (the boot of a daemon a
 * request waits for) get the next free slot before any other waiter. Low-priority callers (warm-pool fills) wait in a
 * lane of their own that gets a slot only when no normal caller is waiting, so user starts never queue behind them.
 * Idle callers (spare disks) get a slot only when nobody holds one or waits: their work never shares the CPU with a
 * start, whose toolbox boot is CPU-bound.
 */
export class Semaphore {
  private readonly waitingHigh: (() => void)[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly waitingLow: (() => void)[] = [];
  private readonly waitingIdle: (() => void)[] = [];
  private active = 0;

  constructor(private readonly max: number) {}

  async acquire(priority: SemaphorePriority = 'normal'): Promise<void> {
    const free =
      priority === 'high' || priority === 'normal'
        ? this.active < this.max
        : priority === 'low'
          ? this.active < this.max && this.waitingHigh.length === 0 && this.waiting.length === 0
          : this.active === 0 && this.waitingHigh.length === 0 && this.waiting.length === 0 && this.waitingLow.length === 0;
    if (free) {
      this.active++;
      return;
    }
    // The slot is handed over by release() without ever dropping `active`, so no newcomer can take it first.
    const lane = { high: this.waitingHigh, normal: this.waiting, low: this.waitingLow, idle: this.waitingIdle }[priority];
    await new Promise<void>((r) => lane.push(r));
  }

  release(): void {
    const next = this.waitingHigh.shift() ?? this.waiting.shift() ?? this.waitingLow.shift() ?? (this.active === 1 ? this.waitingIdle.shift() : undefined);
    if (next) next();
    else this.active--;
  }

  async run<T>(fn: () => Promise<T>, priority: SemaphorePriority = 'normal'): Promise<T> {
    await this.acquire(priority);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  get busy(): boolean {
    return this.active >= this.max;
  }

  /** Holders right now and callers waiting for a slot (all lanes). */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waitingHigh.length + this.waiting.length + this.waitingLow.length + this.waitingIdle.length };
  }
}
