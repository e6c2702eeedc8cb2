import { sql } from 'kysely';
import type { Db } from '../db/database.js';

export interface RunnerProbeRow {
  id: string;
  domain: string;
  apiUrl: string;
  apiKeyHash: string;
  state: string;
  unschedulable: boolean;
}

/** What the readiness check reads: a database round trip and the runners' health as the health checker recorded it. */
export class ReadinessRepository {
  constructor(private readonly db: Db) {}

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.db);
  }

  runners(): Promise<RunnerProbeRow[]> {
    return this.db.selectFrom('runner').select(['id', 'domain', 'apiUrl', 'apiKeyHash', 'state', 'unschedulable']).orderBy('createdAt').execute();
  }
}
