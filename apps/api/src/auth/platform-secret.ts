import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The platform secret kept in `<dataDir>/platform-secret` (mode 0600) when the operator gives none: created once and
 * read back on every start, so the runner call credentials derived from it stay valid across restarts.
 */
export async function ensurePlatformSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, 'platform-secret');
  try {
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret.length < 32) throw new Error(`${file} must hold at least 32 characters`);
  return secret;
}
