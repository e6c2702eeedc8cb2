export const SANDBOX_COLUMNS = ['id', 'state', 'snapshot', 'cpu', 'memory', 'disk', 'labels', 'createdAt'];

interface SandboxLike {
  id: string;
  state?: string;
  snapshot?: string;
  cpu: number;
  memory: number;
  disk: number;
  labels: Record<string, string>;
  createdAt?: string;
  errorReason?: string;
  user?: string;
  target?: string;
  public?: boolean;
  autoStopInterval?: number;
  autoArchiveInterval?: number;
  autoDeleteInterval?: number;
  networkBlockAll?: boolean;
  networkAllowList?: string;
}

export function sandboxRow(s: SandboxLike): Record<string, unknown> {
  return {
    id: s.id,
    state: s.state,
    snapshot: s.snapshot,
    user: s.user,
    target: s.target,
    cpu: s.cpu,
    memory: s.memory,
    disk: s.disk,
    labels: s.labels,
    public: s.public,
    autoStopInterval: s.autoStopInterval,
    autoArchiveInterval: s.autoArchiveInterval,
    autoDeleteInterval: s.autoDeleteInterval,
    networkBlockAll: s.networkBlockAll,
    networkAllowList: s.networkAllowList,
    errorReason: s.errorReason,
    createdAt: s.createdAt,
  };
}
