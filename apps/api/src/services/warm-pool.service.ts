import type { Db } from '../db/database.js';
import type { WarmPool } from '../db/schema.js';
import { Errors } from '../errors.js';
import { SnapshotRepository } from '../repositories/snapshot.repository.js';
import { WarmPoolRepository } from '../repositories/warm-pool.repository.js';
import type { SetWarmPoolBody, WarmPoolDto } from '../schemas.js';

/** The admin's view of warm pools (routes/warm-pools); the keeper (reconciler/warm-pool-keeper.ts) does the filling. */
export class WarmPoolService {
  private readonly pools: WarmPoolRepository;
  private readonly snapshots: SnapshotRepository;

  constructor(
    db: Db,
    private readonly keeper: { wake(): void },
  ) {
    this.pools = new WarmPoolRepository(db);
    this.snapshots = new SnapshotRepository(db);
  }

  async list(): Promise<WarmPoolDto[]> {
    const counts = await this.pools.liveCounts();
    return (await this.pools.list()).map((p) => toDto(p, counts.get(p.id)));
  }

  /** Sets the size of the pool of a general snapshot's resources and user, creating it if needed. */
  async set(body: SetWarmPoolBody): Promise<WarmPoolDto> {
    const snapshot = await this.snapshots.findGeneralByName(body.snapshot);
    // Organization snapshots cannot be pooled: a pool is claimed from by every organization.
    if (!snapshot) throw Errors.badRequest(`Snapshot ${body.snapshot} is not a general snapshot`);
    const pool = await this.pools.upsert(
      { snapshot: snapshot.name, cpu: snapshot.cpu, gpu: snapshot.gpu, mem: snapshot.mem, disk: snapshot.disk, osUser: body.osUser ?? 'daytona' },
      body.size,
    );
    this.keeper.wake();
    return toDto(pool, (await this.pools.liveCounts()).get(pool.id));
  }

  /** Removes the pool; its waiting sandboxes are destroyed by the keeper (their pool is gone). */
  async remove(id: string): Promise<void> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id) || !(await this.pools.findById(id))) {
      throw Errors.notFound(`Warm pool ${id} not found`);
    }
    await this.pools.remove(id);
    this.keeper.wake();
  }
}

function toDto(p: WarmPool, c: { ready: number; filling: number } | undefined): WarmPoolDto {
  return {
    id: p.id,
    snapshot: p.snapshot,
    osUser: p.osUser,
    cpu: p.cpu,
    gpu: p.gpu,
    memory: p.mem,
    disk: p.disk,
    size: p.size,
    ready: c?.ready ?? 0,
    filling: c?.filling ?? 0,
    errorReason: p.errorReason,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}
