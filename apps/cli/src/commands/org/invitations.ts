import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { roleNames, type OrganizationInvitation } from './org.js';

export const usage = 'shoal org invitations [--json]   (the invitations waiting for you)';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const all = await api(config).request<OrganizationInvitation[]>('GET', '/organizations/invitations');
  if (args.flags.has('json')) console.log(JSON.stringify(all, null, 2));
  else printTable(all.map((i) => ({ ...i, assignedRoles: roleNames(i.assignedRoles) })), ['id', 'organizationName', 'organizationId', 'role', 'assignedRoles', 'invitedBy', 'expiresAt'], false);
  return 0;
}
