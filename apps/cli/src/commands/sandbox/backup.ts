import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { waitSandbox } from './wait-sandbox.js';

export const usage = 'shoal sandbox backup <sandbox-id> [--json]';

/** Backs up a sandbox's files to object storage (Pending -> InProgress -> Completed | Error). */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = args.positional[0];
  if (!id) throw new UsageError(usage);
  const client = api(config);
  await client.request('POST', `/sandbox/${encodeURIComponent(id)}/backup`);
  const settled = (x: { backupState?: string }) => x.backupState === 'Completed' || x.backupState === 'Error';
  const s = await waitSandbox(client, id, settled, 15 * 60_000);
  printObject(
    { id: s.id, state: s.state, backupState: s.backupState, ...(s.backupCreatedAt ? { backupCreatedAt: s.backupCreatedAt } : {}) },
    args.flags.has('json'),
  );
  return s.backupState === 'Error' ? 1 : 0;
}
