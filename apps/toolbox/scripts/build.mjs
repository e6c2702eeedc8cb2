// Bundles the daemon into dist/toolbox.cjs (one CommonJS file for the injected Node 20) and copies node-pty's native
// addon and the language servers (dist/lsp/node_modules) beside it, so that dist/ alone is what the runner
// bind-mounts at /.shoal/toolbox.
import { build } from 'esbuild';
import process from 'node:process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import Module, { createRequire } from 'node:module';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const dist = join(root, 'dist');
const require = createRequire(join(root, 'package.json'));
const ptyDir = dirname(require.resolve('node-pty/package.json'));

// node-pty looks for pty.node under ../build/Release relative to its own lib/ directory; in the bundle that is
// meaningless, so its loader is replaced by one that reads the addon from the bundle's own directory.
const nodePtyNative = {
  name: 'node-pty-native',
  setup(b) {
    b.onLoad({ filter: /node-pty[\\/]lib[\\/]utils\.js$/ }, () => ({
      loader: 'js',
      contents: `
        exports.assign = function (target) {
          Array.prototype.slice.call(arguments, 1).forEach(function (source) {
            Object.keys(source).forEach(function (k) { target[k] = source[k]; });
          });
          return target;
        };
        exports.loadNativeModule = function (name) {
          var path = require('path').join(__dirname, name + '.node');
          return { dir: __dirname + '/', module: require(path) };
        };`,
    }));
  },
};

// Each file is written under a temporary name and renamed into place: the runner bind-mounts dist/ into sandboxes
// that may be starting while a second `npm test` or `npm start` rebuilds, and must never see a missing bundle. A
// start that sees a new bundle beside the old code cache runs without the cache (the loader checks its hash).
mkdirSync(dist, { recursive: true });
const tmp = (name) => join(dist, `.${name}.${process.pid}.tmp`);
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Full minification: parsing the bundle is most of the daemon's start-up cost.
  minify: true,
  keepNames: false,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
};
// Written already wrapped in CommonJS's module function, so the loader compiles the file's text as it is: wrapping it at
// start made a second 370 KB copy of the source, which a daemon that never runs a major GC keeps (0.43 MB of
// anonymous memory in a daemon started outside a sandbox, smaps_rollup; a sandbox's start usually collects it).
await build({
  ...common,
  entryPoints: [join(root, 'src/main.ts')],
  outfile: tmp('toolbox-main.cjs'),
  plugins: [nodePtyNative],
  banner: { js: Module.wrapper[0] },
  footer: { js: Module.wrapper[1] },
});
// The entry the runner starts: loads toolbox-main.cjs through V8's code cache (src/code-cache-loader.ts).
await build({ ...common, entryPoints: [join(root, 'src/code-cache-loader.ts')], outfile: tmp('toolbox.cjs') });
copyFileSync(join(ptyDir, 'build/Release/pty.node'), tmp('pty.node'));
renameSync(tmp('pty.node'), join(dist, 'pty.node'));
renameSync(tmp('toolbox-main.cjs'), join(dist, 'toolbox-main.cjs'));
renameSync(tmp('toolbox.cjs'), join(dist, 'toolbox.cjs'));
await writeCodeCache();
copyLanguageServers();
process.stdout.write(`built ${join(dist, "toolbox.cjs")}\n`);

/**
 * The npm packages of the language servers the daemon runs on the injected Node (src/lsp/languages.ts), copied
 * without what they never load there: source maps, TypeScript's compiler CLI, API typings and message translations.
 * A package already in place at the same version is left alone, so rebuilding stays fast and a sandbox running a
 * server never sees its files replaced.
 */
function copyLanguageServers() {
  const modules = join(dist, 'lsp', 'node_modules');
  const skipped = {
    typescript: (rel) =>
      /^lib[\\/](cs|de|es|fr|it|ja|ko|pl|pt-br|ru|tr|zh-cn|zh-tw)([\\/]|$)/.test(rel) ||
      ['_tsc.js', 'tsc.js', 'typescript.d.ts', 'tsserverlibrary.d.ts'].includes(rel.replace(/^lib[\\/]/, '')),
    'typescript-language-server': () => false,
    pyright: () => false,
  };
  mkdirSync(modules, { recursive: true });
  for (const [name, skip] of Object.entries(skipped)) {
    const from = dirname(require.resolve(`${name}/package.json`));
    const to = join(modules, name);
    const version = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')).version;
    const installed = join(to, 'package.json');
    if (existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === version) continue;
    const staging = join(modules, `.${name}.${process.pid}.tmp`);
    rmSync(staging, { recursive: true, force: true });
    cpSync(from, staging, {
      recursive: true,
      filter: (src) => {
        const rel = relative(from, src);
        return rel === '' || (!src.endsWith('.map') && !rel.split(sep).includes('node_modules') && !skip(rel) && basename(src) !== '.DS_Store');
      },
    });
    const old = join(modules, `.${name}.${process.pid}.old`);
    if (existsSync(to)) renameSync(to, old);
    renameSync(staging, to);
    rmSync(old, { recursive: true, force: true });
  }
}

/**
 * Runs the new bundle once on this host, as the build's own user in a scratch directory, through a first /version and
 * a first command, and keeps V8's code cache of it (src/code-cache-loader.ts writes it at exit). Node is the one the
 * runner injects into sandboxes (this process's), so V8 accepts the cache there. Best effort: without a cache the
 * daemon starts as before, only slower.
 */
async function writeCodeCache() {
  const work = mkdtempSync(join(tmpdir(), 'shoal-toolbox-cache-'));
  const sock = join(work, 'toolbox.sock');
  const out = tmp('toolbox-main.cache');
  const child = spawn(process.execPath, [join(dist, 'toolbox.cjs'), `--write-code-cache=${out}`], {
    cwd: work,
    // eslint-disable-next-line no-restricted-properties -- a build script, not a service: it has no config module
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, TMPDIR: work, SHOAL_TOOLBOX_SOCKET: sock, SHOAL_WORKDIR: work },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = once(child, 'exit');
  const call = (method, path, body) =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath: sock, method, path, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  try {
    for (let i = 0; ; i++) {
      try {
        await call('GET', '/version');
        break;
      } catch (err) {
        if (i >= 200 || child.exitCode !== null) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    await call('POST', '/process/execute', { command: 'true', timeout: 10 });
    await call('GET', `/files/info?path=${encodeURIComponent(work)}`);
    child.kill('SIGTERM');
    await exited;
    renameSync(out, join(dist, 'toolbox-main.cache'));
  } catch (err) {
    child.kill('SIGKILL');
    process.stderr.write(`toolbox code cache not written (the daemon will start without it): ${err.message}\n${stderr.slice(-500)}\n`);
  } finally {
    rmSync(out, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
