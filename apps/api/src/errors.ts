/**
 * The one catalogue of errors the API raises on purpose. Services throw `ApiError`; the renderer in app.ts turns it
 * (and anything else) into the Daytona envelope. Messages that clients match on are fixed here.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
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
} as const;
