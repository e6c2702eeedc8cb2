import type { ImageStore } from '../images/image-store.js';
import type { HostMetrics } from '../metrics/host-metrics.js';
import type { SandboxService } from '../sandbox/sandbox.service.js';

export interface RouteDeps {
  token: string;
  version: string;
  sandboxes: SandboxService;
  images: ImageStore;
  metrics: HostMetrics;
}
