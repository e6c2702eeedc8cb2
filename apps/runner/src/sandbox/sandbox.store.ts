import { chmod, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumeMountSpec } from '@shoal/contracts';
import type { EgressPolicy } from '../network/network.js';

/** What survives a runner restart, one JSON file per sandbox. */
export interface SandboxMeta {
  id: string;
  userId: string;
  snapshot: string;
  osUser: string;
  cpu: number;
  memoryGiB: number;
  diskGiB: number;
  env: Record<string, string>;
  entrypoint: string[];
  policy: EgressPolicy;
  metadata: Record<string, string>;
  /** Host index in the runner subnet; also the netns/veth suffix and the XFS project id offset. */
  index: number;
  /**
   * First host uid/gid of the sandbox's own 65,536-id range (container 0 maps to it), from the runner's pool.
   * Absent for sandboxes created before per-sandbox ranges: they keep the shared legacy range (`uidBase`).
   */
  uidBase?: number;
  /** Volumes mounted at every start (checked by parseVolumeMounts at create). */
  volumes?: VolumeMountSpec[];
  /** What the runner last did on purpose; a restart restores it. */
  desired: 'started' | 'stopped' | 'destroyed';
  createdAt: string;
}

export class SandboxStore {
  constructor(private readonly dir: string) {}

  sandboxDir(id: string): string {
    return join(this.dir, id);
  }

  async init(): Promise<SandboxMeta[]> {
    // Traversable (not listable) by the sandboxes' unprivileged root: the runtime bind-mounts per-sandbox files
    // from here after entering the user namespace.
    await mkdir(this.dir, { recursive: true, mode: 0o711 });
    await chmod(this.dir, 0o711);
    const out: SandboxMeta[] = [];
    for (const id of await readdir(this.dir)) {
      const meta = await readFile(join(this.dir, id, 'meta.json'), 'utf8').then(
        (t) => JSON.parse(t) as SandboxMeta,
        () => undefined,
      );
      if (meta) out.push(meta);
    }
    return out;
  }

  /** Whether the sandbox's metadata file exists, readable or not. */
  async hasMeta(id: string): Promise<boolean> {
    return stat(join(this.sandboxDir(id), 'meta.json')).then(() => true, () => false);
  }

  async save(meta: SandboxMeta): Promise<void> {
    const dir = this.sandboxDir(meta.id);
    await mkdir(dir, { recursive: true, mode: 0o711 });
    const tmp = join(dir, 'meta.json.tmp');
    await writeFile(tmp, JSON.stringify(meta, null, 2), { mode: 0o600 });
    await rename(tmp, join(dir, 'meta.json'));
  }
}
