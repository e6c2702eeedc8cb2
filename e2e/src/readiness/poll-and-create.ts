// What a user's script does after `npm start`: wait for credentials.json, then create() at once, with no retry.
// Prints one JSON line: { ok, waitedMs, result | error }. Run as its own process by e2e/readiness.e2e.test.ts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Daytona } from '@daytonaio/sdk';

const dataDir = process.argv[2]!;
const started = Date.now();
let creds: { apiUrl: string; apiKey: string } | undefined;
while (!creds) {
  try {
    creds = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as { apiUrl: string; apiKey: string };
  } catch {
    await new Promise((r) => setTimeout(r, 100));
  }
}
const waitedMs = Date.now() - started;
try {
  const daytona = new Daytona({ apiUrl: creds.apiUrl, apiKey: creds.apiKey, target: 'us' });
  const sandbox = await daytona.create();
  const r = await sandbox.process.executeCommand('echo first-try');
  await sandbox.delete();
  console.log(JSON.stringify({ ok: r.exitCode === 0 && r.result.trim() === 'first-try', waitedMs, result: r.result.trim() }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, waitedMs, error: (err as Error).message }));
}
