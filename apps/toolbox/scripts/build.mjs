// Bundles the daemon into dist/toolbox.cjs (one CommonJS file for the injected Node 20) and copies node-pty's native
// addon and the language servers (dist/lsp/node_modules) beside it, so that dist/ alone is what the runner
// bind-mounts at /.shoal/toolbox.
import { build } from 'esbuild';
import process from 'node:process';
import { spawn, spawnSync } from 'node:child_process';
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
          // From the daemon's entry file, not __dirname: in the startup snapshot __dirname is where the blob was
          // made, and its require() loads built-in modules only.
          var path = require('path');
          var dir = path.dirname(process.argv[1]);
          return { dir: dir + '/', module: require('module').createRequire(process.argv[1])(path.join(dir, name + '.node')) };
        };`,
    }));
  },
};

// Each file is written under a temporary name and renamed into place: the runner bind-mounts dist/ into sandboxes
// that may be starting while a second `npm test` or `npm start` rebuilds, and must never see a missing bundle. A
// start that sees a new bundle beside the old code cache runs without the cache (the loader checks the bundle file it was made for).
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
/**
 * For the startup snapshot's bundle: the built-in modules `node --build-snapshot` refuses (node:http among them) or
 * does not vouch for in a snapshotted heap are loaded on first use of one of their exports, in the started process,
 * instead of when the bundle is evaluated. So is node:crypto, which is supported but keeps random bytes in JS
 * (src/snapshot-main.ts refuses a snapshot that loaded it). Modules whose export is itself a class stay as they are:
 * code extends them, which a stand-in object cannot serve.
 */
const SNAPSHOT_LAZY_BUILTINS = new Set([
  'http', 'http2', 'https', 'repl', 'async_hooks', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'dns/promises', 'domain',
  'inspector', 'inspector/promises', 'module', 'perf_hooks', 'readline', 'readline/promises', 'stream/consumers', 'stream/web',
  'tls', 'trace_events', 'tty', 'vm', 'wasi', 'worker_threads',
]);
/**
 * For the daemon's own bundle: built-in modules nothing needs before a request that uses them, loaded then. zlib
 * serves computer use alone (about 2 ms of a sandbox's start here). child_process would be worth it too, but the
 * daemon's listen loads it all the same (net's listen requires cluster, which requires child_process).
 */
const MAIN_LAZY_BUILTINS = new Set(['zlib']);
const lazyBuiltins = (lazy) => ({
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (a) => {
      const name = a.path.replace(/^node:/, '');
      if (a.namespace === 'lazy-builtin' || !lazy.has(name)) return undefined;
      return { path: name, namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (a) => {
      const id = JSON.stringify(`node:${a.path}`);
      const keys = Object.keys(require(`node:${a.path}`));
      const getters = keys.map((k) => `Object.defineProperty(exports, ${JSON.stringify(k)}, { enumerable: true, get: () => load()[${JSON.stringify(k)}] });`);
      return { loader: 'js', contents: [`let m; const load = () => (m ??= require(${id}));`, ...getters].join('\n') };
    });
  },
});

// Written already wrapped in CommonJS's module function, so the loader compiles the file's text as it is: wrapping it at
// start made a second 370 KB copy of the source, which a daemon that never runs a major GC keeps (0.43 MB of
// anonymous memory in a daemon started outside a sandbox, smaps_rollup; a sandbox's start usually collects it).
await build({
  ...common,
  entryPoints: [join(root, 'src/main.ts')],
  outfile: tmp('toolbox-main.cjs'),
  plugins: [nodePtyNative, lazyBuiltins(MAIN_LAZY_BUILTINS)],
  banner: { js: Module.wrapper[0] },
  footer: { js: Module.wrapper[1] },
});
// The entry the runner starts: loads toolbox-main.cjs through V8's code cache (src/code-cache-loader.ts).
await build({ ...common, entryPoints: [join(root, 'src/code-cache-loader.ts')], outfile: tmp('toolbox.cjs') });
// The startup snapshot's entry (src/snapshot-main.ts); only the blob made from it ships.
await build({ ...common, entryPoints: [join(root, 'src/snapshot-main.ts')], outfile: tmp('toolbox-snapshot.cjs'), plugins: [nodePtyNative, lazyBuiltins(SNAPSHOT_LAZY_BUILTINS)] });
copyFileSync(join(ptyDir, 'build/Release/pty.node'), tmp('pty.node'));
renameSync(tmp('pty.node'), join(dist, 'pty.node'));
renameSync(tmp('toolbox-main.cjs'), join(dist, 'toolbox-main.cjs'));
renameSync(tmp('toolbox.cjs'), join(dist, 'toolbox.cjs'));
await writeCodeCache();
await writeStartupSnapshot();
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
  const out = tmp('toolbox-main.cache');
  try {
    await smokeRun([join(dist, 'toolbox.cjs'), `--write-code-cache=${out}`], work);
    renameSync(out, join(dist, 'toolbox-main.cache'));
  } catch (err) {
    process.stderr.write(`toolbox code cache not written (the daemon will start without it): ${err.message}\n`);
  } finally {
    rmSync(out, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Starts the daemon (`node ...args`) as the build's own user in the scratch directory `work`, takes it through a first
 * /version, a command and a file read, and stops it with SIGTERM. Throws, with the daemon's last output, if any step
 * fails.
 */
async function smokeRun(args, work) {
  const sock = join(work, 'toolbox.sock');
  const child = spawn(process.execPath, args, {
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
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${stderr.slice(-500)}`);
  }
}

/**
 * Makes dist/toolbox.blob, the daemon's V8 startup snapshot (src/snapshot-main.ts), with this process's Node, the one
 * the runner injects, and starts it once through a first /version and command as writeCodeCache does. Best effort:
 * without a blob, or with one the runner's check refuses, sandboxes start toolbox.cjs.
 */
async function writeStartupSnapshot() {
  const entry = tmp('toolbox-snapshot.cjs');
  const blob = tmp('toolbox.blob');
  const work = mkdtempSync(join(tmpdir(), 'shoal-toolbox-snapshot-'));
  try {
    const made = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry], { cwd: work, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`node --build-snapshot exited with ${made.status}: ${made.stderr.slice(-800)}`);
    await smokeRun(['--snapshot-blob', blob], work);
    renameSync(blob, join(dist, 'toolbox.blob'));
  } catch (err) {
    rmSync(join(dist, 'toolbox.blob'), { force: true });
    process.stderr.write(`toolbox startup snapshot not written (sandboxes start toolbox.cjs): ${err.message}\n`);
  } finally {
    rmSync(entry, { force: true });
    rmSync(blob, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
