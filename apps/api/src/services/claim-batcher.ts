import type { Db } from '../db/database.js';
import type { Organization, Sandbox } from '../db/schema.js';
import type { ClaimedSandboxFields, Usage } from '../repositories/sandbox.repository.js';
import { inTransaction } from '../repositories/transaction.js';

/** One create's claim of a pooled sandbox (SandboxService.claimPooled). */
export interface ClaimRequest {
  org: Organization;
  poolId: string;
  set: ClaimedSandboxFields;
  region: string | undefined;
  /** What the claimed sandbox will count against the quotas. */
  res: Usage;
}

interface Pending {
  req: ClaimRequest;
  resolve: (row: Sandbox | undefined) => void;
  reject: (err: unknown) => void;
}

/** The most claims one transaction takes; the rest wait for the next. */
const MAX_BATCH = 64;

/**
 * Claims of one organization, taken together. Every claim checks the organization's quotas under its row lock, so
 * claims of one organization run one after another whatever is done here; with one transaction each, a burst of 50
 * creates paid 50 times for BEGIN, the lock, the usage sum and COMMIT (measured: 50 claims took 0.8 s against a fake
 * runner). Here the first claim starts at once, and those that arrive while it runs go together in the next
 * transaction: one lock, one usage sum carried forward claim by claim, one commit. Each claim still gets its own
 * answer: its row, none (the pool ran dry: the create goes cold), or its quota error.
 */
export class ClaimBatcher {
  private readonly queues = new Map<string, Pending[]>();

  constructor(
    private readonly db: Db,
    /** Throws the quota error when `res` on top of `used` exceeds the organization's totals. */
    private readonly checkTotals: (org: Organization, used: Usage, res: Usage) => void,
  ) {}

  claim(req: ClaimRequest): Promise<Sandbox | undefined> {
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
    let outcomes: ({ row: Sandbox | undefined } | { err: unknown })[] = [];
    try {
      await inTransaction(this.db, async ({ sandboxes: repo }) => {
        outcomes = [];
        await repo.lockOrganization(orgId);
        const used = { ...(await repo.usage(orgId)) };
        for (const { req } of batch) {
          try {
            this.checkTotals(req.org, used, req.res);
          } catch (err) {
            outcomes.push({ err });
            continue;
          }
          const row = await repo.claimPooled(req.poolId, req.set, req.region);
          if (row) {
            used.cpu += req.res.cpu;
            used.mem += req.res.mem;
            used.disk += req.res.disk;
          }
          outcomes.push({ row });
        }
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if ('err' in o) p.reject(o.err);
      else p.resolve(o.row);
    });
  }
}
