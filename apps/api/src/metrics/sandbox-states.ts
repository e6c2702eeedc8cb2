import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { derivedState } from '../services/sandbox-state.js';

/**
 * Sandboxes per state as clients see it (derived from state and desired state), destroyed ones left out: one
 * grouped scan of the sandbox table, which ApiMetrics caches between scrapes.
 */
export async function countSandboxStates(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('sandbox')
    .select(['state', 'desiredState', sql<string>`count(*)`.as('n')])
    .where('state', '<>', 'destroyed')
    .groupBy(['state', 'desiredState'])
    .execute();
  const out: Record<string, number> = {};
  for (const r of rows) {
    const s = derivedState(r.state, r.desiredState);
    out[s] = (out[s] ?? 0) + Number(r.n);
  }
  return out;
}
