import type { Principal } from './auth.js';
import { S3Errors } from './errors.js';

export type Action = 'ListBuckets' | 'CreateBucket' | 'DeleteBucket' | 'HeadBucket' | 'ListObjects' | 'GetObject' | 'PutObject' | 'DeleteObject';

/**
 * What a principal may do. The service credential may do everything. A temporary credential may only, inside its own
 * bucket: list with a prefix inside its own `<organizationId>/` prefix, and read or write (including multipart)
 * objects under it. No deletes (build contexts are content-addressed and shared by every build of the organization),
 * no bucket operations.
 */
export function authorize(p: Principal, action: Action, bucket: string, keyOrPrefix?: string): void {
  if (p.kind === 'service') return;
  const { claims } = p;
  const inPrefix = bucket === claims.bucket && keyOrPrefix !== undefined && keyOrPrefix.startsWith(claims.prefix);
  if ((action === 'ListObjects' || action === 'GetObject' || action === 'PutObject') && inPrefix) return;
  throw S3Errors.accessDenied();
}
