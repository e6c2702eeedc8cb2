import { PERMISSIONS as CONTRACT_PERMISSIONS } from '@shoal/contracts';
import { UsageError } from '../../errors.js';

/** Daytona v0.108 ApiKeyList: `value` is the masked form; the full key is only in the answer to its creation. */
export interface ApiKey {
  name: string;
  value: string;
  createdAt: string;
  permissions: string[];
  lastUsedAt: string | null;
  expiresAt: string | null;
  userId: string;
}

export const KEY_COLUMNS = ['name', 'value', 'permissions', 'expiresAt', 'lastUsedAt', 'userId'];

/** `all` in --permissions is every one of them. */
export const PERMISSIONS: readonly string[] = CONTRACT_PERMISSIONS;

export function parsePermissions(text: string | undefined): string[] {
  if (text === undefined) throw new UsageError(`--permissions is required: a comma list of ${PERMISSIONS.join(', ')}, or all`);
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 1 && list[0] === 'all') return [...PERMISSIONS];
  const unknown = list.filter((p) => !PERMISSIONS.includes(p));
  if (unknown.length) throw new UsageError(`unknown permission ${unknown.join(', ')}; known: ${PERMISSIONS.join(', ')}, or all`);
  if (!list.length) throw new UsageError('--permissions is empty');
  return [...new Set(list)];
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--expires` as an ISO date-time or a duration from now (`90m`, `12h`, `30d`). */
export function parseExpiry(text: string, now = Date.now()): Date {
  const rel = /^(\d+)([mhd])$/.exec(text.trim());
  const at = rel ? new Date(now + Number(rel[1]) * UNITS[rel[2]!]!) : new Date(text);
  if (Number.isNaN(at.getTime())) throw new UsageError(`--expires must be a date-time (2027-01-31T12:00:00Z) or a duration such as 90m, 12h, 30d; got ${text}`);
  if (at.getTime() <= now) throw new UsageError(`--expires ${text} is not in the future`);
  return at;
}
