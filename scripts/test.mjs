// `npm test`: installs what the suite needs, then runs every tier (small, medium, e2e).
// `npm test -- small|medium|e2e [file filter]` runs one tier.
import { spawnSync } from 'node:child_process';
import { bootstrapOrExit, repoRoot } from './bootstrap.mjs';

bootstrapOrExit();
const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/run-tests.ts', ...process.argv.slice(2)], {
  cwd: repoRoot,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
