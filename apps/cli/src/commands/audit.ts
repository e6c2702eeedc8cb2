import { api, type Api } from '../api.js';
import { flagInt, flagString, type ParsedArgs } from '../args.js';
import type { CliConfig } from '../config.js';
import { UsageError } from '../errors.js';
import { printTable } from '../output.js';

export const usage =
  'shoal audit [--org <org-id|name>] [--limit N] [--page N] [--from <ISO date>] [--to <ISO date>] [--action <action>] [--target <id>] [--json]';

/** Daytona v0.108 AuditLog. */
interface AuditLog {
  id: string;
  actorId: string;
  actorEmail: string;
  organizationId?: string;
  action: string;
  targetType?: string;
  targetId?: string;
  statusCode?: number;
  errorMessage?: string;
  ipAddress?: string;
  userAgent?: string;
  source?: string;
  metadata?: Record<string, unknown>;
  createdAt: string;
}

interface PaginatedAuditLogs {
  items: AuditLog[];
  total: number;
  page: number;
  totalPages: number;
}

const COLUMNS = ['createdAt', 'actor', 'action', 'target', 'status', 'ipAddress', 'error'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An organization id as given, or the id of the caller's one organization with that name. */
async function organizationId(client: Api, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const orgs = await client.request<Array<{ id: string; name: string }>>('GET', '/organizations');
  const named = orgs.filter((o) => o.name === ref);
  if (named.length === 1) return named[0]!.id;
  if (named.length > 1) throw new UsageError(`several organizations are named ${ref}; use the id (${named.map((o) => o.id).join(', ')})`);
  throw new UsageError(`no organization named ${ref} among yours`);
}

function date(args: ParsedArgs, name: string): string | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  if (Number.isNaN(Date.parse(v))) throw new UsageError(`--${name} must be an ISO 8601 date or date-time (got ${v})`);
  return new Date(v).toISOString();
}

/**
 * Without --org: every organization's log (admin keys only, GET /audit); with it, that organization's log
 * (GET /audit/organizations/{id}, needs read:audit_logs). Newest first.
 */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const limit = flagInt(args, 'limit') ?? 50;
  const page = flagInt(args, 'page') ?? 1;
  if (limit < 1 || limit > 200) throw new UsageError('--limit must be between 1 and 200');
  if (page < 1) throw new UsageError('--page must be at least 1');
  const query = new URLSearchParams({ limit: String(limit), page: String(page) });
  for (const [flag, param] of [
    ['from', 'from'],
    ['to', 'to'],
  ] as const) {
    const v = date(args, flag);
    if (v) query.set(param, v);
  }
  const action = flagString(args, 'action');
  if (action) query.set('action', action);
  const target = flagString(args, 'target');
  if (target) query.set('targetId', target);

  const client = api(config);
  const org = flagString(args, 'org');
  const path = org ? `/audit/organizations/${encodeURIComponent(await organizationId(client, org))}` : '/audit';
  const result = await client.request<PaginatedAuditLogs>('GET', `${path}?${query.toString()}`);
  if (args.flags.has('json')) {
    console.log(JSON.stringify(result, null, 2));
    return 0;
  }
  printTable(
    result.items.map((r) => ({
      createdAt: r.createdAt,
      actor: r.actorEmail || r.actorId,
      action: r.action,
      target: [r.targetType, r.targetId].filter(Boolean).join(' '),
      status: r.statusCode,
      ipAddress: r.ipAddress,
      error: r.errorMessage,
    })),
    COLUMNS,
    false,
  );
  console.log(`page ${result.page} of ${Math.max(result.totalPages, 1)} (${result.total} entries)`);
  return 0;
}
