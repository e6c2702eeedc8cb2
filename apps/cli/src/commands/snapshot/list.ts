import { api } from '../../api.js';
import { flagInt, flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { SNAPSHOT_COLUMNS, snapshotDetails, snapshotRow, type Snapshot } from './snapshot.js';

export const usage = 'shoal snapshot list [--name TEXT] [--page N] [--limit N] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const query = new URLSearchParams();
  for (const k of ['page', 'limit']) {
    const n = flagInt(args, k);
    if (n !== undefined) query.set(k, String(n));
  }
  const name = flagString(args, 'name');
  if (name) query.set('name', name);
  const q = query.toString();
  const page = await api(config).request<{ items: Snapshot[]; total: number; page: number; totalPages: number }>('GET', `/snapshots${q ? `?${q}` : ''}`);
  const json = args.flags.has('json');
  if (json) {
    console.log(JSON.stringify({ ...page, items: page.items.map(snapshotDetails) }, null, 2));
    return 0;
  }
  printTable(page.items.map(snapshotRow), SNAPSHOT_COLUMNS, false);
  console.log(`\npage ${page.page} of ${page.totalPages}, ${page.total} snapshot(s)`);
  return 0;
}
