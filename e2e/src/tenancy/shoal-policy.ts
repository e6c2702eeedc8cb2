/*
 * Who may call each Shoal operation, written down independently of the server (daytona-api-facts.md §7: reads need
 * membership only, sandbox changes need write:sandboxes, deletes delete:sandboxes; runners and admins have their
 * own routes, and admin routes need an admin key holding every permission: a narrowed admin key is refused). The server's own declarations are not trusted: a route that silently drops its permission is exactly
 * what the suite must catch. An operation the document lists but this table does not is an error, so a new route
 * cannot slip past the suite unclassified.
 */
import type { Operation } from '../openapi.js';
import type { Access } from './checker.js';

const PUBLIC = ['healthControllerCheck', 'healthControllerReady', 'configControllerGetConfig', 'isSandboxPublic', 'isValidAuthToken'];
const ADMIN = [
  'listUsers',
  'createUser',
  'getUser',
  'updateOrganizationQuota',
  'createRunner',
  'listRunners',
  'updateRunnerScheduling',
  'getRunnerBySandboxId',
  'getRunnersBySnapshotRef',
  'updateSandboxDefaultLimitedNetworkEgress',
  'setSnapshotGeneralStatus',
  'canCleanupImage',
  'setDefaultRegistry',
];
const RUNNER = ['getSandboxesForRunner', 'updateSandboxState'];
const WRITE_SANDBOXES = [
  'createSandbox',
  'startSandbox',
  'stopSandbox',
  'replaceLabels',
  'createBackup',
  'updatePublicStatus',
  'setAutostopInterval',
  'setAutoArchiveInterval',
  'setAutoDeleteInterval',
  'archiveSandbox',
  'createSshAccess',
  'revokeSshAccess',
  'rotatePreviewToken',
];
const DELETE_SANDBOXES = ['deleteSandbox'];
const WRITE_SNAPSHOTS = ['createSnapshot', 'activateSnapshot', 'deactivateSnapshot'];
const DELETE_SNAPSHOTS = ['removeSnapshot'];
const WRITE_REGISTRIES = ['createRegistry', 'updateRegistry', 'getTransientPushAccess'];
const DELETE_REGISTRIES = ['deleteRegistry'];
const MEMBER = [
  'getAuthenticatedUser',
  'createApiKey',
  'listApiKeys',
  'getCurrentApiKey',
  'getApiKey',
  'deleteApiKey',
  'deleteApiKeyForUser',
  'listOrganizations',
  'getOrganization',
  'getOrganizationUsageOverview',
  'getAllSnapshots',
  'getSnapshot',
  'hasSandboxAccess',
  'listSandboxes',
  'listSandboxesPaginated',
  'getSandboxRegions',
  'validateSshAccess',
  'getSandbox',
  'getPortPreviewUrl',
  'getBuildLogs',
  'getSnapshotBuildLogs',
  'listRegistries',
  'getRegistry',
  // Temporary S3 credentials for the caller's own organization prefix; any member key (K in the reference).
  'getPushAccess',
];

/** The deprecated /workspace operations behave as the sandbox operations they alias. */
const WORKSPACE_ALIASES: Record<string, string> = {
  listWorkspacesDeprecated: 'listSandboxes',
  createWorkspaceDeprecated: 'createSandbox',
  getWorkspaceDeprecated: 'getSandbox',
  deleteWorkspaceDeprecated: 'deleteSandbox',
  startWorkspaceDeprecated: 'startSandbox',
  stopWorkspaceDeprecated: 'stopSandbox',
  replaceLabelsWorkspaceDeprecated: 'replaceLabels',
  createBackupWorkspaceDeprecated: 'createBackup',
  updatePublicStatusWorkspaceDeprecated: 'updatePublicStatus',
  setAutostopIntervalWorkspaceDeprecated: 'setAutostopInterval',
  setAutoArchiveIntervalWorkspaceDeprecated: 'setAutoArchiveInterval',
  archiveWorkspaceDeprecated: 'archiveSandbox',
  getPortPreviewUrlWorkspaceDeprecated: 'getPortPreviewUrl',
  getBuildLogsWorkspaceDeprecated: 'getBuildLogs',
};

export function baseOperationId(op: Operation): string {
  return WORKSPACE_ALIASES[op.operationId] ?? op.operationId;
}

export function shoalAccess(op: Operation): Access {
  const id = baseOperationId(op);
  if (PUBLIC.includes(id)) return { kind: 'public' };
  if (ADMIN.includes(id)) return { kind: 'admin' };
  if (RUNNER.includes(id)) return { kind: 'runner' };
  if (WRITE_SANDBOXES.includes(id)) return { kind: 'user', permission: 'write:sandboxes' };
  if (DELETE_SANDBOXES.includes(id)) return { kind: 'user', permission: 'delete:sandboxes' };
  if (WRITE_SNAPSHOTS.includes(id)) return { kind: 'user', permission: 'write:snapshots' };
  if (DELETE_SNAPSHOTS.includes(id)) return { kind: 'user', permission: 'delete:snapshots' };
  if (WRITE_REGISTRIES.includes(id)) return { kind: 'user', permission: 'write:registries' };
  if (DELETE_REGISTRIES.includes(id)) return { kind: 'user', permission: 'delete:registries' };
  if (MEMBER.includes(id)) return { kind: 'user' };
  throw new Error(`operation ${op.operationId} (${op.method} ${op.path}) is not classified in the tenancy policy`);
}

/** Path parameters that name the victim organization's own resources (snapshots are global; runners are admin-only). */
export function shoalTargetsVictim(op: Operation): boolean {
  return /\{(sandboxId|organizationId|userId|name)\}/.test(op.path) || /\/users\/\{id\}/.test(op.path);
}
