import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { positional, type Organization } from './org.js';

export const usage = 'shoal org create <name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const name = positional(args, 0, usage);
  const created = await api(config).request<Organization>('POST', '/organizations', { name });
  printObject({ ...created }, args.flags.has('json'));
  return 0;
}
