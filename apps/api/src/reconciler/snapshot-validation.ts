import type { ValidateSnapshot, ValidateSnapshotResult } from '@shoal/contracts';
import { RunnerCallError, type RunnerTarget } from './runner-client.js';

/** The runner call of a trial run (`POST /snapshots/validate`); part of SnapshotRunnerClient. */
export interface SnapshotTrialClient {
  exists(r: RunnerTarget, ref: string): Promise<boolean>;
  validate?(r: RunnerTarget, body: ValidateSnapshot): Promise<ValidateSnapshotResult>;
}

export type ValidationVerdict = { kind: 'valid'; trialMs?: number } | { kind: 'invalid'; reason: string } | { kind: 'retry'; reason: string };

/**
 * The `validating` step: the image must be unpacked on the runner under the name sandboxes will use, and a trial
 * sandbox of it (started as sandboxes from the snapshot start, entrypoint included) must come up, run `sh`, and keep
 * its entrypoint alive for a moment, as the reference requires its validation container to keep running. The runner
 * removes the trial sandbox before it answers, and names it after the image, so a trial cut short by a restart of
 * either side is removed by the next trial or by the runner's start-up. A runner that cannot be reached or has no
 * room is retried; whatever it says about the image is the verdict.
 */
export async function validateOnRunner(
  client: SnapshotTrialClient,
  runner: RunnerTarget,
  ref: string,
  entrypoint: string[] | null,
): Promise<ValidationVerdict> {
  try {
    if (!(await client.exists(runner, ref))) return { kind: 'invalid', reason: `Snapshot image ${ref} is not on the runner after the pull` };
    if (!client.validate) return { kind: 'valid' };
    const result = await client.validate(runner, { snapshot: ref, ...(entrypoint?.length ? { entrypoint } : {}) });
    if (result.valid) return { kind: 'valid', trialMs: result.durationMs };
    return { kind: 'invalid', reason: `Validation failed: ${result.reason ?? 'the trial run failed'}` };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof RunnerCallError) {
      // A runner from before trial runs knows no such route: the presence check above is all it can give.
      if (err.statusCode === 404 && /\/snapshots\/validate/.test(message)) return { kind: 'valid' };
      if (err.statusCode !== undefined && err.statusCode < 500) return { kind: 'invalid', reason: `Validation failed: ${message}` };
    }
    return { kind: 'retry', reason: `Validation failed: ${message}` };
  }
}
