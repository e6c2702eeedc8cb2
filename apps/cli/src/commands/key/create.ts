import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { parseExpiry, parsePermissions } from './key.js';

export const usage = 'shoal key create <name> --permissions PERM,PERM|all [--expires 30d|12h|90m|ISO-DATE] [--json]';

interface Created {
  name: string;
  value: string;
  createdAt: string;
  permissions: string[];
  expiresAt: string | null;
}

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const name = args.positional[0];
  if (!name) throw new UsageError(usage);
  const permissions = parsePermissions(flagString(args, 'permissions'));
  const expires = flagString(args, 'expires');
  const created = await api(config).request<Created>('POST', '/api-keys', {
    name,
    permissions,
    ...(expires !== undefined ? { expiresAt: parseExpiry(expires).toISOString() } : {}),
  });
  if (args.flags.has('json')) {
    console.log(JSON.stringify(created, null, 2));
    return 0;
  }
  // The value is shown once: the API keeps only its hash.
  console.log(created.value);
  console.error(`Created key ${created.name} (${created.permissions.join(', ')})${created.expiresAt ? `, expires ${created.expiresAt}` : ''}. Store it now: it is not shown again.`);
  return 0;
}
