import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What the spawner child runs: one program, its arguments, stdin and environment (spawner-child.mjs). */
export interface SpawnRequest {
  file: string;
  args: string[];
  input?: string;
  cwd?: string;
  env: Record<string, string>;
}

export interface SpawnOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

type Answer = { id: number } & ({ error: { message: string; code?: string } } | SpawnOutcome);

const CHILD = fileURLToPath(new URL('./spawner-child.mjs', import.meta.url));

/**
 * Starts the runner's short-lived tools through a small child process (spawner-child.mjs says why: a fork of the
 * runner itself costs several times more). One per runner process, shared by every runner in it (tests make several)
 * and started by the first `acquireSpawner()`. When it is not running, or has died, `exec()` spawns directly.
 */
class Spawner {
  private readonly pending = new Map<number, { resolve: (o: SpawnOutcome) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stopping = false;
  readonly exited: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    onDeath: () => void,
  ) {
    child.on('message', (m: Answer) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.idleUnref();
      if ('error' in m) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve({ code: m.code, stdout: m.stdout, stderr: m.stderr });
    });
    // A closed channel brings no more answers, whether the child exited or only let go of it.
    child.on('disconnect', () => {
      onDeath();
      // What it was running may still run (each program has a session of its own), but its answer is lost.
      for (const p of this.pending.values()) p.reject(new Error("the runner's spawner exited before the program's answer"));
      this.pending.clear();
      this.idleUnref();
    });
    child.on('error', () => undefined);
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    this.idleUnref();
  }

  get usable(): boolean {
    return this.child.connected;
  }

  run(req: SpawnRequest): Promise<SpawnOutcome> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // A run in flight keeps the runner's process alive, as a direct child would.
      this.child.ref();
      this.child.channel?.ref();
      this.child.send({ id, ...req }, (err) => {
        if (!err) return;
        this.pending.delete(id);
        this.idleUnref();
        reject(err);
      });
    });
  }

  async stop(): Promise<void> {
    // Its exit is awaited here, so it must keep the process alive until then.
    this.stopping = true;
    this.child.ref();
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }

  /** The channel alone must not keep the runner's process from exiting. */
  private idleUnref(): void {
    if (this.pending.size > 0 || this.stopping) return;
    this.child.unref();
    this.child.channel?.unref();
  }
}

let current: Spawner | undefined;
let users = 0;

/**
 * Starts the spawner (or joins the running one) until the returned release is called; `tag` goes on its command line
 * so that it is found by what the runner is found by (its data dir). Never throws: a spawner that cannot start only
 * means direct spawns.
 */
export function acquireSpawner(tag: string): () => Promise<void> {
  users++;
  if (!current) {
    const child = spawn(process.execPath, [CHILD, tag], {
      // Plain node: NODE_OPTIONS of the runner (a TypeScript loader) would double its size.
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Ctrl-C signals the runner's process group; the runner decides when its tools stop.
      detached: true,
    });
    const s: Spawner = new Spawner(child, () => {
      if (current === s) current = undefined;
    });
    current = s;
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--users > 0) return;
    const s = current;
    current = undefined;
    await s?.stop();
  };
}

/** The running spawner, if any. */
export function spawner(): { run(req: SpawnRequest): Promise<SpawnOutcome> } | undefined {
  return current?.usable ? current : undefined;
}
