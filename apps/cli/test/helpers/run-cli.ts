import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `shoal` as a user would, in its own process. Both variables are set, so no credentials.json is looked for; the
 * data dir is a path under `dir` that holds nothing, on purpose.
 */
export function runCli(argv: string[], opts: { apiUrl: string; key: string; dir: string; stdin?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...argv], {
      env: { PATH: process.env.PATH, DAYTONA_API_URL: opts.apiUrl, DAYTONA_API_KEY: opts.key, SHOAL_DATA_DIR: join(opts.dir, 'no-data') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}
