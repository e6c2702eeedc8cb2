import type { Api } from '../../api.js';
import { ApiRequestError, UsageError } from '../../errors.js';

/** The VolumeDto fields (Daytona v0.108). */
export interface Volume {
  id: string;
  name: string;
  organizationId: string;
  state: string;
  createdAt: string;
  updatedAt: string;
  lastUsedAt?: string | null;
  errorReason: string | null;
}

export const VOLUME_COLUMNS = ['name', 'state', 'id', 'lastUsed', 'created'];

export function volumeRow(v: Volume): Record<string, unknown> {
  return { name: v.name, state: v.state, id: v.id, lastUsed: v.lastUsedAt ?? '', created: v.createdAt };
}

export function volumeArg(positional: string[], usage: string): string {
  const ref = positional[0];
  if (!ref) throw new UsageError(usage);
  return ref;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** By id when it looks like one (a name may also look like an id: then by name), else by name. */
export async function getVolume(api: Api, idOrName: string): Promise<Volume> {
  if (UUID.test(idOrName)) {
    try {
      return await api.request<Volume>('GET', `/volumes/${encodeURIComponent(idOrName)}`);
    } catch (err) {
      if (!(err instanceof ApiRequestError) || err.statusCode !== 404) throw err;
    }
  }
  return api.request<Volume>('GET', `/volumes/by-name/${encodeURIComponent(idOrName)}`);
}

/** Polls until the volume is in one of `states` (or `error`), for at most `timeoutMs`. */
export async function waitForVolume(api: Api, id: string, states: string[], timeoutMs = 120_000): Promise<Volume> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await api.request<Volume>('GET', `/volumes/${encodeURIComponent(id)}`);
    if (states.includes(v.state) || v.state === 'error' || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}
