// Starts (or reuses) a PostgreSQL for running medium tests by hand, prints its superuser URL and keeps running.
// Usage: node scripts/dev-postgres.mjs  ->  export SHOAL_TEST_DATABASE_URL=<printed url>
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const root = fileURLToPath(new URL('..', import.meta.url));
const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
  const { startEmbeddedPostgres } = await import('@shoal/postgres');
  const pg = await startEmbeddedPostgres({ dataDir: '/tmp/shoal-dev-pg/data', port: 54329 });
  console.log(pg.url);
  process.on('SIGINT', () => pg.stop().then(() => process.exit(0)));
  process.on('SIGTERM', () => pg.stop().then(() => process.exit(0)));
  setInterval(() => {}, 1 << 30);
`], { cwd: root, stdio: 'inherit' });
process.on('SIGINT', () => child.kill('SIGINT'));
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code) => process.exit(code ?? 0));
