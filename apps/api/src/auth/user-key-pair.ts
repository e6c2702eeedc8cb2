import { createCipheriv, createDecipheriv, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import type { StoredKeyPair } from '../db/schema.js';

const COMMENT = 'shoal';

/** OpenSSH wire encoding of one length-prefixed string. */
function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/**
 * A fresh Ed25519 key pair: the public key in OpenSSH `authorized_keys` form, the private key as PKCS#8 PEM (which
 * OpenSSH reads). The private key only ever leaves this process sealed (see UserKeyPairs).
 */
export function generateSshKeyPair(): { publicKey: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);
  return { publicKey: `ssh-ed25519 ${blob.toString('base64')} ${COMMENT}`, privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/**
 * Users' SSH key pairs at rest: AES-256-GCM with a key derived from the platform secret (never in the database); the
 * user id is the additional data, so a sealed key copied onto another user does not open.
 */
export class UserKeyPairs {
  private readonly key: Buffer;

  constructor(platformSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', platformSecret, 'shoal', 'user ssh key pair v1', 32));
  }

  generate(userId: string): StoredKeyPair {
    const { publicKey, privateKey } = generateSshKeyPair();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(userId));
    const ct = Buffer.concat([cipher.update(privateKey, 'utf8'), cipher.final()]);
    return { publicKey, sealedPrivateKey: ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':') };
  }

  /** The private key, for its own user only (no route returns it today). */
  open(userId: string, stored: StoredKeyPair): string {
    const [version, iv, tag, ct] = stored.sealedPrivateKey.split(':');
    if (version !== 'v1' || !iv || !tag || !ct) throw new Error('unknown key pair format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(userId));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
  }
}
