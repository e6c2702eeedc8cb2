import { createHash, randomBytes } from 'node:crypto';

export { PERMISSIONS, type Permission } from '@shoal/contracts';

export function generateApiKey(): string {
  return `dtn_${randomBytes(32).toString('hex')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The one place a key's stored form is derived: only the hash and the listing prefix/suffix are ever stored. */
export function apiKeyRecord(value: string = generateApiKey()): { value: string; keyHash: string; keyPrefix: string; keySuffix: string } {
  return { value, keyHash: hashApiKey(value), keyPrefix: 'dtn', keySuffix: value.slice(-3) };
}

/** The listing form of a key: prefix, 20 stars, last three characters (as the reference API shows it). */
export function maskApiKey(prefix: string, suffix: string): string {
  return `${prefix}${'*'.repeat(20)}${suffix}`;
}

export function randomToken(length = 32): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i]! % alphabet.length];
  return out;
}
