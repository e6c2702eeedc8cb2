import type { Api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import { UsageError } from '../../errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `--org` (id or name), else the caller's only organization. */
export async function organizationId(client: Api, args: ParsedArgs): Promise<string> {
  const ref = flagString(args, 'org');
  if (ref && UUID.test(ref)) return ref;
  const orgs = await client.request<Array<{ id: string; name: string }>>('GET', '/organizations');
  if (!ref) {
    if (orgs.length === 1) return orgs[0]!.id;
    throw new UsageError(`you belong to ${orgs.length} organizations; choose one with --org <id|name>`);
  }
  const named = orgs.filter((o) => o.name === ref);
  if (named.length === 1) return named[0]!.id;
  if (named.length > 1) throw new UsageError(`several organizations are named ${ref}; use the id (${named.map((o) => o.id).join(', ')})`);
  throw new UsageError(`no organization named ${ref} among yours`);
}

/** The portal URL of the organization and a client of the portal's JSON routes authorised by its token. */
export async function portal(client: Api, orgId: string): Promise<{ url: string; request<T>(method: string, path: string, body?: unknown): Promise<T> }> {
  const { url } = await client.request<{ url: string }>('POST', `/webhooks/organizations/${encodeURIComponent(orgId)}/app-portal-access`);
  const token = new URLSearchParams(new URL(url).hash.slice(1)).get('token') ?? '';
  return {
    url,
    request: <T>(method: string, path: string, body?: unknown) => client.request<T>(method, `/webhooks/portal${path}`, body, { 'x-shoal-portal-token': token }),
  };
}

export interface Endpoint {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  secret: string;
  disabled: boolean;
  createdAt: string;
}
