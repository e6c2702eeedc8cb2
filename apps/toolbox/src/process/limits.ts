/**
 * How much output the toolbox keeps, and for how long (README "Exec and session limits"). Everything here is kept
 * outside the user's disk: executeCommand output in bounded memory, session logs in the toolbox's own spool (a
 * size-limited tmpfs the runner mounts at /.shoal/run).
 */
const MiB = 1024 * 1024;

/** executeCommand: bytes of output returned at most (first half and last half, with a marker in between). */
export const EXEC_OUTPUT_MAX_BYTES = 10 * MiB;

/** Session command logs: the first and last bytes kept per command; the middle is replaced by a marker line. */
export const SESSION_LOG_HEAD_BYTES = 1 * MiB;
export const SESSION_LOG_TAIL_BYTES = 7 * MiB;
/** Spool a session may hold: beyond it, logs of its finished commands are evicted, oldest first. */
export const SESSION_LOG_BUDGET_BYTES = 32 * MiB;
/** Spool all sessions together may hold (the runner's tmpfs is a little larger); same eviction across sessions. */
export const TOTAL_LOG_BUDGET_BYTES = 128 * MiB;
/** Finished commands remembered per session (id, text, exit code); older ones are forgotten entirely. */
export const SESSION_MAX_FINISHED_COMMANDS = 1000;
/** A session with nothing running and no request for this long is deleted (SHOAL_TOOLBOX_SESSION_IDLE_SECONDS). */
export const SESSION_IDLE_DEFAULT_SECONDS = 3600;
