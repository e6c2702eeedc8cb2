import { access, constants, mkdir, readFile, statfs } from 'node:fs/promises';
import { basename } from 'node:path';
import { exec } from '../util/exec.js';

const CGROUP2_MAGIC = 0x63677270;

export interface RuntimeChoice {
  binary: string;
  /** One line for the start-up log saying which runtime and why. */
  reason: string;
}

async function which(name: string): Promise<string | undefined> {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const p = `${dir}/${name}`;
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return undefined;
}

/** Controllers bound to cgroup2 on a hybrid host; crun 1.8 refuses to run while this is non-empty. */
export async function hybridV2Controllers(): Promise<string[] | undefined> {
  const fs = await statfs('/sys/fs/cgroup');
  if (Number(fs.type) === CGROUP2_MAGIC) return undefined;
  const raw = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '');
  return raw.split(/\s+/).filter(Boolean);
}

/** Moves each cgroup2 controller to its own v1 hierarchy, which is the known fix that lets crun 1.8 run. */
async function moveControllersToV1(controllers: string[]): Promise<void> {
  for (const c of controllers) {
    if (!/^[a-z_]+$/.test(c)) continue;
    const dir = `/sys/fs/cgroup/${c}`;
    await mkdir(dir, { recursive: true });
    await exec('mount', ['-t', 'cgroup', '-o', c, 'cgroup', dir]);
  }
  for (let i = 0; i < 100; i++) {
    if (((await hybridV2Controllers()) ?? []).length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('cgroup2 controllers did not move to v1');
}

/**
 * Picks the OCI runtime. crun is preferred (about 2x faster than runc here) but crun 1.8 refuses hybrid hosts whose
 * cgroup2 hierarchy holds a controller; then we either move that controller to v1 (only when the operator allowed
 * it, because it changes the host) or fall back to runc, which works unmodified.
 */
export async function chooseRuntime(configured: string, allowCgroupFix: boolean): Promise<RuntimeChoice> {
  const controllers = await hybridV2Controllers();
  const crunProblem = controllers !== undefined && controllers.length > 0;
  const fix = async (binary: string): Promise<RuntimeChoice> => {
    await moveControllersToV1(controllers!);
    return {
      binary,
      reason: `crun selected; hybrid cgroups had [${controllers!.join(', ')}] on cgroup2, moved to v1 mounts (SHOAL_RUNNER_CGROUP_FIX=1)`,
    };
  };

  if (configured !== 'auto') {
    await access(configured, constants.X_OK);
    const isCrun = basename(configured).startsWith('crun');
    if (isCrun && crunProblem) {
      if (!allowCgroupFix) {
        throw new Error(
          `${configured} cannot run on this hybrid cgroup host (cgroup2 holds ${controllers!.join(', ')}); ` +
            'set SHOAL_RUNNER_CGROUP_FIX=1 to move them to v1, or use runc',
        );
      }
      return fix(configured);
    }
    return { binary: configured, reason: `${basename(configured)} selected by SHOAL_RUNNER_OCI_RUNTIME` };
  }

  const crun = await which('crun');
  const runc = await which('runc');
  if (crun && !crunProblem) {
    return { binary: crun, reason: controllers === undefined ? 'crun selected (unified cgroup2 host)' : 'crun selected (cgroup v1/hybrid host without cgroup2 controllers)' };
  }
  if (crun && crunProblem && allowCgroupFix) return fix(crun);
  if (runc) {
    return {
      binary: runc,
      reason: crun
        ? `runc selected: crun 1.8 refuses hybrid cgroups with [${controllers!.join(', ')}] bound to cgroup2 (set SHOAL_RUNNER_CGROUP_FIX=1 to move them to v1 and use crun)`
        : 'runc selected (crun not installed)',
    };
  }
  if (crun) throw new Error('only crun is installed and it cannot run on this hybrid cgroup host; set SHOAL_RUNNER_CGROUP_FIX=1');
  throw new Error('no OCI runtime found (install crun or runc)');
}
