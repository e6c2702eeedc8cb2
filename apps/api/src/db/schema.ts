import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { WebhookTables } from '../webhooks/tables.js';

/* Row types of the API's tables. Columns are snake_case in SQL and camelCase here (Kysely CamelCasePlugin). */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string | undefined, string>;

export interface UserTable {
  id: string;
  name: string;
  email: Generated<string>;
  emailVerified: Generated<boolean>;
  role: Generated<'admin' | 'user'>;
  createdAt: Timestamp;
  /** Migration 13: the user's SSH key pair (jsonb); null until one is generated. */
  keyPair: ColumnType<StoredKeyPair | null, string | null | undefined, string | null>;
}

/** `user.key_pair`: the OpenSSH public key and the private key sealed with the platform secret (auth/user-key-pair.ts). */
export interface StoredKeyPair {
  publicKey: string;
  sealedPrivateKey: string;
}

export interface OrganizationTable {
  id: Generated<string>;
  name: string;
  createdBy: string;
  personal: Generated<boolean>;
  suspended: Generated<boolean>;
  suspendedAt: NullableTimestamp;
  suspensionReason: string | null;
  suspendedUntil: NullableTimestamp;
  suspensionCleanupGracePeriodHours: Generated<number>;
  totalCpuQuota: Generated<number>;
  totalMemoryQuota: Generated<number>;
  totalDiskQuota: Generated<number>;
  maxCpuPerSandbox: Generated<number>;
  maxMemoryPerSandbox: Generated<number>;
  maxDiskPerSandbox: Generated<number>;
  snapshotQuota: Generated<number>;
  maxSnapshotSize: Generated<number>;
  volumeQuota: Generated<number>;
  sandboxLimitedNetworkEgress: Generated<boolean>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface OrganizationUserTable {
  organizationId: string;
  userId: string;
  role: Generated<'owner' | 'member'>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface ApiKeyTable {
  organizationId: string;
  userId: string;
  name: string;
  keyHash: string;
  keyPrefix: string;
  keySuffix: string;
  permissions: string[];
  createdAt: Timestamp;
  lastUsedAt: NullableTimestamp;
  expiresAt: NullableTimestamp;
}

export interface RunnerTable {
  id: Generated<string>;
  domain: string;
  apiUrl: string;
  proxyUrl: string;
  /** SHA-256 (hex) of the runner's token; the token itself is never stored. */
  apiKeyHash: string;
  cpu: number;
  memoryGib: number;
  diskGib: number;
  gpu: Generated<number>;
  gpuType: Generated<string>;
  class: Generated<string>;
  currentCpuUsagePercentage: Generated<number>;
  currentMemoryUsagePercentage: Generated<number>;
  currentDiskUsagePercentage: Generated<number>;
  currentAllocatedCpu: Generated<number>;
  currentAllocatedMemoryGib: Generated<number>;
  currentAllocatedDiskGib: Generated<number>;
  currentSnapshotCount: Generated<number>;
  currentStartedSandboxes: Generated<number>;
  availabilityScore: Generated<number>;
  region: Generated<string>;
  state: Generated<string>;
  version: Generated<string>;
  lastChecked: NullableTimestamp;
  /** Lease for health checks so that only one API process probes a runner at a time. */
  checkClaimedUntil: NullableTimestamp;
  unschedulable: Generated<boolean>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface SnapshotTable {
  id: Generated<string>;
  organizationId: string | null;
  general: Generated<boolean>;
  name: string;
  imageName: string;
  internalName: string | null;
  state: Generated<string>;
  errorReason: string | null;
  size: number | null;
  cpu: Generated<number>;
  gpu: Generated<number>;
  mem: Generated<number>;
  disk: Generated<number>;
  hideFromUsers: Generated<boolean>;
  entrypoint: string[] | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  lastUsedAt: NullableTimestamp;
  /** The runner pulling (or building) the snapshot, whose log GET /snapshots/{id}/build-logs streams (migration 4). */
  buildRunnerId: string | null;
  /** Snapshot manager lease (migration 4), as for sandboxes. */
  claimedBy: string | null;
  claimExpiresAt: NullableTimestamp;
  /** The build this snapshot is made by (migration 6); null for snapshots pulled from an image. */
  buildInfoSnapshotRef: Generated<string | null>;
  /** When the current build attempt moved to `building` (migration 8); the build timeout counts from it. */
  buildStartedAt: Generated<Date | null>;
  /** When an inactive snapshot's image was taken off every runner (migration 9); null while copies may remain. */
  runnerCopiesRemovedAt: Generated<Date | null>;
}

export interface VolumeMountRow {
  volumeId: string;
  mountPath: string;
  /** A directory inside the volume mounted instead of its root (relative, no `..`). */
  subpath?: string;
}

/** Migration 14: a volume of an organization, driven by the volume manager from its state. */
export interface VolumeTable {
  id: Generated<string>;
  organizationId: string;
  name: string;
  state: Generated<string>;
  errorReason: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  lastUsedAt: NullableTimestamp;
  /** Volume manager lease, as for snapshots. */
  claimedBy: string | null;
  claimExpiresAt: NullableTimestamp;
}

export interface SandboxTable {
  id: Generated<string>;
  organizationId: string;
  region: Generated<string>;
  runnerId: string | null;
  prevRunnerId: string | null;
  class: Generated<string>;
  state: Generated<string>;
  desiredState: Generated<string>;
  snapshot: string | null;
  /** Image reference handed to the runner (the snapshot's image at creation time). */
  imageRef: string | null;
  entrypoint: string[] | null;
  osUser: string;
  errorReason: string | null;
  env: Json<Record<string, string>>;
  public: Generated<boolean>;
  networkBlockAll: Generated<boolean>;
  networkAllowList: string | null;
  labels: Json<Record<string, string>>;
  backupState: Generated<string>;
  lastBackupAt: NullableTimestamp;
  cpu: number;
  gpu: number;
  mem: number;
  disk: number;
  volumes: Json<VolumeMountRow[]>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  lastActivityAt: Timestamp;
  autoStopInterval: Generated<number>;
  autoArchiveInterval: Generated<number>;
  autoDeleteInterval: Generated<number>;
  authToken: string;
  daemonVersion: string | null;
  /** Reconciler lease: which API process drives this sandbox right now, and until when the claim holds. */
  claimedBy: string | null;
  claimExpiresAt: NullableTimestamp;
  /** Failed destroy attempts, for retry with back-off before giving up. */
  attempts: Generated<number>;
  nextAttemptAt: NullableTimestamp;
  destroyedAt: NullableTimestamp;
  /** The build a sandbox created from buildInfo waits for (migration 6). */
  buildInfoSnapshotRef: Generated<string | null>;
  /** Object key of the last completed backup: what recovery restores from (migration 15). */
  backupSnapshot: Generated<string | null>;
  backupErrorReason: Generated<string | null>;
  existingBackupSnapshots: Json<{ snapshotName: string; createdAt: string }[]>;
  /** The backup driver's lease (services/sandbox-backup.ts), apart from the reconciler's. */
  backupClaimedBy: Generated<string | null>;
  backupClaimExpiresAt: Generated<Date | null>;
  /** Set while the sandbox waits in a warm pool (migration 17); cleared when a create claims it. */
  warmPoolId: Generated<string | null>;
}

/** A pool of started sandboxes of one shape (migration 17). */
export interface WarmPoolTable {
  id: Generated<string>;
  snapshot: string;
  cpu: number;
  gpu: Generated<number>;
  mem: number;
  disk: number;
  osUser: Generated<string>;
  size: number;
  errorReason: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** One Dockerfile + context set, shared by every snapshot built from it (migration 6). */
export interface BuildInfoTable {
  snapshotRef: string;
  dockerfileContent: string;
  contextHashes: string[];
  lastUsedAt: Timestamp;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface SshAccessTable {
  id: Generated<string>;
  sandboxId: string;
  token: string;
  expiresAt: Timestamp;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface DockerRegistryTable {
  id: string;
  name: string;
  url: string;
  username: Generated<string>;
  /** `v1:<iv>:<tag>:<ciphertext>` (services/registry-secrets.ts); never the password itself. */
  passwordCiphertext: Generated<string>;
  isDefault: Generated<boolean>;
  isFallback: Generated<boolean>;
  project: Generated<string>;
  organizationId: string | null;
  region: string | null;
  registryType: Generated<'internal' | 'organization' | 'transient' | 'backup'>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface RegistryPushAccessTable {
  username: string;
  secretHash: string;
  organizationId: string;
  project: string;
  expiresAt: Date;
  createdAt: Timestamp;
}

export interface OrganizationRoleTable {
  id: Generated<string>;
  /** Null for the global roles every organization can assign. */
  organizationId: string | null;
  name: string;
  description: Generated<string>;
  permissions: Generated<string[]>;
  isGlobal: Generated<boolean>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface OrganizationRoleAssignmentTable {
  organizationId: string;
  userId: string;
  roleId: string;
}

export interface OrganizationInvitationTable {
  id: Generated<string>;
  organizationId: string;
  /** Lower-case. */
  email: string;
  invitedBy: Generated<string>;
  role: Generated<'owner' | 'member'>;
  expiresAt: Timestamp;
  status: Generated<'pending' | 'accepted' | 'declined' | 'cancelled'>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface OrganizationInvitationRoleTable {
  invitationId: string;
  roleId: string;
}

export interface Database extends WebhookTables {
  user: UserTable;
  organization: OrganizationTable;
  organizationUser: OrganizationUserTable;
  apiKey: ApiKeyTable;
  runner: RunnerTable;
  snapshot: SnapshotTable;
  sandbox: SandboxTable;
  sshAccess: SshAccessTable;
  dockerRegistry: DockerRegistryTable;
  registryPushAccess: RegistryPushAccessTable;
  buildInfo: BuildInfoTable;
  organizationRole: OrganizationRoleTable;
  organizationRoleAssignment: OrganizationRoleAssignmentTable;
  organizationInvitation: OrganizationInvitationTable;
  organizationInvitationRole: OrganizationInvitationRoleTable;
  volume: VolumeTable;
  warmPool: WarmPoolTable;
}

export type User = Selectable<UserTable>;
export type Organization = Selectable<OrganizationTable>;
export type ApiKey = Selectable<ApiKeyTable>;
export type Runner = Selectable<RunnerTable>;
export type Snapshot = Selectable<SnapshotTable>;
export type Sandbox = Selectable<SandboxTable>;
export type NewSandbox = Insertable<SandboxTable>;
export type WarmPool = Selectable<WarmPoolTable>;
export type SshAccess = Selectable<SshAccessTable>;
export type DockerRegistry = Selectable<DockerRegistryTable>;
export type RegistryPushAccess = Selectable<RegistryPushAccessTable>;
export type OrganizationRole = Selectable<OrganizationRoleTable>;
export type OrganizationInvitation = Selectable<OrganizationInvitationTable>;
export type Volume = Selectable<VolumeTable>;
