import type { ParsedArgs } from '../../args.js';
import { sdk } from '../../client.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { sandboxRow } from './columns.js';

export const usage = 'shoal sandbox stop <sandbox-id> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = args.positional[0];
  if (!id) throw new UsageError(usage);
  const daytona = await sdk(config);
  const sandbox = await daytona.get(id);
  await sandbox.stop();
  printObject(sandboxRow(sandbox), args.flags.has('json'));
  return 0;
}
