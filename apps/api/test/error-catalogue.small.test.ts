import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorEnvelope } from '@shoal/contracts';
import { ApiError, Errors } from '../src/errors.js';

/*
 * Pins the error catalogue: clients (the official SDK, scripts written against Daytona) match on these statuses,
 * envelope `error` names and message texts, so changing, adding or removing an entry must be a deliberate edit here too.
 */
type Entry = [args: unknown[], statusCode: number, error: string, message: string];

const PINNED: Record<keyof typeof Errors, Entry> = {
  badRequest: [['bad thing'], 400, 'Bad Request', 'bad thing'],
  unauthorized: [[], 401, 'Unauthorized', 'Unauthorized'],
  forbidden: [[], 403, 'Forbidden', 'Forbidden resource'],
  notFound: [['gone'], 404, 'Not Found', 'gone'],
  conflict: [['taken'], 409, 'Conflict', 'taken'],
  badGateway: [['upstream'], 502, 'Bad Gateway', 'upstream'],
  unavailable: [['later'], 503, 'Service Unavailable', 'later'],
  tooManyPendingCreates: [[200, 5], 429, 'Too Many Requests', "Too many sandboxes are waiting to start (this platform's limit is 200); retry in 5 s"],
  sandboxNotFound: [['sb-1'], 404, 'Not Found', 'Sandbox with ID sb-1 not found'],
  snapshotNotFound: [['img:1'], 400, 'Bad Request', 'Snapshot img:1 not found. Did you add it through the Daytona Dashboard?'],
  snapshotNotActive: [['img:1', 'pending'], 400, 'Bad Request', 'Snapshot img:1 is pending'],
  resourcesWithSnapshot: [[], 400, 'Bad Request', 'Cannot specify Sandbox resources when using a snapshot'],
  snapshotWithBuildInfo: [[], 400, 'Bad Request', 'Cannot specify a snapshot when using a build info entry'],
  buildInfoUnsupported: [[], 400, 'Bad Request', 'Building images (buildInfo) is not supported by this server yet'],
  noRunners: [[], 400, 'Bad Request', 'No available runners'],
  defaultSnapshotNotReady: [
    ['shoal/sandbox:0.1.0', 'building, 40%'],
    503,
    'Service Unavailable',
    'The default snapshot shoal/sandbox:0.1.0 is still being built (building, 40%); retry when GET /api/health/ready answers 200',
  ],
  stateChangeInProgress: [[], 400, 'Bad Request', 'State change in progress'],
  notValidState: [[], 400, 'Bad Request', 'Sandbox is not in valid state'],
  notStarted: [[], 400, 'Bad Request', 'Sandbox is not started'],
  notStopped: [[], 400, 'Bad Request', 'Sandbox is not stopped'],
  notRunning: [[], 400, 'Bad Request', 'Sandbox is not running'],
  ephemeralArchive: [[], 400, 'Bad Request', 'Ephemeral sandboxes cannot be archived'],
  ephemeralBackup: [[], 400, 'Bad Request', 'Ephemeral sandboxes cannot be backed up'],
  backupInProgress: [[], 400, 'Bad Request', 'Sandbox backup is already in progress'],
  sandboxFailed: [['image pull failed'], 400, 'Bad Request', 'Sandbox failed to start: image pull failed'],
  orgSuspended: [['unpaid'], 403, 'Forbidden', 'Organization is suspended: unpaid'],
  workspaceBuildInfo: [[], 403, 'Forbidden', 'Build info is not supported in this deprecated API - please upgrade your client'],
  insufficientPermissions: [[['write:sandboxes', 'delete:sandboxes']], 403, 'Forbidden', 'Insufficient permissions for assigning: write:sandboxes, delete:sandboxes'],
  tooManyProxyStreams: [[64], 429, 'Too Many Requests', 'Too many open toolbox/preview streams for this organization (limit 64); close some and retry'],
  gatewayTimeout: [['runner did not answer'], 504, 'Gateway Timeout', 'runner did not answer'],
  objectStorageNotConfigured: [[], 503, 'Service Unavailable', 'Object storage is not configured on this server (SHOAL_S3_URL)'],
  objectStoragePushAccessUnavailable: [
    [],
    503,
    'Service Unavailable',
    'Object storage push access needs Shoal\'s embedded object storage: the configured external S3 service cannot verify Shoal\'s temporary credentials (README "Object storage")',
  ],
  snapshotIdOrNameNotFound: [['a/b:1'], 404, 'Not Found', 'Snapshot with name or ID a/b:1 not found'],
  snapshotIdNotFound: [['x'], 404, 'Not Found', 'Snapshot with ID x not found'],
  snapshotNameTaken: [['n'], 409, 'Conflict', 'Snapshot with name "n" already exists for this organization'],
  snapshotNameInvalid: [[], 400, 'Bad Request', 'Invalid snapshot name: use letters, digits and _ . - : in segments separated by single /'],
  snapshotImageInvalid: [
    ['x y'],
    400,
    'Bad Request',
    'Invalid image name x y: it must be a reference with a tag or digest (letters, digits and _ . - : @ /)',
  ],
  snapshotImageLatest: [[], 400, 'Bad Request', 'Images with tag ":latest" are not allowed'],
  snapshotImageRequired: [[], 400, 'Bad Request', 'Must specify an image name when not using a build info entry'],
  snapshotImageWithBuildInfo: [[], 400, 'Bad Request', 'Cannot specify an image name when using a build info entry'],
  snapshotEntrypointWithBuildInfo: [[], 400, 'Bad Request', 'Cannot specify an entrypoint when using a build info entry'],
  snapshotQuotaExceeded: [[3], 403, 'Forbidden', 'Snapshot quota exceeded. Maximum allowed: 3'],
  generalSnapshotDelete: [[], 403, 'Forbidden', 'You cannot delete a general snapshot'],
  generalSnapshotDeactivate: [[], 403, 'Forbidden', 'You cannot deactivate a general snapshot'],
  snapshotAlreadyActive: [['s'], 400, 'Bad Request', 'Snapshot s is already active'],
  snapshotNotInactive: [['s', 'error'], 400, 'Bad Request', 'Snapshot s cannot be activated - it is in error state'],
  snapshotBuildInfoHook: [[], 400, 'Bad Request', 'Building snapshots (buildInfo) is not supported by this server yet'],
  dockerRegistryNotFound: [['r-1'], 404, 'Not Found', 'Docker registry with ID r-1 not found'],
  dockerRegistryLimit: [[100], 400, 'Bad Request', 'Maximum number of docker registries (100) reached for this organization'],
  registryAuthNotConfigured: [[], 404, 'Not Found', 'The internal registry does not use token authentication on this server'],
  internalImageForbidden: [['r/shoal-x/a:1'], 400, 'Bad Request', "Image r/shoal-x/a:1 is in another organization's project of the internal registry"],
  organizationNotFound: [['o-1'], 404, 'Not Found', 'Organization with ID o-1 not found'],
  organizationOwnerRequired: [[], 403, 'Forbidden', 'Forbidden: only an owner of the organization may do this'],
  organizationKeyTooNarrow: [[], 403, 'Forbidden', 'Forbidden: managing an organization needs a login (JWT) or an API key that holds every permission'],
  organizationLimit: [[10], 403, 'Forbidden', 'You have reached the maximum number of created organizations (10)'],
  emailNotVerified: [[], 403, 'Forbidden', 'Please verify your email address'],
  personalOrganizationDelete: [[], 403, 'Forbidden', 'Cannot delete personal organization'],
  personalOrganizationLeave: [[], 403, 'Forbidden', 'Cannot leave personal organization'],
  personalOrganizationInvite: [[], 403, 'Forbidden', 'Cannot invite users to personal organization'],
  organizationHasResources: [[1, 2], 400, 'Bad Request', 'Organization still has 1 sandbox(es) that are not destroyed and 2 snapshot(s); delete them first'],
  lastOwner: [[], 400, 'Bad Request', 'The organization must have at least one owner'],
  memberNotFound: [['u-1'], 404, 'Not Found', 'User with ID u-1 is not a member of this organization'],
  organizationRoleNotFound: [['r-1'], 404, 'Not Found', 'Organization role with ID r-1 not found'],
  globalRoleReadOnly: [[], 403, 'Forbidden', 'Global roles cannot be updated or deleted'],
  invalidEmail: [['a@'], 400, 'Bad Request', 'Invalid email address: "a@"'],
  invitationNotFound: [['i-1'], 404, 'Not Found', 'Invitation with ID i-1 not found'],
  invitationNotPending: [['accepted'], 400, 'Bad Request', 'Invitation is not pending (it is accepted)'],
  invitationExpired: [[], 400, 'Bad Request', 'Invitation has expired'],
  invitationDuplicate: [['b@x.test'], 409, 'Conflict', 'User with email b@x.test already invited to this organization'],
  alreadyMember: [['b@x.test'], 409, 'Conflict', 'User with email b@x.test is already a member of this organization'],
  expiresAtInvalid: [[], 400, 'Bad Request', 'expiresAt must be a valid date in the future'],
  auditLogUnavailable: [[], 500, 'Internal Server Error', 'Failed to record the audit log entry; the request was not carried out'],
  auditDateInvalid: [['from'], 400, 'Bad Request', 'from must be an ISO 8601 date or date-time'],
  volumeIdNotFound: [['v-1'], 404, 'Not Found', 'Volume with ID v-1 not found'],
  volumeNameNotFound: [['data'], 404, 'Not Found', 'Volume with name data not found'],
  volumeNameTaken: [['data'], 409, 'Conflict', 'Volume with name data already exists'],
  volumeNameInvalid: [[], 400, 'Bad Request', 'Invalid volume name: use 1 to 255 letters, digits and _ . - (starting with a letter or digit)'],
  volumeQuotaExceeded: [[2], 403, 'Forbidden', 'Volume quota exceeded. Maximum allowed: 2'],
  volumeNotReadyForDelete: [['creating'], 400, 'Bad Request', "Volume must be in 'ready' state in order to be deleted (current state: creating)"],
  volumeInUse: [['data', ['s-1', 's-2']], 409, 'Conflict', 'Volume data is in use by sandbox(es) s-1, s-2; delete them before deleting the volume'],
  volumeMountNotFound: [['data'], 404, 'Not Found', "Volume 'data' not found"],
  volumeMountNotReady: [['data', 'creating'], 400, 'Bad Request', "Volume 'data' is not in a ready state. Current state: creating"],
  volumeMountInvalid: [['mount path / is the root'], 400, 'Bad Request', 'Invalid volume mount: mount path / is the root'],
};

test('the catalogue has exactly the pinned entries', () => {
  assert.deepEqual(Object.keys(Errors).sort(), Object.keys(PINNED).sort());
});

for (const [name, [args, statusCode, error, message]] of Object.entries(PINNED)) {
  test(`${name}: ${statusCode} ${error}`, () => {
    const make = Errors[name as keyof typeof Errors] as (...a: unknown[]) => ApiError;
    const err = make(...args);
    assert.ok(err instanceof ApiError);
    const env = errorEnvelope(err.statusCode, err.message, '/api/x');
    assert.deepEqual({ statusCode: env.statusCode, error: env.error, message: env.message }, { statusCode, error, message });
  });
}

test('defaults: unauthorized/forbidden take an override; orgSuspended without a reason', () => {
  assert.equal(Errors.unauthorized('Invalid API key').message, 'Invalid API key');
  assert.equal(Errors.forbidden('No').message, 'No');
  assert.equal(Errors.orgSuspended(null).message, 'Organization is suspended');
});
