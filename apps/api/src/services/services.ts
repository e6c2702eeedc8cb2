import type { ApiConfig } from '../config.js';
import type { ApiKeyService } from './api-key.service.js';
import type { AuditService } from './audit.service.js';
import type { BuildService } from './build.service.js';
import type { DockerRegistryService } from './docker-registry.service.js';
import type { RegistryTokenService } from './registry-token.service.js';
import type { ObjectStorageService } from './object-storage.service.js';
import type { OrganizationService } from './organization.service.js';
import type { ReadinessService } from './readiness.service.js';
import type { RunnerService } from './runner.service.js';
import type { SandboxService } from './sandbox.service.js';
import type { SnapshotService } from './snapshot.service.js';
import type { WebhookService } from './webhook.service.js';
import type { UserService } from './user.service.js';
import type { VolumeService } from './volume.service.js';
import type { WarmPoolService } from './warm-pool.service.js';

/** What route handlers may call. Each route uses one of these; none touches the database directly. */
export interface Services {
  config: Readonly<ApiConfig>;
  sandboxes: SandboxService;
  runners: RunnerService;
  apiKeys: ApiKeyService;
  organizations: OrganizationService;
  readiness: ReadinessService;
  snapshots: SnapshotService;
  dockerRegistries: DockerRegistryService;
  registryTokens: RegistryTokenService;
  objectStorage: ObjectStorageService;
  webhooks: WebhookService;
  audit: AuditService;
  users: UserService;
  volumes: VolumeService;
  warmPools: WarmPoolService;
  /** The buildInfo pipeline (sandbox and snapshot creates from a Dockerfile). */
  builds?: BuildService;
}
