import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from '../util/exec.js';
import type { VolumeAttach, VolumeDriver } from './driver.js';
import { unmount } from './local-driver.js';
import { mountTable } from './mountinfo.js';

export interface S3DriverOptions {
  url: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** The runner's data dir: the credentials file lives in a root-only directory there. */
  dataDir: string;
  /** In-container uid and gid that own the volume's files as the sandbox sees them (the sandbox user). */
  userId: number;
  log: { info: (msg: string) => void; warn: (msg: string) => void };
}

/**
 * Volumes in object storage, for several hosts: a volume is the prefix `volumes/<id>/` of the bucket, mounted per
 * sandbox with Debian's s3fs (FUSE). s3fs shows every file as owned by the uid it is given: the sandbox user's host
 * uid, so that user owns what it sees. The credentials stay in a root-only file on the host; nothing of them enters
 * the sandbox. Writes become visible to other sandboxes when the writer closes the file (object storage semantics:
 * no shared locks, rename is copy + delete).
 */
export class S3VolumeDriver implements VolumeDriver {
  readonly kind = 's3' as const;
  readonly description: string;
  private readonly passwd: string;

  constructor(private readonly o: S3DriverOptions) {
    this.passwd = join(o.dataDir, 'secrets', 's3fs.passwd');
    this.description = `volumes: s3 driver, prefix volumes/<id>/ of bucket ${o.bucket} at ${o.url}, mounted with s3fs per sandbox`;
  }

  async init(): Promise<void> {
    const r = await exec('s3fs', ['--version'], { allowFailure: true });
    if (r.code !== 0) throw new Error('SHOAL_VOLUME_DRIVER=s3 needs s3fs (Debian package s3fs; npm start installs it)');
    await mkdir(join(this.o.dataDir, 'secrets'), { recursive: true, mode: 0o700 });
    await chmod(join(this.o.dataDir, 'secrets'), 0o700);
    await writeFile(this.passwd, `${this.o.accessKey}:${this.o.secretKey}\n`, { mode: 0o600 });
    await chmod(this.passwd, 0o600);
  }

  async attach(a: VolumeAttach): Promise<void> {
    const prefix = `/volumes/${a.volumeId}${a.subpath ? `/${a.subpath}` : ''}`;
    const id = a.uidBase + this.o.userId;
    await exec('s3fs', [
      `${this.o.bucket}:${prefix}`,
      a.target,
      '-o', [
        `url=${this.o.url}`,
        `endpoint=${this.o.region}`,
        'use_path_request_style',
        `passwd_file=${this.passwd}`,
        'allow_other',
        `uid=${id}`,
        `gid=${id}`,
        // The mount's root as the user's own directory; files keep the modes chmod gives them.
        'mp_umask=0022',
        'nosuid',
        'nodev',
        // Single PUTs and CopyObjects only (no UploadPartCopy, which Shoal's object storage does not serve).
        'nomultipart',
      ].join(','),
    ]);
  }

  async detach(_volumeId: string, target: string): Promise<void> {
    await unmount(target);
  }

  async inUse(volumeId: string): Promise<boolean> {
    // Staging directories are named `<n>.<volumeId>` (sandbox-volumes.ts).
    return (await mountTable()).some((e) => e.fsType === 'fuse.s3fs' && e.mountPoint.endsWith(`.${volumeId}`));
  }

  async remove(volumeId: string): Promise<boolean> {
    // The data is in object storage, shared by every host: nothing of it is this host's to delete.
    return !(await this.inUse(volumeId));
  }

  async close(): Promise<void> {
    // Every mount is a sandbox's and goes with it.
  }
}
