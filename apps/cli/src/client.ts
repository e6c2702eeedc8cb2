import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { UnavailableError } from './errors.js';
import type { CliConfig } from './config.js';

export interface Credentials {
  apiUrl: string;
  apiKey: string;
}

/** Credentials come from DAYTONA_API_URL/DAYTONA_API_KEY when both are set, else from `<data-dir>/credentials.json`. */
export function loadCredentials(config: CliConfig): Credentials {
  if (config.apiUrl && config.apiKey) return { apiUrl: config.apiUrl, apiKey: config.apiKey };
  const file = join(config.dataDir, 'credentials.json');
  if (!existsSync(file)) {
    throw new UnavailableError(`no credentials: start the platform with \`npm start\` or set DAYTONA_API_URL and DAYTONA_API_KEY (looked for ${file})`);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
}

export async function sdk(config: CliConfig) {
  const creds = loadCredentials(config);
  const { Daytona } = await import('@daytonaio/sdk');
  return new Daytona({ apiUrl: creds.apiUrl, apiKey: creds.apiKey, target: 'us' });
}
