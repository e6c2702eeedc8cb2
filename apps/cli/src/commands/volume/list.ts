import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { VOLUME_COLUMNS, volumeRow, type Volume } from './volume.js';

export const usage = 'shoal volume list [--include-deleted] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const q = args.flags.has('include-deleted') ? '?includeDeleted=true' : '';
  const volumes = await api(config).request<Volume[]>('GET', `/volumes${q}`);
  if (args.flags.has('json')) console.log(JSON.stringify(volumes, null, 2));
  else printTable(volumes.map(volumeRow), VOLUME_COLUMNS, false);
  return 0;
}
