/**
 * Failed logins per source address in a sliding window. Past the limit an address is refused without a call to the
 * API until its oldest failure leaves the window: guessing tokens from one address gets at most `max` tries a window.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  blocked(address: string): boolean {
    return this.recent(address).length >= this.max;
  }

  fail(address: string): void {
    const list = this.recent(address);
    list.push(this.now());
    this.failures.set(address, list);
    // Bounded memory: addresses whose failures all left the window are forgotten now and then.
    if (this.failures.size > 10_000) for (const a of [...this.failures.keys()]) if (this.recent(a).length === 0) this.failures.delete(a);
  }

  private recent(address: string): number[] {
    const since = this.now() - this.windowMs;
    const list = (this.failures.get(address) ?? []).filter((t) => t > since);
    if (list.length) this.failures.set(address, list);
    else this.failures.delete(address);
    return list;
  }
}
