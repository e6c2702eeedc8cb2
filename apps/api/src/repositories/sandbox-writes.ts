/**
 * Tells this process which sandbox rows its own statements changed, once the change is committed: the sandbox row
 * cache (services/row-cache.ts) then drops them, so a caller that got this process's answer to a write never
 * reads the row as it was before. The database's notice of the commit (migration 18) would do the same, but it comes
 * a moment later, possibly after the answer; it is what tells the other processes.
 * A statement outside a transaction has committed when it returns. One inside a transaction of inTransaction()
 * (transaction.ts) is told at once and again when that transaction commits: until then readers still see, and may
 * cache, the row as it was.
 */
type Listener = (ids: readonly string[]) => void;

interface Executor {
  readonly isTransaction: boolean;
}

const listeners = new Set<Listener>();
const uncommitted = new WeakMap<Executor, Set<string>>();

function tell(ids: readonly string[]): void {
  if (ids.length === 0) return;
  for (const listener of listeners) listener(ids);
}

export const sandboxWrites = {
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  wrote(db: Executor, ids: readonly string[]): void {
    if (ids.length === 0) return;
    if (db.isTransaction) {
      const pending = uncommitted.get(db) ?? new Set<string>();
      for (const id of ids) pending.add(id);
      uncommitted.set(db, pending);
    }
    tell(ids);
  },
  /** For statements that return no ids: tells of `id` when the statement changed anything. */
  wroteIf(db: Executor, id: string, changed: bigint | number | undefined): void {
    if (changed !== undefined && Number(changed) > 0) this.wrote(db, [id]);
  },
  /** `trx` committed: its rows are told again, now that readers see the change. */
  committed(trx: Executor): void {
    const pending = uncommitted.get(trx);
    uncommitted.delete(trx);
    if (pending) tell([...pending]);
  },
};
