import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { KEY_COLUMNS, type ApiKey } from './key.js';

export const usage = 'shoal key list [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const keys = await api(config).request<ApiKey[]>('GET', '/api-keys');
  if (args.flags.has('json')) console.log(JSON.stringify(keys, null, 2));
  else printTable(keys.map((k) => ({ ...k, permissions: k.permissions.join(',') })), KEY_COLUMNS, false);
  return 0;
}
