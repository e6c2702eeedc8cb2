import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { getSnapshot, snapshotArg, snapshotDetails } from './snapshot.js';

export const usage = 'shoal snapshot deactivate <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const s = await getSnapshot(client, snapshotArg(args.positional, usage));
  // The operation answers without a body; the snapshot as it is afterwards is what the user wants to see.
  await client.request('POST', `/snapshots/${encodeURIComponent(s.id)}/deactivate`);
  printObject(snapshotDetails(await getSnapshot(client, s.id)), args.flags.has('json'));
  return 0;
}
