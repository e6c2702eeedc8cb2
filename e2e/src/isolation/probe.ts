/*
 * Runs attack probes inside a sandbox through the official SDK's executeCommand. Every probe is a Python script that
 * records, per attempt, either success (with what it got) or the errno that stopped it, and prints one `RESULT {json}`
 * line. A probe whose interpreter is missing or that crashes prints no RESULT line and fails the test: a broken probe
 * can never pass for a blocked attack.
 */
import assert from 'node:assert/strict';
import type { Sandbox } from '@daytonaio/sdk';

/** Who runs the attack: the default user, root reached through `sudo`, or a sandbox created with `user: 'root'`. */
export type Actor = 'default user' | 'root via sudo' | 'root sandbox user';

export interface Attempt {
  ok: boolean;
  /** Symbolic errno (ENOENT, EPERM...) or TIMEOUT when the attempt failed. */
  errno?: string;
  value?: unknown;
}

export type ProbeResult = Record<string, Attempt> & { uid?: Attempt };

const PRELUDE = `
import os, sys, json, errno, socket, ctypes, struct, stat, hashlib, threading, tempfile
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def en(e):
    if e is None: return 'TIMEOUT'
    return errno.errorcode.get(e, str(e))
def attempt(name, fn):
    try:
        out[name] = {'ok': True, 'value': fn()}
    except socket.timeout:
        out[name] = {'ok': False, 'errno': 'TIMEOUT'}
    except OSError as e:
        out[name] = {'ok': False, 'errno': en(e.errno)}
def sysc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
def read(path, n=1 << 20):
    with open(path, 'rb') as f:
        return f.read(n).decode('utf8', 'replace')
def open_for_write(path):
    fd = os.open(path, os.O_WRONLY)
    os.close(fd)
    return 'opened for writing'
out['uid'] = {'ok': True, 'value': os.getuid()}
`;

const EPILOGUE = `\nprint('RESULT ' + json.dumps(out))\n`;

export function commandFor(actor: Actor, script: string): string {
  const b64 = Buffer.from(PRELUDE + script + EPILOGUE).toString('base64');
  const py = `python3 -c "import base64;exec(base64.b64decode('${b64}'))"`;
  return actor === 'root via sudo' ? `sudo -n ${py}` : py;
}

export async function probe(sandbox: Sandbox, actor: Actor, script: string, timeoutSec = 60): Promise<ProbeResult> {
  const r = await sandbox.process.executeCommand(commandFor(actor, script), undefined, undefined, timeoutSec);
  const line = r.result.split('\n').reverse().find((l) => l.startsWith('RESULT '));
  assert.ok(line, `probe printed no result (exit ${r.exitCode}): ${r.result.slice(-2000)}`);
  const result = JSON.parse(line.slice('RESULT '.length)) as ProbeResult;
  const uid = result.uid?.value;
  if (actor === 'default user') assert.notEqual(uid, 0, 'the default user must not be root');
  else assert.equal(uid, 0, `${actor} must run as uid 0 inside`);
  return result;
}

/**
 * Asserts every named attempt failed with one of the expected errnos. An unexpected errno fails too: it usually means
 * the probe hit the wrong target (a typo in a path) rather than the isolation boundary.
 */
export function assertBlocked(result: ProbeResult, names: string[], errnos: string[], actor: Actor): void {
  for (const name of names) {
    const a = result[name];
    assert.ok(a, `${actor}: no attempt named ${name}`);
    assert.equal(a.ok, false, `${actor}: ESCAPE — ${name} succeeded: ${String(JSON.stringify(a.value)).slice(0, 300)}`);
    assert.ok(errnos.includes(a.errno!), `${actor}: ${name} failed with ${a.errno}, expected one of ${errnos.join('/')}`);
  }
}

export const py = JSON.stringify;
