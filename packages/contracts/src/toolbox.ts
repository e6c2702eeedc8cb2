import { Type, type Static } from '@sinclair/typebox';

/*
 * The contract of shoal-toolbox, the daemon inside every sandbox (Daytona daemon API, facts §11; SDK wire
 * contract §8–§10). The API proxies `/api/toolbox/{id}/toolbox/*` to it verbatim: unlike Daytona's daemon,
 * `POST /process/execute` already answers `{exitCode, result}`, so no mapping is needed on the way back.
 *
 * Startup (env, read once by the daemon):
 *   SHOAL_TOOLBOX_LISTEN_FD  an inherited, already-listening unix socket (the runner's private channel)
 *   SHOAL_TOOLBOX_SOCKET     a unix socket path to listen on (dev / tests)
 *   SHOAL_SANDBOX_USER       create the user if missing and drop privileges to it (only when started as uid 0)
 *   SHOAL_WORKDIR            the image WORKDIR; empty means the user's home
 *   SHOAL_EXEC_HELPER        shoal-exec: every user process starts through it, with no inherited descriptor
 *   SHOAL_HELD_ENV           the sandbox's own values of the variables heldFromToolbox() names (JSON object)
 * There is no TCP listener: port 2280 of a sandbox reaches the toolbox only through the runner's proxy.
 * Readiness: `GET /version` answers 200 once the daemon serves requests.
 */

export const TOOLBOX_DEFAULT_PORT = 2280;

/** A name a process environment may carry; anything else in a create's or an image's env is dropped wherever env is taken in. */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/**
 * The runner's check of the daemon's startup snapshot (toolbox.blob): started with this variable set to `1`, the
 * deserialized daemon prints TOOLBOX_SNAPSHOT_LOADS on stdout and exits 0, doing nothing else.
 */
export const TOOLBOX_SNAPSHOT_CHECK_ENV = 'SHOAL_TOOLBOX_SNAPSHOT_CHECK';
export const TOOLBOX_SNAPSHOT_LOADS = 'toolbox snapshot loads';

/** Startup variable (a JSON object of strings) carrying the sandbox's values of the names heldFromToolbox() matches. */
export const TOOLBOX_HELD_ENV = 'SHOAL_HELD_ENV';
const HELD_RE = /^(?:NODE_|UV_|LD_|OPENSSL_|MALLOC_|GLIBC_TUNABLES$)/;

/**
 * Variables that the dynamic loader, Node.js, libuv, glibc or OpenSSL read when a process starts. The daemon is a
 * process too, so a sandbox's value of one of them would change the daemon, not only the user's programs:
 * `NODE_OPTIONS=--require ./x.js`, a bad `OPENSSL_CONF` or an `LD_LIBRARY_PATH` with another libc stops it from
 * starting. The runner hands them over in TOOLBOX_HELD_ENV instead, and the daemon puts them back for what it spawns.
 */
export function heldFromToolbox(name: string): boolean {
  return HELD_RE.test(name);
}
/**
 * Multipart boundary prefix of `POST /files/bulk-download`. Daytona's daemon uses exactly this string; we append a
 * random suffix per response so that file content can never collide with the delimiter (the SDK reads the boundary
 * from the Content-Type header).
 */
export const BULK_DOWNLOAD_BOUNDARY_PREFIX = 'DAYTONA-FILE-BOUNDARY';
/** In-band markers the SDK demultiplexes session output with; every line of a stream starts with one. */
export const STDOUT_MARKER = Buffer.from([1, 1, 1]);
export const STDERR_MARKER = Buffer.from([2, 2, 2]);
/** Default and maximum-free timeout of `POST /process/execute`, in seconds. */
export const EXECUTE_DEFAULT_TIMEOUT_SECONDS = 360;

export const VersionResponse = Type.Object({ version: Type.String() });
export type VersionResponse = Static<typeof VersionResponse>;

export const DirResponse = Type.Object({ dir: Type.String() });
export type DirResponse = Static<typeof DirResponse>;

export const FileInfo = Type.Object({
  name: Type.String(),
  size: Type.Number(),
  /** Go `FileMode.String()`, e.g. `-rw-r--r--`, `drwxr-xr-x`. */
  mode: Type.String(),
  /** Go `time.Time.String()`, e.g. `2025-01-02 03:04:05.123456789 +0000 UTC`. */
  modTime: Type.String(),
  isDir: Type.Boolean(),
  /** Numeric uid as a string. */
  owner: Type.String(),
  /** Numeric gid as a string. */
  group: Type.String(),
  /** Octal permission bits, e.g. `0644`. */
  permissions: Type.String(),
});
export type FileInfo = Static<typeof FileInfo>;

export const BulkDownloadRequest = Type.Object({ paths: Type.Array(Type.String(), { minItems: 1 }) });
export type BulkDownloadRequest = Static<typeof BulkDownloadRequest>;

export const Match = Type.Object({ file: Type.String(), line: Type.Integer(), content: Type.String() });
export type Match = Static<typeof Match>;

export const SearchFilesResponse = Type.Object({ files: Type.Array(Type.String()) });
export type SearchFilesResponse = Static<typeof SearchFilesResponse>;

export const ReplaceRequest = Type.Object({
  files: Type.Array(Type.String()),
  pattern: Type.String({ minLength: 1 }),
  newValue: Type.String(),
});
export type ReplaceRequest = Static<typeof ReplaceRequest>;

export const ReplaceResult = Type.Object({
  file: Type.String(),
  success: Type.Boolean(),
  error: Type.Optional(Type.String()),
});
export type ReplaceResult = Static<typeof ReplaceResult>;

/** Body of a 400 from `POST /files/bulk-upload` (the SDK's only non-envelope error). */
export const BulkUploadErrors = Type.Object({ errors: Type.Array(Type.String()) });
export type BulkUploadErrors = Static<typeof BulkUploadErrors>;

export const ExecuteRequest = Type.Object({
  command: Type.String({ minLength: 1 }),
  cwd: Type.Optional(Type.String()),
  /** Seconds; absent or 0 means the default (360). */
  timeout: Type.Optional(Type.Number({ minimum: 0 })),
});
export type ExecuteRequest = Static<typeof ExecuteRequest>;

export const ExecuteResponse = Type.Object({ exitCode: Type.Integer(), result: Type.String() });
export type ExecuteResponse = Static<typeof ExecuteResponse>;

export const CreateSessionRequest = Type.Object({ sessionId: Type.String({ minLength: 1 }) });
export type CreateSessionRequest = Static<typeof CreateSessionRequest>;

export const SessionCommand = Type.Object({
  id: Type.String(),
  command: Type.String(),
  /** Absent while the command runs. */
  exitCode: Type.Optional(Type.Integer()),
});
export type SessionCommand = Static<typeof SessionCommand>;

export const Session = Type.Object({ sessionId: Type.String(), commands: Type.Array(SessionCommand) });
export type Session = Static<typeof Session>;

export const SessionExecuteRequest = Type.Object({
  command: Type.String({ minLength: 1 }),
  runAsync: Type.Optional(Type.Boolean()),
  /** Deprecated alias of runAsync. */
  async: Type.Optional(Type.Boolean()),
});
export type SessionExecuteRequest = Static<typeof SessionExecuteRequest>;

/** 200 for a synchronous command (output carries the 01/02 line markers), 202 `{cmdId}` for an async one. */
export const SessionExecuteResponse = Type.Object({
  cmdId: Type.String(),
  output: Type.Optional(Type.String()),
  exitCode: Type.Optional(Type.Integer()),
});
export type SessionExecuteResponse = Static<typeof SessionExecuteResponse>;

export const PtyCreateRequest = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  cwd: Type.Optional(Type.String()),
  envs: Type.Optional(Type.Record(Type.String(), Type.String())),
  cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  lazyStart: Type.Optional(Type.Boolean()),
});
export type PtyCreateRequest = Static<typeof PtyCreateRequest>;

export const PtyCreateResponse = Type.Object({ sessionId: Type.String() });
export type PtyCreateResponse = Static<typeof PtyCreateResponse>;

export const PtyResizeRequest = Type.Object({
  cols: Type.Integer({ minimum: 1, maximum: 1000 }),
  rows: Type.Integer({ minimum: 1, maximum: 1000 }),
});
export type PtyResizeRequest = Static<typeof PtyResizeRequest>;

export const PtySessionInfo = Type.Object({
  id: Type.String(),
  cwd: Type.String(),
  envs: Type.Record(Type.String(), Type.String()),
  cols: Type.Integer(),
  rows: Type.Integer(),
  createdAt: Type.String(),
  active: Type.Boolean(),
  lazyStart: Type.Boolean(),
});
export type PtySessionInfo = Static<typeof PtySessionInfo>;

export const PtyListResponse = Type.Object({ sessions: Type.Array(PtySessionInfo) });
export type PtyListResponse = Static<typeof PtyListResponse>;

/** Close reason of the PTY WebSocket: code 1000 with `{exitCode:0}`, else 1011 with the reason. */
export const PtyExitReason = Type.Object({ exitCode: Type.Integer(), exitReason: Type.Optional(Type.String()) });
export type PtyExitReason = Static<typeof PtyExitReason>;

const Credentials = {
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
};

export const GitCloneRequest = Type.Object({
  url: Type.String({ minLength: 1 }),
  path: Type.String({ minLength: 1 }),
  branch: Type.Optional(Type.String()),
  commit_id: Type.Optional(Type.String()),
  ...Credentials,
});
export type GitCloneRequest = Static<typeof GitCloneRequest>;

export const GitRepoRequest = Type.Object({ path: Type.String({ minLength: 1 }), ...Credentials });
export type GitRepoRequest = Static<typeof GitRepoRequest>;

export const GitAddRequest = Type.Object({ path: Type.String({ minLength: 1 }), files: Type.Array(Type.String()) });
export type GitAddRequest = Static<typeof GitAddRequest>;

export const GitCommitRequest = Type.Object({
  path: Type.String({ minLength: 1 }),
  message: Type.String(),
  author: Type.String({ minLength: 1 }),
  email: Type.String({ minLength: 1 }),
  allow_empty: Type.Optional(Type.Boolean()),
});
export type GitCommitRequest = Static<typeof GitCommitRequest>;

export const GitCommitResponse = Type.Object({ hash: Type.String() });
export type GitCommitResponse = Static<typeof GitCommitResponse>;

export const GitBranchRequest = Type.Object({ path: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }) });
export type GitBranchRequest = Static<typeof GitBranchRequest>;

export const GitCheckoutRequest = Type.Object({ path: Type.String({ minLength: 1 }), branch: Type.String({ minLength: 1 }) });
export type GitCheckoutRequest = Static<typeof GitCheckoutRequest>;

export const GitBranchesResponse = Type.Object({ branches: Type.Array(Type.String()) });
export type GitBranchesResponse = Static<typeof GitBranchesResponse>;

/** go-git's status words: Unmodified, Untracked, Modified, Added, Deleted, Renamed, Copied, Updated but unmerged. */
export const GitFileStatus = Type.Object({
  name: Type.String(),
  staging: Type.String(),
  worktree: Type.String(),
  extra: Type.String(),
});
export type GitFileStatus = Static<typeof GitFileStatus>;

export const GitStatus = Type.Object({
  currentBranch: Type.String(),
  fileStatus: Type.Array(GitFileStatus),
  ahead: Type.Integer(),
  behind: Type.Integer(),
  branchPublished: Type.Boolean(),
});
export type GitStatus = Static<typeof GitStatus>;

export const GitCommitInfo = Type.Object({
  hash: Type.String(),
  author: Type.String(),
  email: Type.String(),
  message: Type.String(),
  timestamp: Type.String(),
});
export type GitCommitInfo = Static<typeof GitCommitInfo>;

/**
 * Runner -> toolbox only (`POST /.shoal/env`, refused by the runner's proxy): variables a claim of a warm-pool sandbox
 * adds to the environment of every process the toolbox starts from then on (ClaimRunnerSandbox in ./runner.ts).
 */
export const ToolboxEnvUpdate = Type.Object({ env: Type.Record(Type.String(), Type.String()) });
export type ToolboxEnvUpdate = Static<typeof ToolboxEnvUpdate>;
