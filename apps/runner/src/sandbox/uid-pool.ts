/** Ids in one sandbox's user namespace: container 0..65535 map to hostBase..hostBase+65535. */
export const RANGE_SIZE = 65536;

/**
 * The host uid/gid ranges this runner hands to its sandboxes, one range per sandbox, so root in one sandbox is a
 * different host uid from root in any other. The pool itself keeps nothing on disk: each sandbox's range is in its
 * meta, and the runner re-adopts them at start before allocating anything.
 */
export class UidPool {
  private readonly used = new Set<number>();

  /** `base` is the first host id of the pool, `ranges` how many 65,536-id ranges it holds. */
  constructor(
    readonly base: number,
    readonly ranges: number,
  ) {}

  /** Whether `hostBase` is the start of one of this pool's ranges. */
  contains(hostBase: number): boolean {
    const off = hostBase - this.base;
    return Number.isInteger(off) && off >= 0 && off % RANGE_SIZE === 0 && off / RANGE_SIZE < this.ranges;
  }

  /**
   * Marks a persisted sandbox's range as taken. Returns false when another sandbox already holds it (two metas
   * claiming one range), so the caller can say so. A range outside the pool (the pool was reconfigured) is still
   * remembered: it is never handed out while its sandbox exists.
   */
  adopt(hostBase: number): boolean {
    if (this.used.has(hostBase)) return false;
    this.used.add(hostBase);
    return true;
  }

  /** The lowest free range, or undefined when every range is in use. */
  allocate(): number | undefined {
    for (let i = 0; i < this.ranges; i++) {
      const hostBase = this.base + i * RANGE_SIZE;
      if (!this.used.has(hostBase)) {
        this.used.add(hostBase);
        return hostBase;
      }
    }
    return undefined;
  }

  release(hostBase: number): void {
    this.used.delete(hostBase);
  }

  inUse(): number {
    return this.used.size;
  }
}
