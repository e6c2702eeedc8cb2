import { flagInt, flagString, type ParsedArgs } from '../../args.js';
import { sdk } from '../../client.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printTable } from '../../output.js';
import { SANDBOX_COLUMNS, sandboxRow } from './columns.js';

export const usage = 'shoal sandbox list [--label k=v] [--page N] [--limit N] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const labels: Record<string, string> = {};
  const l = flagString(args, 'label');
  for (const p of l ? l.split(',') : []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError('--label takes key=value pairs');
    labels[p.slice(0, eq)] = p.slice(eq + 1);
  }
  const daytona = await sdk(config);
  const page = await daytona.list(Object.keys(labels).length ? labels : undefined, flagInt(args, 'page'), flagInt(args, 'limit'));
  printTable(page.items.map(sandboxRow), SANDBOX_COLUMNS, args.flags.has('json'));
  if (!args.flags.has('json')) console.log(`\npage ${page.page} of ${page.totalPages}, ${page.total} sandbox(es)`);
  return 0;
}
