import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboardUrl } from '../src/commands/open.js';

/* `shoal open` reads the saved credentials, prints the dashboard URL, and opens it only where a desktop exists. */

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
let dir: string;
let dataDir: string;
let bin: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-open-'));
  dataDir = join(dir, 'data');
  bin = join(dir, 'bin');
  await mkdir(dataDir);
  await mkdir(bin);
  await writeFile(join(dataDir, 'credentials.json'), JSON.stringify({ apiUrl: 'http://127.0.0.1:4567/api', apiKey: 'dtn_unused' }));
  // A stand-in xdg-open that records what it was asked to open (no real browser in a test).
  await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > '${join(dir, 'opened')}'\n`);
  await chmod(join(bin, 'xdg-open'), 0o755);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function open(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'open'], { env: { SHOAL_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const opened = () => readFile(join(dir, 'opened'), 'utf8').catch(() => undefined);

test('dashboardUrl: the API origin plus /dashboard/', () => {
  assert.equal(dashboardUrl('http://127.0.0.1:3000/api'), 'http://127.0.0.1:3000/dashboard/');
  assert.equal(dashboardUrl('http://127.0.0.1:3000/api/'), 'http://127.0.0.1:3000/dashboard/');
  assert.equal(dashboardUrl('https://shoal.example.com/api'), 'https://shoal.example.com/dashboard/');
});

test('without a desktop it prints the URL from credentials.json and succeeds, opening nothing', async () => {
  const res = await open({ PATH: `${bin}:${process.env.PATH}` });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, 'http://127.0.0.1:4567/dashboard/\n');
  assert.equal(await opened(), undefined);
});

test('on a desktop without xdg-open it still prints the URL and succeeds', async () => {
  const res = await open({ PATH: '/nonexistent', DISPLAY: ':99' });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, 'http://127.0.0.1:4567/dashboard/\n');
  assert.match(res.stderr, /not opened: xdg-open is not installed/);
});

test('on a desktop (DISPLAY or WAYLAND_DISPLAY) it opens the URL with xdg-open', async () => {
  for (const desktop of [{ DISPLAY: ':99' }, { WAYLAND_DISPLAY: 'wayland-0' }] as Record<string, string>[]) {
    await rm(join(dir, 'opened'), { force: true });
    const res = await open({ PATH: `${bin}:${process.env.PATH}`, ...desktop });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'http://127.0.0.1:4567/dashboard/\n');
    // xdg-open is left to run on its own; its record appears soon after.
    let url: string | undefined;
    for (let i = 0; i < 100 && !url; i++) {
      url = await opened();
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(url, 'http://127.0.0.1:4567/dashboard/');
  }
});

test('without saved credentials it says how to get them', async () => {
  const res = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'open'], { env: { SHOAL_DATA_DIR: join(dir, 'none'), PATH: '/nonexistent' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /no credentials: start the platform with `npm start`/);
});
