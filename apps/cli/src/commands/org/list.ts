import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { ORGANIZATION_COLUMNS, type Organization } from './org.js';

export const usage = 'shoal org list [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const all = await api(config).request<Organization[]>('GET', '/organizations');
  printTable(
    all.map((o) => ({ ...o })),
    ORGANIZATION_COLUMNS,
    args.flags.has('json'),
  );
  return 0;
}
