import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { REGISTRY_COLUMNS, type Registry } from './registry.js';

export const usage = 'shoal registry list [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const all = await api(config).request<Registry[]>('GET', '/docker-registry');
  printTable(
    all.map((r) => ({ ...r })),
    REGISTRY_COLUMNS,
    args.flags.has('json'),
  );
  return 0;
}
