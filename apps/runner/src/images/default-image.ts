import { createHash } from 'node:crypto';
import { appendFile, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from '../util/exec.js';

export type ProgressFn = (line: string) => void;

const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';
// python3-munkres is listed so apt satisfies python3-fonttools' "scipy | munkres" with the small one: with scipy the
// matplotlib stack adds about 450 MB to every sandbox's image instead of about 160 MB.
const PACKAGES = [
  'python3', 'python3-pip', 'python3-venv', 'nodejs', 'npm', 'git', 'curl', 'ca-certificates', 'build-essential',
  'locales', 'procps', 'sudo', 'iproute2', 'less', 'nano', 'python3-munkres', 'python3-matplotlib',
  // SSH gateway: scp and sftp run the sandbox's sftp-server; openssh-client brings scp for legacy `scp -O`.
  'openssh-sftp-server', 'openssh-client',
];
export const DEFAULT_IMAGE_ENV = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'LANG=en_US.UTF-8',
  'LC_ALL=en_US.UTF-8',
];

/** Changes to the recipe change the cache key, so a stale cached layer is never reused. */
const RECIPE_VERSION = 2;
export function recipeKey(): string {
  return createHash('sha256').update(JSON.stringify({ SUITE, MIRROR, PACKAGES, RECIPE_VERSION })).digest('hex').slice(0, 16);
}

/**
 * Builds the default sandbox image from Debian packages into an OCI layout at `ociDir` (tag `img`).
 * The root filesystem tarball is cached in `cacheDir` when given, because debootstrap + apt take minutes and the
 * result only depends on the recipe.
 */
export async function buildDefaultImage(workDir: string, ociDir: string, cacheDir: string | undefined, progress: ProgressFn): Promise<void> {
  const started = Date.now();
  const stage = (name: string) => progress(`[default-image] ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  await mkdir(workDir, { recursive: true });
  const cached = cacheDir ? await ensureDefaultRootfs(workDir, cacheDir, progress) : undefined;
  const layer = cached ?? (await buildRootfsTar(workDir, stage));
  stage('umoci new + raw add-layer');
  const image = `${ociDir}:img`;
  await exec('umoci', ['init', '--layout', ociDir]);
  await exec('umoci', ['new', '--image', image]);
  await exec('umoci', ['raw', 'add-layer', '--image', image, layer]);
  await exec('umoci', [
    'config', '--image', image,
    ...DEFAULT_IMAGE_ENV.flatMap((e) => ['--config.env', e]),
    '--config.cmd', 'sleep', '--config.cmd', 'infinity',
    '--author', 'shoal',
  ]);
  if (layer !== cached) await rm(layer, { force: true });
  stage('default image ready');
}

/**
 * Makes sure `cacheDir` holds the root filesystem tarball of the current recipe, building it when missing, and returns
 * its path. The test runner calls it once before the e2e tier so no test file pays for (or times out on) the build.
 */
export async function ensureDefaultRootfs(workDir: string, cacheDir: string, progress: ProgressFn): Promise<string> {
  const started = Date.now();
  const stage = (name: string) => progress(`[default-image] ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const cached = join(cacheDir, `shoal-sandbox-${recipeKey()}.tar`);
  if (await exists(cached)) {
    stage(`using cached root filesystem ${cached}`);
    return cached;
  }
  await mkdir(workDir, { recursive: true });
  const layer = await buildRootfsTar(workDir, stage);
  await mkdir(cacheDir, { recursive: true });
  // Copy then rename: a reader never sees half a tarball, and two builders racing both publish a whole one.
  const tmp = `${cached}.${process.pid}.tmp`;
  await copyFile(layer, tmp);
  await rename(tmp, cached);
  await rm(layer, { force: true });
  stage(`cached root filesystem at ${cached}`);
  return cached;
}

async function buildRootfsTar(workDir: string, stage: (name: string) => void): Promise<string> {
  const layer = join(workDir, 'layer.tar');
  const rootfs = join(workDir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  const ticker = setInterval(() => stage('still building'), 15_000);
  try {
    stage(`debootstrap --variant=minbase ${SUITE}`);
    await exec('debootstrap', ['--variant=minbase', SUITE, rootfs, MIRROR]);
    stage(`apt-get install ${PACKAGES.length} packages`);
    await chrootSetup(rootfs);
    stage('packing root filesystem');
    await exec('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', layer, '.']);
  } finally {
    clearInterval(ticker);
    await rm(rootfs, { recursive: true, force: true });
  }
  return layer;
}

async function chrootSetup(rootfs: string): Promise<void> {
  const run = (script: string) =>
    exec('chroot', [rootfs, '/bin/sh', '-c', script], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', HOME: '/root' },
    });
  // Services must not start inside the chroot while packages install.
  await writeFile(join(rootfs, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  await copyFile('/etc/resolv.conf', join(rootfs, 'etc/resolv.conf'));
  await exec('mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')]);
  try {
    await run(
      'set -e; apt-get update -q; apt-get install -y -q --no-install-recommends ' + PACKAGES.join(' ') +
        '; apt-get clean; rm -rf /var/lib/apt/lists/*',
    );
    await run(
      "set -e; sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen; grep -q '^en_US.UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >> /etc/locale.gen; locale-gen; " +
        'update-locale LANG=en_US.UTF-8; ' +
        'useradd -m -u 1000 -U -s /bin/bash -d /home/daytona daytona; ' +
        "echo 'daytona ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/91-daytona; chmod 0440 /etc/sudoers.d/91-daytona",
    );
  } finally {
    await exec('umount', ['-l', join(rootfs, 'proc')], { allowFailure: true });
  }
  // The Daytona SDK's chart capture (codeRun + plt.show()) calls Axis.get_converter(), added in matplotlib 3.10;
  // Debian 12 ships 3.6, where the same value is the public `converter` attribute.
  await appendFile(
    join(rootfs, 'usr/lib/python3/dist-packages/matplotlib/axis.py'),
    '\n\n# Added by Shoal: Axis.get_converter() as in matplotlib >= 3.10, used by the Daytona SDK chart capture.\n' +
      "if not hasattr(Axis, 'get_converter'):\n    Axis.get_converter = lambda self: self.converter\n",
  );
  await rm(join(rootfs, 'usr/sbin/policy-rc.d'), { force: true });
  await writeFile(join(rootfs, 'etc/resolv.conf'), '');
  await writeFile(join(rootfs, 'etc/hostname'), 'sandbox\n');
  // Leftover host-identifying or cache files from the build.
  await rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  const osRelease = await readFile(join(rootfs, 'etc/os-release'), 'utf8').catch(() => '');
  if (!osRelease.includes('bookworm')) throw new Error('default image build produced an unexpected root filesystem');
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
