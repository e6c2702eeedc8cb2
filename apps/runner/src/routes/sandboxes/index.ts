import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { archiveSandboxRoute } from './archive-sandbox.js';
import { backupSandboxRoute } from './backup-sandbox.js';
import { claimSandboxRoute } from './claim-sandbox.js';
import { createSandboxRoute } from './create-sandbox.js';
import { destroySandboxRoute } from './destroy-sandbox.js';
import { getNetworkSettingsRoute } from './get-network-settings.js';
import { getSandboxRoute } from './get-sandbox.js';
import { removeSandboxRoute } from './remove-sandbox.js';
import { resizeSandboxRoute } from './resize-sandbox.js';
import { startSandboxRoute } from './start-sandbox.js';
import { stopSandboxRoute } from './stop-sandbox.js';
import { updateNetworkSettingsRoute } from './update-network-settings.js';

export function sandboxRoutes(app: FastifyInstance, d: RouteDeps): void {
  for (const r of [
    createSandboxRoute, getSandboxRoute, startSandboxRoute, stopSandboxRoute, destroySandboxRoute, removeSandboxRoute,
    backupSandboxRoute, archiveSandboxRoute, resizeSandboxRoute, getNetworkSettingsRoute, updateNetworkSettingsRoute,
    claimSandboxRoute,
  ]) r(app, d);
}
