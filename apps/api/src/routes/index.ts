import type { FastifyInstance } from 'fastify';
import { registerRoutes } from '../http/route.js';
import { auditRoutes } from './audit/index.js';
import type { Services } from '../services/services.js';
import createApiKey from './api-keys/create-api-key.js';
import deleteApiKeyForUser from './api-keys/delete-api-key-for-user.js';
import deleteApiKey from './api-keys/delete-api-key.js';
import getApiKey from './api-keys/get-api-key.js';
import getCurrentApiKey from './api-keys/get-current-api-key.js';
import listApiKeys from './api-keys/list-api-keys.js';
import getOrganizationUsageOverview from './organizations/get-organization-usage-overview.js';
import getOrganization from './organizations/get-organization.js';
import listOrganizations from './organizations/list-organizations.js';
import updateOrganizationQuota from './organizations/update-organization-quota.js';
import updateSandboxDefaultLimitedNetworkEgress from './organizations/update-sandbox-default-limited-network-egress.js';
import createOrganization from './organizations/create-organization.js';
import deleteOrganization from './organizations/delete-organization.js';
import leaveOrganization from './organizations/leave-organization.js';
import suspendOrganization from './organizations/suspend-organization.js';
import unsuspendOrganization from './organizations/unsuspend-organization.js';
import getOrganizationBySandboxId from './organizations/get-organization-by-sandbox-id.js';
import createOrganizationRole from './organizations/create-organization-role.js';
import listOrganizationRoles from './organizations/list-organization-roles.js';
import updateOrganizationRole from './organizations/update-organization-role.js';
import deleteOrganizationRole from './organizations/delete-organization-role.js';
import listOrganizationMembers from './organizations/list-organization-members.js';
import updateAccessForOrganizationMember from './organizations/update-access-for-organization-member.js';
import deleteOrganizationMember from './organizations/delete-organization-member.js';
import createOrganizationInvitation from './organizations/create-organization-invitation.js';
import listOrganizationInvitations from './organizations/list-organization-invitations.js';
import updateOrganizationInvitation from './organizations/update-organization-invitation.js';
import cancelOrganizationInvitation from './organizations/cancel-organization-invitation.js';
import listOrganizationInvitationsForAuthenticatedUser from './organizations/list-organization-invitations-for-authenticated-user.js';
import getOrganizationInvitationsCountForAuthenticatedUser from './organizations/get-organization-invitations-count-for-authenticated-user.js';
import acceptOrganizationInvitation from './organizations/accept-organization-invitation.js';
import declineOrganizationInvitation from './organizations/decline-organization-invitation.js';
import hasSandboxAccess from './preview/has-sandbox-access.js';
import isSandboxPublic from './preview/is-sandbox-public.js';
import isValidAuthToken from './preview/is-valid-auth-token.js';
import createRunner from './runners/create-runner.js';
import listWarmPools from './warm-pools/list-warm-pools.js';
import setWarmPool from './warm-pools/set-warm-pool.js';
import deleteWarmPool from './warm-pools/delete-warm-pool.js';
import getRunnerBySandboxId from './runners/get-runner-by-sandbox-id.js';
import getRunnersBySnapshotRef from './runners/get-runners-by-snapshot-ref.js';
import listRunners from './runners/list-runners.js';
import updateRunnerScheduling from './runners/update-runner-scheduling.js';
import createDockerRegistry from './docker-registry/create-docker-registry.js';
import deleteDockerRegistry from './docker-registry/delete-docker-registry.js';
import getDockerRegistry from './docker-registry/get-docker-registry.js';
import getRegistryPushAccess from './docker-registry/get-registry-push-access.js';
import listDockerRegistries from './docker-registry/list-docker-registries.js';
import setDefaultDockerRegistry from './docker-registry/set-default-docker-registry.js';
import updateDockerRegistry from './docker-registry/update-docker-registry.js';
import getRegistryToken from './registry-token/get-registry-token.js';
import getPushAccess from './object-storage/get-push-access.js';
import { sandboxRoutes } from './sandbox/index.js';
import { webhookRoutes } from './webhooks/index.js';
import { volumeRoutes } from './volumes/index.js';
import getAllSnapshots from './snapshots/get-all-snapshots.js';
import getSnapshot from './snapshots/get-snapshot.js';
import createSnapshot from './snapshots/create-snapshot.js';
import removeSnapshot from './snapshots/remove-snapshot.js';
import setSnapshotGeneralStatus from './snapshots/set-snapshot-general-status.js';
import getSnapshotBuildLogs from './snapshots/get-snapshot-build-logs.js';
import activateSnapshot from './snapshots/activate-snapshot.js';
import deactivateSnapshot from './snapshots/deactivate-snapshot.js';
import canCleanupImage from './snapshots/can-cleanup-image.js';
import getConfig from './system/get-config.js';
import health from './system/health.js';
import healthReady from './system/health-ready.js';
import createUser from './users/create-user.js';
import getAuthenticatedUser from './users/get-authenticated-user.js';
import getUser from './users/get-user.js';
import listUsers from './users/list-users.js';
import regenerateKeyPair from './users/regenerate-key-pair.js';
import getAvailableAccountProviders from './users/get-available-account-providers.js';
import linkAccount from './users/link-account.js';
import unlinkAccount from './users/unlink-account.js';
import enrollInSmsMfa from './users/enroll-in-sms-mfa.js';

/** Every public route, registered under the `/api` prefix by app.ts. */
export function apiRoutes(app: FastifyInstance, services: Services): void {
  registerRoutes(
    app,
    [
      health,
      healthReady,
      getConfig,
      getAuthenticatedUser,
      listUsers,
      createUser,
      getUser,
      regenerateKeyPair,
      getAvailableAccountProviders,
      linkAccount,
      unlinkAccount,
      enrollInSmsMfa,
      createApiKey,
      listApiKeys,
      getCurrentApiKey,
      getApiKey,
      deleteApiKey,
      deleteApiKeyForUser,
      listOrganizations,
      getOrganization,
      getOrganizationUsageOverview,
      updateOrganizationQuota,
      updateSandboxDefaultLimitedNetworkEgress,
      createOrganization,
      deleteOrganization,
      leaveOrganization,
      suspendOrganization,
      unsuspendOrganization,
      getOrganizationBySandboxId,
      createOrganizationRole,
      listOrganizationRoles,
      updateOrganizationRole,
      deleteOrganizationRole,
      listOrganizationMembers,
      updateAccessForOrganizationMember,
      deleteOrganizationMember,
      createOrganizationInvitation,
      listOrganizationInvitations,
      updateOrganizationInvitation,
      cancelOrganizationInvitation,
      listOrganizationInvitationsForAuthenticatedUser,
      getOrganizationInvitationsCountForAuthenticatedUser,
      acceptOrganizationInvitation,
      declineOrganizationInvitation,
      getAllSnapshots,
      getSnapshot,
      createSnapshot,
      removeSnapshot,
      setSnapshotGeneralStatus,
      getSnapshotBuildLogs,
      activateSnapshot,
      deactivateSnapshot,
      canCleanupImage,
      createRunner,
      listRunners,
      updateRunnerScheduling,
      getRunnerBySandboxId,
      getRunnersBySnapshotRef,
      listWarmPools,
      setWarmPool,
      deleteWarmPool,
      isSandboxPublic,
      isValidAuthToken,
      hasSandboxAccess,
      createDockerRegistry,
      listDockerRegistries,
      getRegistryPushAccess,
      getDockerRegistry,
      updateDockerRegistry,
      deleteDockerRegistry,
      setDefaultDockerRegistry,
      getRegistryToken,
      getPushAccess,
    ],
    services,
  );
  sandboxRoutes(app, services);
  webhookRoutes(app, services);
  registerRoutes(app, auditRoutes, services);
  registerRoutes(app, volumeRoutes, services);
}
