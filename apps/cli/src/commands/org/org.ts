import type { Api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import { ApiRequestError, UsageError } from '../../errors.js';

/** Daytona v0.108 Organization, the fields the CLI shows. */
export interface Organization {
  id: string;
  name: string;
  personal: boolean;
  createdBy: string;
  suspended?: boolean;
  suspensionReason?: string | null;
  createdAt: string;
}

export interface OrganizationRole {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  isGlobal: boolean;
}

export interface OrganizationMember {
  userId: string;
  organizationId: string;
  name: string;
  email: string;
  role: 'owner' | 'member';
  assignedRoles: OrganizationRole[];
  createdAt: string;
}

export interface OrganizationInvitation {
  id: string;
  email: string;
  invitedBy: string;
  organizationId: string;
  organizationName?: string;
  expiresAt: string;
  status: string;
  role: 'owner' | 'member';
  assignedRoles: OrganizationRole[];
}

export const ORGANIZATION_COLUMNS = ['id', 'name', 'personal', 'suspended', 'createdAt'];

export function positional(args: ParsedArgs, index: number, usage: string): string {
  const v = args.positional[index];
  if (!v) throw new UsageError(usage);
  return v;
}

/** The API addresses organizations by id; a name is looked up among the caller's organizations. */
export async function resolveOrganization(api: Api, idOrName: string): Promise<Organization> {
  const all = await api.request<Organization[]>('GET', '/organizations');
  const byId = all.find((o) => o.id === idOrName);
  if (byId) return byId;
  const byName = all.filter((o) => o.name === idOrName);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new UsageError(`several organizations are named ${idOrName}; use the id (${byName.map((o) => o.id).join(', ')})`);
  throw new ApiRequestError(404, `Organization ${idOrName} not found`);
}

/** `name, name` of a member's or invitation's assigned roles, for tables. */
export function roleNames(roles: OrganizationRole[] | undefined): string {
  return (roles ?? []).map((r) => r.name).join(', ');
}
