import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { getSnapshot, snapshotArg, snapshotDetails } from './snapshot.js';

export const usage = 'shoal snapshot info <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  printObject(snapshotDetails(await getSnapshot(api(config), snapshotArg(args.positional, usage))), args.flags.has('json'));
  return 0;
}
