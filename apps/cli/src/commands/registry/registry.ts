import type { Api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import { ApiRequestError, UsageError } from '../../errors.js';

/** Daytona v0.108 DockerRegistry as Shoal answers it: the password never comes back. */
export interface Registry {
  id: string;
  name: string;
  url: string;
  username: string;
  project: string;
  registryType: string;
  createdAt: string;
  updatedAt: string;
}

export const REGISTRY_COLUMNS = ['id', 'name', 'url', 'username', 'project', 'registryType'];

export function registryArg(args: ParsedArgs, usage: string): string {
  const ref = args.positional[0];
  if (!ref) throw new UsageError(usage);
  return ref;
}

/** The API addresses registries by id; people remember names, so a name is looked up in the organization's list. */
export async function resolveRegistry(api: Api, idOrName: string): Promise<Registry> {
  const all = await api.request<Registry[]>('GET', '/docker-registry');
  const byId = all.find((r) => r.id === idOrName);
  if (byId) return byId;
  const byName = all.filter((r) => r.name === idOrName);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new UsageError(`several registries are named ${idOrName}; use the id (${byName.map((r) => r.id).join(', ')})`);
  throw new ApiRequestError(404, `Registry ${idOrName} not found`);
}
