/*
 * Who may call each Shoal operation, written down independently of the server (daytona-api-facts.md §7: reads need
 * membership only, sandbox changes need write:sandboxes, deletes delete:sandboxes; runners and admins have their
 * own routes, and admin routes need an admin key holding every permission: a narrowed admin key is refused). The server's own declarations are not trusted: a route that silently drops its permission is exactly
 * what the suite must catch. An operation the document lists but this table does not is an error, so a new route
 * cannot slip past the suite unclassified.
 */
import type { Operation } from '../openapi.js';
import type { Access } from './checker.js';
import { baseOperationId as baseId, ruleFor } from '../../../apps/api/test/permissions-matrix-table.js';

// The table itself is apps/api/test/permissions-matrix-table.ts, shared with the permissions matrix test, so the two
// suites cannot drift apart and a new route needs one entry.

export function baseOperationId(op: Operation): string {
  return baseId(op.operationId);
}

export function shoalAccess(op: Operation): Access {
  const rule = ruleFor(op.operationId);
  if (!rule) throw new Error(`operation ${op.operationId} (${op.method} ${op.path}) is not classified in the tenancy policy`);
  switch (rule.kind) {
    case 'public':
      return { kind: 'public' };
    case 'admin':
      return { kind: 'admin' };
    case 'runner':
      return { kind: 'runner' };
    // A service credential no user holds, like a runner's: every user's attempt is a 403.
    case 'ssh-gateway':
      return { kind: 'runner' };
    case 'member':
      return { kind: 'user', ...(rule.permission ? { permission: rule.permission } : {}) };
  }
}

/** Path parameters that name the victim organization's own resources (snapshots are global; runners are admin-only). */
export function shoalTargetsVictim(op: Operation): boolean {
  return /\{(sandboxId|organizationId|userId|name|volumeId)\}/.test(op.path) || /\/users\/\{id\}/.test(op.path);
}
