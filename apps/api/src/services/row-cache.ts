/**
 * Rows this process read recently, for the hottest reads. Sandbox rows: GET /sandbox/{id} (the SDK polls it) and the
 * proxy's access check on every toolbox request; runner rows: where the proxy and a warm-pool claim send their calls.
 * Without it each of those costs a query, which is most of their CPU (and on 2 cores, a round trip of 2-3 ms).
 *
 * Correctness rests on three rules:
 * - It serves only while this process LISTENs on the table's channel (reconciler/sandbox-events.ts), which the
 *   database raises with the row's id on every update or delete, from any writer (shoal_sandbox_row, migration 18;
 *   shoal_runner_row, migration 21). A lost connection turns it off and empties it.
 * - A sandbox row changed by this process itself is dropped as soon as the change is committed, before the notice
 *   arrives (repositories/sandbox-writes.ts). So a caller that got this process's answer to a write never reads the
 *   row as it was before it. (Runner rows are written by health checks and admins; their readers take the notice's
 *   delay. Their load figures raise no notice: a cached runner row says where and how to reach it, not how busy.)
 * - A lookup stores what it read only if no change of that row was heard (or made here) since it started, since what
 *   it read may predate that change.
 * Rows written by other processes are seen once their notice arrives: the same delay as reading a replica.
 * The TTL only bounds staleness should a notice be missed without the connection failing.
 */
export interface RowCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export class RowCache<Row> {
  private readonly rows = new Map<string, { row: Row; at: number }>();
  /** Sequence number of each row's last change heard or made, so an older lookup does not store over it. */
  private readonly changedAt = new Map<string, number>();
  private seq = 0;
  /** Lookups older than this may have missed changes whose records were dropped: they store nothing. */
  private floor = 0;
  private live = false;
  private readonly now: () => number;

  constructor(private readonly options: RowCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The row from the cache when it may be served, else from `load` (stored when that is safe). */
  async read(id: string, load: (id: string) => Promise<Row | undefined>): Promise<Row | undefined> {
    if (!this.live) return load(id);
    const hit = this.rows.get(id);
    if (hit && hit.at + this.options.ttlMs > this.now()) return hit.row;
    const start = this.seq;
    const row = await load(id);
    if (row !== undefined && this.live && start >= this.floor && (this.changedAt.get(id) ?? 0) <= start) {
      if (this.rows.size >= this.options.maxEntries) this.rows.clear();
      this.rows.set(id, { row, at: this.now() });
    }
    return row;
  }

  /** The database's notice that `id` changed (or, for '*', that any row may have). */
  heard(id: string): void {
    if (id === '*') {
      this.forgetAll();
      return;
    }
    this.markChanged(id);
  }

  /** This process changed these rows (and committed, or is about to: it tells again then). */
  wrote(ids: readonly string[]): void {
    for (const id of ids) this.markChanged(id);
  }

  /** On while notices are being heard, off (and emptied) when some may be missed. */
  setLive(live: boolean): void {
    this.forgetAll();
    this.live = live;
  }

  get size(): number {
    return this.rows.size;
  }

  private markChanged(id: string): void {
    this.rows.delete(id);
    if (this.changedAt.size >= this.options.maxEntries) {
      // Dropping the records must not let an older lookup store what it read before one of them.
      this.changedAt.clear();
      this.floor = this.seq + 1;
    }
    this.changedAt.set(id, ++this.seq);
  }

  private forgetAll(): void {
    this.rows.clear();
    this.changedAt.clear();
    this.floor = ++this.seq;
  }
}

/** A `findById` that goes through `cache` when there is one. */
export function cachedFinder<Row>(repo: { findById(id: string): Promise<Row | undefined> }, cache: RowCache<Row> | undefined): { findById(id: string): Promise<Row | undefined> } {
  if (!cache) return repo;
  const load = (id: string) => repo.findById(id);
  return { findById: (id) => cache.read(id, load) };
}
