import type { S3Client } from '@aws-sdk/client-s3';
import type { FastifyBaseLogger } from 'fastify';
import { request } from 'undici';
import { RUNNER_AUTH_HEADER, runnerCallToken } from '@shoal/contracts';
import type { Runner, Volume } from '../db/schema.js';
import { RunnerCallError, runnerUrl, type RunnerTarget } from './runner-client.js';

/**
 * Where a volume's data lives, as the API sees it (SHOAL_VOLUME_DRIVER, read once at start). The runners mount the
 * data (apps/runner/src/volumes); the API prepares it when a volume is created and removes it when it is deleted.
 * Both calls are idempotent: the volume manager repeats them after a crash or a failed attempt.
 */
export interface VolumeStorage {
  readonly driver: 'local' | 's3';
  provision(v: Volume): Promise<void>;
  remove(v: Volume): Promise<void>;
}

/** The runner call of the local driver: DELETE /volumes/:volumeId removes the volume's directory on that host. */
export interface VolumeRunnerClient {
  deleteVolume(r: RunnerTarget, volumeId: string): Promise<void>;
}

const CALL_MS = 60_000;

export class HttpVolumeRunnerClient implements VolumeRunnerClient {
  constructor(private readonly platformSecret: string) {}

  async deleteVolume(r: RunnerTarget, volumeId: string): Promise<void> {
    let res;
    try {
      res = await request(runnerUrl(r.apiUrl, `/volumes/${encodeURIComponent(volumeId)}`), {
        method: 'DELETE',
        headers: { [RUNNER_AUTH_HEADER]: `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}` },
        headersTimeout: CALL_MS,
        bodyTimeout: CALL_MS,
      });
    } catch (err) {
      throw new RunnerCallError(`Runner unreachable: ${(err as Error).message}`, undefined);
    }
    const text = await res.body.text();
    // 404: the runner never held the volume's data (or already removed it).
    if (res.statusCode >= 300 && res.statusCode !== 404) throw RunnerCallError.fromAnswer(res.statusCode, text);
  }
}

/**
 * Directories on each runner host. Nothing to prepare: a runner creates the directory when a sandbox first mounts
 * the volume. Deleting asks every registered runner to remove its copy; a runner that is `ready` must answer (else
 * the deletion is retried), one that is not (unresponsive, disabled, decommissioned) is asked once and its failure is
 * logged: a dead host would otherwise keep the volume in `deleting` forever.
 */
export class LocalVolumeStorage implements VolumeStorage {
  readonly driver = 'local' as const;

  constructor(
    private readonly runners: () => Promise<Runner[]>,
    private readonly client: VolumeRunnerClient,
    private readonly log: FastifyBaseLogger,
  ) {}

  async provision(): Promise<void> {}

  async remove(v: Volume): Promise<void> {
    for (const r of await this.runners()) {
      try {
        await this.client.deleteVolume(r, v.id);
      } catch (err) {
        if (r.state === 'ready') throw err;
        this.log.warn({ err, runnerId: r.id, volumeId: v.id }, 'volume data left on a runner that is not ready');
      }
    }
  }
}

export interface S3VolumeStorageConfig {
  url: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
}

/**
 * Objects under `volumes/<id>/` in the platform's bucket; the marker object `volumes/<id>/` says the volume exists.
 * The S3 library is loaded on first use: it is large, and an API with the local driver never needs it.
 */
export class S3VolumeStorage implements VolumeStorage {
  readonly driver = 's3' as const;
  private client: S3Client | undefined;
  private s3: typeof import('@aws-sdk/client-s3') | undefined;

  constructor(private readonly cfg: S3VolumeStorageConfig) {}

  private async connect(): Promise<{ client: S3Client; s3: typeof import('@aws-sdk/client-s3') }> {
    if (!this.s3 || !this.client) {
      this.s3 = await import('@aws-sdk/client-s3');
      this.client = new this.s3.S3Client({
        endpoint: this.cfg.url,
        region: this.cfg.region,
        forcePathStyle: true,
        credentials: { accessKeyId: this.cfg.accessKey, secretAccessKey: this.cfg.secretKey },
      });
    }
    return { client: this.client, s3: this.s3 };
  }

  static prefix(volumeId: string): string {
    return `volumes/${volumeId}/`;
  }

  async provision(v: Volume): Promise<void> {
    const { client, s3 } = await this.connect();
    await client.send(new s3.PutObjectCommand({ Bucket: this.cfg.bucket, Key: S3VolumeStorage.prefix(v.id), Body: '' }));
  }

  /** Deletes every object under the prefix, one page at a time, the marker last (so a crash mid-way is resumed). */
  async remove(v: Volume): Promise<void> {
    const { client, s3 } = await this.connect();
    const prefix = S3VolumeStorage.prefix(v.id);
    for (;;) {
      const page = await client.send(new s3.ListObjectsV2Command({ Bucket: this.cfg.bucket, Prefix: prefix, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).map((o) => o.Key!).filter((k) => k && k !== prefix);
      if (keys.length === 0) break;
      for (const Key of keys) await client.send(new s3.DeleteObjectCommand({ Bucket: this.cfg.bucket, Key }));
    }
    await client.send(new s3.DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: prefix }));
  }

  destroy(): void {
    this.client?.destroy();
  }
}
