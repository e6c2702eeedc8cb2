import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { getSnapshot, snapshotArg } from './snapshot.js';

export const usage = 'shoal snapshot delete <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const s = await getSnapshot(client, snapshotArg(args.positional, usage));
  await client.request('DELETE', `/snapshots/${encodeURIComponent(s.id)}`);
  if (args.flags.has('json')) console.log(JSON.stringify({ id: s.id, name: s.name, deleted: true }));
  else console.log(`Deleted snapshot ${s.name} (${s.id})`);
  return 0;
}
