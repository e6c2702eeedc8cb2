import type { RunnerConfig } from '../config.js';
import type { VolumeDriver } from './driver.js';
import { LocalVolumeDriver } from './local-driver.js';
import { S3VolumeDriver } from './s3-driver.js';

export function createVolumeDriver(
  cfg: Readonly<RunnerConfig>,
  idmapHelper: string,
  log: { info: (msg: string) => void; warn: (msg: string) => void },
): VolumeDriver {
  const v = cfg.volumes;
  if (v.driver === 's3' && v.s3) return new S3VolumeDriver({ ...v.s3, dataDir: cfg.dataDir, userId: v.userId, log });
  return new LocalVolumeDriver({ dir: v.dir, sizeGiB: v.sizeGiB, canonicalBase: cfg.uidBase, idmapHelper, log });
}
