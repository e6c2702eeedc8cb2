import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';

export const usage = "shoal key delete <name> [--user USER-ID] [--json]   (--user: another member's key, for owners)";

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const name = args.positional[0];
  if (!name) throw new UsageError(usage);
  const user = flagString(args, 'user');
  const path = user ? `/api-keys/${encodeURIComponent(user)}/${encodeURIComponent(name)}` : `/api-keys/${encodeURIComponent(name)}`;
  await api(config).request('DELETE', path);
  if (args.flags.has('json')) console.log(JSON.stringify({ name, ...(user ? { userId: user } : {}), deleted: true }));
  else console.log(`Deleted key ${name}`);
  return 0;
}
