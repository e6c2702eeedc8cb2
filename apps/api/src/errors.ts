/**
 * The one catalogue of errors the API raises on purpose. Services throw `ApiError`; the renderer in app.ts turns it
 * (and anything else) into the Daytona envelope. Messages that clients match on are fixed here.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Sent as `Retry-After` (seconds) with a 429 or 503 the client should simply retry. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const Errors = {
  badRequest: (message: string) => new ApiError(400, message),
  unauthorized: (message = 'Unauthorized') => new ApiError(401, message),
  forbidden: (message = 'Forbidden resource') => new ApiError(403, message),
  notFound: (message: string) => new ApiError(404, message),
  conflict: (message: string) => new ApiError(409, message),
  badGateway: (message: string) => new ApiError(502, message),
  unavailable: (message: string) => new ApiError(503, message),
  tooManyPendingCreates: (limit: number, retryAfterSeconds: number) =>
    new ApiError(
      429,
      `Too many sandboxes are waiting to start (this platform's limit is ${limit}); retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    ),

  sandboxNotFound: (id: string) => new ApiError(404, `Sandbox with ID ${id} not found`),
  snapshotNotFound: (name: string) => new ApiError(400, `Snapshot ${name} not found. Did you add it through the Daytona Dashboard?`),
  snapshotNotActive: (name: string, state: string) => new ApiError(400, `Snapshot ${name} is ${state}`),
  resourcesWithSnapshot: () => new ApiError(400, 'Cannot specify Sandbox resources when using a snapshot'),
  snapshotWithBuildInfo: () => new ApiError(400, 'Cannot specify a snapshot when using a build info entry'),
  buildInfoUnsupported: () => new ApiError(400, 'Building images (buildInfo) is not supported by this server yet'),
  noRunners: () => new ApiError(400, 'No available runners'),
  defaultSnapshotNotReady: (name: string, detail: string) =>
    new ApiError(503, `The default snapshot ${name} is still being built (${detail}); retry when GET /api/health/ready answers 200`),
  stateChangeInProgress: () => new ApiError(400, 'State change in progress'),
  notValidState: () => new ApiError(400, 'Sandbox is not in valid state'),
  notStarted: () => new ApiError(400, 'Sandbox is not started'),
  notStopped: () => new ApiError(400, 'Sandbox is not stopped'),
  notRunning: () => new ApiError(400, 'Sandbox is not running'),
  ephemeralArchive: () => new ApiError(400, 'Ephemeral sandboxes cannot be archived'),
  ephemeralBackup: () => new ApiError(400, 'Ephemeral sandboxes cannot be backed up'),
  backupInProgress: () => new ApiError(400, 'Sandbox backup is already in progress'),
  sandboxFailed: (reason: string) => new ApiError(400, `Sandbox failed to start: ${reason}`),
  orgSuspended: (reason: string | null) => new ApiError(403, reason ? `Organization is suspended: ${reason}` : 'Organization is suspended'),
  workspaceBuildInfo: () => new ApiError(403, 'Build info is not supported in this deprecated API - please upgrade your client'),
  insufficientPermissions: (perms: string[]) => new ApiError(403, `Insufficient permissions for assigning: ${perms.join(', ')}`),
  tooManyProxyStreams: (limit: number) =>
    new ApiError(429, `Too many open toolbox/preview streams for this organization (limit ${limit}); close some and retry`),
  gatewayTimeout: (message: string) => new ApiError(504, message),

  /* ---- object storage (H3) ---- */
  objectStorageNotConfigured: () => new ApiError(503, 'Object storage is not configured on this server (SHOAL_S3_URL)'),
  objectStoragePushAccessUnavailable: () =>
    new ApiError(
      503,
      'Object storage push access needs Shoal\'s embedded object storage: the configured external S3 service cannot verify Shoal\'s temporary credentials (README "Object storage")',
    ),

  /* ---- snapshots (H1) ---- */
  snapshotIdOrNameNotFound: (idOrName: string) => new ApiError(404, `Snapshot with name or ID ${idOrName} not found`),
  snapshotIdNotFound: (id: string) => new ApiError(404, `Snapshot with ID ${id} not found`),
  snapshotNameTaken: (name: string) => new ApiError(409, `Snapshot with name "${name}" already exists for this organization`),
  snapshotNameInvalid: () =>
    new ApiError(400, 'Invalid snapshot name: use letters, digits and _ . - : in segments separated by single /'),
  snapshotImageInvalid: (image: string) =>
    new ApiError(400, `Invalid image name ${image}: it must be a reference with a tag or digest (letters, digits and _ . - : @ /)`),
  snapshotImageLatest: () => new ApiError(400, 'Images with tag ":latest" are not allowed'),
  snapshotImageRequired: () => new ApiError(400, 'Must specify an image name when not using a build info entry'),
  snapshotImageWithBuildInfo: () => new ApiError(400, 'Cannot specify an image name when using a build info entry'),
  snapshotEntrypointWithBuildInfo: () => new ApiError(400, 'Cannot specify an entrypoint when using a build info entry'),
  snapshotQuotaExceeded: (max: number) => new ApiError(403, `Snapshot quota exceeded. Maximum allowed: ${max}`),
  generalSnapshotDelete: () => new ApiError(403, 'You cannot delete a general snapshot'),
  generalSnapshotDeactivate: () => new ApiError(403, 'You cannot deactivate a general snapshot'),
  snapshotAlreadyActive: (id: string) => new ApiError(400, `Snapshot ${id} is already active`),
  snapshotNotInactive: (id: string, state: string) => new ApiError(400, `Snapshot ${id} cannot be activated - it is in ${state} state`),
  snapshotBuildInfoHook: () => new ApiError(400, 'Building snapshots (buildInfo) is not supported by this server yet'),

  /* ---- docker registries (H2) ---- */
  dockerRegistryNotFound: (id: string) => new ApiError(404, `Docker registry with ID ${id} not found`),
  dockerRegistryLimit: (max: number) => new ApiError(400, `Maximum number of docker registries (${max}) reached for this organization`),
  registryAuthNotConfigured: () => new ApiError(404, 'The internal registry does not use token authentication on this server'),
  internalImageForbidden: (image: string) => new ApiError(400, `Image ${image} is in another organization's project of the internal registry`),

  /* ---- organizations, members, roles, invitations (issue 12, ORG) ---- */
  organizationNotFound: (id: string) => new ApiError(404, `Organization with ID ${id} not found`),
  organizationOwnerRequired: () => new ApiError(403, 'Forbidden: only an owner of the organization may do this'),
  organizationKeyTooNarrow: () =>
    new ApiError(403, 'Forbidden: managing an organization needs a login (JWT) or an API key that holds every permission'),
  organizationLimit: (max: number) => new ApiError(403, `You have reached the maximum number of created organizations (${max})`),
  emailNotVerified: () => new ApiError(403, 'Please verify your email address'),
  personalOrganizationDelete: () => new ApiError(403, 'Cannot delete personal organization'),
  personalOrganizationLeave: () => new ApiError(403, 'Cannot leave personal organization'),
  personalOrganizationInvite: () => new ApiError(403, 'Cannot invite users to personal organization'),
  organizationHasResources: (sandboxes: number, snapshots: number) =>
    new ApiError(400, `Organization still has ${sandboxes} sandbox(es) that are not destroyed and ${snapshots} snapshot(s); delete them first`),
  lastOwner: () => new ApiError(400, 'The organization must have at least one owner'),
  memberNotFound: (userId: string) => new ApiError(404, `User with ID ${userId} is not a member of this organization`),
  organizationRoleNotFound: (id: string) => new ApiError(404, `Organization role with ID ${id} not found`),
  globalRoleReadOnly: () => new ApiError(403, 'Global roles cannot be updated or deleted'),
  invalidEmail: (email: string) => new ApiError(400, `Invalid email address: ${JSON.stringify(email)}`),
  invitationNotFound: (id: string) => new ApiError(404, `Invitation with ID ${id} not found`),
  invitationNotPending: (status: string) => new ApiError(400, `Invitation is not pending (it is ${status})`),
  invitationExpired: () => new ApiError(400, 'Invitation has expired'),
  invitationDuplicate: (email: string) => new ApiError(409, `User with email ${email} already invited to this organization`),
  alreadyMember: (email: string) => new ApiError(409, `User with email ${email} is already a member of this organization`),
  expiresAtInvalid: () => new ApiError(400, 'expiresAt must be a valid date in the future'),

  /* ---- audit log (issue 12, AUDIT) ---- */
  auditLogUnavailable: () => new ApiError(500, 'Failed to record the audit log entry; the request was not carried out'),
  auditDateInvalid: (name: string) => new ApiError(400, `${name} must be an ISO 8601 date or date-time`),

  /* ---- volumes (issue 13, VOLAPI) ---- */
  volumeIdNotFound: (id: string) => new ApiError(404, `Volume with ID ${id} not found`),
  /** The SDK's volume.get(name, true) creates the volume only on exactly this message. */
  volumeNameNotFound: (name: string) => new ApiError(404, `Volume with name ${name} not found`),
  volumeNameTaken: (name: string) => new ApiError(409, `Volume with name ${name} already exists`),
  volumeNameInvalid: () => new ApiError(400, 'Invalid volume name: use 1 to 255 letters, digits and _ . - (starting with a letter or digit)'),
  volumeQuotaExceeded: (max: number) => new ApiError(403, `Volume quota exceeded. Maximum allowed: ${max}`),
  volumeNotReadyForDelete: (state: string) => new ApiError(400, `Volume must be in 'ready' state in order to be deleted (current state: ${state})`),
  volumeInUse: (name: string, sandboxIds: string[]) =>
    new ApiError(409, `Volume ${name} is in use by sandbox(es) ${sandboxIds.join(', ')}; delete them before deleting the volume`),
  volumeMountNotFound: (idOrName: string) => new ApiError(404, `Volume '${idOrName}' not found`),
  volumeMountNotReady: (name: string, state: string) => new ApiError(400, `Volume '${name}' is not in a ready state. Current state: ${state}`),
  volumeMountInvalid: (reason: string) => new ApiError(400, `Invalid volume mount: ${reason}`),
} as const;
