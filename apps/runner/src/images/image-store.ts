import { createHash } from 'node:crypto';
import { appendFile, chown, lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegistryCredentials } from '@shoal/contracts';
import { exec, ExecError } from '../util/exec.js';
import { buildDefaultImage } from './default-image.js';

/** What the runner keeps of an image's OCI config (read from the config blob, never from the rootfs). */
export interface ImageRecord {
  ref: string;
  key: string;
  workdir: string;
  env: string[];
  user: string;
  entrypoint: string[];
  cmd: string[];
  pulledAt: string;
}

export interface ImageStoreOptions {
  dataDir: string;
  uidBase: number;
  defaultImage: string;
  imageCacheDir: string | undefined;
  log: (line: string) => void;
}

/** Mount points the runner binds into every sandbox; created once in the shared lower layer. */
const INJECTED_DIRS = ['.shoal', '.shoal/toolbox', '.shoal/node', '.shoal/bin'];
const INJECTED_FILES = ['resolv.conf', 'hosts', 'hostname'];

function isLoopbackRegistry(ref: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(ref);
}

/**
 * Local image store: each image is pulled into its own OCI layout and unpacked once, uid-shifted into the
 * sandboxes' shared user-namespace range, into a read-only lower directory shared by every sandbox of that image.
 */
export class ImageStore {
  private readonly root: string;
  private readonly inflight = new Map<string, Promise<ImageRecord>>();
  private readonly records = new Map<string, ImageRecord>();

  constructor(private readonly opts: ImageStoreOptions) {
    this.root = join(opts.dataDir, 'images');
  }

  static keyOf(ref: string): string {
    return createHash('sha256').update(ref).digest('hex').slice(0, 24);
  }

  lowerDir(key: string): string {
    return join(this.root, key, 'bundle', 'rootfs');
  }

  logPath(ref: string): string {
    return join(this.opts.dataDir, 'logs', `${ImageStore.keyOf(ref)}.log`);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(join(this.opts.dataDir, 'logs'), { recursive: true, mode: 0o700 });
    for (const key of await readdir(this.root)) {
      if (key.startsWith('.')) {
        await rm(join(this.root, key), { recursive: true, force: true });
        continue;
      }
      const rec = await readFile(join(this.root, key, 'image.json'), 'utf8').then((t) => JSON.parse(t) as ImageRecord, () => undefined);
      if (rec) this.records.set(rec.ref, rec);
      else await rm(join(this.root, key), { recursive: true, force: true });
    }
  }

  get(ref: string): ImageRecord | undefined {
    return this.records.get(ref);
  }

  count(): number {
    return this.records.size;
  }

  /** Pulls and unpacks `ref` unless present. Concurrent callers for one ref share the work. */
  ensure(ref: string, registry?: RegistryCredentials): Promise<ImageRecord> {
    const have = this.records.get(ref);
    if (have) return Promise.resolve(have);
    let p = this.inflight.get(ref);
    if (!p) {
      p = this.pull(ref, registry).finally(() => this.inflight.delete(ref));
      this.inflight.set(ref, p);
    }
    return p;
  }

  async remove(ref: string): Promise<void> {
    const rec = this.records.get(ref);
    this.records.delete(ref);
    const key = ImageStore.keyOf(ref);
    // Rename first so a half-deleted image is never mistaken for a complete one.
    const trash = join(this.root, `.trash-${key}-${Date.now()}`);
    if (rec || (await stat(join(this.root, key)).then(() => true, () => false))) {
      await rename(join(this.root, key), trash).catch(() => undefined);
      await rm(trash, { recursive: true, force: true });
    }
  }

  private async pull(ref: string, registry?: RegistryCredentials): Promise<ImageRecord> {
    const key = ImageStore.keyOf(ref);
    const log = async (line: string) => {
      this.opts.log(line);
      await appendFile(this.logPath(ref), `${new Date().toISOString()} ${line}\n`).catch(() => undefined);
    };
    const tmp = await mkdtemp(join(this.root, `.pull-${key}-`));
    try {
      const oci = join(tmp, 'oci');
      const started = Date.now();
      await log(`pulling ${ref}`);
      try {
        await this.copyFromRegistry(ref, oci, registry);
      } catch (err) {
        if (ref !== this.opts.defaultImage || !(err instanceof ExecError)) throw err;
        await log(`default image ${ref} not in its registry (${err.result.stderr.trim().split('\n').pop()}); building it locally`);
        await rm(oci, { recursive: true, force: true });
        await buildDefaultImage(join(tmp, 'build'), oci, this.opts.imageCacheDir, (l) => void log(l));
        await rm(join(tmp, 'build'), { recursive: true, force: true });
        await this.push(oci, ref).then(
          () => log(`pushed ${ref}`),
          (e: Error) => log(`could not push ${ref} (kept locally): ${e.message.split('\n')[0]}`),
        );
      }
      await log(`unpacking ${ref}`);
      const map = `0:${this.opts.uidBase}:65536`;
      await exec('umoci', ['unpack', '--uid-map', map, '--gid-map', map, '--image', `${oci}:img`, join(tmp, 'bundle')]);
      await this.prepareLower(join(tmp, 'bundle', 'rootfs'));
      const rec = await this.readImageConfig(oci, ref, key);
      await writeFile(join(tmp, 'image.json'), JSON.stringify(rec, null, 2));
      // The OCI layout is not needed once unpacked; the registry keeps the image.
      await rm(oci, { recursive: true, force: true });
      await rm(join(this.root, key), { recursive: true, force: true });
      await rename(tmp, join(this.root, key));
      this.records.set(ref, rec);
      await log(`image ${ref} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return rec;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      await log(`pull of ${ref} failed: ${(err as Error).message.split('\n')[0]}`);
      throw err;
    }
  }

  private async copyFromRegistry(ref: string, oci: string, registry?: RegistryCredentials): Promise<void> {
    const args = ['copy', '--quiet'];
    if (isLoopbackRegistry(ref)) args.push('--src-tls-verify=false');
    // Credentials go through a 0600 auth file, never the command line (visible to every user in `ps`).
    const authFile = join(oci + '.auth.json');
    if (registry?.username) {
      const first = ref.split('/')[0]!;
      const host = ref.includes('/') && (/[.:]/.test(first) || first === 'localhost') ? first : 'docker.io';
      const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
      await writeFile(authFile, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
      args.push('--src-authfile', authFile);
    }
    args.push('--override-os', 'linux', '--override-arch', 'amd64', `docker://${ref}`, `oci:${oci}:img`);
    try {
      await exec('skopeo', args);
    } finally {
      await rm(authFile, { force: true });
    }
  }

  private async push(oci: string, ref: string): Promise<void> {
    const args = ['copy', '--quiet'];
    if (isLoopbackRegistry(ref)) args.push('--dest-tls-verify=false');
    await exec('skopeo', [...args, `oci:${oci}:img`, `docker://${ref}`]);
  }

  /**
   * Creates the mount points for the injected runtime. lstat only: an image may ship `/.shoal` as a symlink to
   * a host path and we must never follow it.
   */
  private async prepareLower(rootfs: string): Promise<void> {
    for (const rel of INJECTED_DIRS) {
      const p = join(rootfs, rel);
      const st = await lstat(p).catch(() => undefined);
      if (st && !st.isDirectory()) await unlink(p);
      if (!st || !st.isDirectory()) await mkdir(p, { mode: 0o755 });
      await chown(p, this.opts.uidBase, this.opts.uidBase);
    }
    // Runner-provided files are bind-mounted over these; a symlink here would redirect the mount.
    const etc = join(rootfs, 'etc');
    const etcSt = await lstat(etc).catch(() => undefined);
    if (etcSt && !etcSt.isDirectory()) await unlink(etc);
    if (!etcSt || !etcSt.isDirectory()) await mkdir(etc, { mode: 0o755 });
    for (const name of INJECTED_FILES) {
      const p = join(etc, name);
      const st = await lstat(p).catch(() => undefined);
      if (st?.isFile()) continue;
      if (st) await rm(p, { recursive: true, force: true });
      await writeFile(p, '', { mode: 0o644 });
      await chown(p, this.opts.uidBase, this.opts.uidBase);
    }
  }

  private async readImageConfig(oci: string, ref: string, key: string): Promise<ImageRecord> {
    const blob = async (digest: string) => JSON.parse(await readFile(join(oci, 'blobs', ...digest.split(':')), 'utf8'));
    const index = JSON.parse(await readFile(join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifestDesc = index.manifests[0];
    if (!manifestDesc) throw new Error(`image ${ref} has no manifest`);
    const manifest = (await blob(manifestDesc.digest)) as { config: { digest: string } };
    const config = (await blob(manifest.config.digest)) as {
      config?: { WorkingDir?: string; Env?: string[]; User?: string; Entrypoint?: string[]; Cmd?: string[] };
    };
    const c = config.config ?? {};
    return {
      ref,
      key,
      workdir: c.WorkingDir ?? '',
      env: c.Env ?? [],
      user: c.User ?? '',
      entrypoint: c.Entrypoint ?? [],
      cmd: c.Cmd ?? [],
      pulledAt: new Date().toISOString(),
    };
  }
}
