import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { chown, lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { RegistryCredentials } from '@shoal/contracts';
import { Errors } from '../errors.js';
import { exec, ExecError } from '../util/exec.js';
import { buildDefaultImage } from './default-image.js';
import { buildDesktopImage } from './desktop-image.js';
import { scanLayers } from './layer-scan.js';
import { treeUsage } from './tree-usage.js';
import { parseReference, repositoryOf, type ImageReference } from './reference.js';
import { copyImage, pullFailureReason, removeAuthFile, resolveManifest, SkopeoError, writeAuthFile, type Credentials } from './registry-client.js';

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
  /** Sum of the compressed layer sizes (bytes), as the registry lists them. */
  sizeBytes?: number;
  /** Registry digest of the manifest for this host's platform. */
  digest?: string;
  /** Disk taken by the unpacked root filesystem (bytes; hard links counted once). */
  diskBytes?: number;
  /** Where the image was copied from when it was copied into the internal registry. */
  source?: string;
}

export interface ImageStoreOptions {
  dataDir: string;
  uidBase: number;
  defaultImage: string;
  /** Shoal's desktop image (desktop-image.ts): built here from Debian packages on first demand, like the default one. */
  desktopImage?: string;
  imageCacheDir: string | undefined;
  /** The runner's credentials for Shoal's internal registry (the host of `defaultImage`); none when it is open. */
  internalRegistry?: Credentials | undefined;
  /** Refuse images whose root filesystem holds more entries than this (tar bombs). */
  maxFiles?: number;
  /** Refuse images whose root filesystem takes more bytes than this. */
  maxUnpackedBytes?: number;
  log: (line: string) => void;
}

export interface EnsureOptions {
  /** Copy the image from this reference into the internal registry under the ensured ref first. */
  copyFrom?: string;
}

/** Mount points the runner binds into every sandbox; created once in the shared lower layer. */
const INJECTED_DIRS = ['.shoal', '.shoal/toolbox', '.shoal/node', '.shoal/bin'];
const INJECTED_FILES = ['resolv.conf', 'hosts', 'hostname'];
const DEFAULT_MAX_FILES = 2_000_000;
const DEFAULT_MAX_UNPACKED_BYTES = 64 * 2 ** 30;

/**
 * Local image store: each image is pulled into its own OCI layout and unpacked once, uid-shifted into the
 * sandboxes' shared user-namespace range, into a read-only lower directory shared by every sandbox of that image.
 */
export class ImageStore {
  private readonly root: string;
  private readonly inflight = new Map<string, Promise<ImageRecord>>();
  private readonly records = new Map<string, ImageRecord>();
  /** Pulls in progress by every reference their log is kept under (the source and the local ref). */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly logEvents = new EventEmitter();
  private readonly internalHost: string | undefined;

  constructor(private readonly opts: ImageStoreOptions) {
    this.root = join(opts.dataDir, 'images');
    const d = parseReference(opts.defaultImage);
    this.internalHost = typeof d === 'string' ? undefined : d.host;
    this.logEvents.setMaxListeners(0);
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
    // Images unpacked before disk usage was recorded: measure them once, in the background.
    for (const rec of this.records.values()) {
      if (rec.diskBytes !== undefined) continue;
      void treeUsage(this.lowerDir(rec.key)).then(
        async (u) => {
          rec.diskBytes = u.bytes;
          await writeFile(join(this.root, rec.key, 'image.json'), JSON.stringify(rec, null, 2)).catch(() => undefined);
        },
        () => undefined,
      );
    }
  }

  get(ref: string): ImageRecord | undefined {
    return this.records.get(ref);
  }

  count(): number {
    return this.records.size;
  }

  /** Bytes the unpacked images take on disk. */
  diskBytes(): number {
    let n = 0;
    for (const r of this.records.values()) n += r.diskBytes ?? 0;
    return n;
  }

  isPulling(ref: string): boolean {
    return this.running.has(ref);
  }

  /**
   * Pulls and unpacks `ref` unless present (with `copyFrom`, first copies that image into the internal registry as
   * `ref`). Concurrent callers for one ref share the work.
   */
  ensure(ref: string, registry?: RegistryCredentials, o: EnsureOptions = {}): Promise<ImageRecord> {
    const have = this.records.get(ref);
    if (have) return Promise.resolve(have);
    let p = this.inflight.get(ref);
    if (!p) {
      const logRefs = [...new Set([ref, o.copyFrom ?? ref])];
      // The first line is written before anything asynchronous so a log follower that arrives with the pull sees it.
      for (const r of logRefs) writeFileSync(this.logPath(r), '');
      this.logLine(logRefs, o.copyFrom ? `pulling ${o.copyFrom} into ${ref}` : `pulling ${ref}`);
      p = this.pull(ref, registry, o.copyFrom, logRefs).finally(() => {
        this.inflight.delete(ref);
        for (const r of logRefs) if (this.running.get(r) === p) this.running.delete(r);
      });
      this.inflight.set(ref, p);
      for (const r of logRefs) this.running.set(r, p);
    }
    return p;
  }

  async remove(ref: string): Promise<void> {
    if (this.inflight.has(ref)) throw Errors.conflict(`Snapshot ${ref} is being pulled on this runner`);
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

  /**
   * The pull log of `ref` as a stream; with `follow` and a pull running, it stays open and ends when the pull ends.
   * Undefined when there is no log.
   */
  openLog(ref: string, follow: boolean): Readable | undefined {
    const out = new PassThrough();
    // Subscribing and reading the file happen in one tick, and each line is appended and emitted in one tick too,
    // so no line is lost or doubled between the two.
    const running = follow ? this.running.get(ref) : undefined;
    const onLine = (r: string, line: string) => {
      if (r === ref) out.write(line);
    };
    if (running) this.logEvents.on('line', onLine);
    let text: string;
    try {
      text = readFileSync(this.logPath(ref), 'utf8');
    } catch {
      this.logEvents.off('line', onLine);
      return undefined;
    }
    out.write(text);
    if (!running) {
      out.end();
      return out;
    }
    const stop = () => this.logEvents.off('line', onLine);
    out.on('close', stop);
    void running.then(stop, stop).then(() => out.end());
    return out;
  }

  private logLine(refs: string[], line: string): void {
    this.opts.log(line);
    const text = `${new Date().toISOString()} ${line}\n`;
    for (const r of refs) {
      try {
        appendFileSync(this.logPath(r), text);
      } catch {
        // The log is best effort; the pull goes on.
      }
      this.logEvents.emit('line', r, text);
    }
  }

  private isShoalImage(ref: string): boolean {
    return ref === this.opts.defaultImage || (this.opts.desktopImage !== undefined && ref === this.opts.desktopImage);
  }

  /** Credentials for `host`: the caller's for a source registry, the runner's own for the internal one. */
  private credsFor(host: string, given?: RegistryCredentials): Credentials | undefined {
    if (given?.username) return given;
    if (host === this.internalHost && this.opts.internalRegistry?.username) return this.opts.internalRegistry;
    return undefined;
  }

  private async pull(ref: string, registry: RegistryCredentials | undefined, copyFrom: string | undefined, logRefs: string[]): Promise<ImageRecord> {
    const key = ImageStore.keyOf(ref);
    const log = (line: string) => this.logLine(logRefs, line);
    const tmp = await mkdtemp(join(this.root, `.pull-${key}-`));
    let pushing: Promise<void> | undefined;
    try {
      const local = parseOrThrow(ref);
      const source = copyFrom ? parseOrThrow(copyFrom) : local;
      const sourceRef = copyFrom ?? ref;
      const oci = join(tmp, 'oci');
      const started = Date.now();
      const srcAuth = await writeAuthFile(join(tmp, 'src-auth.json'), source.host, this.credsFor(source.host, registry));
      const localAuth = await writeAuthFile(join(tmp, 'local-auth.json'), local.host, this.credsFor(local.host));
      let resolved: { digest: string; sizeBytes: number } | undefined;
      try {
        const m = await resolveManifest(source, srcAuth);
        log(`resolved ${sourceRef} to ${m.digest} (${m.sizeBytes} bytes compressed)`);
        let from = m.pinned;
        let fromHost = source.host;
        let fromAuth = srcAuth;
        let digest = m.digest;
        if (copyFrom) {
          const digestFile = join(tmp, 'pushed.digest');
          await copyImage(`docker://${m.pinned}`, `docker://${ref}`, { srcHost: source.host, srcAuth, destHost: local.host, destAuth: localAuth, preserveDigests: true, digestFile }, log);
          digest = (await readFile(digestFile, 'utf8')).trim() || digest;
          log(`copied ${sourceRef} to ${ref}`);
          from = `${repositoryOf(local)}@${digest}`;
          fromHost = local.host;
          fromAuth = localAuth;
        }
        await copyImage(`docker://${from}`, `oci:${oci}:img`, { srcHost: fromHost, srcAuth: fromAuth }, log);
        resolved = { digest, sizeBytes: m.sizeBytes };
      } catch (err) {
        if (!(err instanceof SkopeoError)) throw err;
        if (!this.isShoalImage(ref) || copyFrom) throw Errors.imagePull(sourceRef, pullFailureReason(err, source.host));
        log(`${ref === this.opts.defaultImage ? 'default' : 'desktop'} image ${ref} not in its registry (${err.message}); building it locally`);
        await rm(oci, { recursive: true, force: true });
        if (ref === this.opts.defaultImage) await buildDefaultImage(join(tmp, 'build'), oci, this.opts.imageCacheDir, log);
        // Without a shared cache the desktop's root filesystems are kept in the runner's data dir: rebuilding them
        // (debootstrap + apt) is minutes, and the next runner start would otherwise pay it again.
        else await buildDesktopImage(join(tmp, 'build'), oci, this.opts.imageCacheDir ?? join(this.opts.dataDir, 'image-cache'), log);
        await rm(join(tmp, 'build'), { recursive: true, force: true });
        const digestFile = join(tmp, 'pushed.digest');
        // The push (for other runners) runs while this runner unpacks the same layout: both only read it, and the
        // unpack of a large image (the desktop's 1.9 GB) takes as long as the push. Awaited before the layout goes.
        pushing = copyImage(`oci:${oci}:img`, `docker://${ref}`, { destHost: local.host, destAuth: localAuth, digestFile }, () => undefined).then(
          async () => {
            resolved = { digest: (await readFile(digestFile, 'utf8')).trim(), sizeBytes: 0 };
            log(`pushed ${ref}`);
          },
          (e: Error) => log(`could not push ${ref} (kept locally): ${e.message.split('\n')[0]}`),
        );
      } finally {
        // A push still running needs its registry login until it ends.
        if (pushing) void pushing.finally(() => removeAuthFile(localAuth).catch(() => undefined));
        else await removeAuthFile(localAuth);
        await removeAuthFile(srcAuth);
      }
      const maxFiles = this.opts.maxFiles ?? DEFAULT_MAX_FILES;
      const maxUnpackedBytes = this.opts.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
      // The default and desktop images are Shoal's own (built from Debian packages); every other image is listed before unpacking.
      if (!this.isShoalImage(ref)) {
        const scan = await scanLayers(oci, { maxFiles, maxUnpackedBytes });
        if (typeof scan === 'string') throw Errors.imagePull(sourceRef, scan);
        log(`layers hold ${scan.entries} entries, ${scan.bytes} bytes${scan.devices ? `, ${scan.devices} device node(s) that will be removed` : ''}`);
      }
      log(`unpacking ${ref}`);
      const map = `0:${this.opts.uidBase}:65536`;
      try {
        await exec('umoci', ['unpack', '--uid-map', map, '--gid-map', map, '--image', `${oci}:img`, join(tmp, 'bundle')]);
      } catch (err) {
        if (err instanceof ExecError) throw Errors.imagePull(sourceRef, `unpacking failed: ${lastLine(err.result.stderr)}`);
        throw err;
      }
      const rootfs = join(tmp, 'bundle', 'rootfs');
      const diskBytes = await this.sanitize(rootfs, sourceRef, log);
      await this.prepareLower(rootfs);
      await pushing;
      const rec = await this.readImageConfig(oci, ref, key);
      rec.digest = resolved?.digest ?? rec.digest;
      if (resolved?.sizeBytes) rec.sizeBytes = resolved.sizeBytes;
      rec.diskBytes = diskBytes;
      if (copyFrom) rec.source = copyFrom;
      await writeFile(join(tmp, 'image.json'), JSON.stringify(rec, null, 2));
      // The OCI layout is not needed once unpacked; the registry keeps the image.
      await rm(oci, { recursive: true, force: true });
      await rm(join(this.root, key), { recursive: true, force: true });
      await rename(tmp, join(this.root, key));
      this.records.set(ref, rec);
      log(`image ${ref} ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${rec.sizeBytes ?? 0} bytes compressed, ${diskBytes} bytes on disk)`);
      return rec;
    } catch (err) {
      await pushing;
      await rm(tmp, { recursive: true, force: true });
      log(`pull of ${copyFrom ?? ref} failed: ${(err as Error).message.split('\n')[0]}`);
      throw err;
    }
  }

  /**
   * What umoci leaves that no sandbox may get: device nodes (umoci running as root recreates a layer's block and
   * character devices; a sandbox's /dev is its own tmpfs, so the image never needs them). The unpack directory is
   * root-only (0700) until this has run. Then enforces the size limits and returns the disk usage.
   */
  private async sanitize(rootfs: string, ref: string, log: (l: string) => void): Promise<number> {
    const u = await treeUsage(rootfs);
    // Paths come from a walk that followed no symlink, in a directory only root can reach: unlink removes the node itself.
    for (const p of u.devices) await unlink(p);
    if (u.devices.length) {
      log(`removed ${u.devices.length} device node(s) from the image: ${u.devices.slice(0, 10).map((p) => p.slice(rootfs.length) || '/').join(', ')}`);
    }
    const maxFiles = this.opts.maxFiles ?? DEFAULT_MAX_FILES;
    const maxBytes = this.opts.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
    if (u.files > maxFiles) throw Errors.imagePull(ref, `the image has ${u.files} files, more than the ${maxFiles} this runner accepts`);
    if (u.bytes > maxBytes) throw Errors.imagePull(ref, `the image takes ${u.bytes} bytes unpacked, more than the ${maxBytes} this runner accepts`);
    return u.bytes;
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
    const manifest = (await blob(manifestDesc.digest)) as { config: { digest: string }; layers?: { size?: number }[] };
    const config = (await blob(manifest.config.digest)) as {
      config?: { WorkingDir?: string; Env?: string[]; User?: string; Entrypoint?: string[]; Cmd?: string[] };
    };
    const c = config.config ?? {};
    return {
      digest: manifestDesc.digest,
      sizeBytes: (manifest.layers ?? []).reduce((a, l) => a + (l.size ?? 0), 0),
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

function parseOrThrow(ref: string): ImageReference {
  const r = parseReference(ref);
  if (typeof r === 'string') throw Errors.imagePull(ref, `invalid image reference: ${r}`);
  return r;
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop()?.slice(0, 300) ?? '';
}
