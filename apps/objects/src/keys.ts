import { S3Errors } from './errors.js';

/** S3's limit on a key's UTF-8 length. */
export const MAX_KEY_BYTES = 1024;
/** One key segment becomes one file name (percent-encoded, plus a one-letter tag): well below NAME_MAX (255). */
const MAX_SEGMENT_BYTES = 200;

/** Bucket names as S3 allows them (3-63 lowercase letters, digits, dots and hyphens). */
export function validBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..');
}

/**
 * Refuses keys that could mean something else on a file system or to a tar/path consumer: empty, too long, absolute,
 * containing NUL or other control characters, or with `.`/`..` segments. Storage never uses a key as a path directly
 * (see segmentName), so this is about clarity for clients, not the only guard.
 */
export function validateKey(key: string): void {
  if (key.length === 0) throw S3Errors.invalidKey('empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw S3Errors.keyTooLong();
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw S3Errors.invalidKey('control characters (including NUL) are not allowed');
  if (key.startsWith('/')) throw S3Errors.invalidKey('absolute keys are not allowed');
  for (const seg of key.split('/')) {
    if (seg === '.' || seg === '..') throw S3Errors.invalidKey('"." and ".." segments are not allowed');
    if (Buffer.byteLength(encodeSegment(seg)) > MAX_SEGMENT_BYTES) throw S3Errors.keyTooLong();
  }
}

/** Percent-encodes every byte outside [A-Za-z0-9._-]: the result never contains '/', NUL or means '.'/'..'. */
export function encodeSegment(seg: string): string {
  let out = '';
  for (const b of Buffer.from(seg, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeSegment(enc: string): string {
  return decodeURIComponent(enc);
}

/** File name of a directory segment (`d…`) and of an object (`o…`): "a" and "a/b" can both exist, as in S3. */
export const dirName = (seg: string) => `d${encodeSegment(seg)}`;
export const objectName = (seg: string) => `o${encodeSegment(seg)}`;

/** The relative path of a key's object file below its bucket directory. */
export function keyPath(key: string): string[] {
  const segs = key.split('/');
  const last = segs.pop()!;
  return [...segs.map(dirName), objectName(last)];
}
