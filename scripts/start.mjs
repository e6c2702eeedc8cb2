// `npm start` (= `shoal up`): installs what is missing, then starts the whole platform on embedded defaults.
// Options after `--` go to `shoal up`, e.g. `npm start -- --data-dir /srv/shoal --port 8080`.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { bootstrapOrExit, repoRoot } from './bootstrap.mjs';

bootstrapOrExit();
const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'apps/cli/src/main.ts'), 'up', ...process.argv.slice(2)], {
  cwd: repoRoot,
  stdio: 'inherit',
  // The lockfile pins the AWS SDK (object storage); its notice that releases after January 2027 need Node 22 is for
  // whoever upgrades it, not a warning for every start of the runner on this machine's Node 20.
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env },
});
// The CLI handles Ctrl-C itself (it shares our terminal's process group); forward SIGTERM, which only we receive.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
