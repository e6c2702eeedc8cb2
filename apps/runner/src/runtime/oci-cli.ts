import { access, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { exec } from '../util/exec.js';
import type { ContainerResources, ContainerState, RunOptions, RuntimeBackend } from './backend.js';

/**
 * Drives crun / runc / runsc through their common CLI. Each runner keeps its runtime state under its own
 * `--root`, so two runners on one host never see each other's containers.
 */
export class OciCliBackend implements RuntimeBackend {
  readonly name: string;

  constructor(
    readonly binary: string,
    private readonly stateRoot: string,
  ) {
    this.name = basename(binary);
  }

  async init(): Promise<void> {
    await mkdir(this.stateRoot, { recursive: true, mode: 0o700 });
  }

  private cli(args: string[], opts: Parameters<typeof exec>[2] = {}) {
    return exec(this.binary, ['--root', this.stateRoot, ...args], opts);
  }

  async run(id: string, bundle: string, opts: RunOptions): Promise<void> {
    // `run --detach` is create+start in one spawn: the runtime exits once the container process runs.
    await this.cli(['run', '--detach', '--preserve-fds', '1', '--bundle', bundle, id], {
      outputFd: opts.logFd,
      extraFds: [opts.listenFd],
    });
  }

  /** Cheap existence check through the runtime's state directory (no spawn). */
  async exists(id: string): Promise<boolean> {
    return access(join(this.stateRoot, id)).then(
      () => true,
      () => false,
    );
  }

  async state(id: string): Promise<ContainerState | undefined> {
    const r = await this.cli(['state', id], { allowFailure: true });
    if (r.code !== 0) return undefined;
    try {
      const s = JSON.parse(r.stdout) as { status?: string; pid?: number };
      const status = (['creating', 'created', 'running', 'stopped', 'paused'] as const).find((x) => x === s.status) ?? 'unknown';
      return { status, pid: s.pid ?? 0 };
    } catch {
      return { status: 'unknown', pid: 0 };
    }
  }

  async kill(id: string, signal: 'TERM' | 'KILL'): Promise<void> {
    await this.cli(['kill', id, signal], { allowFailure: true });
  }

  async delete(id: string): Promise<void> {
    const r = await this.cli(['delete', '--force', id], { allowFailure: true });
    if (r.code !== 0 && (await this.state(id)) !== undefined) {
      throw new Error(`${this.name} delete ${id} failed: ${r.stderr.trim()}`);
    }
  }

  async update(id: string, res: ContainerResources): Promise<void> {
    const args = ['update'];
    if (res.cpu !== undefined) args.push('--cpu-period', '100000', '--cpu-quota', String(res.cpu * 100000));
    if (res.memoryGiB !== undefined) {
      const bytes = String(res.memoryGiB * 1024 ** 3);
      args.push('--memory', bytes, '--memory-swap', bytes);
    }
    if (args.length === 1) return;
    await this.cli([...args, id]);
  }

  async list(): Promise<string[]> {
    const r = await this.cli(['list', '-q'], { allowFailure: true });
    return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  }
}
