import { spawn } from 'node:child_process';
import type { ParsedArgs } from '../args.js';
import { loadCredentials } from '../client.js';
import type { CliConfig } from '../config.js';

export const usage = 'shoal open   (prints the dashboard URL; on a desktop, also opens it in the browser)';

/** The API serves the dashboard beside its own `/api` prefix (apps/api/src/dashboard/dashboard-routes.ts). */
export function dashboardUrl(apiUrl: string): string {
  return `${apiUrl.replace(/\/+$/, '').replace(/\/api$/, '')}/dashboard/`;
}

/**
 * Prints the URL first, so it is there to copy whatever happens next. Opening a browser is a convenience: on a server
 * (no DISPLAY or WAYLAND_DISPLAY) or without xdg-open the command still succeeds.
 */
export async function run(_args: ParsedArgs, config: CliConfig): Promise<number> {
  const url = dashboardUrl(loadCredentials(config).apiUrl);
  console.log(url);
  if (!config.desktop) return 0;
  const opened = await new Promise<string | undefined>((resolve) => {
    const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
    child.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT' ? 'xdg-open is not installed' : err.message));
    child.on('spawn', () => {
      // The browser outlives this command.
      child.unref();
      resolve(undefined);
    });
  });
  console.error(opened ? `(not opened: ${opened}; open the URL above in a browser)` : '(opening it in the browser)');
  return 0;
}
