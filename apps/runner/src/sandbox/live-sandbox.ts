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
  /**
   * While its daemon has not booted (a burst's create, queued behind other starts): boots it ahead of every waiting
   * start and resolves once it answered or failed. The proxy awaits it before a request goes in.
   */
  wake?: () => Promise<void>;
  /** Keep-alive connections to its toolbox socket, for the proxy. */
  agent?: Agent;
}
