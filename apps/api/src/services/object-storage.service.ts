import { mintSessionCredentials, objectStorageSessionKey } from '@shoal/contracts';
import type { ApiConfig } from '../config.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';

/** StorageAccessDto: what the SDK reads before uploading a build context (sdk-wire-contract.md §5). */
export interface StorageAccess {
  accessKey: string;
  secret: string;
  sessionToken: string;
  storageUrl: string;
  organizationId: string;
  bucket: string;
}

/**
 * Push access to object storage. No state: the temporary credentials carry their organization, prefix and expiry in
 * a token signed with a key derived from the platform secret (contracts object-storage.ts), which every API replica
 * and every embedded S3 replica can derive or is given, so any replica verifies what any other minted.
 */
export class ObjectStorageService {
  private readonly sessionKey: string | undefined;

  constructor(private readonly config: Readonly<ApiConfig>) {
    this.sessionKey = config.platformSecret ? objectStorageSessionKey(config.platformSecret) : undefined;
  }

  pushAccess(user: UserPrincipal): StorageAccess {
    const os = this.config.objectStorage;
    if (!os.url || !os.publicUrl) throw Errors.objectStorageNotConfigured();
    const base = { storageUrl: os.publicUrl, organizationId: user.organizationId, bucket: os.bucket };
    if (os.pushAccess === 'shared') return { ...base, accessKey: os.accessKey!, secret: os.secretKey!, sessionToken: '' };
    if (os.pushAccess === 'none' || !this.sessionKey) throw Errors.objectStoragePushAccessUnavailable();
    const creds = mintSessionCredentials(this.sessionKey, { organizationId: user.organizationId, bucket: os.bucket, ttlSeconds: os.pushAccessTtlSeconds });
    return { ...base, accessKey: creds.accessKey, secret: creds.secret, sessionToken: creds.sessionToken };
  }
}
