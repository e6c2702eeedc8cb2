import type { Principal } from '../auth/principal.js';

/** The reference's audit target types (CreateAuditLog.targetType). */
export const AUDIT_TARGET_TYPES = [
  'api_key',
  'organization',
  'organization_invitation',
  'organization_role',
  'organization_user',
  'docker_registry',
  'runner',
  'sandbox',
  'snapshot',
  'user',
  'volume',
] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/** What the audit hook knows when it names a target: the validated request and, once answered, the parsed response. */
export interface AuditContext {
  params: Record<string, string | undefined>;
  query: Record<string, unknown>;
  body: unknown;
  principal: Principal | null;
  /** The success response body (parsed JSON); undefined before the handler ran and on errors. */
  result?: unknown;
}

/**
 * A route's audit declaration (RouteDef.audit). Anything left out is derived from the method and URL (deriveAudit);
 * `false` turns recording off for a route whose write changes nothing worth a row (POST /audit itself).
 */
export interface AuditSpec {
  action?: string;
  targetType?: AuditTargetType | null;
  /** Called before the handler (without result) and after it (with result); the later non-empty answer wins. */
  targetId?: (ctx: AuditContext) => string | null | undefined;
  /** Defaults to the route's `:organizationId`, else the caller's organization. */
  organizationId?: (ctx: AuditContext) => string | null | undefined;
  /** Record the masked request body and query as metadata (default true). */
  metadata?: boolean;
  /**
   * The handler runs while the row is being written and waits for it (RouteContext.audited) before its first change,
   * instead of the request waiting for the row before the handler: its reads and the row's write share one round trip.
   */
  overlap?: boolean;
  /**
   * A success's outcome (status, the created id) is written after the answer instead of before it: the caller does not
   * wait for that round trip. The row itself was written before the change, as for every route; this process's reads
   * of the log wait for outcomes still being written (AuditService.completeAfterAnswer). Errors are written first.
   */
  completeAfterAnswer?: boolean;
}

export interface ResolvedAudit {
  action: string;
  targetType: AuditTargetType | null;
  targetId: (ctx: AuditContext) => string | null | undefined;
  organizationId: (ctx: AuditContext) => string | null | undefined;
  /** The organization is the one the request creates, known from the response (POST /organizations). */
  organizationFromResult: boolean;
  metadata: boolean;
}

export const STATE_CHANGING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// Sub-collections: a POST to `/<parent>/:id/<noun>` creates one of them, where a POST to `/<x>/:id/<verb>` acts.
const COLLECTIONS = new Set(['roles', 'invitations', 'users', 'endpoints', 'linked-accounts', 'api-keys', 'volumes', 'snapshots', 'sandbox']);
// Last path words whose reference action name is not the word itself.
const ACTION_BY_WORD: Record<string, string> = {
  leave: 'leave_organization',
  access: 'update_access',
  'app-portal-access': 'get_webhook_app_portal_access',
  send: 'send_webhook_message',
  initialize: 'initialize_webhooks',
  backup: 'create_backup',
};
const TARGET_BY_SEGMENT: Record<string, AuditTargetType> = {
  sandbox: 'sandbox',
  workspace: 'sandbox',
  snapshots: 'snapshot',
  'api-keys': 'api_key',
  'docker-registry': 'docker_registry',
  runners: 'runner',
  users: 'user',
  volumes: 'volume',
  organizations: 'organization',
  webhooks: 'organization',
};
const ORG_SUBTARGETS: Record<string, AuditTargetType> = {
  roles: 'organization_role',
  invitations: 'organization_invitation',
  users: 'organization_user',
};

const snake = (word: string) => word.replace(/[-\s]+/g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const isParam = (seg: string) => seg.startsWith(':');

/** The id the audit row names for a create: the created resource's id (or name, for API keys) from the response. */
function createdId(result: unknown): string | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const r = result as Record<string, unknown>;
  for (const k of ['id', 'name']) if (typeof r[k] === 'string' && r[k]) return r[k];
  return undefined;
}

/**
 * Completes a route's declaration with defaults from its method and URL (without the /api prefix):
 * DELETE -> delete; PUT/PATCH -> update; POST to a collection -> create, POST `.../:id/<word>` -> the word in snake
 * case (start, stop, archive, suspend, accept, ...) with a few reference names (ACTION_BY_WORD). The target type comes
 * from the first path segment (organization sub-resources by their collection), the target id from the last `...Id`,
 * `id` or `name` parameter, or for creates from the response.
 */
export function deriveAudit(method: string, url: string, spec: AuditSpec = {}): ResolvedAudit {
  const segs = url.split('/').filter(Boolean);
  const statics = segs.filter((s) => !isParam(s));
  const last = segs[segs.length - 1] ?? '';
  const lastStatic = statics[statics.length - 1] ?? '';
  let action: string;
  if (method === 'DELETE') action = lastStatic === 'linked-accounts' ? 'unlink_account' : 'delete';
  else if (method === 'PUT' || method === 'PATCH') action = 'update';
  else if (isParam(last) && segs.length >= 2 && !isParam(segs[segs.length - 2]!)) action = ACTION_BY_WORD[segs[segs.length - 2]!] ?? snake(segs[segs.length - 2]!);
  else if (segs.every((s) => !isParam(s)) && statics.length === 1) action = 'create';
  else if (lastStatic === 'linked-accounts') action = 'link_account';
  else if (COLLECTIONS.has(lastStatic) && !isParam(last)) action = 'create';
  else action = ACTION_BY_WORD[lastStatic] ?? snake(lastStatic);

  let targetType: AuditTargetType | null = TARGET_BY_SEGMENT[segs[0] ?? ''] ?? null;
  if (segs[0] === 'organizations') {
    const sub = segs.slice(1).find((s) => ORG_SUBTARGETS[s]);
    if (sub) targetType = ORG_SUBTARGETS[sub]!;
  }
  const idParams = segs.filter((s) => isParam(s) && /^:(.*Id|id|name)$/.test(s)).map((s) => s.slice(1));
  const lastIdParam = idParams[idParams.length - 1];
  const isCreate = (spec.action ?? action) === 'create';
  const derivedTargetId = (ctx: AuditContext) => (isCreate ? createdId(ctx.result) : undefined) ?? (lastIdParam ? ctx.params[lastIdParam] : undefined) ?? null;
  // A new organization's creation belongs in its own log (known once answered); otherwise the route's organization.
  const createsOrg = isCreate && targetType === 'organization' && spec.targetType === undefined;
  // A malformed :organizationId names no organization (the column is a uuid; writing it failed the request with 500).
  const derivedOrg = (ctx: AuditContext) =>
    ctx.params.organizationId !== undefined
      ? /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ctx.params.organizationId)
        ? ctx.params.organizationId
        : null
      : ((createsOrg ? createdId(ctx.result) : undefined) ?? (ctx.principal?.kind === 'user' ? ctx.principal.organizationId : null));

  return {
    action: spec.action ?? action,
    targetType: spec.targetType !== undefined ? spec.targetType : targetType,
    targetId: spec.targetId ?? derivedTargetId,
    organizationId: spec.organizationId ?? derivedOrg,
    organizationFromResult: spec.organizationId === undefined && createsOrg,
    metadata: spec.metadata ?? true,
  };
}

// Toolbox writes (recorded only with SHOAL_AUDIT_TOOLBOX_REQUESTS=true): the reference's toolbox_* names by the path
// after /toolbox, longest prefix first; other writes are `toolbox_<method>`.
const TOOLBOX_ACTIONS: Array<[string, string, string]> = [
  ['DELETE', '/files', 'toolbox_delete_file'],
  ['POST', '/files/folder', 'toolbox_create_folder'],
  ['POST', '/files/move', 'toolbox_move_file'],
  ['POST', '/files/permissions', 'toolbox_set_file_permissions'],
  ['POST', '/files/replace', 'toolbox_replace_in_files'],
  ['POST', '/files/upload', 'toolbox_upload_file'],
  ['POST', '/files/bulk-upload', 'toolbox_bulk_upload_files'],
  ['POST', '/files/bulk-download', 'toolbox_download_file'],
  ['POST', '/git/add', 'toolbox_git_add_files'],
  ['POST', '/git/branches', 'toolbox_git_create_branch'],
  ['DELETE', '/git/branches', 'toolbox_git_delete_branch'],
  ['POST', '/git/clone', 'toolbox_git_clone_repository'],
  ['POST', '/git/commit', 'toolbox_git_commit_changes'],
  ['POST', '/git/pull', 'toolbox_git_pull_changes'],
  ['POST', '/git/push', 'toolbox_git_push_changes'],
  ['POST', '/git/checkout', 'toolbox_git_checkout_branch'],
  ['POST', '/process/execute', 'toolbox_execute_command'],
  ['POST', '/process/code-run', 'toolbox_execute_command'],
  ['POST', '/process/session/', 'toolbox_session_execute_command'],
  ['POST', '/process/session', 'toolbox_create_session'],
  ['DELETE', '/process/session', 'toolbox_delete_session'],
  ['POST', '/computeruse/start', 'toolbox_computer_use_start'],
  ['POST', '/computeruse/stop', 'toolbox_computer_use_stop'],
  ['POST', '/computeruse/process/', 'toolbox_computer_use_restart_process'],
];

/** `rest` is the path after `/toolbox` without the query string. */
export function toolboxAction(method: string, rest: string): string {
  const path = rest.replace(/\/+$/, '') || '/';
  for (const [m, prefix, action] of TOOLBOX_ACTIONS) if (m === method && (path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`) || (prefix.endsWith('/') && path.startsWith(prefix)))) return action;
  return `toolbox_${method.toLowerCase()}`;
}
