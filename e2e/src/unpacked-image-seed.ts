/*
 * Shares the runner's unpacked default image between the e2e files of one `npm test` run.
 *
 * Every e2e file starts its own platform, and each runner used to pull and unpack the default image itself: about a
 * minute of umoci and tree walks per file, half of the e2e tier's wall time. Within a run every file uses the same
 * shared registry, so the default image has the same reference, digest and content in every one of them. The first
 * platform that finishes unpacking it leaves a hard-linked copy in the run's scratch directory; later runners start
 * with a hard-linked copy of that in their data dir, which the runner's image store loads at start like an image it
 * unpacked itself (`images/<key>/image.json` + `bundle/rootfs`).
 *
 * Hard links are safe here because an unpacked image is a read-only overlay lower directory: sandboxes write to
 * their own upper layer and removing an image unlinks names only. The one file a runner may rewrite in place,
 * image.json, is copied rather than linked.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The run's seed (present only inside `npm test`, which sets SHOAL_TEST_SCRATCH). */
function seedDir(): string | undefined {
  const scratch = process.env.SHOAL_TEST_SCRATCH;
  return scratch ? join(scratch, 'unpacked-default-image') : undefined;
}

/** The image store's directory name for a reference (ImageStore.keyOf in the runner). */
function keyOf(ref: string): string {
  return createHash('sha256').update(ref).digest('hex').slice(0, 24);
}

function seededRef(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as { ref?: string }).ref;
  } catch {
    return undefined;
  }
}

/** Hard-links `from` to `to` (a new path), with image.json a copy of its own. */
async function linkImage(from: string, to: string): Promise<void> {
  execFileSync('cp', ['-al', from, to]);
  await unlink(join(to, 'image.json'));
  await copyFile(join(from, 'image.json'), join(to, 'image.json'));
}

/**
 * Before a platform starts: gives each runner data dir the run's unpacked copy of `ref` when the seed holds exactly
 * that reference. Returns how many runners were seeded.
 */
export async function seedRunners(runnerDataDirs: string[], ref: string): Promise<number> {
  const seed = seedDir();
  if (!seed || seededRef(seed) !== ref) return 0;
  let seeded = 0;
  for (const dir of runnerDataDirs) {
    const images = join(dir, 'images');
    const target = join(images, keyOf(ref));
    if (existsSync(target)) continue;
    // The runner removes dot-directories it finds at start, so a half-made copy can never be loaded as an image.
    const tmp = join(images, `.seed-${process.pid}`);
    try {
      await mkdir(images, { recursive: true, mode: 0o700 });
      await rm(tmp, { recursive: true, force: true });
      await linkImage(seed, tmp);
      await rename(tmp, target);
      seeded += 1;
    } catch {
      // Another filesystem (no hard links) or no space: this runner unpacks the image itself, as in production.
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    }
  }
  return seeded;
}

/** Keeps a runner's unpacked `ref` as the run's seed if there is none yet (best effort). */
export async function keepSeed(runnerDataDir: string, ref: string): Promise<void> {
  const seed = seedDir();
  if (!seed || existsSync(seed)) return;
  const source = join(runnerDataDir, 'images', keyOf(ref));
  if (seededRef(source) !== ref) return;
  const tmp = `${seed}.tmp-${process.pid}`;
  try {
    await rm(tmp, { recursive: true, force: true });
    await linkImage(source, tmp);
    // Two files finishing at once: the first rename wins and the other copy is dropped.
    await rename(tmp, seed);
  } catch {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The default image's reference on the run's shared registry, which every file of the run uses alike. */
export function sharedDefaultImage(): string | undefined {
  const registry = process.env.SHOAL_TEST_REGISTRY?.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  return registry ? `${registry}/shoal/sandbox:0.1.0` : undefined;
}
