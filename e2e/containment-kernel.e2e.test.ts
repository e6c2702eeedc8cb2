// Kernel-side containment (issue 9, items 3 and 5): the seccomp profile, the cgroup namespace, the toolbox reachable
// only through the runner, and no inherited descriptor in user processes. Every attempt runs inside a real sandbox
// through the official SDK, as the default user and as root through sudo. Each syscall probe uses arguments that the
// kernel itself accepts without the filter (checked on this host as an unprivileged user: io_uring_setup, add_key,
// keyctl, perf_event_open, userfaultfd(UFFD_USER_MODE_ONLY) and unshare(CLONE_NEWUSER) all succeed, bpf with an
// unknown command is EINVAL), so only the filter's own errno passes.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { PtyHandle, Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { assertBlocked, probe, type Actor } from './src/isolation/probe.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

let platform: TestPlatform;
let sb: Sandbox;
let ip: string;
const ACTORS: Actor[] = ['default user', 'root via sudo'];
const asActor = (actor: Actor, command: string) =>
  actor === 'root via sudo' ? `sudo -n sh -c '${command.replace(/'/g, `'\\''`)}'` : command;

async function sh(command: string, timeout = 60): Promise<{ exitCode: number; result: string }> {
  return sb.process.executeCommand(command, undefined, undefined, timeout);
}

/** Resolves with how a TCP connect from the host ended: 'connected' or the error code. */
function hostConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.setTimeout(3000, () => {
      s.destroy();
      resolve('TIMEOUT');
    });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/**
 * `ls -l /proc/self/fd` output -> descriptor numbers other than 0, 1, 2 and the one `ls` opened to read that very
 * directory (it points at /proc/<its pid>/fd).
 */
function extraFds(listing: string): string[] {
  const extra: string[] = [];
  for (const line of listing.split('\n')) {
    const m = /\s(\d+) -> (.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, fd, target] = m;
    if (['0', '1', '2'].includes(fd!)) continue;
    if (/^\/proc\/\d+\/fd$/.test(target!)) continue;
    extra.push(`${fd} -> ${target}`);
  }
  return extra;
}

before(async () => {
  // SHOAL_TEST_OCI_RUNTIME=runc runs the same checks under the fallback runtime.
  const runtime = process.env.SHOAL_TEST_OCI_RUNTIME;
  platform = await startTestPlatform(runtime ? { extraRunnerEnv: { SHOAL_RUNNER_OCI_RUNTIME: runtime } } : {});
  sb = await platform.sdk().create({ labels: { suite: 'containment-kernel' } }, { timeout: 120 });
  const addr = await sh('ip -4 -o addr show dev eth0');
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr.result);
  assert.ok(m, `no IPv4 on eth0: ${addr.result}`);
  ip = m[1]!;
});

after(async () => {
  if (sb) await deleteAndWait(platform, sb);
  await platform?.close();
});

describe('containment: syscall filter and namespaces', () => {
  for (const actor of ACTORS) {
    test(`${actor}: io_uring, keyrings, bpf, perf_event_open, userfaultfd and nested user namespaces are refused`, async () => {
      const r = await probe(
        sb,
        actor,
        `
params = ctypes.create_string_buffer(120)
attempt('io_uring_setup', lambda: sysc(425, ctypes.c_uint(1), params))
attempt('add_key', lambda: sysc(248, b'user', b'shoal-probe', b'x', ctypes.c_size_t(1), ctypes.c_int(-2)))
attempt('keyctl', lambda: sysc(250, ctypes.c_int(0), ctypes.c_int(-2), ctypes.c_int(1)))
attempt('request_key', lambda: sysc(249, b'user', b'shoal-probe', None, ctypes.c_int(-2)))
attempt('bpf', lambda: sysc(321, ctypes.c_int(1000), None, ctypes.c_uint(0)))
attr = ctypes.create_string_buffer(128)
struct.pack_into('IIQ', attr, 0, 1, 128, 1)
struct.pack_into('Q', attr, 40, (1 << 5) | (1 << 6))
attempt('perf_event_open', lambda: sysc(298, attr, ctypes.c_int(0), ctypes.c_int(-1), ctypes.c_int(-1), ctypes.c_ulong(0)))
attempt('userfaultfd', lambda: sysc(323, ctypes.c_int(1)))
attempt('unshare_newuser', lambda: sysc(272, ctypes.c_int(0x10000000)))
def clone_newuser():
    pid = sysc(56, ctypes.c_ulong(0x10000000 | 17), None, None, None, None)
    if pid == 0: os._exit(0)
    os.waitpid(pid, 0)
    return pid
attempt('clone_newuser', clone_newuser)
attempt('open_by_handle_at', lambda: sysc(304, ctypes.c_int(-100), ctypes.create_string_buffer(16), ctypes.c_int(0)))
attempt('fsopen', lambda: sysc(430, b'tmpfs', ctypes.c_uint(0)))
`,
      );
      // Without the filter: keys are created, bpf says EINVAL, the rest succeed (fsopen/open_by_handle_at: EPERM by
      // capability as well, so these two are defence in depth rather than the proof of the filter).
      const expected: Record<string, string> = { io_uring_setup: 'ENOSYS' };
      for (const name of ['add_key', 'keyctl', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd', 'unshare_newuser', 'clone_newuser', 'open_by_handle_at', 'fsopen']) {
        expected[name] = 'EPERM';
      }
      // Every attempt is judged before failing, so one run names all that got through.
      const wrong = Object.entries(expected)
        .filter(([name, errno]) => r[name]?.ok !== false || r[name]?.errno !== errno)
        .map(([name, errno]) => `${name}: ${r[name]?.ok ? `ESCAPE, succeeded (${JSON.stringify(r[name]?.value)})` : `failed with ${r[name]?.errno}`}, expected ${errno}`);
      assert.deepEqual(wrong, [], `${actor}:\n${wrong.join('\n')}`);
      assertBlocked(r, Object.keys(expected), ['ENOSYS', 'EPERM'], actor);
    });

    test(`${actor}: unshare -U and mounts fail, and the sandbox says it runs filtered (Seccomp: 2)`, async () => {
      const unshare = await sh(asActor(actor, 'unshare -U true'));
      assert.notEqual(unshare.exitCode, 0, `${actor}: ESCAPE — unshare -U succeeded`);
      assert.match(unshare.result, /Operation not permitted/);
      // The classic path to a mount: a nested user namespace whose root may mount.
      const nested = await sh(asActor(actor, 'mkdir -p /tmp/shoal-mnt && unshare -Urm mount -t tmpfs none /tmp/shoal-mnt && echo MOUNTED'));
      assert.doesNotMatch(nested.result, /MOUNTED/, `${actor}: ESCAPE — mounted through a nested user namespace`);
      const direct = await sh(asActor(actor, 'mkdir -p /tmp/shoal-mnt && mount -t tmpfs none /tmp/shoal-mnt && echo MOUNTED'));
      assert.notEqual(direct.exitCode, 0, `${actor}: mount -t tmpfs succeeded: ${direct.result}`);
      assert.doesNotMatch(direct.result, /MOUNTED/);
      const status = await sh(asActor(actor, 'grep -E "^(Seccomp|Seccomp_filters|NoNewPrivs):" /proc/self/status'));
      assert.match(status.result, /^Seccomp:\t2$/m, `${actor}: ${status.result}`);
    });

    test(`${actor}: /proc/self/cgroup shows only the sandbox's own cgroup`, async () => {
      const r = await sh(asActor(actor, 'cat /proc/self/cgroup'));
      assert.equal(r.exitCode, 0, r.result);
      const lines = r.result.split('\n').filter(Boolean);
      assert.ok(lines.length > 0, 'no cgroup lines');
      for (const line of lines) assert.match(line, /:\/$/, `${actor}: host cgroup path visible: ${line}`);
      assert.doesNotMatch(r.result, new RegExp(sb.id), `${actor}: the host's path to this sandbox is visible`);
      // /sys/fs/cgroup is the sandbox's own cgroup (no other sandbox, no runner hierarchy), with its own limits.
      const fs = await sh(asActor(actor, 'find /sys/fs/cgroup -maxdepth 3 -name "shoal_*" | head -5; echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)'));
      assert.doesNotMatch(fs.result, /shoal_/, `${actor}: the host's cgroup tree is visible: ${fs.result}`);
      assert.match(fs.result, new RegExp(`mem=${sb.memory * 1024 ** 3}\\b`), `${actor}: ${fs.result}`);
      const write = await sh(asActor(actor, 'echo 1 > /sys/fs/cgroup/pids/pids.max'));
      assert.notEqual(write.exitCode, 0, `${actor}: wrote its own pids limit`);
    });
  }
});

describe('containment: toolbox reachable only through the runner', () => {
  test("from the host, the sandbox's address refuses TCP on 2280 (and a port the sandbox listens on connects)", async () => {
    // Positive control: the host does reach the sandbox's address, so a refusal on 2280 means nothing listens there.
    const sid = `listener-${Date.now()}`;
    await sb.process.createSession(sid);
    await sb.process.executeSessionCommand(sid, { command: 'python3 -m http.server 2281 --bind 0.0.0.0 >/dev/null 2>&1', runAsync: true });
    await eventually(async () => (await hostConnect(ip, 2281)) === 'connected', 'a server in the sandbox on 2281, from the host');
    assert.equal(await hostConnect(ip, 2280), 'ECONNREFUSED');
    const listening = await sh('cat /proc/net/tcp /proc/net/tcp6');
    assert.doesNotMatch(listening.result, /:08E8 [0-9A-F:]+ 0A /, 'something inside listens on 2280');
    await sb.process.deleteSession(sid);
  });

  test('the SDK still reaches the toolbox over 2280 (HTTP and WebSocket) through the proxy', async () => {
    const sid = `follow-${Date.now()}`;
    await sb.process.createSession(sid);
    const started = await sb.process.executeSessionCommand(sid, { command: 'for i in 1 2 3; do echo tick$i; sleep 0.2; done', runAsync: true });
    let followed = '';
    await sb.process.getSessionCommandLogs(sid, started.cmdId!, (c) => (followed += c), () => undefined);
    assert.match(followed, /tick1[\s\S]*tick3/);
    await sb.process.deleteSession(sid);
  });
});

describe('containment: no inherited descriptor reaches user processes', () => {
  test('executeCommand (default user and sudo): only 0, 1, 2', async () => {
    for (const command of ['ls -l /proc/self/fd', 'sudo -n ls -l /proc/self/fd', 'python3 -c "import os; print(os.listdir(\'/proc/self/fd\'))"']) {
      const r = await sh(command);
      assert.equal(r.exitCode, 0, r.result);
      if (command.startsWith('python3')) {
        // listdir's own directory descriptor is the one extra entry.
        const fds = JSON.parse(r.result.trim().replace(/'/g, '"')) as string[];
        assert.ok(fds.length <= 4 && ['0', '1', '2'].every((f) => fds.includes(f)), `${command}: ${r.result}`);
        continue;
      }
      assert.deepEqual(extraFds(r.result), [], `${command}:\n${r.result}`);
    }
  });

  test('a session command: only 0, 1, 2', async () => {
    const sid = `fds-${Date.now()}`;
    await sb.process.createSession(sid);
    const r = await sb.process.executeSessionCommand(sid, { command: 'ls -l /proc/self/fd' });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output ?? '', / 0 -> /);
    assert.deepEqual(extraFds(r.output ?? ''), [], r.output);
    await sb.process.deleteSession(sid);
  });

  test('a PTY: only 0, 1, 2', async () => {
    const decoder = new TextDecoder();
    let text = '';
    const handle: PtyHandle = await sb.process.createPty({
      id: `pty-fds-${Date.now()}`,
      cols: 200,
      rows: 50,
      onData: (b: Uint8Array) => void (text += decoder.decode(b, { stream: true })),
    });
    await handle.waitForConnection();
    await handle.sendInput('echo BEGIN-$((6*7)); ls -l /proc/self/fd; echo END-$((6*7)); exit\n');
    await eventually(() => /END-42/.test(text), 'the PTY listing');
    const listing = text.slice(text.indexOf('BEGIN-42'), text.indexOf('END-42')).replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '').replace(/\r/g, '');
    assert.match(listing, / 0 -> \/dev\/pts\//);
    assert.deepEqual(extraFds(listing), [], listing);
    await handle.wait();
    await handle.disconnect();
  });

  test('the sandbox keeps working: python3, node, pip, apt-get, git', async () => {
    for (const command of ['python3 --version', 'node --version', 'pip --version', 'apt-get --version', 'git --version', 'sudo -n true']) {
      const r = await sh(command);
      assert.equal(r.exitCode, 0, `${command}: ${r.result}`);
    }
  });
});
