import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { positional } from './org.js';

export const usage = 'shoal org accept <invitation-id> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = positional(args, 0, usage);
  await api(config).request('POST', `/organizations/invitations/${encodeURIComponent(id)}/accept`);
  if (args.flags.has('json')) console.log(JSON.stringify({ id, accepted: true }));
  else console.log(`Accepted invitation ${id}`);
  return 0;
}
