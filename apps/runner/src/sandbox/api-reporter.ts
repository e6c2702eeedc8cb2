import { isRunnerReportedState, type RunnerSandboxState } from '@shoal/contracts';

/** Reports sandbox state changes to the control plane (best effort; the periodic sync repairs misses). */
export class ApiReporter {
  constructor(
    private readonly apiUrl: string | undefined,
    private readonly token: string,
    private readonly log: (msg: string) => void,
  ) {}

  get enabled(): boolean {
    return !!this.apiUrl;
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', 'x-daytona-source': 'runner' };
  }

  async reportState(id: string, state: RunnerSandboxState): Promise<void> {
    if (!this.apiUrl || !isRunnerReportedState(state)) return;
    try {
      const res = await fetch(`${this.apiUrl}/sandbox/${encodeURIComponent(id)}/state`, {
        method: 'PUT',
        headers: this.headers(),
        body: JSON.stringify({ state }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      if (!res.ok && res.status !== 404) this.log(`state report for ${id} (${state}) got HTTP ${res.status}`);
    } catch (err) {
      this.log(`state report for ${id} failed: ${(err as Error).message}`);
    }
  }

  /** Sandboxes the API believes are on this runner in one of `states`. */
  async sandboxesInStates(states: string[]): Promise<{ id: string; state: string }[] | undefined> {
    if (!this.apiUrl) return undefined;
    try {
      const res = await fetch(`${this.apiUrl}/sandbox/for-runner?states=${states.join(',')}&skipReconcilingSandboxes=true`, {
        headers: this.headers(),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) {
        await res.arrayBuffer();
        return undefined;
      }
      const body = (await res.json()) as unknown;
      if (!Array.isArray(body)) return undefined;
      return body.filter((s): s is { id: string; state: string } => typeof s?.id === 'string' && typeof s?.state === 'string');
    } catch {
      return undefined;
    }
  }
}
