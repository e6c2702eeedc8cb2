// The SSH gateway with the OpenSSH client from Debian against a real platform: a command's output and exit status,
// an interactive login shell under tmux (prompt, typed command, resize), scp both ways and sftp (the sandbox's
// sftp-server), revoked and wrong tokens refused alike, brute force rate-limited per source address, and the host key
// kept across a gateway restart.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait, sha256File, writeRandomFile } from './src/toolbox-helpers.js';

const run = promisify(execFile);
let platform: TestPlatform;
let sandbox: Sandbox;
let token: string;
let scratch: string;
const tmuxSocket = `shoal-ssh-e2e-${process.pid}`;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sshOptions(extra: string[] = []): string[] {
  return [
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', `UserKnownHostsFile=${join(scratch, 'known_hosts')}`,
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=20',
    ...extra,
  ];
}

/** Runs an OpenSSH program to completion (bounded), with its exit status and both outputs apart. */
function openssh(program: string, args: string[], input?: string, timeoutMs = 60_000): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr, ms: performance.now() - started });
    });
    child.stdin.end(input ?? '');
  });
}

const ssh = (user: string, command: string[], extra: string[] = []) =>
  openssh('ssh', [...sshOptions(extra), '-p', String(platform.ssh!.port), `${user}@${platform.ssh!.host}`, ...command]);

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ssh-e2e-'));
  platform = await startTestPlatform();
  assert.ok(platform.ssh, 'the platform starts an SSH gateway');
  sandbox = await platform.sdk().create({ labels: { suite: 'ssh' } });
  const access = (await sandbox.createSshAccess(60)) as { token: string; sshCommand?: string };
  token = access.token;
  assert.equal(access.sshCommand, `ssh -p ${platform.ssh.port} ${token}@${platform.ssh.host}`);
});

after(async () => {
  await run('tmux', ['-L', tmuxSocket, 'kill-server']).catch(() => undefined);
  if (sandbox) await deleteAndWait(platform, sandbox).catch(() => undefined);
  await platform?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('a command prints its output and returns its exit status; stdout and stderr stay apart', async () => {
  const r = await ssh(token, ['echo hi; exit 3']);
  assert.equal(r.stdout, 'hi\n', r.stderr);
  assert.equal(r.code, 3);
  const split = await ssh(token, ['echo out; echo err >&2; whoami']);
  assert.equal(split.code, 0, split.stderr);
  assert.equal(split.stdout, 'out\ndaytona\n');
  assert.equal(split.stderr, 'err\n');
  const stdin = await openssh('ssh', [...sshOptions(), '-p', String(platform.ssh!.port), `${token}@${platform.ssh!.host}`, 'wc -c'], 'x'.repeat(100_000));
  assert.equal(stdin.stdout.trim(), '100000');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = await ssh(token, ['echo hi']);
    assert.equal(t.stdout, 'hi\n');
    times.push(t.ms);
  }
  times.sort((a, b) => a - b);
  console.log(`ssh 'echo hi' round trip (new connection each): median ${times[2]!.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times[4]!.toFixed(0)} ms`);
});

async function screen(): Promise<string> {
  return (await run('tmux', ['-L', tmuxSocket, 'capture-pane', '-p', '-t', 's'])).stdout;
}

async function waitForScreen(re: RegExp, what: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await screen();
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`no ${what} on the screen:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('an interactive login shell under tmux shows a prompt, answers a typed command and follows a resize', async () => {
  const command = ['ssh', '-tt', ...sshOptions(), '-p', String(platform.ssh!.port), `${token}@${platform.ssh!.host}`].map((w) => `'${w}'`).join(' ');
  await run('tmux', ['-L', tmuxSocket, '-f', '/dev/null', 'new-session', '-d', '-s', 's', '-x', '100', '-y', '30', command]);
  await waitForScreen(/[$#] ?$/m, 'prompt');
  await run('tmux', ['-L', tmuxSocket, 'send-keys', '-t', 's', 'echo typed-$((6*7)); tty; stty size', 'Enter']);
  const first = await waitForScreen(/^30 100\s*$/m, 'stty size 30 100');
  assert.match(first, /^typed-42\s*$/m);
  assert.match(first, /^\/dev\/pts\/\d+\s*$/m);
  await run('tmux', ['-L', tmuxSocket, 'resize-window', '-t', 's', '-x', '120', '-y', '40']);
  await run('tmux', ['-L', tmuxSocket, 'send-keys', '-t', 's', 'clear; stty size', 'Enter']);
  await waitForScreen(/^40 120\s*$/m, 'stty size 40 120 after the resize');
  await run('tmux', ['-L', tmuxSocket, 'send-keys', '-t', 's', 'exit', 'Enter']);
});

test('scp copies a 5 MiB file in and out byte for byte; sftp lists it', async () => {
  const local = join(scratch, 'up.bin');
  const digest = await writeRandomFile(local, 5 * 1024 * 1024);
  const port = String(platform.ssh!.port);
  const remote = `${token}@${platform.ssh!.host}`;
  const up = await openssh('scp', [...sshOptions(), '-P', port, local, `${remote}:/tmp/up.bin`]);
  assert.equal(up.code, 0, up.stderr);
  const inside = await sandbox.process.executeCommand('sha256sum /tmp/up.bin');
  assert.equal(inside.result.split(' ')[0], digest);
  const back = join(scratch, 'down.bin');
  const down = await openssh('scp', [...sshOptions(), '-P', port, `${remote}:/tmp/up.bin`, back]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await sha256File(back), digest);
  console.log(`scp 5 MiB: in ${up.ms.toFixed(0)} ms, out ${down.ms.toFixed(0)} ms`);
  const batch = join(scratch, 'sftp-batch');
  await writeFile(batch, 'ls -l /tmp\n');
  const listed = await openssh('sftp', [...sshOptions(), '-P', port, '-b', batch, remote]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /up\.bin/);
});

test('a revoked token and a wrong one are refused alike; brute force from one address is rate-limited', async () => {
  const second = await sandbox.createSshAccess(60);
  // Creating a token revoked the first one (the reference's rule); revoking this one leaves none.
  const old = await ssh(token, ['echo should-not-run']);
  assert.equal(old.code, 255);
  assert.doesNotMatch(old.stdout, /should-not-run/);
  await sandbox.revokeSshAccess(second.token);
  const revoked = await ssh(second.token, ['echo should-not-run']);
  assert.equal(revoked.code, 255);
  assert.match(revoked.stderr, /Permission denied/);
  const wrong = await ssh('x'.repeat(32), ['echo should-not-run']);
  assert.equal(wrong.code, 255);
  // The same answer for a token that never existed as for one that named a real sandbox.
  assert.equal(wrong.stderr.replace(/x{32}/g, 'T'), revoked.stderr.replace(second.token, 'T'));

  token = (await sandbox.createSshAccess(60)).token;
  // From 127.0.0.2 (still loopback): ten wrong tokens, then even the valid one is refused from that address...
  const from2 = ['-b', '127.0.0.2'];
  for (let i = 0; i < 10; i++) assert.equal((await ssh(`wrong${i}${'y'.repeat(20)}`, ['true'], from2)).code, 255);
  const limited = await ssh(token, ['echo should-not-run'], from2);
  assert.equal(limited.code, 255);
  assert.doesNotMatch(limited.stdout, /should-not-run/);
  // ...while another address still gets in with it.
  const other = await ssh(token, ['echo still-open']);
  assert.equal(other.stdout, 'still-open\n', other.stderr);
});

test('the host key stays the same across a gateway restart', async () => {
  const known = await readFile(join(scratch, 'known_hosts'), 'utf8');
  assert.match(known, /ssh-ed25519 /);
  await platform.ssh!.process.stop();
  await platform.ssh!.start();
  const r = await ssh(token, ['echo same-key'], ['-o', 'StrictHostKeyChecking=yes']);
  assert.equal(r.stdout, 'same-key\n', r.stderr);
  assert.equal(await readFile(join(scratch, 'known_hosts'), 'utf8'), known);
});
