import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { Errors } from '../errors.js';
import { hostPlatform, isLoopbackHost, repositoryOf, type ImageReference } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

/** A manifest resolved for this host: what gets copied and what the API records. */
export interface ResolvedManifest {
  /** `host/repository@digest` of the single-platform manifest. */
  pinned: string;
  digest: string;
  sizeBytes: number;
}

const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/nonexistent' };
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/** Thrown when skopeo fails; `stderr` is what it said (credentials never appear: they live in an auth file). */
export class SkopeoError extends Error {
  constructor(readonly stderr: string) {
    super(stderr.trim().split('\n').pop() ?? 'skopeo failed');
  }
}

/** Runs skopeo, handing each output line to `onLine` as it comes (progress for the snapshot log). */
export function skopeo(args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let partial = '';
    const lines = (d: Buffer) => {
      if (!onLine) return;
      const text = partial + d.toString('utf8');
      const all = text.split(/\r?\n/);
      partial = all.pop() ?? '';
      for (const l of all) if (l.trim()) onLine(l.trim());
    };
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      lines(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString('utf8');
      lines(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (partial.trim() && onLine) onLine(partial.trim());
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new SkopeoError(err || `skopeo exited with ${code}`));
    });
  });
}

/**
 * Writes a 0600 auth file for `host` (never the command line: arguments are visible to every user in `ps`) and returns
 * its path, or undefined without credentials. The caller removes it.
 */
export async function writeAuthFile(path: string, host: string, creds: Credentials | undefined): Promise<string | undefined> {
  if (!creds?.username) return undefined;
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  await writeFile(path, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
  return path;
}

export async function removeAuthFile(path: string | undefined): Promise<void> {
  if (path) await rm(path, { force: true });
}

function tlsFlag(flag: string, host: string): string[] {
  return isLoopbackHost(host) ? [`--${flag}=false`] : [];
}

/**
 * Finds the manifest this host runs: a multi-platform index resolves to linux/<host architecture>. Returns it pinned
 * by digest so the copy takes exactly what was inspected.
 */
export async function resolveManifest(ref: ImageReference, authFile: string | undefined, arch = process.arch): Promise<ResolvedManifest> {
  const repo = repositoryOf(ref);
  const inspect = async (target: string) => {
    const args = ['inspect', '--raw', ...tlsFlag('tls-verify', ref.host), ...(authFile ? ['--authfile', authFile] : []), `docker://${target}`];
    return skopeo(args);
  };
  let body = await inspect(ref.digest ? `${repo}@${ref.digest}` : `${repo}:${ref.tag}`);
  let digest = ref.digest ?? sha256(body);
  let doc = parseManifest(body);
  if (INDEX_TYPES.has(doc.mediaType ?? '') || Array.isArray(doc.manifests)) {
    const want = hostPlatform(arch);
    const candidates = (doc.manifests ?? []).filter((m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture);
    const pick = candidates.find((m) => !m.platform?.variant || m.platform.variant === want.variant) ?? candidates[0];
    if (!pick) {
      const have = (doc.manifests ?? []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(', ');
      throw Errors.imagePull(`${repo}`, `the image has no ${want.os}/${want.architecture} variant (it has: ${have || 'none'})`);
    }
    digest = pick.digest;
    body = await inspect(`${repo}@${digest}`);
    doc = parseManifest(body);
  }
  if (!Array.isArray(doc.layers)) throw Errors.imagePull(repo, 'the registry answered with something that is not an image manifest');
  const sizeBytes = doc.layers.reduce((a, l) => a + (Number.isFinite(l.size) ? Number(l.size) : 0), 0);
  return { pinned: `${repo}@${digest}`, digest, sizeBytes };
}

interface ManifestDoc {
  mediaType?: string;
  manifests?: { digest: string; platform?: { os?: string; architecture?: string; variant?: string } }[];
  layers?: { size?: number }[];
}

function parseManifest(body: string): ManifestDoc {
  try {
    return JSON.parse(body) as ManifestDoc;
  } catch {
    return {};
  }
}

function sha256(s: string): string {
  return `sha256:${createHash('sha256').update(s).digest('hex')}`;
}

export interface CopyOptions {
  srcHost?: string;
  srcAuth?: string | undefined;
  destHost?: string;
  destAuth?: string | undefined;
  preserveDigests?: boolean;
  digestFile?: string;
}

/** `skopeo copy src dest` with per-side TLS and auth, streaming its progress lines. */
export async function copyImage(src: string, dest: string, o: CopyOptions, onLine: (l: string) => void): Promise<void> {
  const args = ['copy'];
  if (o.srcHost) args.push(...tlsFlag('src-tls-verify', o.srcHost));
  if (o.destHost) args.push(...tlsFlag('dest-tls-verify', o.destHost));
  if (o.srcAuth) args.push('--src-authfile', o.srcAuth);
  if (o.destAuth) args.push('--dest-authfile', o.destAuth);
  if (o.preserveDigests) args.push('--preserve-digests');
  if (o.digestFile) args.push('--digestfile', o.digestFile);
  await skopeo([...args, src, dest], onLine);
}

/** Turns what skopeo said into a reason a user can act on. */
export function pullFailureReason(err: SkopeoError, host: string): string {
  const s = err.stderr;
  if (/unauthorized|authentication required|invalid username\/password|incorrect username or password|denied|401/i.test(s)) {
    return `authentication to registry ${host} failed (wrong or missing credentials): ${err.message}`;
  }
  if (/manifest unknown|name unknown|not found|404/i.test(s)) return `image not found in registry ${host}: ${err.message}`;
  if (/connection refused|no such host|i\/o timeout|dial tcp/i.test(s)) return `registry ${host} is unreachable: ${err.message}`;
  return err.message;
}
