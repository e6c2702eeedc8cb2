/**
 * At most `max` holders at once; the others wait in arrival order. Low-priority callers (warm-pool fills) wait in a
 * lane of their own that gets a slot only when no normal caller is waiting, so user starts never queue behind them.
 */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private readonly waitingLow: (() => void)[] = [];
  private active = 0;

  constructor(private readonly max: number) {}

  async acquire(priority: 'normal' | 'low' = 'normal'): Promise<void> {
    if (this.active < this.max && (priority === 'normal' || this.waiting.length === 0)) {
      this.active++;
      return;
    }
    // The slot is handed over by release() without ever dropping `active`, so no newcomer can take it first.
    await new Promise<void>((r) => (priority === 'low' ? this.waitingLow : this.waiting).push(r));
  }

  release(): void {
    const next = this.waiting.shift() ?? this.waitingLow.shift();
    if (next) next();
    else this.active--;
  }

  async run<T>(fn: () => Promise<T>, priority: 'normal' | 'low' = 'normal'): Promise<T> {
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

  /** Holders right now and callers waiting for a slot (both lanes). */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length + this.waitingLow.length };
  }
}
