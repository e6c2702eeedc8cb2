/**
 * A per-process cache of what a bearer token's SHA-256 resolved to, so a hot API key or runner token costs no query
 * per request. It serves only while this process is LISTENing for credential changes (reconciler/sandbox-events.ts):
 * a trigger NOTIFYs on every change to keys, users, memberships and runner tokens (migration 16), from whichever
 * replica or SQL session made it, and each notification empties the cache. A lost LISTEN connection turns it off until
 * the connection is back, since changes made meanwhile would go unheard. Writes this process serves itself empty it
 * before their answer leaves (app.ts), so "revoked" holds for the very next request on this replica too. The TTL
 * only bounds how stale an entry can get should a notification ever be missed without the connection failing.
 */
export interface CredentialCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export class CredentialCache<T> {
  private readonly entries = new Map<string, { value: T; at: number }>();
  private live = false;
  /** Bumped by every invalidation, so a lookup that started before one cannot store what it read. */
  private generation = 0;
  private readonly now: () => number;

  constructor(private readonly options: CredentialCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get(key: string): T | undefined {
    if (!this.live) return undefined;
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.at + this.options.ttlMs <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  /** The generation to hand back to set(): read it before the lookup. */
  snapshot(): number {
    return this.generation;
  }

  set(key: string, value: T, generation: number): void {
    if (!this.live || generation !== this.generation) return;
    if (this.entries.size >= this.options.maxEntries) this.entries.clear();
    this.entries.set(key, { value, at: this.now() });
  }

  invalidate(): void {
    this.generation++;
    this.entries.clear();
  }

  /** On when the change notifications are being heard, off (and emptied) when they may be missed. */
  setLive(live: boolean): void {
    this.invalidate();
    this.live = live;
  }

  get size(): number {
    return this.entries.size;
  }
}
