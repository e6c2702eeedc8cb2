import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { waitSandbox } from './wait-sandbox.js';

export const usage = 'shoal sandbox archive <sandbox-id> [--json]';

/** Moves a stopped sandbox's files to object storage and off its runner; `start` brings them back on any runner. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = args.positional[0];
  if (!id) throw new UsageError(usage);
  const client = api(config);
  await client.request('POST', `/sandbox/${encodeURIComponent(id)}/archive`);
  const s = await waitSandbox(client, id, (x) => x.state !== 'archiving', 15 * 60_000);
  printObject({ id: s.id, state: s.state, ...(s.errorReason ? { errorReason: s.errorReason } : {}) }, args.flags.has('json'));
  return s.state === 'archived' ? 0 : 1;
}
