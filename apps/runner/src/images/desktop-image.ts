import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { desktopImageRef } from '@shoal/contracts';
import { exec } from '../util/exec.js';
import { DEFAULT_IMAGE_ENV, ensureDefaultRootfs, recipeKey as defaultRecipeKey, type ProgressFn } from './default-image.js';

/**
 * What computer use needs on top of the default image (the list CU-TOOLBOX relies on is in the README): an X server,
 * a light EWMH window manager, a terminal, a VNC server, the web VNC client with its WebSocket proxy, input and
 * window tools, screenshots, a browser and one font family. No recommends: chromium's alone would add hundreds of MB.
 */
export const DESKTOP_PACKAGES = [
  'xvfb', 'openbox', 'xterm', 'x11vnc', 'novnc', 'websockify', 'xdotool', 'wmctrl', 'x11-utils', 'x11-xserver-utils',
  'imagemagick', 'chromium', 'fonts-dejavu-core',
];

const RECIPE_VERSION = 1;
export function desktopRecipeKey(): string {
  return createHash('sha256').update(JSON.stringify({ base: defaultRecipeKey(), DESKTOP_PACKAGES, RECIPE_VERSION })).digest('hex').slice(0, 16);
}

/** The desktop image's reference in the registry that holds `defaultImage` (same host, so same credentials). */
export function desktopImageFor(defaultImage: string): string {
  return desktopImageRef(defaultImage.split('/')[0] ?? '');
}

/** Builds the desktop image into an OCI layout at `ociDir` (tag `img`): one layer, the desktop root filesystem. */
export async function buildDesktopImage(workDir: string, ociDir: string, cacheDir: string | undefined, progress: ProgressFn): Promise<void> {
  const started = Date.now();
  const stage = (name: string) => progress(`[desktop-image] ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  await mkdir(workDir, { recursive: true });
  // Without a cache the layers are built in workDir and dropped afterwards.
  const cache = cacheDir ?? join(workDir, 'cache');
  const layer = await ensureDesktopRootfs(workDir, cache, progress);
  stage('umoci new + raw add-layer');
  const image = `${ociDir}:img`;
  await exec('umoci', ['init', '--layout', ociDir]);
  await exec('umoci', ['new', '--image', image]);
  await exec('umoci', ['raw', 'add-layer', '--image', image, layer]);
  await exec('umoci', [
    'config', '--image', image,
    ...[...DEFAULT_IMAGE_ENV, 'DISPLAY=:0'].flatMap((e) => ['--config.env', e]),
    '--config.cmd', 'sleep', '--config.cmd', 'infinity',
    '--author', 'shoal',
  ]);
  if (!cacheDir) await rm(cache, { recursive: true, force: true });
  stage('desktop image ready');
}

/**
 * Makes sure `cacheDir` holds the desktop root filesystem tarball of the current recipe (the default image's root
 * filesystem plus DESKTOP_PACKAGES), building it when missing, and returns its path. Only Shoal's own tarball and
 * Debian's packages are unpacked and run here; nothing comes from a sandbox.
 */
export async function ensureDesktopRootfs(workDir: string, cacheDir: string, progress: ProgressFn): Promise<string> {
  const started = Date.now();
  const stage = (name: string) => progress(`[desktop-image] ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const cached = join(cacheDir, `shoal-desktop-${desktopRecipeKey()}.tar`);
  if (await exists(cached)) {
    stage(`using cached root filesystem ${cached}`);
    return cached;
  }
  await mkdir(workDir, { recursive: true });
  const base = await ensureDefaultRootfs(join(workDir, 'default'), cacheDir, progress);
  const rootfs = join(workDir, 'desktop-rootfs');
  const layer = join(workDir, 'desktop-layer.tar');
  await rm(rootfs, { recursive: true, force: true });
  await mkdir(rootfs, { recursive: true });
  const ticker = setInterval(() => stage('still building'), 15_000);
  try {
    stage('unpacking the default root filesystem');
    await exec('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-xf', base]);
    stage(`apt-get install ${DESKTOP_PACKAGES.length} packages`);
    await installPackages(rootfs);
    stage('packing root filesystem');
    await exec('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', layer, '.']);
  } finally {
    clearInterval(ticker);
    await rm(rootfs, { recursive: true, force: true });
  }
  await mkdir(cacheDir, { recursive: true });
  // Rename within the cache directory: a reader never sees half a tarball, and two builders racing both publish a whole one.
  const tmp = `${cached}.${process.pid}.tmp`;
  await copyFile(layer, tmp);
  await rename(tmp, cached);
  await rm(layer, { force: true });
  const size = (await stat(cached)).size;
  stage(`cached root filesystem at ${cached} (${(size / 2 ** 20).toFixed(0)} MiB)`);
  return cached;
}

async function installPackages(rootfs: string): Promise<void> {
  const run = (script: string) =>
    exec('chroot', [rootfs, '/bin/sh', '-c', script], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', HOME: '/root' },
    });
  await writeFile(join(rootfs, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  await copyFile('/etc/resolv.conf', join(rootfs, 'etc/resolv.conf'));
  await exec('mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')]);
  try {
    await run(
      'set -e; apt-get update -q; apt-get install -y -q --no-install-recommends ' + DESKTOP_PACKAGES.join(' ') +
        '; apt-get clean; rm -rf /var/lib/apt/lists/*',
    );
  } finally {
    await exec('umount', ['-l', join(rootfs, 'proc')], { allowFailure: true });
  }
  await rm(join(rootfs, 'usr/sbin/policy-rc.d'), { force: true });
  await writeFile(join(rootfs, 'etc/resolv.conf'), '');
  await rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  for (const program of ['usr/bin/Xvfb', 'usr/bin/x11vnc', 'usr/bin/websockify', 'usr/share/novnc/vnc.html', 'usr/bin/chromium']) {
    if (!(await exists(join(rootfs, program)))) throw new Error(`desktop image build is missing /${program}`);
  }
  const osRelease = await readFile(join(rootfs, 'etc/os-release'), 'utf8').catch(() => '');
  if (!osRelease.includes('bookworm')) throw new Error('desktop image build produced an unexpected root filesystem');
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
