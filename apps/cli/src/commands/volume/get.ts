import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { getVolume, volumeArg } from './volume.js';

export const usage = 'shoal volume get <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  printObject({ ...(await getVolume(api(config), volumeArg(args.positional, usage))) }, args.flags.has('json'));
  return 0;
}
