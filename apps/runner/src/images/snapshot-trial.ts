import { createHash } from 'node:crypto';
import { request } from 'node:http';
import type { ValidateSnapshot, ValidateSnapshotResult } from '@shoal/contracts';
import { RunnerError } from '../errors.js';
import type { SandboxService } from '../sandbox/sandbox.service.js';

/**
 * Trial sandboxes are named from the image, so a trial interrupted by a crash is found and removed by the next one.
 * No longer than a sandbox's UUID: the toolbox socket's path (<dataDir>/run/<id>.sock.<pid>.tmp) must fit in 108 bytes.
 */
export const TRIAL_PREFIX = 'trial-';
/** An entrypoint still running this long after it started did not "die at once". */
const ENTRYPOINT_WINDOW_MS = 1000;
const SHELL_TIMEOUT_MS = 15_000;

export function trialId(ref: string): string {
  return TRIAL_PREFIX + createHash('sha256').update(ref).digest('hex').slice(0, 30);
}

interface Log {
  info: (msg: string) => void;
  warn: (msg: string) => void;
}

/**
 * The trial run of a pulled snapshot (the reference runs a container from it and requires it to keep running): a
 * sandbox with no network, started exactly as sandboxes from the snapshot start (toolbox, entrypoint), must answer,
 * run `sh`, and keep its entrypoint alive for a moment. The sandbox is removed before the answer, whatever happened.
 */
export class SnapshotTrials {
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly sandboxes: SandboxService,
    private readonly log: Log,
    private readonly windowMs = ENTRYPOINT_WINDOW_MS,
  ) {}

  /** Trials of one image run one after the other (they share the sandbox id). */
  run(req: ValidateSnapshot): Promise<ValidateSnapshotResult> {
    const id = trialId(req.snapshot);
    const next = (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined).then(() => this.trial(id, req));
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    }).catch(() => undefined);
    return next;
  }

  /** Removes trial sandboxes a previous runner process left behind (it died mid-trial). */
  async removeLeftovers(): Promise<void> {
    for (const { meta } of this.sandboxes.all()) {
      if (meta.id.startsWith(TRIAL_PREFIX)) await this.discard(meta.id);
    }
  }

  private async trial(id: string, req: ValidateSnapshot): Promise<ValidateSnapshotResult> {
    const t0 = performance.now();
    const done = (reason?: string): ValidateSnapshotResult => ({
      valid: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      durationMs: Math.round(performance.now() - t0),
    });
    await this.discard(id);
    try {
      try {
        await this.sandboxes.create({
          id,
          userId: 'shoal-snapshot-trial',
          snapshot: req.snapshot,
          osUser: req.osUser ?? 'daytona',
          cpuQuota: 1,
          gpuQuota: 0,
          memoryQuota: 1,
          storageQuota: 1,
          env: {},
          ...(req.entrypoint?.length ? { entrypoint: req.entrypoint } : {}),
          networkBlockAll: true,
        }, { awaitToolbox: true });
      } catch (err) {
        // A runner without room or shutting down says nothing about the image: the caller retries.
        if (err instanceof RunnerError && err.statusCode === 503) throw err;
        return done(`the sandbox daemon did not start in the image: ${(err as Error).message}`);
      }
      const [shell, entry] = await Promise.all([this.shell(id), req.entrypoint?.length ? this.entrypointFate(id) : Promise.resolve(undefined)]);
      if (shell !== undefined) return done(shell);
      if (entry !== undefined) return done(`its entrypoint ${JSON.stringify(req.entrypoint)} ${entry}`);
      return done();
    } finally {
      await this.discard(id).catch((err: Error) => this.log.warn(`snapshot trial ${id}: cleanup failed: ${err.message}`));
      this.log.info(`snapshot trial of ${req.snapshot} took ${(performance.now() - t0).toFixed(0)} ms`);
    }
  }

  private async discard(id: string): Promise<void> {
    if (!this.sandboxes.has(id)) return;
    await this.sandboxes.destroy(id);
    await this.sandboxes.remove(id);
  }

  /** Undefined when `sh` runs in the sandbox as the SDK's commands need it; else why not. */
  private async shell(id: string): Promise<string | undefined> {
    let res: { status: number; body: string };
    try {
      res = await this.toolbox(id, '/process/execute', { command: 'sh -c "exit 0"', timeout: SHELL_TIMEOUT_MS / 1000 });
    } catch (err) {
      return `the sandbox daemon did not answer: ${(err as Error).message}`;
    }
    let exitCode: unknown;
    let output = res.body;
    try {
      const parsed = JSON.parse(res.body) as { exitCode?: unknown; result?: unknown; message?: unknown };
      exitCode = parsed.exitCode;
      output = String(parsed.result ?? parsed.message ?? '');
    } catch {
      /* not JSON: keep the raw answer */
    }
    if (res.status === 200 && exitCode === 0) return undefined;
    return `sh cannot run in the image (${res.status === 200 ? `exit code ${String(exitCode)}` : `HTTP ${res.status}`}${output.trim() ? `: ${output.trim().slice(0, 200)}` : ''}); commands need /bin/sh`;
  }

  /** Undefined when the entrypoint started and is still running (or finished cleanly) after the window; else its fate. */
  private async entrypointFate(id: string): Promise<string | undefined> {
    const deadline = performance.now() + this.windowMs + 5000;
    let startedAt: number | undefined;
    for (;;) {
      const log = toolboxMessages(await this.sandboxes.toolboxLog(id));
      const failed = /entrypoint .* failed to start: (.*)/.exec(log);
      if (failed) return `failed to start: ${failed[1]!.slice(0, 200)}`;
      const exited = /entrypoint .* exited \((.*)\)/.exec(log);
      if (exited) return exited[1] === 'code 0' ? undefined : `exited at once (${exited[1]})`;
      if (startedAt === undefined && /entrypoint .* started/.test(log)) startedAt = performance.now();
      const now = performance.now();
      if (startedAt !== undefined && now - startedAt >= this.windowMs) return undefined;
      if (now > deadline) return startedAt === undefined ? 'never started' : undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private toolbox(id: string, path: string, body: unknown): Promise<{ status: number; body: string }> {
    const { socketPath } = this.sandboxes.target(id);
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath, path, method: 'POST', agent: false, timeout: SHELL_TIMEOUT_MS + 5000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 64 * 1024) chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.end(payload);
    });
  }
}

/** The daemon logs JSON lines (apps/toolbox log.ts): their messages, one a line; other lines (the runtime's) as they are. */
export function toolboxMessages(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      try {
        const msg = (JSON.parse(line) as { msg?: unknown }).msg;
        return typeof msg === 'string' ? msg : line;
      } catch {
        return line;
      }
    })
    .join('\n');
}
