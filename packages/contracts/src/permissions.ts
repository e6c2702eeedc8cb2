/**
 * The permissions an API key or an organization role carries (Daytona v0.108). The API enforces them; the CLI and
 * the test suites offer and check the same list.
 */
export const PERMISSIONS = [
  'write:registries',
  'delete:registries',
  'write:snapshots',
  'delete:snapshots',
  'write:sandboxes',
  'delete:sandboxes',
  'read:volumes',
  'write:volumes',
  'delete:volumes',
  'read:audit_logs',
] as const;
export type Permission = (typeof PERMISSIONS)[number];
