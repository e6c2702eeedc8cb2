/*
 * Who may call each operation, written down independently of the route files (daytona-api-facts.md §4 and §7.2):
 * reads need only membership; sandbox changes write:sandboxes, their deletion delete:sandboxes; every toolbox route
 * write:sandboxes; snapshots write/delete:snapshots; registries write/delete:registries; volumes read/write/
 * delete:volumes; the organization's audit log read:audit_logs; admin routes a system admin whose credential holds every
 * permission. The routes' own `auth`/`permission` lines are what the matrix test checks, so they must not be the source
 * of this table. An operation of the OpenAPI document that has no entry here fails the matrix test.
 */
import { TOOLBOX_OPERATIONS } from '@shoal/contracts';
import type { Permission } from '../src/auth/api-key-format.js';

export type Rule =
  | { kind: 'public' }
  | { kind: 'runner' }
  /** Only the SSH gateway's service credential (SHOAL_SSH_GATEWAY_TOKEN): every user and runner is refused. */
  | { kind: 'ssh-gateway' }
  /** A system admin, through a JWT or a key holding every permission; a narrowed admin key is refused. */
  | { kind: 'admin' }
  /**
   * A user of the organization; `permission` is what an API key (or a member's roles) must hold. `owner`: the service
   * further limits it to the organization's owners (checked in services; every key of the matrix belongs to an owner).
   */
  | { kind: 'member'; permission?: Permission; owner?: boolean };

const PUBLIC: Rule = { kind: 'public' };
const ADMIN: Rule = { kind: 'admin' };
const RUNNER: Rule = { kind: 'runner' };
const MEMBER: Rule = { kind: 'member' };
const SSH_GATEWAY: Rule = { kind: 'ssh-gateway' };
const OWNER: Rule = { kind: 'member', owner: true };
const perm = (permission: Permission): Rule => ({ kind: 'member', permission });

export const RULES: Record<string, Rule> = {
  // system
  healthControllerCheck: PUBLIC,
  healthControllerReady: PUBLIC,
  configControllerGetConfig: PUBLIC,

  // users (§4: /users/me any user; the rest admin)
  getAuthenticatedUser: MEMBER,
  listUsers: ADMIN,
  createUser: ADMIN,
  getUser: ADMIN,
  regenerateKeyPair: ADMIN,
  getAvailableAccountProviders: MEMBER,
  linkAccount: MEMBER,
  unlinkAccount: MEMBER,
  enrollInSmsMfa: MEMBER,

  // api keys (K; what a key may assign is the service's rule)
  createApiKey: MEMBER,
  listApiKeys: MEMBER,
  getCurrentApiKey: MEMBER,
  getApiKey: MEMBER,
  deleteApiKey: MEMBER,
  deleteApiKeyForUser: MEMBER,

  // organizations
  listOrganizations: MEMBER,
  createOrganization: MEMBER,
  getOrganization: MEMBER,
  deleteOrganization: OWNER,
  leaveOrganization: MEMBER,
  getOrganizationUsageOverview: MEMBER,
  updateOrganizationQuota: ADMIN,
  suspendOrganization: ADMIN,
  unsuspendOrganization: ADMIN,
  updateSandboxDefaultLimitedNetworkEgress: ADMIN,
  getOrganizationBySandboxId: ADMIN,
  listOrganizationMembers: MEMBER,
  updateAccessForOrganizationMember: OWNER,
  deleteOrganizationMember: OWNER,
  createOrganizationRole: OWNER,
  listOrganizationRoles: MEMBER,
  updateOrganizationRole: OWNER,
  deleteOrganizationRole: OWNER,
  createOrganizationInvitation: OWNER,
  // Stricter than the reference (members may list there): ORG keeps the team's pending invitations to its owners.
  listOrganizationInvitations: OWNER,
  updateOrganizationInvitation: OWNER,
  cancelOrganizationInvitation: OWNER,
  listOrganizationInvitationsForAuthenticatedUser: MEMBER,
  getOrganizationInvitationsCountForAuthenticatedUser: MEMBER,
  acceptOrganizationInvitation: MEMBER,
  declineOrganizationInvitation: MEMBER,

  // snapshots
  getAllSnapshots: MEMBER,
  createSnapshot: perm('write:snapshots'),
  getSnapshot: MEMBER,
  removeSnapshot: perm('delete:snapshots'),
  setSnapshotGeneralStatus: ADMIN,
  getSnapshotBuildLogs: MEMBER,
  activateSnapshot: perm('write:snapshots'),
  deactivateSnapshot: perm('write:snapshots'),
  canCleanupImage: ADMIN,

  // runners
  listRunners: ADMIN,
  createRunner: ADMIN,
  updateRunnerScheduling: ADMIN,
  getRunnerBySandboxId: ADMIN,
  getRunnersBySnapshotRef: ADMIN,

  // warm pools (issue 15)
  listWarmPools: ADMIN,
  setWarmPool: ADMIN,
  deleteWarmPool: ADMIN,

  // preview
  isSandboxPublic: PUBLIC,
  isValidAuthToken: PUBLIC,
  hasSandboxAccess: MEMBER,

  // docker registries
  listRegistries: MEMBER,
  createRegistry: perm('write:registries'),
  getTransientPushAccess: perm('write:registries'),
  getRegistry: MEMBER,
  updateRegistry: perm('write:registries'),
  deleteRegistry: perm('delete:registries'),
  setDefaultRegistry: ADMIN,

  // object storage: temporary credentials for the organization's own prefix
  getPushAccess: MEMBER,

  // sandboxes
  listSandboxes: MEMBER,
  listSandboxesPaginated: MEMBER,
  createSandbox: perm('write:sandboxes'),
  getSandboxRegions: MEMBER,
  getSandboxesForRunner: RUNNER,
  validateSshAccess: SSH_GATEWAY,
  getSandbox: MEMBER,
  deleteSandbox: perm('delete:sandboxes'),
  startSandbox: perm('write:sandboxes'),
  stopSandbox: perm('write:sandboxes'),
  replaceLabels: perm('write:sandboxes'),
  updateSandboxState: RUNNER,
  createBackup: perm('write:sandboxes'),
  updatePublicStatus: perm('write:sandboxes'),
  setAutostopInterval: perm('write:sandboxes'),
  setAutoArchiveInterval: perm('write:sandboxes'),
  setAutoDeleteInterval: perm('write:sandboxes'),
  archiveSandbox: perm('write:sandboxes'),
  getPortPreviewUrl: MEMBER,
  rotatePreviewToken: perm('write:sandboxes'),
  getBuildLogs: MEMBER,
  createSshAccess: perm('write:sandboxes'),
  revokeSshAccess: perm('write:sandboxes'),

  // volumes (issue 13)
  listVolumes: perm('read:volumes'),
  createVolume: perm('write:volumes'),
  getVolume: perm('read:volumes'),
  getVolumeByName: perm('read:volumes'),
  deleteVolume: perm('delete:volumes'),

  // audit
  getAllAuditLogs: ADMIN,
  createAuditLog: ADMIN,
  getOrganizationAuditLogs: perm('read:audit_logs'),

  // webhooks (§9: send, attempts, status, initialize are admin)
  webhookControllerGetAppPortalAccess: OWNER,
  webhookControllerSendWebhook: ADMIN,
  webhookControllerGetMessageAttempts: ADMIN,
  webhookControllerGetStatus: ADMIN,
  webhookControllerGetInitializationStatus: MEMBER,
  webhookControllerInitializeWebhooks: ADMIN,

  // every toolbox operation (documented, served through the toolbox proxy): write:sandboxes
  ...Object.fromEntries(TOOLBOX_OPERATIONS.map((o) => [o.operationId, perm('write:sandboxes')])),

  // the preview proxy (not in the document; the matrix adds it)
  previewProxyAppPort: MEMBER,
  previewProxyToolboxPort: perm('write:sandboxes'),
};

/** The deprecated /workspace operations are the sandbox operations under another name. */
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

export function baseOperationId(operationId: string): string {
  return WORKSPACE_ALIASES[operationId] ?? operationId;
}

export function ruleFor(operationId: string): Rule | undefined {
  return RULES[baseOperationId(operationId)];
}
