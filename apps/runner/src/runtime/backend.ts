/** What the runner needs from an OCI runtime; crun, runc and runsc share this CLI contract. */
export interface ContainerState {
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused' | 'unknown';
  pid: number;
}

export interface RunOptions {
  /** An open fd the container process receives as fd 3 (the toolbox's listening socket). */
  listenFd: number;
  /** An open fd for the container's stdout/stderr (and the runtime's own errors). */
  logFd: number;
}

export interface ContainerResources {
  cpu?: number;
  memoryGiB?: number;
}

export interface RuntimeBackend {
  readonly name: string;
  readonly binary: string;
  /** Creates and starts the container described by `<bundle>/config.json`; returns once its process runs. */
  run(id: string, bundle: string, opts: RunOptions): Promise<void>;
  state(id: string): Promise<ContainerState | undefined>;
  /** Whether the runtime holds any state for `id` (may be true for a stopped container). */
  exists(id: string): Promise<boolean>;
  kill(id: string, signal: 'TERM' | 'KILL'): Promise<void>;
  delete(id: string): Promise<void>;
  update(id: string, resources: ContainerResources): Promise<void>;
  list(): Promise<string[]>;
}
