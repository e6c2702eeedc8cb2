import type { Api } from '../../api.js';
import { UsageError } from '../../errors.js';

/** The SnapshotDto fields the CLI shows (Daytona v0.108; `size` is in GB, null until pulled or built). */
export interface Snapshot {
  id: string;
  name: string;
  imageName?: string | null;
  state: string;
  size?: number | null;
  cpu?: number;
  gpu?: number;
  mem?: number;
  disk?: number;
  entrypoint?: string[] | null;
  errorReason?: string | null;
  general?: boolean;
  createdAt?: string;
  updatedAt?: string;
  lastUsedAt?: string | null;
}

/** States a snapshot stays in until someone acts; everything else is still on its way somewhere. */
export const SETTLED = new Set(['active', 'inactive', 'error', 'build_failed']);
export const FAILED = new Set(['error', 'build_failed']);

export const SNAPSHOT_COLUMNS = ['name', 'state', 'size', 'created'];

export function snapshotRow(s: Snapshot): Record<string, unknown> {
  return { name: s.name, state: s.state, size: s.size === null || s.size === undefined ? '' : `${s.size} GB`, created: s.createdAt ?? '' };
}

export function snapshotDetails(s: Snapshot): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    state: s.state,
    imageName: s.imageName,
    size: s.size === null || s.size === undefined ? null : `${s.size} GB`,
    cpu: s.cpu,
    gpu: s.gpu,
    memory: s.mem,
    disk: s.disk,
    entrypoint: s.entrypoint,
    general: s.general,
    errorReason: s.errorReason,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    lastUsedAt: s.lastUsedAt,
  };
}

export function snapshotArg(positional: string[], usage: string): string {
  const ref = positional[0];
  if (!ref) throw new UsageError(usage);
  return ref;
}

/** GET /snapshots/{id} takes an id or a name; the mutating operations want the id, so callers resolve first. */
export function getSnapshot(api: Api, idOrName: string): Promise<Snapshot> {
  return api.request<Snapshot>('GET', `/snapshots/${encodeURIComponent(idOrName)}`);
}
