/**
 * The toolbox's streaming process (`GET /process/stream`, a WebSocket), used by the SSH gateway. The first text
 * message is a `ProcessStreamStart`; then binary frames carry one channel byte and the data, and text messages carry
 * control (resize, end of stdin from the client; the exit status from the toolbox, always the last message).
 */
export const PROCESS_STREAM_PATH = '/process/stream';

export const StreamChannel = { stdin: 0, stdout: 1, stderr: 2 } as const;

export interface ProcessStreamStart {
  type: 'start';
  /** `shell`: the user's login shell; `exec`: `shell -c command`; `sftp`: the image's sftp-server. */
  mode: 'shell' | 'exec' | 'sftp';
  command?: string;
  /** A PTY of this size and terminal type; without it stdin/stdout/stderr are separate pipes. */
  pty?: { term: string; cols: number; rows: number };
  /** Only TERM, LANG and LC_* are honoured. */
  env?: Record<string, string>;
}

export type ProcessStreamClientControl = { type: 'resize'; cols: number; rows: number } | { type: 'eof' } | { type: 'signal'; signal: string };

export type ProcessStreamServerControl = { type: 'exit'; exitCode: number; signal?: string } | { type: 'error'; message: string };

/** Environment names a client may set, as OpenSSH's default AcceptEnv. */
export function acceptedStreamEnv(name: string): boolean {
  return name === 'TERM' || name === 'LANG' || /^LC_[A-Z_]+$/.test(name);
}

/** Where Debian, Fedora/RHEL, Arch and Alpine install OpenSSH's sftp-server. */
export const SFTP_SERVER_PATHS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server', '/usr/libexec/sftp-server'];
