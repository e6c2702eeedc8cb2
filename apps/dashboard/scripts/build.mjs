// Bundles the dashboard (web/) into dist/: one JavaScript file, one stylesheet, index.html. No CDN: everything the
// browser loads comes from the API's own /dashboard/ path, which is what its Content-Security-Policy allows.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
// Compressed once here, so the API sends gzip to browsers that take it without compressing on every request.
for (const f of ['assets/app.js', 'assets/app.css']) writeFileSync(join(out, `${f}.gz`), gzipSync(readFileSync(join(out, f)), { level: 9 }));
rmSync(dist, { recursive: true, force: true });
renameSync(out, dist);

for (const f of ['assets/app.js', 'assets/app.css']) {
  console.log(`dashboard ${f}: ${(statSync(join(dist, f)).size / 1024).toFixed(1)} KiB, ${(statSync(join(dist, `${f}.gz`)).size / 1024).toFixed(1)} KiB gzip`);
}
