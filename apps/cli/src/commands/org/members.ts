import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { positional, resolveOrganization, roleNames, type OrganizationMember } from './org.js';

export const usage = 'shoal org members <org-id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const org = await resolveOrganization(client, positional(args, 0, usage));
  const members = await client.request<OrganizationMember[]>('GET', `/organizations/${encodeURIComponent(org.id)}/users`);
  if (args.flags.has('json')) console.log(JSON.stringify(members, null, 2));
  else printTable(members.map((m) => ({ ...m, assignedRoles: roleNames(m.assignedRoles) })), ['userId', 'name', 'email', 'role', 'assignedRoles'], false);
  return 0;
}
