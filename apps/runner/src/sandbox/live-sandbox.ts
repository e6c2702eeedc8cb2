import type { Agent } from 'node:http';
import type { RunnerSandboxState } from '@shoal/contracts';
import type { SandboxMeta } from './sandbox.store.js';

/** A sandbox as this runner process holds it: the persisted meta plus what only the running process knows. */
export interface LiveSandbox {
  meta: SandboxMeta;
  state: RunnerSandboxState;
  errorReason?: string;
  pid?: number;
  /** Identifies the latest container launch, so a late outcome of an earlier one is recognised as stale. */
  launch?: object;
  /** Keep-alive connections to its toolbox socket, for the proxy. */
  agent?: Agent;
}
