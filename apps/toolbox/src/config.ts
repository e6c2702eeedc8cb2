import { heldFromToolbox, isEnvName, TOOLBOX_HELD_ENV } from '@shoal/contracts';

/**
 * The daemon's whole configuration, read once from the environment the runner gives it (see the startup contract in
 * `@shoal/contracts` toolbox.ts). `SHOAL_*` variables are removed from `process.env` here, so that nothing the
 * daemon spawns (execute, sessions, PTYs, git) can see them.
 */
export interface ToolboxConfig {
  listenFd: number | undefined;
  socketPath: string | undefined;
  /** shoal-exec, through which every user process starts with no inherited descriptor; unset outside a sandbox. */
  execHelper: string | undefined;
  sandboxUser: string | undefined;
  workdir: string | undefined;
  /** The toolbox's own scratch filesystem (session scripts and log spool), off the user's disk; the runner mounts it. */
  runDir: string | undefined;
  /** Idle sessions are deleted after this long; 0 never. Unset: the default of limits.ts. */
  sessionIdleSeconds: number | undefined;
  /** The snapshot's entrypoint (SHOAL_ENTRYPOINT, a JSON array), started once as the sandbox user; empty: none. */
  entrypoint: string[];
  /**
   * Dev mode only (no SHOAL_SANDBOX_USER): the caller's HOME, taken over as any program run by hand takes it. Tests
   * give the daemon its own, so the shells it starts never run the account's real startup files. In a sandbox the
   * user's home comes from the image's /etc/passwd.
   */
  home: string | undefined;
  /** Settings that were ignored (bad values the sandbox must still start with), to log once running. */
  warnings: string[];
}

export class ConfigError extends Error {}

function integer(name: string, raw: string | undefined, min: number, max: number, problems: string[]): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<ToolboxConfig> {
  const problems: string[] = [];
  const config: ToolboxConfig = {
    listenFd: integer('SHOAL_TOOLBOX_LISTEN_FD', env.SHOAL_TOOLBOX_LISTEN_FD, 0, 65535, problems),
    socketPath: env.SHOAL_TOOLBOX_SOCKET || undefined,
    execHelper: env.SHOAL_EXEC_HELPER || undefined,
    sandboxUser: env.SHOAL_SANDBOX_USER || undefined,
    workdir: env.SHOAL_WORKDIR || undefined,
    runDir: env.SHOAL_TOOLBOX_RUN_DIR || undefined,
    home: env.HOME || undefined,
    sessionIdleSeconds: undefined,
    entrypoint: [],
    warnings: [],
  };
  if (env.SHOAL_ENTRYPOINT) {
    try {
      const parsed = JSON.parse(env.SHOAL_ENTRYPOINT) as unknown;
      if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((a) => typeof a === 'string')) config.entrypoint = parsed as string[];
      else config.warnings.push('SHOAL_ENTRYPOINT is not a non-empty JSON array of strings; no entrypoint started');
    } catch {
      config.warnings.push('SHOAL_ENTRYPOINT is not valid JSON; no entrypoint started');
    }
  }
  // Not fatal when wrong: a sandbox's env can carry it too, and a bad value must not keep the sandbox from starting.
  const idle: string[] = [];
  config.sessionIdleSeconds = integer('SHOAL_TOOLBOX_SESSION_IDLE_SECONDS', env.SHOAL_TOOLBOX_SESSION_IDLE_SECONDS, 0, 31_536_000, idle);
  config.warnings.push(...idle.map((p) => `${p}; using the default`));
  if (config.sandboxUser !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/i.test(config.sandboxUser)) {
    problems.push(`SHOAL_SANDBOX_USER is not a valid user name: ${JSON.stringify(config.sandboxUser)}`);
  }
  if (config.execHelper !== undefined && !config.execHelper.startsWith('/')) {
    problems.push(`SHOAL_EXEC_HELPER must be an absolute path, got ${JSON.stringify(config.execHelper)}`);
  }
  // No TCP listener on purpose: the toolbox is reachable only through the runner (README "Containment").
  if (config.listenFd === undefined && config.socketPath === undefined) {
    problems.push('set SHOAL_TOOLBOX_LISTEN_FD or SHOAL_TOOLBOX_SOCKET');
  }
  if (problems.length > 0) throw new ConfigError(`invalid toolbox configuration:\n  ${problems.join('\n  ')}`);
  const held = heldEnvironment(env[TOOLBOX_HELD_ENV], config.warnings);
  for (const key of Object.keys(env)) if (key.startsWith('SHOAL_')) delete env[key];
  // Only now, after this process has started: from here on they are for the programs the daemon spawns.
  Object.assign(env, held);
  return Object.freeze(config);
}

/** The sandbox's own values of the variables the runner kept from the daemon's start (contracts heldFromToolbox). */
function heldEnvironment(raw: string | undefined, warnings: string[]): Record<string, string> {
  if (raw === undefined || raw === '') return {};
  const held: Record<string, string> = {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    warnings.push(`${TOOLBOX_HELD_ENV} is not a JSON object; those variables are not set for user processes`);
    return held;
  }
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value === 'string' && isEnvName(key) && heldFromToolbox(key)) held[key] = value;
  }
  return held;
}

/** The environment children inherit: the daemon's own (already without SHOAL_*), with the user's identity. */
export function childEnvironment(identity: { user: string; home: string; shell: string }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('SHOAL_')) env[key] = value;
  }
  env.HOME = identity.home;
  env.USER = identity.user;
  env.LOGNAME = identity.user;
  env.SHELL = identity.shell;
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return env;
}
