import type { Runner } from '../db/schema.js';

/**
 * Runner rows for the proxy, reused for a moment. Every proxied request (an exec, a file chunk, a preview asset)
 * needs its sandbox's runner, and runner rows change almost never, so a second query per request is waste. The
 * sandbox row, which decides access and the running state, is still read fresh on every request; a runner row at
 * most `ttlMs` old can only be stale in its address or token after a re-registration, which the runner then refuses.
 */
export class RecentRunners {
  private readonly rows = new Map<string, { runner: Runner; at: number }>();

  constructor(
    private readonly repo: { findById(id: string): Promise<Runner | undefined> },
    private readonly ttlMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  async findById(id: string): Promise<Runner | undefined> {
    const hit = this.rows.get(id);
    if (hit && hit.at + this.ttlMs > this.now()) return hit.runner;
    const runner = await this.repo.findById(id);
    if (this.rows.size > 1000) this.rows.clear();
    if (runner) this.rows.set(id, { runner, at: this.now() });
    else this.rows.delete(id);
    return runner;
  }
}

/**
 * Records a sandbox's activity (what auto-stop counts from) at most every `everyMs` per sandbox from this process.
 * The database ignores bumps closer than 10 s anyway (SandboxRepository.bumpActivity), but asking it still costs an
 * UPDATE per proxied request.
 */
export class ActivityBumps {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly repo: { bumpActivity(id: string): Promise<void> },
    private readonly everyMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  bump(id: string): void {
    const t = this.now();
    if ((this.last.get(id) ?? -Infinity) > t - this.everyMs) return;
    if (this.last.size > 10_000) this.last.clear();
    this.last.set(id, t);
    this.repo.bumpActivity(id).catch(() => this.last.delete(id));
  }
}
