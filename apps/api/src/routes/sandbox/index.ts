import type { FastifyInstance } from 'fastify';
import { registerRoutes, type AnyRoute } from '../../http/route.js';
import type { Services } from '../../services/services.js';
import archiveSandbox from './archive-sandbox.js';
import createBackup from './create-backup.js';
import createSandbox from './create-sandbox.js';
import createSshAccess from './create-ssh-access.js';
import deleteSandbox from './delete-sandbox.js';
import getBuildLogs from './get-build-logs.js';
import getPortPreviewUrl from './get-port-preview-url.js';
import getSandbox from './get-sandbox.js';
import getSandboxRegions from './get-sandbox-regions.js';
import getSandboxesForRunner from './get-sandboxes-for-runner.js';
import listSandboxes from './list-sandboxes.js';
import listSandboxesPaginated from './list-sandboxes-paginated.js';
import rotatePreviewToken from './rotate-preview-token.js';
import replaceLabels from './replace-labels.js';
import revokeSshAccess from './revoke-ssh-access.js';
import setAutoArchiveInterval from './set-auto-archive-interval.js';
import setAutoDeleteInterval from './set-auto-delete-interval.js';
import setAutostopInterval from './set-autostop-interval.js';
import startSandbox from './start-sandbox.js';
import stopSandbox from './stop-sandbox.js';
import updatePublicStatus from './update-public-status.js';
import updateSandboxState from './update-sandbox-state.js';
import validateSshAccess from './validate-ssh-access.js';
import { workspaceResponse } from './workspace-dto.js';
import { Errors } from '../../errors.js';

// Static paths (paginated, regions, for-runner, ssh-access/validate) are listed before /sandbox/:sandboxId. Fastify's
// router prefers static segments anyway; the order documents the intent.
const routes: AnyRoute[] = [
  listSandboxes,
  listSandboxesPaginated,
  createSandbox,
  getSandboxRegions,
  getSandboxesForRunner,
  validateSshAccess,
  getSandbox,
  deleteSandbox,
  startSandbox,
  stopSandbox,
  replaceLabels,
  updateSandboxState,
  createBackup,
  updatePublicStatus,
  setAutostopInterval,
  setAutoArchiveInterval,
  setAutoDeleteInterval,
  archiveSandbox,
  getPortPreviewUrl,
  rotatePreviewToken,
  getBuildLogs,
  createSshAccess,
  revokeSshAccess,
];

/** The deprecated `/workspace` API: the same operations under the old path and `...WorkspaceDeprecated` names. */
const workspaceAliases: Record<string, string> = {
  listSandboxes: 'listWorkspacesDeprecated',
  createSandbox: 'createWorkspaceDeprecated',
  getSandbox: 'getWorkspaceDeprecated',
  deleteSandbox: 'deleteWorkspaceDeprecated',
  startSandbox: 'startWorkspaceDeprecated',
  stopSandbox: 'stopWorkspaceDeprecated',
  replaceLabels: 'replaceLabelsWorkspaceDeprecated',
  createBackup: 'createBackupWorkspaceDeprecated',
  updatePublicStatus: 'updatePublicStatusWorkspaceDeprecated',
  setAutostopInterval: 'setAutostopIntervalWorkspaceDeprecated',
  setAutoArchiveInterval: 'setAutoArchiveIntervalWorkspaceDeprecated',
  archiveSandbox: 'archiveWorkspaceDeprecated',
  getPortPreviewUrl: 'getPortPreviewUrlWorkspaceDeprecated',
  getBuildLogs: 'getBuildLogsWorkspaceDeprecated',
};

export function sandboxRoutes(app: FastifyInstance, services: Services): void {
  registerRoutes(app, routes, services);
  const aliases = routes
    .filter((r) => workspaceAliases[r.operationId])
    .map((r) => {
      const alias: AnyRoute = {
        ...r,
        url: r.url.replace(/^\/sandbox/, '/workspace'),
        operationId: workspaceAliases[r.operationId]!,
        deprecated: true,
        tags: ['workspace'],
      };
      if (r.operationId === 'createSandbox') {
        // The old API called the snapshot `image` and never took a build.
        const create = alias.handler;
        alias.handler = (ctx, s) => {
          const body = { ...(ctx.body as Record<string, unknown>) };
          if (body.buildInfo !== undefined) throw Errors.workspaceBuildInfo();
          if (body.snapshot === undefined && typeof body.image === 'string') body.snapshot = body.image;
          delete body.image;
          return create({ ...ctx, body }, s);
        };
      }
      const workspace = workspaceResponse(r.response);
      if (workspace) {
        const handler = alias.handler;
        alias.response = workspace.response;
        alias.handler = async (ctx, s) => workspace.map(await handler(ctx, s));
      }
      return alias;
    });
  registerRoutes(app, aliases, services);
}
