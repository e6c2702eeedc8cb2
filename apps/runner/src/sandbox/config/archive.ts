import { join } from 'node:path';
import type { RunnerConfig } from '../../config.js';
import { objectStorageFromEnv } from '../../images/build-context-fetch.js';
import type { DiskPool } from '../../storage/quota.js';
import { SandboxCgroups } from '../cgroups.js';
import { SandboxArchiver, SandboxLayers } from '../sandbox-archive.js';

/** Archives and backups go to the object storage the platform gives every runner (SHOAL_S3_*, as build contexts). */
export function createSandboxLayers(cfg: Readonly<RunnerConfig>, pool: DiskPool, env: NodeJS.ProcessEnv = process.env): SandboxLayers {
  const cgroups = new SandboxCgroups(cfg.bridge);
  return new SandboxLayers({
    archiver: new SandboxArchiver(objectStorageFromEnv(env), join(cfg.dataDir, 'archive-tmp')),
    pool,
    cgroupDir: (id) => join('/sys/fs/cgroup', cgroups.pathFor(id)),
  });
}
