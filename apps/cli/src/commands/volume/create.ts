import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { volumeArg, waitForVolume, type Volume } from './volume.js';

export const usage = 'shoal volume create <name> [--json]';

/** Creates the volume and waits until it is ready (or failed); exit 1 when it ends in error. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const created = await client.request<Volume>('POST', '/volumes', { name: volumeArg(args.positional, usage) });
  const v = created.state === 'ready' ? created : await waitForVolume(client, created.id, ['ready']);
  printObject({ ...v }, args.flags.has('json'));
  if (v.state === 'error') {
    console.error(`Volume ${v.name} failed: ${v.errorReason ?? 'unknown error'}`);
    return 1;
  }
  return 0;
}
