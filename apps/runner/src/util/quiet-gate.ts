/**
 * Tells background upkeep (spare disks and network namespaces, warm-pool fills) when users' requests to their
 * sandboxes have paused.
 * A new sandbox's first command arrives while its daemon boots and runs right after; making the next spare then took
 * CPU from it on two cores: a sandbox's first `node -v` straight on the toolbox socket took 87-107 ms with the refill
 * beside it and 57-89 ms with it held back. Upkeep waits for `quietMs` without a request in flight, at most
 * `maxWaitMs` (a PTY, a long command or a steady stream of them must not keep the spares from ever being made).
 */
export class QuietGate {
  private inFlight = 0;
  private lastBusy = -Infinity;

  constructor(
    private readonly quietMs = 50,
    private readonly maxWaitMs = 2000,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** A request begins; the function returned ends it (once, however often it is called). */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.lastBusy = this.now();
    };
  }

  /** Something a request is about to follow happened (a sandbox's daemon just answered): the quiet starts over. */
  touch(): void {
    this.lastBusy = this.now();
  }

  get quiet(): boolean {
    return this.inFlight === 0 && this.now() - this.lastBusy >= this.quietMs;
  }

  /** A time to pass to waited() and settled(): when some upkeep began to wait. */
  mark(): number {
    return this.now();
  }

  /** Quiet, or upkeep that began to wait at `since` has waited `maxWaitMs`, whatever the traffic. */
  waited(since: number): boolean {
    return this.quiet || this.now() - since >= this.maxWaitMs;
  }

  /** Resolves once waited(since) holds. */
  async settled(since = this.now()): Promise<void> {
    while (!this.waited(since)) {
      const left = since + this.maxWaitMs - this.now();
      const untilQuiet = this.inFlight > 0 ? this.quietMs : this.lastBusy + this.quietMs - this.now();
      await this.sleep(Math.max(1, Math.min(left, untilQuiet)));
    }
  }
}
