// The API's DTOs as the dashboard reads them (the reference's shapes; see the OpenAPI document at /api/openapi.json).

export interface Sandbox {
  id: string;
  organizationId: string;
  snapshot?: string | null;
  user: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  public: boolean;
  networkBlockAll: boolean;
  networkAllowList?: string | null;
  target: string;
  cpu: number;
  gpu: number;
  memory: number;
  disk: number;
  state?: string;
  desiredState?: string;
  errorReason?: string | null;
  backupState?: string;
  autoStopInterval?: number;
  autoArchiveInterval?: number;
  autoDeleteInterval?: number;
  runnerDomain?: string | null;
  createdAt?: string;
  updatedAt?: string;
  buildInfo?: { snapshotRef: string; dockerfileContent?: string } | null;
  volumes?: Array<{ volumeId: string; mountPath: string; subpath?: string }>;
}

export interface Paginated<T> {
  items: T[];
  total: number;
  page: number;
  totalPages: number;
}
