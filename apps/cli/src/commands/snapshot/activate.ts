import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { getSnapshot, snapshotArg, snapshotDetails, type Snapshot } from './snapshot.js';

export const usage = 'shoal snapshot activate <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const s = await getSnapshot(client, snapshotArg(args.positional, usage));
  const after = await client.request<Snapshot>('POST', `/snapshots/${encodeURIComponent(s.id)}/activate`);
  printObject(snapshotDetails(after), args.flags.has('json'));
  return 0;
}
