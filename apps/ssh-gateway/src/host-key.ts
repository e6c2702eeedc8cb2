import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';

// ssh2 is CommonJS: its named exports are reached through the default import under ESM.
const { utils } = ssh2;

export const HOST_KEY_FILE = 'ssh_host_ed25519_key';

export interface HostKey {
  /** OpenSSH private key text. */
  private: string;
  /** `ssh-ed25519 AAAA…`, the line a known_hosts entry carries. */
  publicLine: string;
  /** SHA256:… as `ssh-keygen -lf` and the ssh client print it. */
  fingerprint: string;
}

/**
 * An OpenSSH ed25519 private key that ssh2 itself can load. ssh2's generator strips leading zero bytes from the public
 * key (it mistakes them for BIT STRING padding), so about one key in 128 comes out with a 31-byte public key that
 * nothing can parse; such a key is drawn again. `generate` is replaceable so tests can reach the retry.
 */
export function generateEd25519PrivateKey(generate: () => string = () => utils.generateKeyPairSync('ed25519').private): string {
  for (let attempt = 0; attempt < 32; attempt++) {
    const text = generate();
    if (!(utils.parseKey(text) instanceof Error)) return text;
  }
  throw new Error('could not generate a loadable ed25519 host key');
}

/**
 * The gateway's identity: generated once (ed25519) and kept in the data dir with mode 0600, so clients that
 * recorded it in known_hosts keep trusting the gateway across restarts. Two gateways starting on one data dir at once
 * end with one key: each writes its key whole to a file of its own and hard-links it into place, which fails when the
 * name exists, and the loser reads the winner's. (Creating the file with O_EXCL and then writing it let the loser read
 * a file that was still empty.)
 */
export async function loadOrCreateHostKey(dataDir: string): Promise<HostKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, HOST_KEY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const generated = generateEd25519PrivateKey();
    const own = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(own, generated, { mode: 0o600, flag: 'wx' });
      await link(own, file);
      text = generated;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      text = await readFile(file, 'utf8');
    } finally {
      await rm(own, { force: true });
    }
  }
  const parsed = utils.parseKey(text);
  if (parsed instanceof Error) throw new Error(`${file}: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  const blob = key.getPublicSSH();
  return {
    private: text,
    publicLine: `${key.type} ${blob.toString('base64')}`,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  };
}
