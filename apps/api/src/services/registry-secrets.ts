import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Docker-registry passwords at rest: AES-256-GCM with a key derived (HKDF-SHA256) from the platform secret, which
 * lives in the data directory or the operator's config and never in the database. The row's organization and id are
 * the additional data, so a ciphertext copied onto another row (or another organization's row) does not decrypt.
 */
export class RegistrySecrets {
  private readonly key: Buffer;

  constructor(platformSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', platformSecret, 'shoal', 'docker-registry password v1', 32));
  }

  encrypt(plain: string, owner: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(owner));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
  }

  decrypt(stored: string, owner: string): string {
    if (stored === '') return '';
    const [version, iv, tag, ct] = stored.split(':');
    if (version !== 'v1' || iv === undefined || tag === undefined || ct === undefined) throw new Error('unknown registry password format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(owner));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
  }
}
