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
      if (state === 'stopped' || state === 'archived') return 'starting';
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

/** Validates a comma-separated allow list: at most 5 IPv4 CIDRs. Returns the error message or null. */
export function validateNetworkAllowList(value: string): string | null {
  const networks = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (networks.length > 5) return 'Network allow list cannot contain more than 5 networks';
  for (const network of networks) {
    const slash = network.indexOf('/');
    if (slash < 0) return `Invalid network format: "${network}". Missing CIDR prefix length (e.g., /24)`;
    const ip = network.slice(0, slash);
    const prefix = network.slice(slash + 1);
    const octets = ip.split('.');
    const ipOk = octets.length === 4 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
    if (!ipOk) return `Invalid IP address: "${ip}" in network "${network}". Must be a valid IPv4 address`;
    if (!/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) return `Invalid CIDR prefix length: "${prefix}" in network "${network}". Must be between 0 and 32`;
  }
  return null;
}
