import { Type, type Static } from '@sinclair/typebox';

/*
 * The contract between shoal-api and shoal-runner (modelled on Daytona's runner API, §10 of the facts brief).
 * Every route except `GET /` and `GET /metrics` requires `Authorization: Bearer <runner token>`.
 * Errors use the ErrorEnvelope from ./error.ts.
 *
 *   GET    /                                   -> RunnerHealth
 *   GET    /metrics                            -> Prometheus text
 *   GET    /info                               -> RunnerInfo
 *   POST   /sandboxes            CreateRunnerSandbox -> 201 JSON string (the sandbox id). Synchronous: returns once the
 *                                                  toolbox answers. Idempotent: an existing started sandbox returns at once,
 *                                                  a stopped one is started.
 *   GET    /sandboxes/:id                      -> RunnerSandboxInfo (404 when the runner has never heard of it)
 *   POST   /sandboxes/:id/start  {metadata?}   -> 200 "Sandbox started"  (synchronous, toolbox ready)
 *   POST   /sandboxes/:id/stop                 -> 200 "Sandbox stopped"  (synchronous)
 *   POST   /sandboxes/:id/destroy              -> 200 "Sandbox destroyed" (processes gone; files may linger until remove)
 *   DELETE /sandboxes/:id                      -> 200 "Sandbox removed"  (everything gone: dirs, netns, cgroups, nft)
 *   POST   /sandboxes/:id/backup  CreateBackup -> 200 LayerArchiveResult (synchronous: layer packed and uploaded)
 *   POST   /sandboxes/:id/archive             -> 200 LayerArchiveResult (stopped sandbox packed into object storage, then
 *                                                 removed from this runner as by DELETE; 409 unless stopped)
 *   POST   /sandboxes/:id/resize  ResizeSandbox -> 200
 *   GET    /sandboxes/:id/network-settings     -> NetworkSettings
 *   POST   /sandboxes/:id/network-settings NetworkSettings -> 200 (applies to a running sandbox at once)
 *   POST   /sandboxes/:id/claim  ClaimRunnerSandbox -> 200 "Sandbox claimed" (a started warm-pool sandbox becomes a
 *                                                 tenant's: env merged into its toolbox, network policy and metadata
 *                                                 applied before the answer; 409 unless started)
 *   DELETE /volumes/:volumeId                  -> 200 "Volume removed" (this host's data of the volume; 409 while a sandbox
 *                                                  of this runner mounts it)
 *   ANY    /sandboxes/:id/toolbox/*            -> reverse proxy to the toolbox daemon over its unix socket
 *                                                 (HTTP and WebSocket upgrades, streamed both ways)
 *   ANY    /sandboxes/:id/ports/:port/*        -> reverse proxy to a port inside the sandbox (2280 = the toolbox)
 *   POST   /snapshots/pull       PullSnapshot  -> 200 PullSnapshotResult (synchronous pull [+ copy into the internal registry] + unpack)
 *   POST   /snapshots/build      BuildSnapshot -> 200 (synchronous: built with buildah, pushed to `snapshot` in the
 *                                                  internal registry, unpacked; output in the `snapshot` log; a failing
 *                                                  step -> 400 "<step>: exit status N")
 *   POST   /snapshots/build/cancel?snapshot=   -> {cancelled} (kills a running build of that ref)
 *   GET    /snapshots/exists?snapshot=         -> {exists}
 *   POST   /snapshots/remove?snapshot=         -> 200
 *   POST   /snapshots/validate ValidateSnapshot -> 200 ValidateSnapshotResult (synchronous trial run of an unpacked
 *                                                  image in a short-lived internal sandbox, removed before answering)
 *   GET    /snapshots/logs?snapshotRef=&follow= -> text/plain stream
 *
 * The runner reports state changes back to the API with `PUT /api/sandbox/:id/state {state}` and reads
 * `GET /api/sandbox/for-runner?states=...`, authenticated with the same runner token.
 */

export const RunnerHealth = Type.Object({ status: Type.Literal('ok'), version: Type.String() });
export type RunnerHealth = Static<typeof RunnerHealth>;

export const RunnerMetrics = Type.Object({
  currentCpuUsagePercentage: Type.Number(),
  currentMemoryUsagePercentage: Type.Number(),
  currentDiskUsagePercentage: Type.Number(),
  currentAllocatedCpu: Type.Number(),
  currentAllocatedMemoryGiB: Type.Number(),
  currentAllocatedDiskGiB: Type.Number(),
  currentSnapshotCount: Type.Number(),
  /** Shoal extension: sandboxes currently running on this runner. */
  currentStartedSandboxes: Type.Optional(Type.Number()),
  /** Shoal extension: bytes the runner's unpacked images take on disk. */
  currentImageDiskBytes: Type.Optional(Type.Number()),
});
export type RunnerMetrics = Static<typeof RunnerMetrics>;

export const RunnerInfo = Type.Object({ metrics: RunnerMetrics, version: Type.String() });
export type RunnerInfo = Static<typeof RunnerInfo>;

export const RegistryCredentials = Type.Object({
  url: Type.String(),
  username: Type.String(),
  password: Type.String(),
  project: Type.Optional(Type.String()),
});
export type RegistryCredentials = Static<typeof RegistryCredentials>;

/** One volume of a sandbox; the runner checks the list with parseVolumeMounts (./volume-mount.ts). */
export const VolumeMount = Type.Object({ volumeId: Type.String(), mountPath: Type.String(), subpath: Type.Optional(Type.String()) });
export type VolumeMount = Static<typeof VolumeMount>;

export const CreateRunnerSandbox = Type.Object({
  id: Type.String({ minLength: 1 }),
  /** The organization id. */
  userId: Type.String(),
  /** Image reference of the snapshot, e.g. `127.0.0.1:5100/shoal/sandbox:0.1.0`. */
  snapshot: Type.String({ minLength: 1 }),
  osUser: Type.String({ minLength: 1 }),
  cpuQuota: Type.Integer({ minimum: 1 }),
  gpuQuota: Type.Integer({ minimum: 0 }),
  /** GiB */
  memoryQuota: Type.Integer({ minimum: 1 }),
  /** GiB */
  storageQuota: Type.Integer({ minimum: 1 }),
  env: Type.Record(Type.String(), Type.String()),
  registry: Type.Optional(RegistryCredentials),
  entrypoint: Type.Optional(Type.Array(Type.String())),
  volumes: Type.Optional(Type.Array(VolumeMount)),
  networkBlockAll: Type.Optional(Type.Boolean()),
  /** Comma-separated IPv4 CIDRs, at most 5. */
  networkAllowList: Type.Optional(Type.String()),
  /**
   * The organization's `sandboxLimitedNetworkEgress` at create: the sandbox reaches only the runner's essential list
   * (SHOAL_RUNNER_LIMITED_EGRESS_CIDRS) and its DNS forwarder. Kept for the sandbox's life; network settings never clear it.
   */
  networkLimitEgress: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  /**
   * Object key of an archive or backup of this sandbox (`sandboxes/<id>/archive.tar.zst` or
   * `sandboxes/<id>/backups/<timestamp>.tar.zst`): the new disk is filled from it before the container first starts.
   */
  restoreFrom: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
  /** A warm-pool fill: its disk preparation and launch wait until no other start is waiting on the runner. */
  background: Type.Optional(Type.Boolean()),
});
export type CreateRunnerSandbox = Static<typeof CreateRunnerSandbox>;

export const RunnerSandboxState = Type.Union(
  [
    'creating',
    'restoring',
    'destroyed',
    'destroying',
    'started',
    'stopped',
    'starting',
    'stopping',
    'resizing',
    'error',
    'unknown',
    'pulling_snapshot',
  ].map((s) => Type.Literal(s)),
);
export type RunnerSandboxState =
  | 'creating'
  | 'restoring'
  | 'destroyed'
  | 'destroying'
  | 'started'
  | 'stopped'
  | 'starting'
  | 'stopping'
  | 'resizing'
  | 'error'
  | 'unknown'
  | 'pulling_snapshot';

/**
 * The states a runner reports on its own (PUT /sandbox/{id}/state): where a sandbox settles. The API acts on these
 * only, so the steps in between (pulling_snapshot, creating, starting, ...) are not sent: during a create they were
 * three requests the API read and dropped while the sandbox's start wanted the same CPU.
 */
export const RUNNER_REPORTED_STATES = ['started', 'stopped', 'destroyed', 'error'] as const;
export type RunnerReportedState = (typeof RUNNER_REPORTED_STATES)[number];

export function isRunnerReportedState(state: string): state is RunnerReportedState {
  return (RUNNER_REPORTED_STATES as readonly string[]).includes(state);
}

export const RunnerBackupState = Type.Union(
  ['NONE', 'PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED'].map((s) => Type.Literal(s)),
);
export type RunnerBackupState = 'NONE' | 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';

export const RunnerSandboxInfo = Type.Object({
  state: RunnerSandboxState,
  backupState: RunnerBackupState,
  backupError: Type.Optional(Type.String()),
  /** Why the sandbox is in `error`, when it is. */
  errorReason: Type.Optional(Type.String()),
});
export type RunnerSandboxInfo = Static<typeof RunnerSandboxInfo>;

export const StartRunnerSandbox = Type.Object({
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
});

/**
 * Backup of a sandbox's writable layer into object storage (SHOAL_S3_*) under `key`
 * (`sandboxes/<id>/backups/<timestamp>.tar.zst`); a running sandbox is frozen while its files are read. Synchronous.
 */
export const CreateBackup = Type.Object({ key: Type.String({ minLength: 1, maxLength: 300 }) });
export type CreateBackup = Static<typeof CreateBackup>;

/** What an archive or a backup stored. */
export const LayerArchiveResult = Type.Object({
  key: Type.String(),
  /** Compressed size in object storage. */
  sizeBytes: Type.Number(),
  /** Time spent reading the files (the sandbox frozen, for a backup of a running one). */
  packMs: Type.Number(),
  uploadMs: Type.Number(),
});
export type LayerArchiveResult = Static<typeof LayerArchiveResult>;

export const ResizeSandbox = Type.Object({
  cpu: Type.Optional(Type.Integer({ minimum: 1 })),
  gpu: Type.Optional(Type.Integer({ minimum: 0 })),
  memory: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type ResizeSandbox = Static<typeof ResizeSandbox>;

export const NetworkSettings = Type.Object({
  networkBlockAll: Type.Optional(Type.Boolean()),
  networkAllowList: Type.Optional(Type.String()),
  networkLimitEgress: Type.Optional(Type.Boolean()),
});
export type NetworkSettings = Static<typeof NetworkSettings>;

/**
 * What a create that claimed a warm-pool sandbox asked for beyond the pool's shape (the API's SandboxService). The
 * result must be what a cold create with the same request would have made: `env` reaches every process the toolbox
 * starts from now on (the pooled sandbox runs no user process yet), the policy is in force before the answer.
 */
export const ClaimRunnerSandbox = Type.Object({
  /** The claiming organization's id (CreateRunnerSandbox.userId). */
  userId: Type.String({ minLength: 1 }),
  env: Type.Record(Type.String(), Type.String()),
  networkBlockAll: Type.Optional(Type.Boolean()),
  networkAllowList: Type.Optional(Type.String()),
  networkLimitEgress: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type ClaimRunnerSandbox = Static<typeof ClaimRunnerSandbox>;

export const PullSnapshot = Type.Object({
  /** Source image reference (tag or digest), on any registry. */
  snapshot: Type.String({ minLength: 1 }),
  /** Credentials for the source registry (the organization's docker-registry entry), when it needs them. */
  registry: Type.Optional(RegistryCredentials),
  /**
   * When set, the image is copied into Shoal's internal registry under this reference (the runner authenticates there
   * with its own credentials) and the runner unpacks it under this reference; every later sandbox pulls it from there.
   */
  destinationRef: Type.Optional(Type.String({ minLength: 1 })),
});
export type PullSnapshot = Static<typeof PullSnapshot>;

/** What a pull learned about the image (read from its OCI config and manifest, never from the root filesystem). */
export const PullSnapshotResult = Type.Object({
  /** Sum of the compressed layer sizes, bytes. */
  sizeBytes: Type.Number(),
  /** Manifest digest of the image for the host's architecture. */
  digest: Type.String(),
  entrypoint: Type.Array(Type.String()),
  cmd: Type.Array(Type.String()),
  workdir: Type.String(),
});
export type PullSnapshotResult = Static<typeof PullSnapshotResult>;

/** A trial run of a pulled snapshot before it becomes active: the toolbox must come up and `sh` must run in it. */
export const ValidateSnapshot = Type.Object({
  /** The unpacked image, as sandboxes will name it. */
  snapshot: Type.String({ minLength: 1 }),
  /** Started as sandboxes start it; dying at once (non-zero exit, signal, missing program) fails the trial. */
  entrypoint: Type.Optional(Type.Array(Type.String())),
  osUser: Type.Optional(Type.String({ minLength: 1 })),
});
export type ValidateSnapshot = Static<typeof ValidateSnapshot>;

export const ValidateSnapshotResult = Type.Object({
  valid: Type.Boolean(),
  /** Why the image cannot run sandboxes (set when `valid` is false). */
  reason: Type.Optional(Type.String()),
  durationMs: Type.Number(),
});
export type ValidateSnapshotResult = Static<typeof ValidateSnapshotResult>;

export const BuildSnapshot = Type.Object({
  /** Internal registry reference the image is pushed to (and its log key). */
  snapshot: Type.String({ minLength: 1 }),
  dockerfile: Type.String({ minLength: 1 }),
  organizationId: Type.String(),
  /** Context hashes: the runner reads `<bucket>/<organizationId>/<hash>/context.tar` from object storage (SHOAL_S3_*). */
  context: Type.Optional(Type.Array(Type.String())),
  registry: Type.Optional(RegistryCredentials),
  /**
   * The organization's own short-lived login on the internal registry (pull and push in its project, pull of Shoal's
   * own and general images). The runner uses it instead of its all-access login for every FROM and the push, so a
   * Dockerfile (or an ONBUILD trigger of its base) can never read another organization's project.
   */
  internalRegistry: Type.Optional(RegistryCredentials),
  pushToInternalRegistry: Type.Optional(Type.Boolean()),
  /**
   * Egress of the RUN steps, on top of the runner's egress floor, as for the organization's sandboxes: `limitedEgress`
   * (its sandboxLimitedNetworkEgress) narrows it to the operator's essential list; `networkBlockAll` cuts it off, DNS
   * included; `networkAllowList` as on a sandbox. Absent: open, under the floor.
   */
  network: Type.Optional(
    Type.Object({
      limitedEgress: Type.Optional(Type.Boolean()),
      networkBlockAll: Type.Optional(Type.Boolean()),
      networkAllowList: Type.Optional(Type.String()),
    }),
  ),
});
export type BuildSnapshot = Static<typeof BuildSnapshot>;

export const SnapshotExists = Type.Object({ exists: Type.Boolean() });

/** Header the runner strips before forwarding; preferred over Authorization so the caller's own Authorization can pass through. */
export const RUNNER_AUTH_HEADER = 'x-daytona-authorization';
