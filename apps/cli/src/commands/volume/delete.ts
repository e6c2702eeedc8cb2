import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { getVolume, volumeArg, waitForVolume } from './volume.js';

export const usage = 'shoal volume delete <id|name> [--json]';

/** Deletes the volume (refused while a sandbox uses it) and waits until its data is removed. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const v = await getVolume(client, volumeArg(args.positional, usage));
  await client.request('DELETE', `/volumes/${encodeURIComponent(v.id)}`);
  const after = await waitForVolume(client, v.id, ['deleted']);
  if (args.flags.has('json')) console.log(JSON.stringify({ id: v.id, name: v.name, state: after.state }));
  else console.log(after.state === 'deleted' ? `Deleted volume ${v.name} (${v.id})` : `Volume ${v.name} (${v.id}) is ${after.state}${after.errorReason ? `: ${after.errorReason}` : ''}`);
  return after.state === 'deleted' ? 0 : 1;
}
