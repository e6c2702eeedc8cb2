// Bundles the dashboard (web/) into dist/: one JavaScript file, one stylesheet, index.html. No CDN: everything the
// browser loads comes from the API's own /dashboard/ path, which is what its Content-Security-Policy allows.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
// Built beside dist/ and moved into place: two builds at once (parallel test runs) never delete each other's files.
const out = join(root, `.dist-${process.pid}`);
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

await build({
  entryPoints: { app: join(root, 'web/main.tsx') },
  outdir: join(out, 'assets'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'web/index.html'), join(out, 'index.html'));
rmSync(dist, { recursive: true, force: true });
renameSync(out, dist);

for (const f of ['assets/app.js', 'assets/app.css']) {
  const bytes = readFileSync(join(dist, f));
  console.log(`dashboard ${f}: ${(statSync(join(dist, f)).size / 1024).toFixed(1)} KiB, ${(gzipSync(bytes).length / 1024).toFixed(1)} KiB gzip`);
}
