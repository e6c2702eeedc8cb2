import type { Builder } from '../images/builder.js';
import type { ImageStore } from '../images/image-store.js';
import type { HostMetrics } from '../metrics/host-metrics.js';
import type { SandboxService } from '../sandbox/sandbox.service.js';

export interface RouteDeps {
  token: string;
  /** Also accepted on incoming calls: the API's credential for this runner (config.ts `callToken`). */
  callToken?: string;
  version: string;
  sandboxes: SandboxService;
  images: ImageStore;
  /** Dockerfile builds; absent where the runner was built without them (tests of other routes). */
  builder?: Builder;
  metrics: HostMetrics;
}
