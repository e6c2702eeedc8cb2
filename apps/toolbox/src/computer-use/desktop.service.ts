import { rmSync } from 'node:fs';
import type { ToolboxContext } from '../context.js';
import { conflict, notFound, ToolboxError } from '../http/errors.js';
import { runX } from './exec.js';
import { displayNumber, parseResolution, type Size } from './options.js';
import { screenSizeOf } from './x11-capture.js';
import { locatePrograms, missingRequired, type DesktopPrograms } from './programs.js';
import { SupervisedProcess, type ProcessInfo, type ProcessSpec } from './supervisor.js';

export interface DesktopOptions {
  /** X display (default: DISPLAY from the sandbox's environment, else ":0"). */
  display?: string;
  /** "WxH" or "WxHxD" (default: VNC_RESOLUTION from the environment, else 1024x768x24). */
  resolution?: string;
  /** Where the programs are (default: looked up in the image). */
  programs?: DesktopPrograms;
  vncPort?: number;
  /**
   * Where noVNC (websockify) listens: "6080" (all addresses, which the sandbox's preview URL reaches through the
   * sandbox's own address) by default; tests give "127.0.0.1:<port>".
   */
  webListen?: string;
}

export type DesktopStatus = 'active' | 'partial' | 'inactive' | 'error';

const READY_TIMEOUT_MS = 10_000;
/** The reference's process names, in start order, with its priorities. */
const PROCESSES: [name: string, priority: number][] = [
  ['xvfb', 100],
  ['xfce4', 200],
  ['x11vnc', 300],
  ['novnc', 400],
];

/** The reference daemon's answer when its computer-use plugin cannot load, as a 503 in the toolbox's envelope. */
export class DesktopUnavailable extends ToolboxError {
  constructor(missing: string[]) {
    super(
      503,
      `Computer use is not available in this sandbox: the image lacks ${missing.join(', ')}. ` +
        'Create the sandbox from a desktop snapshot (e.g. shoal/desktop:1) or install the Debian packages xvfb, xdotool, ' +
        'imagemagick, openbox, x11vnc, novnc and websockify in the image.',
    );
  }
}

/**
 * The desktop of a sandbox: Xvfb, a window manager, x11vnc and noVNC (websockify), started on demand as the sandbox
 * user and supervised. The process names are the reference's (xvfb, xfce4, x11vnc, novnc) because the SDK's callers
 * use them; "xfce4" is whichever window manager the image has.
 */
export class DesktopService {
  readonly display: string;
  readonly resolution: { width: number; height: number; depth: number };
  private programs: DesktopPrograms | undefined;
  private readonly processes = new Map<string, SupervisedProcess>();
  private lock: Promise<unknown> = Promise.resolve();
  private started = false;

  constructor(
    private readonly ctx: ToolboxContext,
    private readonly options: DesktopOptions = {},
  ) {
    const display = options.display ?? ctx.env.DISPLAY ?? ':0';
    this.display = displayNumber(display) === undefined ? ':0' : display.trim();
    this.resolution = parseResolution(options.resolution ?? ctx.env.VNC_RESOLUTION);
  }

  /** The image's programs; looked up again while something required is missing (a package may be installed later). */
  tools(): DesktopPrograms {
    if (!this.programs || missingRequired(this.programs).length > 0) {
      this.programs = this.options.programs ?? locatePrograms(this.ctx.env.PATH);
    }
    return this.programs;
  }

  /** Throws the 503 "not available" error when the image lacks what every route needs. */
  requireAvailable(): DesktopPrograms {
    const programs = this.tools();
    const missing = missingRequired(programs);
    if (missing.length > 0) throw new DesktopUnavailable(missing);
    return programs;
  }

  /** For input and screen routes: the X server must be up. */
  requireDisplay(): DesktopPrograms {
    const programs = this.requireAvailable();
    if (!this.processes.get('xvfb')?.running) {
      throw conflict('The desktop is not running: start it first (POST /computeruse/start)');
    }
    return programs;
  }

  private specs(programs: DesktopPrograms): ProcessSpec[] {
    const env = { ...this.ctx.env, DISPLAY: this.display };
    const cwd = this.ctx.identity.home || '/';
    const { width, height, depth } = this.resolution;
    const vncPort = String(this.options.vncPort ?? 5901);
    const webListen = this.options.webListen ?? '6080';
    return [
      { name: 'xvfb', priority: 100, file: programs.xvfb, args: [this.display, '-screen', '0', `${width}x${height}x${depth}`, '-nolisten', 'tcp', '-ac'], env, cwd },
      {
        name: 'xfce4',
        priority: 200,
        file: programs.windowManager,
        args: programs.windowManager?.endsWith('/openbox') ? ['--sm-disable'] : [],
        env,
        cwd,
      },
      {
        name: 'x11vnc',
        priority: 300,
        file: programs.x11vnc,
        // Loopback only: the browser reaches it through websockify, never directly.
        args: ['-display', this.display, '-forever', '-shared', '-nopw', '-localhost', '-rfbport', vncPort, '-noxdamage'],
        env,
        cwd,
      },
      {
        name: 'novnc',
        priority: 400,
        file: programs.websockify,
        args: [...(programs.novncWeb ? ['--web', programs.novncWeb] : []), webListen, `127.0.0.1:${vncPort}`],
        env,
        cwd,
      },
    ];
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.lock.then(work, work);
    this.lock = next.catch(() => undefined);
    return next;
  }

  start(): Promise<{ message: string; status: Record<string, ProcessInfo> }> {
    return this.serialised(async () => {
      const programs = this.requireAvailable();
      for (const spec of this.specs(programs)) {
        if (!this.processes.has(spec.name)) this.processes.set(spec.name, new SupervisedProcess(this.ctx, spec));
      }
      this.started = true;
      const xvfb = this.processes.get('xvfb')!;
      if (!xvfb.running) await this.clearStaleLock();
      xvfb.start();
      await this.waitForDisplay(xvfb);
      for (const name of ['xfce4', 'x11vnc', 'novnc']) this.processes.get(name)!.start();
      return { message: 'Computer use processes started successfully', status: this.processStatus() };
    });
  }

  /**
   * An X server that died without cleaning up (the sandbox was stopped) leaves its lock file in /tmp. Xvfb treats the
   * lock as live when a process with the recorded pid exists, and after a restart of the sandbox's pid namespace some
   * process usually does. So when no server answers on the display, its lock and socket are stale and go.
   */
  private async clearStaleLock(): Promise<void> {
    const n = displayNumber(this.display);
    if (n === undefined) return;
    try {
      await screenSizeOf(n, 2_000);
      return;
    } catch {
      // Nothing answers: whatever is left there is stale.
    }
    for (const file of [`/tmp/.X${n}-lock`, `/tmp/.X11-unix/X${n}`]) {
      try {
        rmSync(file, { force: true });
      } catch (err) {
        this.ctx.log(`computer use: cannot remove the stale ${file}: ${(err as Error).message}`);
      }
    }
  }

  private async waitForDisplay(xvfb: SupervisedProcess): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (xvfb.running) {
        try {
          await this.screenSize();
          return;
        } catch {
          // Not accepting connections yet.
        }
      }
      if (Date.now() > deadline) {
        const why = xvfb.errors.text().trim().split('\n').slice(-3).join('; ');
        throw new ToolboxError(500, `The X server did not start on display ${this.display}${why ? `: ${why}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stop(): Promise<{ message: string; status: Record<string, ProcessInfo> }> {
    return this.serialised(async () => {
      this.requireAvailable();
      const byPriority = [...this.processes.values()].sort((a, b) => b.spec.priority - a.spec.priority);
      for (const p of byPriority) await p.stop();
      this.started = false;
      return { message: 'Computer use processes stopped successfully', status: this.processStatus() };
    });
  }

  status(): DesktopStatus {
    const all = [...this.processes.values()];
    if (all.some((p) => p.failed)) return 'error';
    const running = all.filter((p) => p.running).length;
    if (running === 0) return 'inactive';
    return running === all.length && this.started ? 'active' : 'partial';
  }

  processStatus(): Record<string, ProcessInfo> {
    // Every process is listed from the start, so the answer's shape does not depend on whether start ran.
    const status: Record<string, ProcessInfo> = {};
    for (const [name, priority] of PROCESSES) {
      status[name] = this.processes.get(name)?.info() ?? { running: false, priority, autoRestart: true, restarts: 0 };
    }
    return status;
  }

  process(name: string): SupervisedProcess | undefined {
    this.requireAvailable();
    if (!PROCESSES.some(([known]) => known === name)) {
      throw notFound(`Unknown computer-use process ${JSON.stringify(name)}: use xvfb, xfce4, x11vnc or novnc`);
    }
    return this.processes.get(name);
  }

  restart(name: string): Promise<{ message: string; processName: string }> {
    return this.serialised(async () => {
      const programs = this.requireAvailable();
      this.process(name);
      let p = this.processes.get(name);
      if (!p) {
        p = new SupervisedProcess(this.ctx, this.specs(programs).find((s) => s.name === name)!);
        this.processes.set(name, p);
      }
      await p.stop();
      p.start();
      if (name === 'xvfb') await this.waitForDisplay(p);
      return { message: `Process ${name} restarted successfully`, processName: name };
    });
  }

  /** The X screen's size in pixels. */
  async screenSize(): Promise<Size> {
    const n = displayNumber(this.display);
    if (n !== undefined) {
      try {
        return await screenSizeOf(n);
      } catch {
        // Asked of xdotool below, which reports why the display cannot be opened.
      }
    }
    const out = (await runX(this.ctx, this.requireAvailable().xdotool!, ['getdisplaygeometry'], { display: this.display, timeoutMs: 5_000 })).toString();
    const m = /^(\d+)\s+(\d+)/.exec(out.trim());
    if (!m) throw new ToolboxError(500, `xdotool getdisplaygeometry printed ${JSON.stringify(out.trim())}`);
    return { width: Number(m[1]), height: Number(m[2]) };
  }

  /** Stops everything without waiting (the toolbox is exiting). */
  shutdown(): void {
    for (const p of this.processes.values()) p.kill();
  }
}
