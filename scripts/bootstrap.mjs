// Makes a fresh Debian machine ready to run Shoal: Debian packages for the runner, npm dependencies, the toolbox bundle
// and the dashboard.
// Plain Node.js with no dependencies, because it runs before `npm install`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Debian packages the runner and the platform need (see README, "What `npm start` installs"). */
export const DEBIAN_PACKAGES = [
  'crun', 'runc', 'skopeo', 'umoci', 'debootstrap', 'docker-registry', 'nftables', 'iptables', 'iproute2',
  'patchelf', 'tini', 'uidmap', 'xfsprogs', 'git', 'curl', 'ca-certificates', 'procps', 'util-linux',
  // The runner's small native helpers (apps/runner/native) use syscalls Node.js has no binding for.
  'gcc', 'libc6-dev',
  // Dockerfile builds without a daemon (apps/runner/src/images/builder.ts); busybox-static makes the builds' test base image.
  'buildah', 'busybox-static',
  // A second, independent S3 client for the object storage tests (apps/objects/test/s3cmd.medium.test.ts).
  's3cmd',
  // The runner's s3 volume driver mounts volumes from object storage with it (apps/runner/src/volumes/s3-driver.ts).
  's3fs',
  // `shoal ssh` runs the system ssh; the SSH gateway's tests drive OpenSSH's ssh, scp and sftp, and a shell under tmux.
  'openssh-client', 'tmux',
  // The computer-use e2e opens the desktop's web VNC client through the preview URL in a headless browser (puppeteer-core).
  'chromium',
  // The toolbox's computer-use tests start a real desktop on the host with the desktop snapshot's programs
  // (apps/toolbox/test/computer-use.medium.test.ts): X server, window manager, VNC, noVNC, input, screenshots, xterm and xev.
  'xvfb', 'openbox', 'x11vnc', 'novnc', 'websockify', 'xdotool', 'imagemagick', 'x11-utils', 'xterm',
];

export class SetupError extends Error {}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: opts.quiet ? 'pipe' : 'inherit', env: opts.env ?? process.env, cwd: opts.cwd ?? repoRoot });
  if (r.error) throw new SetupError(`could not run ${cmd}: ${r.error.message}`);
  return r;
}

export function checkHost() {
  if (process.platform !== 'linux') throw new SetupError('Shoal runs sandboxes with Linux namespaces: run it on Linux (Debian 12).');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new SetupError('Shoal must run as root (it creates namespaces, cgroups, mounts and network devices). Run: sudo npm start');
  }
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  if (!/^ID=debian$/m.test(osRelease) && !/^ID_LIKE=.*debian/m.test(osRelease)) {
    throw new SetupError(
      'Shoal installs its system packages with apt-get and is tested on Debian 12. On another distribution install these first, ' +
        `then set SHOAL_SKIP_APT=1: ${DEBIAN_PACKAGES.join(' ')}`,
    );
  }
  const [major] = process.versions.node.split('.').map(Number);
  if (major < 20) throw new SetupError(`Shoal needs Node.js 20 or later (this is ${process.version}).`);
}

export function missingDebianPackages() {
  const r = run('dpkg-query', ['-W', '-f=${Package} ${db:Status-Abbrev}\n', ...DEBIAN_PACKAGES], { quiet: true });
  const installed = new Set(
    String(r.stdout)
      .split('\n')
      .filter((l) => /\sii\s*$/.test(l))
      .map((l) => l.split(' ')[0]),
  );
  return DEBIAN_PACKAGES.filter((p) => !installed.has(p));
}

export function ensureDebianPackages(log = console.log) {
  if (process.env.SHOAL_SKIP_APT === '1') return;
  const missing = missingDebianPackages();
  if (missing.length === 0) return;
  log(`Installing Debian packages: ${missing.join(' ')}`);
  // Services shipped by these packages (docker-registry) must not start on install: Shoal starts its own.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  let r = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
  if (r.status !== 0) {
    run('apt-get', ['update', '-q'], { env });
    r = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
  }
  if (r.status !== 0) throw new SetupError(`apt-get could not install: ${missing.join(' ')}. Install them by hand and retry.`);
}

function newer(a, b) {
  return existsSync(a) && existsSync(b) && statSync(a).mtimeMs > statSync(b).mtimeMs;
}

export function ensureNpmDependencies(log = console.log) {
  const marker = join(repoRoot, 'node_modules', '.package-lock.json');
  if (existsSync(marker) && !newer(join(repoRoot, 'package-lock.json'), marker)) return;
  log('Installing npm dependencies (npm ci)...');
  const r = run('npm', ['ci', '--no-audit', '--no-fund']);
  if (r.status !== 0) throw new SetupError('npm ci failed; see the output above.');
}

export function buildToolbox(log = console.log) {
  log('Building the toolbox bundle...');
  const r = run('npm', ['run', '--silent', 'build', '-w', '@shoal/toolbox']);
  if (r.status !== 0) throw new SetupError('building the toolbox bundle failed; see the output above.');
}

export function buildDashboard(log = console.log) {
  log('Building the dashboard...');
  const r = run('npm', ['run', '--silent', 'build', '-w', '@shoal/dashboard']);
  if (r.status !== 0) throw new SetupError('building the dashboard failed; see the output above.');
}

/**
 * Compiles each `apps/runner/native/*.c` into a static binary in `apps/runner/native/dist/` (static, so a helper that
 * is injected into a sandbox runs whatever libc the image has). Skipped when the binary is newer than its source.
 */
export function buildNativeHelpers(log = console.log) {
  const dir = join(repoRoot, 'apps', 'runner', 'native');
  const out = join(dir, 'dist');
  if (!existsSync(dir)) return;
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.c'))) {
    const src = join(dir, file);
    const bin = join(out, file.slice(0, -2));
    if (newer(bin, src)) continue;
    log(`Compiling ${file}...`);
    const r = run('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', bin, src]);
    if (r.status !== 0) throw new SetupError(`compiling ${src} failed; see the output above.`);
  }
}

export function bootstrap({ log = console.log } = {}) {
  checkHost();
  ensureDebianPackages(log);
  ensureNpmDependencies(log);
  buildToolbox(log);
  buildDashboard(log);
  buildNativeHelpers(log);
}

/** For the two entry points (`npm start`, `npm test`): a setup problem is a clear message and exit code 2, never a stack trace. */
export function bootstrapOrExit() {
  try {
    bootstrap();
  } catch (err) {
    if (err instanceof SetupError) {
      console.error(`shoal: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
