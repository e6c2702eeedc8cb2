import type { SandboxState } from '@shoal/contracts';

/*
 * The sandbox state machine, pure. The database stores only settled states (unknown, started, stopped, archived,
 * destroyed, error) plus the desired state; the transitional states clients see are derived from the pair, so a
 * crash in the middle of a runner call never leaves a transitional state behind.
 */

export function derivedState(state: string, desired: string): SandboxState {
  if (state === desired || state === 'destroyed') return state as SandboxState;
  if (state === 'error' || state === 'build_failed') return state;
  switch (desired) {
    case 'started':
      if (state === 'unknown') return 'creating';
      // An archived sandbox's files come back from object storage onto the runner the scheduler picks.
      if (state === 'archived') return 'restoring';
      if (state === 'stopped') return 'starting';
      break;
    case 'stopped':
      if (state === 'started') return 'stopping';
      break;
    case 'destroyed':
      return 'destroying';
    case 'archived':
      if (state === 'stopped') return 'archiving';
      break;
  }
  return state as SandboxState;
}

/** What the reconciler must do next to move `state` toward `desired`, or null when nothing is to be done. */
export type SandboxAction = 'create' | 'start' | 'stop' | 'archive' | 'destroy' | null;

export function nextAction(state: string, desired: string): SandboxAction {
  if (state === desired || state === 'destroyed') return null;
  if (desired === 'destroyed') return 'destroy';
  if (state === 'error' || state === 'build_failed') return null;
  if (desired === 'started') {
    if (state === 'unknown') return 'create';
    if (state === 'stopped' || state === 'archived') return 'start';
  }
  if (desired === 'stopped' && state === 'started') return 'stop';
  if (desired === 'archived' && state === 'stopped') return 'archive';
  return null;
}

/** State the sandbox settles in when `action` succeeds. */
export function settledState(action: Exclude<SandboxAction, null>): string {
  switch (action) {
    case 'create':
    case 'start':
      return 'started';
    case 'stop':
      return 'stopped';
    case 'archive':
      return 'archived';
    case 'destroy':
      return 'destroyed';
  }
}
