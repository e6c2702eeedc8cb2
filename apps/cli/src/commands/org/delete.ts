import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { positional, resolveOrganization } from './org.js';

export const usage = 'shoal org delete <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const org = await resolveOrganization(client, positional(args, 0, usage));
  await client.request('DELETE', `/organizations/${encodeURIComponent(org.id)}`);
  if (args.flags.has('json')) console.log(JSON.stringify({ id: org.id, name: org.name, deleted: true }));
  else console.log(`Deleted organization ${org.name} (${org.id})`);
  return 0;
}
