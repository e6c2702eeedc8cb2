import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ErrorEnvelope, SANDBOX_STATES, SANDBOX_DESIRED_STATES } from '@shoal/contracts';
import { PERMISSIONS } from './auth/api-key-format.js';
import { organizationSchemas } from './schemas-organizations.js';

/* Request and response shapes of the public API. Field names follow the Daytona v0.108 OpenAPI document. */

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
/** A text answer (logs): documented as text/plain, so clients generated from the document do not parse it as JSON. */
export const PlainText = Type.Unsafe<string>({ content: { 'text/plain': { schema: { type: 'string' } } } });
const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));
const StringMap = Type.Record(Type.String(), Type.String());

export const SandboxState = literals(SANDBOX_STATES);
export const SandboxDesiredState = literals(SANDBOX_DESIRED_STATES);
export const PermissionSchema = literals(PERMISSIONS);

/** `volumeId` is a volume id or name in requests (stored and answered as the id); `subpath` mounts a directory of the volume. */
export const VolumeMountSchema = Type.Object({
  volumeId: Type.String({ minLength: 1, maxLength: 1024 }),
  mountPath: Type.String({ minLength: 1, maxLength: 4096 }),
  subpath: Type.Optional(Type.String({ maxLength: 4096 })),
});

export const BuildInfoSchema = Type.Object({
  dockerfileContent: Type.Optional(Type.String()),
  contextHashes: Type.Optional(Type.Array(Type.String())),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const SandboxDto = Type.Object(
  {
    id: Type.String(),
    organizationId: Type.String(),
    snapshot: Type.Optional(Type.String()),
    user: Type.String(),
    env: StringMap,
    labels: StringMap,
    public: Type.Boolean(),
    networkBlockAll: Type.Boolean(),
    networkAllowList: Type.Optional(Type.String()),
    target: Type.String(),
    cpu: Type.Number(),
    gpu: Type.Number(),
    memory: Type.Number(),
    disk: Type.Number(),
    state: SandboxState,
    desiredState: SandboxDesiredState,
    errorReason: Type.Optional(Type.String()),
    backupState: Type.String(),
    backupCreatedAt: Type.Optional(Type.String()),
    autoStopInterval: Type.Number(),
    autoArchiveInterval: Type.Number(),
    autoDeleteInterval: Type.Number(),
    runnerDomain: Type.Optional(Type.String()),
    volumes: Type.Array(VolumeMountSchema),
    buildInfo: Type.Optional(BuildInfoSchema),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    class: Type.String(),
    daemonVersion: Type.Optional(Type.String()),
  },
  { $id: 'Sandbox' },
);
export type SandboxDto = Static<typeof SandboxDto>;

/** The deprecated `/workspace` API's view of a sandbox: the sandbox fields plus the old names (routes/sandbox/workspace-dto.ts). */
export const SandboxInfoDto = Type.Object(
  { created: Type.String(), name: Type.String(), providerMetadata: Type.Optional(Type.String()) },
  { $id: 'SandboxInfo' },
);
export const WorkspaceDto = Type.Object(
  {
    ...SandboxDto.properties,
    name: Type.String(),
    image: Type.Optional(Type.String()),
    snapshotState: Type.Optional(Type.String()),
    snapshotCreatedAt: Type.Optional(Type.String()),
    info: Type.Optional(Type.Ref('SandboxInfo')),
  },
  { $id: 'Workspace' },
);
export type WorkspaceDto = Static<typeof WorkspaceDto>;

export const CreateSandboxBody = Type.Object(
  {
    snapshot: Type.Optional(Type.String()),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z_][a-z0-9_-]*$' })),
    env: Type.Optional(StringMap),
    labels: Type.Optional(StringMap),
    public: Type.Optional(Type.Boolean()),
    networkBlockAll: Type.Optional(Type.Boolean()),
    networkAllowList: Type.Optional(Type.String()),
    class: Type.Optional(literals(['small', 'medium', 'large'])),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    cpu: Type.Optional(Type.Integer({ minimum: 0 })),
    gpu: Type.Optional(Type.Integer({ minimum: 0 })),
    memory: Type.Optional(Type.Integer({ minimum: 0 })),
    disk: Type.Optional(Type.Integer({ minimum: 0 })),
    autoStopInterval: Type.Optional(Type.Integer({ minimum: 0 })),
    autoArchiveInterval: Type.Optional(Type.Integer({ minimum: 0 })),
    autoDeleteInterval: Type.Optional(Type.Integer()),
    volumes: Type.Optional(Type.Array(VolumeMountSchema)),
    buildInfo: Type.Optional(Type.Object({ dockerfileContent: Type.String({ minLength: 1 }), contextHashes: Type.Optional(Type.Array(Type.String())) })),
  },
  { $id: 'CreateSandbox' },
);
export type CreateSandboxBody = Static<typeof CreateSandboxBody>;

export const Paginated = <T extends TSchema>(item: T, id: string) =>
  Type.Object({ items: Type.Array(item), total: Type.Integer(), page: Type.Integer(), totalPages: Type.Integer() }, { $id: id });

export const PaginatedSandboxes = Paginated(Type.Ref('Sandbox'), 'PaginatedSandboxes');

const StringOrArray = Type.Union([Type.Array(Type.String()), Type.String()]);

export const ListSandboxesQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 100 })),
  id: Type.Optional(Type.String()),
  labels: Type.Optional(Type.String()),
  includeErroredDeleted: Type.Optional(Type.Boolean()),
  states: Type.Optional(StringOrArray),
  snapshots: Type.Optional(StringOrArray),
  regions: Type.Optional(StringOrArray),
  minCpu: Type.Optional(Type.Integer({ minimum: 1 })),
  maxCpu: Type.Optional(Type.Integer({ minimum: 1 })),
  minMemoryGiB: Type.Optional(Type.Integer({ minimum: 1 })),
  maxMemoryGiB: Type.Optional(Type.Integer({ minimum: 1 })),
  minDiskGiB: Type.Optional(Type.Integer({ minimum: 1 })),
  maxDiskGiB: Type.Optional(Type.Integer({ minimum: 1 })),
  lastEventAfter: Type.Optional(Type.String({ format: 'date-time' })),
  lastEventBefore: Type.Optional(Type.String({ format: 'date-time' })),
  sort: Type.Optional(literals(['id', 'state', 'snapshot', 'region', 'updatedAt', 'createdAt'])),
  order: Type.Optional(literals(['asc', 'desc'])),
});
export type ListSandboxesQuery = Static<typeof ListSandboxesQuery>;

export const SandboxIdParams = Type.Object({ sandboxId: Type.String({ minLength: 1, maxLength: 128 }) });
export const WorkspaceIdParams = Type.Object({ workspaceId: Type.String({ minLength: 1, maxLength: 128 }) });

export const SandboxLabels = Type.Object({ labels: StringMap }, { $id: 'SandboxLabels' });
export const PortPreviewUrl = Type.Object(
  { url: Type.String(), token: Type.String(), legacyProxyUrl: Type.Optional(Type.String()) },
  { $id: 'PortPreviewUrl' },
);
export const SshAccessDto = Type.Object(
  {
    id: Type.String(),
    sandboxId: Type.String(),
    token: Type.String(),
    expiresAt: Type.String(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    /** Shoal (and later reference versions): the command that opens a shell with this token, when a gateway runs. */
    sshCommand: Type.Optional(Type.String()),
  },
  { $id: 'SshAccessDto' },
);
export const SshAccessValidationDto = Type.Object(
  { valid: Type.Boolean(), sandboxId: Nullable(Type.String()), runnerId: Type.Optional(Type.String()), runnerDomain: Type.Optional(Type.String()) },
  { $id: 'SshAccessValidationDto' },
);
export const Region = Type.Object({ name: Type.String() }, { $id: 'Region' });

export const SnapshotDto = Type.Object(
  {
    id: Type.String(),
    organizationId: Type.Optional(Type.String()),
    general: Type.Boolean(),
    name: Type.String(),
    imageName: Type.Optional(Type.String()),
    state: Type.String(),
    size: Nullable(Type.Number()),
    entrypoint: Nullable(Type.Array(Type.String())),
    cpu: Type.Number(),
    gpu: Type.Number(),
    mem: Type.Number(),
    disk: Type.Number(),
    errorReason: Nullable(Type.String()),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    lastUsedAt: Nullable(Type.String()),
  },
  { $id: 'SnapshotDto' },
);
export const PaginatedSnapshots = Paginated(Type.Ref('SnapshotDto'), 'PaginatedSnapshots');

export const RunnerDto = Type.Object(
  {
    id: Type.String(),
    domain: Type.String(),
    apiUrl: Type.String(),
    proxyUrl: Type.String(),
    /** Only in the answer of POST /runners, once: the token the caller registered. Stored hashed, never listed. */
    apiKey: Type.Optional(Type.String()),
    cpu: Type.Number(),
    memory: Type.Number(),
    disk: Type.Number(),
    gpu: Type.Number(),
    gpuType: Type.String(),
    class: Type.String(),
    currentCpuUsagePercentage: Type.Number(),
    currentMemoryUsagePercentage: Type.Number(),
    currentDiskUsagePercentage: Type.Number(),
    currentAllocatedCpu: Type.Number(),
    currentAllocatedMemoryGiB: Type.Number(),
    currentAllocatedDiskGiB: Type.Number(),
    currentSnapshotCount: Type.Number(),
    availabilityScore: Type.Number(),
    region: Type.String(),
    state: Type.String(),
    lastChecked: Type.Optional(Type.String()),
    unschedulable: Type.Boolean(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    version: Type.String(),
  },
  { $id: 'RunnerDto' },
);
/** A warm pool (issue 15): started sandboxes of one general snapshot, size and OS user, kept for creates to claim. */
export const WarmPoolDto = Type.Object(
  {
    id: Type.String(),
    snapshot: Type.String(),
    osUser: Type.String(),
    cpu: Type.Number(),
    gpu: Type.Number(),
    memory: Type.Number(),
    disk: Type.Number(),
    size: Type.Number(),
    /** Pooled sandboxes started and waiting to be claimed. */
    ready: Type.Number(),
    /** Pooled sandboxes being created. */
    filling: Type.Number(),
    errorReason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'WarmPoolDto' },
);
export const SetWarmPoolBody = Type.Object(
  {
    /** A general snapshot's name (pools are shared by every organization, so only platform snapshots qualify). */
    snapshot: Type.String({ minLength: 1, maxLength: 255 }),
    osUser: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$' })),
    size: Type.Integer({ minimum: 0, maximum: 1000 }),
  },
  { $id: 'SetWarmPoolBody', additionalProperties: false },
);
export type SetWarmPoolBody = Static<typeof SetWarmPoolBody>;
export type WarmPoolDto = Static<typeof WarmPoolDto>;

export const CreateRunnerBody = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    apiUrl: Type.String({ minLength: 1, pattern: '^https?://' }),
    proxyUrl: Type.String({ minLength: 1, pattern: '^https?://' }),
    apiKey: Type.String({ minLength: 16 }),
    cpu: Type.Integer({ minimum: 1 }),
    memoryGiB: Type.Integer({ minimum: 1 }),
    diskGiB: Type.Integer({ minimum: 1 }),
    gpu: Type.Optional(Type.Integer({ minimum: 0 })),
    gpuType: Type.Optional(Type.String()),
    class: Type.Optional(literals(['small', 'medium', 'large'])),
    region: Type.Optional(Type.String({ minLength: 1 })),
    version: Type.Optional(Type.String()),
  },
  { $id: 'CreateRunner' },
);
export type CreateRunnerBody = Static<typeof CreateRunnerBody>;
export const RunnerSnapshotDto = Type.Object(
  { runnerSnapshotId: Type.String(), runnerId: Type.String(), runnerDomain: Type.String() },
  { $id: 'RunnerSnapshotDto' },
);

export const OrganizationDto = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    createdBy: Type.String(),
    personal: Type.Boolean(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    suspended: Type.Boolean(),
    // Required but nullable in the reference: generated clients (the Python one among them) expect the keys present.
    suspendedAt: Nullable(Type.String()),
    suspensionReason: Nullable(Type.String()),
    suspendedUntil: Nullable(Type.String()),
    suspensionCleanupGracePeriodHours: Type.Number(),
    totalCpuQuota: Type.Number(),
    totalMemoryQuota: Type.Number(),
    totalDiskQuota: Type.Number(),
    maxCpuPerSandbox: Type.Number(),
    maxMemoryPerSandbox: Type.Number(),
    maxDiskPerSandbox: Type.Number(),
    sandboxLimitedNetworkEgress: Type.Boolean(),
  },
  { $id: 'Organization' },
);
export const OrganizationUsageOverview = Type.Object(
  {
    totalCpuQuota: Type.Number(),
    totalMemoryQuota: Type.Number(),
    totalDiskQuota: Type.Number(),
    currentCpuUsage: Type.Number(),
    currentMemoryUsage: Type.Number(),
    currentDiskUsage: Type.Number(),
    totalSnapshotQuota: Type.Number(),
    currentSnapshotUsage: Type.Number(),
    totalVolumeQuota: Type.Number(),
    currentVolumeUsage: Type.Number(),
  },
  { $id: 'OrganizationUsageOverview' },
);
export const UpdateOrganizationQuota = Type.Object(
  {
    totalCpuQuota: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    totalMemoryQuota: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    totalDiskQuota: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    maxCpuPerSandbox: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    maxMemoryPerSandbox: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    maxDiskPerSandbox: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    snapshotQuota: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    maxSnapshotSize: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    volumeQuota: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  },
  { $id: 'UpdateOrganizationQuota' },
);
export type UpdateOrganizationQuota = Static<typeof UpdateOrganizationQuota>;

export const UserDto = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    email: Type.String(),
    publicKeys: Type.Array(Type.Object({ key: Type.String(), name: Type.String() })),
    createdAt: Type.String(),
  },
  { $id: 'User' },
);
export const CreateUserBody = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@|-]+$' })),
    name: Type.String({ minLength: 1 }),
    email: Type.Optional(Type.String()),
    role: Type.Optional(literals(['admin', 'user'])),
    personalOrganizationQuota: Type.Optional(UpdateOrganizationQuota),
    emailVerified: Type.Optional(Type.Boolean()),
    /** Shoal extension: also create an API key for the user's personal organization and return it once. */
    createApiKey: Type.Optional(Type.Boolean()),
  },
  { $id: 'CreateUser' },
);
export type CreateUserBody = Static<typeof CreateUserBody>;
export const CreatedUserDto = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    email: Type.String(),
    publicKeys: Type.Array(Type.Object({ key: Type.String(), name: Type.String() })),
    createdAt: Type.String(),
    organizationId: Type.String(),
    apiKey: Type.Optional(Type.String()),
  },
  { $id: 'CreatedUser' },
);

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    permissions: Type.Array(PermissionSchema, { minItems: 1 }),
    expiresAt: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
  },
  { $id: 'CreateApiKey' },
);
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>;
export const ApiKeyResponse = Type.Object(
  {
    name: Type.String(),
    value: Type.String(),
    createdAt: Type.String(),
    permissions: Type.Array(Type.String()),
    // Required and null when the key never expires: the reference's clients read the key unconditionally.
    expiresAt: Nullable(Type.String()),
  },
  { $id: 'ApiKeyResponse' },
);
export const ApiKeyList = Type.Object(
  {
    name: Type.String(),
    value: Type.String(),
    createdAt: Type.String(),
    permissions: Type.Array(Type.String()),
    lastUsedAt: Nullable(Type.String()),
    expiresAt: Nullable(Type.String()),
    userId: Type.String(),
  },
  { $id: 'ApiKeyList' },
);
/**
 * GET /api-keys/current: the reference's ApiKeyList plus the organization the key belongs to (a field the reference
 * lacks; its clients ignore it), so a console signed in with a key knows its organization without guessing.
 */
export const CurrentApiKey = Type.Object(
  { ...ApiKeyList.properties, organizationId: Type.String() },
  { $id: 'CurrentApiKey' },
);

export const DaytonaConfiguration = Type.Object(
  {
    version: Type.String(),
    oidc: Type.Optional(Type.Object({ issuer: Type.String(), clientId: Type.String(), audience: Type.String() })),
    linkedAccountsEnabled: Type.Boolean(),
    announcements: Type.Record(Type.String(), Type.Unknown()),
    proxyTemplateUrl: Type.String(),
    defaultSnapshot: Type.String(),
    dashboardUrl: Type.String(),
    maxAutoArchiveInterval: Type.Number(),
    maintananceMode: Type.Boolean(),
    environment: Type.String(),
  },
  { $id: 'DaytonaConfiguration' },
);

/** Shared component schemas, registered once with `app.addSchema` so OpenAPI lists them under components. */
export const sharedSchemas = [
  ErrorEnvelope,
  SandboxDto,
  SandboxInfoDto,
  WorkspaceDto,
  CreateSandboxBody,
  PaginatedSandboxes,
  SandboxLabels,
  PortPreviewUrl,
  SshAccessDto,
  SshAccessValidationDto,
  Region,
  SnapshotDto,
  PaginatedSnapshots,
  RunnerDto,
  WarmPoolDto,
  SetWarmPoolBody,
  CreateRunnerBody,
  RunnerSnapshotDto,
  OrganizationDto,
  OrganizationUsageOverview,
  UpdateOrganizationQuota,
  UserDto,
  CreateUserBody,
  CreatedUserDto,
  CreateApiKeyBody,
  ApiKeyResponse,
  ApiKeyList,
  CurrentApiKey,
  DaytonaConfiguration,
  ...organizationSchemas,
];

/** Standard error responses documented on every route. */
export const errorResponses = {
  400: Type.Ref('ErrorEnvelope'),
  401: Type.Ref('ErrorEnvelope'),
  403: Type.Ref('ErrorEnvelope'),
  404: Type.Ref('ErrorEnvelope'),
};
