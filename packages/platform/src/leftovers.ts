import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * A supervisor that is SIGKILLed (or loses its machine's power mid-shutdown) cannot stop its processes; the ones in
 * a process group of their own (registry, PostgreSQL) outlive even a kill of the whole group. Each managed process
 * therefore records `<pid> <start time>` in a pid file while it runs, and the next start ends whatever is still
 * running from the previous one before it starts anything. The start time (field 22 of /proc/<pid>/stat) tells a
 * leftover from an unrelated process that reuses the PID.
 */
export function recordPid(file: string, pid: number): void {
  const start = startTime(pid);
  if (start === undefined) return;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, `${pid} ${start}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Removes the pid file once its process exited (only if the file still names it: a newer start may have rewritten it). */
export function forgetPid(file: string, pid: number): void {
  try {
    if (Number(readFileSync(file, 'utf8').split(' ')[0]) === pid) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

/** Whether the process a pid file names still runs (same PID and start time). */
export function isRecordedProcess(file: string): boolean {
  try {
    const [pid, start] = readFileSync(file, 'utf8').trim().split(' ');
    return start !== undefined && startTime(Number(pid)) === start;
  } catch {
    return false;
  }
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3; start time is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Ends every process recorded under `dir` that still runs, in the order given (names without `.pid`; others after):
 * SIGTERM first, so a runner still stops its sandboxes; SIGKILL for what is left after `graceMs`. Returns what it ended.
 */
export async function endLeftovers(dir: string, order: string[], graceMs: number, log: (line: string) => void): Promise<string[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.pid'));
  const names = files.map((f) => f.slice(0, -4));
  names.sort((a, b) => rank(order, a) - rank(order, b));
  const ended: string[] = [];
  for (const name of names) {
    const file = join(dir, `${name}.pid`);
    const [pidText, start] = (await readFile(file, 'utf8').catch(() => '')).trim().split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && start !== undefined && startTime(pid) === start) {
      log(`[platform] ending ${name} (pid ${pid}) left running by a previous start`);
      signal(pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (startTime(pid) === start && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (startTime(pid) === start) signal(pid, 'SIGKILL');
      ended.push(name);
    }
    await rm(file, { force: true });
  }
  return ended;
}

function rank(order: string[], name: string): number {
  const i = order.findIndex((prefix) => name === prefix || name.startsWith(`${prefix}-`));
  return i < 0 ? order.length : i;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
}
