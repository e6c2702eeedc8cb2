import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { buildSnapshotRoute } from './build-snapshot.js';
import { pullSnapshotRoute } from './pull-snapshot.js';
import { removeSnapshotRoute } from './remove-snapshot.js';
import { snapshotExistsRoute } from './snapshot-exists.js';
import { snapshotLogsRoute } from './snapshot-logs.js';
import { validateSnapshotRoute } from './validate-snapshot.js';

export function snapshotRoutes(app: FastifyInstance, d: RouteDeps): void {
  for (const r of [pullSnapshotRoute, buildSnapshotRoute, snapshotExistsRoute, removeSnapshotRoute, snapshotLogsRoute, validateSnapshotRoute]) r(app, d);
}
