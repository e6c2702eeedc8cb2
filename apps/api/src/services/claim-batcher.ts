import type { Db } from '../db/database.js';
import type { Organization, Runner, Sandbox } from '../db/schema.js';
import { SandboxRepository, type ClaimedSandboxFields, type Usage } from '../repositories/sandbox.repository.js';
import type { PoolShape } from '../repositories/warm-pool.repository.js';

/** One create's claim of a pooled sandbox (SandboxService.claimPooled). */
export interface ClaimRequest {
  org: Organization;
  /** Served by the pool of this shape, if one has a size; its resources count against the quotas. */
  shape: PoolShape;
  set: ClaimedSandboxFields;
  region: string | undefined;
}

/** The claimed row and its runner (undefined if the runner was removed meanwhile). */
export interface Claimed {
  row: Sandbox;
  runner: Runner | undefined;
}

interface Pending {
  req: ClaimRequest;
  resolve: (c: Claimed | undefined) => void;
  reject: (err: unknown) => void;
}

/** The most claims one call takes; the rest wait for the next. */
const MAX_BATCH = 64;

/**
 * Claims of one organization, taken together. Every claim checks the organization's quotas under its row lock, so
 * claims of one organization run one after another whatever is done here; one database call each made a burst of 50
 * creates pay 50 times for the lock and the usage sum. Here the first claim starts at once, and those that arrive while
 * it runs go together in the next call (shoal_claim_pooled, migration 19): one lock, one usage sum carried forward
 * claim by claim. Each claim still gets its own answer: its row, none (the pool ran dry: the create goes cold), or its
 * quota error.
 */
export class ClaimBatcher {
  private readonly queues = new Map<string, Pending[]>();
  private readonly sandboxes: SandboxRepository;

  constructor(
    db: Db,
    /** Throws the quota error when `res` on top of `used` exceeds the organization's totals. */
    private readonly checkTotals: (org: Organization, used: Usage, res: Usage) => void,
    /**
     * The claimed sandboxes' runners, from the runner row cache where there is one (services/row-cache.ts). A runner
     * whose address changed in the notice's flight fails the claim's call, which releases the claim: a cold create,
     * never a wrong one.
     */
    private readonly runners: { findById(id: string): Promise<Runner | undefined> },
  ) {
    this.sandboxes = new SandboxRepository(db);
  }

  claim(req: ClaimRequest): Promise<Claimed | undefined> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(req.org.id);
      if (queue) {
        queue.push({ req, resolve, reject });
        return;
      }
      const fresh: Pending[] = [{ req, resolve, reject }];
      this.queues.set(req.org.id, fresh);
      void this.drain(req.org.id, fresh);
    });
  }

  private async drain(orgId: string, queue: Pending[]): Promise<void> {
    while (queue.length > 0) await this.run(orgId, queue.splice(0, MAX_BATCH));
    // Nothing awaits between the empty check and here: a claim arriving now starts a queue of its own.
    this.queues.delete(orgId);
  }

  private async run(orgId: string, batch: Pending[]): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.sandboxes.claimPooledBatch(
        orgId,
        batch.map(({ req }) => ({ shape: req.shape, region: req.region, set: req.set })),
      );
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    const runnerIds = [...new Set(outcomes.flatMap((o) => ('row' in o && o.row?.runnerId ? [o.row.runnerId] : [])))];
    const runners = new Map(await Promise.all(runnerIds.map(async (id) => [id, await this.runners.findById(id).catch(() => undefined)] as const)));
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if ('refused' in o) {
        // The database checked against the quotas it read under the lock; the error names those.
        const q = o.refused.quotas;
        try {
          this.checkTotals({ ...p.req.org, totalCpuQuota: q.cpu, totalMemoryQuota: q.mem, totalDiskQuota: q.disk }, o.refused.used, p.req.shape);
        } catch (err) {
          p.reject(err);
          return;
        }
        // Not over by the API's own rule either: no claim was made, so the create goes cold and is checked there.
        p.resolve(undefined);
      } else p.resolve(o.row ? { row: o.row, runner: o.row.runnerId ? runners.get(o.row.runnerId) : undefined } : undefined);
    });
  }
}
