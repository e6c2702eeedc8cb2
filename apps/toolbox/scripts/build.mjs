// Bundles the daemon into dist/toolbox.cjs (one CommonJS file for the injected Node 20) and copies node-pty's native
// addon beside it, so that dist/ alone is what the runner bind-mounts at /.shoal/toolbox.
import { build } from 'esbuild';
import process from 'node:process';
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
// that may be starting while a second `npm test` or `npm start` rebuilds, and must never see a missing bundle.
mkdirSync(dist, { recursive: true });
const tmp = (name) => join(dist, `.${name}.${process.pid}.tmp`);
await build({
  entryPoints: [join(root, 'src/main.ts')],
  outfile: tmp('toolbox.cjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Full minification: parsing the bundle is most of the daemon's start-up cost.
  minify: true,
  keepNames: false,
  sourcemap: false,
  legalComments: 'none',
  plugins: [nodePtyNative],
  logLevel: 'warning',
});
copyFileSync(join(ptyDir, 'build/Release/pty.node'), tmp('pty.node'));
renameSync(tmp('pty.node'), join(dist, 'pty.node'));
renameSync(tmp('toolbox.cjs'), join(dist, 'toolbox.cjs'));
process.stdout.write(`built ${join(dist, "toolbox.cjs")}\n`);
