import { access, constants, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../util/exec.js';
import { isMounted } from './quota.js';

const defaultHelper = resolve(dirname(fileURLToPath(import.meta.url)), '../../native/dist/shoal-idmap');

/** Finds the compiled `shoal-idmap` helper, or says how to build it. */
export async function findIdmapHelper(path = defaultHelper): Promise<string> {
  try {
    await access(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(
      `the runner's native helper ${path} is missing: run \`node scripts/bootstrap.mjs\` (or \`npm start\` / \`npm test\`, ` +
        'which run it) to compile apps/runner/native/*.c; sandboxes with their own uid range need it for idmapped mounts',
    );
  }
}

export interface IdmappedOverlay {
  /** The shared image rootfs, owned on disk by `fromBase`..`fromBase`+size-1. */
  lower: string;
  upper: string;
  work: string;
  /** An empty root-only directory where the idmapped clone of `lower` is attached while the overlay is mounted. */
  stage: string;
  target: string;
  fromBase: number;
  toBase: number;
  size: number;
}

/**
 * Mounts overlayfs at `target` over an idmapped view of the shared image, so the sandbox's range sees the image as
 * its own without a copy of it. Overlayfs keeps a private clone of the idmapped lower, so the helper detaches the
 * staging mount again; only the overlay stays mounted.
 */
export async function mountIdmappedOverlay(helper: string, o: IdmappedOverlay): Promise<void> {
  await mkdir(o.stage, { recursive: true, mode: 0o700 });
  // Left mounted only if a previous helper was killed between attaching and detaching it.
  await unmountStage(o.stage);
  await exec(helper, ['overlay', `${o.fromBase}:${o.toBase}:${o.size}`, o.lower, o.upper, o.work, o.stage, o.target]);
}

export async function unmountStage(stage: string): Promise<void> {
  if (await isMounted(stage)) await exec('umount', ['-l', stage], { allowFailure: true });
}

/** The staging directory of a sandbox, inside its (root-owned) sandbox directory. */
export function stageDir(sandboxDir: string): string {
  return join(sandboxDir, 'lower');
}
