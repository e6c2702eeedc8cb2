import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { positional, resolveOrganization, roleNames, type OrganizationInvitation, type OrganizationRole } from './org.js';

export const usage = 'shoal org invite <org-id|name> <email> [--role member|owner] [--roles ROLE,ROLE] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const ref = positional(args, 0, usage);
  const email = positional(args, 1, usage);
  const role = flagString(args, 'role') ?? 'member';
  if (role !== 'member' && role !== 'owner') throw new UsageError('--role is member or owner');
  const client = api(config);
  const org = await resolveOrganization(client, ref);
  // Roles may be named by id or by name (the global ones have fixed names such as "Developer").
  const wanted = (flagString(args, 'roles') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let assignedRoleIds: string[] = [];
  if (wanted.length) {
    const roles = await client.request<OrganizationRole[]>('GET', `/organizations/${encodeURIComponent(org.id)}/roles`);
    assignedRoleIds = wanted.map((w) => {
      const match = roles.filter((r) => r.id === w || r.name === w);
      if (match.length !== 1) throw new UsageError(match.length ? `several roles are named ${w}; use the id` : `no role ${w} in ${org.name} (see shoal org roles ${org.id})`);
      return match[0]!.id;
    });
  }
  const inv = await client.request<OrganizationInvitation>('POST', `/organizations/${encodeURIComponent(org.id)}/invitations`, { email, role, assignedRoleIds });
  if (args.flags.has('json')) console.log(JSON.stringify(inv, null, 2));
  else printObject({ id: inv.id, organization: org.name, email: inv.email, role: inv.role, assignedRoles: roleNames(inv.assignedRoles), status: inv.status, expiresAt: inv.expiresAt }, false);
  return 0;
}
