import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { positional, resolveOrganization, type OrganizationRole } from './org.js';

export const usage = 'shoal org roles <org-id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const org = await resolveOrganization(client, positional(args, 0, usage));
  const roles = await client.request<OrganizationRole[]>('GET', `/organizations/${encodeURIComponent(org.id)}/roles`);
  if (args.flags.has('json')) console.log(JSON.stringify(roles, null, 2));
  else printTable(roles.map((r) => ({ ...r, permissions: r.permissions.join(',') })), ['id', 'name', 'isGlobal', 'permissions'], false);
  return 0;
}
