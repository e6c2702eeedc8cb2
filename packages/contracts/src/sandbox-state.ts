/** Sandbox states as the API exposes them (exact strings of the Daytona api-client enum). */
export const SANDBOX_STATES = [
  'creating',
  'restoring',
  'destroyed',
  'destroying',
  'started',
  'stopped',
  'starting',
  'stopping',
  'error',
  'build_failed',
  'pending_build',
  'building_snapshot',
  'unknown',
  'pulling_snapshot',
  'archived',
  'archiving',
] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

export const SANDBOX_DESIRED_STATES = ['destroyed', 'started', 'stopped', 'resized', 'archived'] as const;
export type SandboxDesiredState = (typeof SANDBOX_DESIRED_STATES)[number];

/** Default port of the toolbox daemon inside every sandbox. */
export const TOOLBOX_PORT = 2280;
