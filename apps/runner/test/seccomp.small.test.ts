import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seccompProfile } from '../src/runtime/seccomp.js';
import { sandboxSpec } from '../src/runtime/spec.js';

const denied = (level: 'default' | 'relaxed') => {
  const out = new Map<string, { errnoRet: number; conditional: boolean }>();
  for (const rule of seccompProfile(level).syscalls) {
    for (const name of rule.names) out.set(name, { errnoRet: rule.errnoRet, conditional: (rule.args?.length ?? 0) > 0 });
  }
  return out;
};

describe('seccomp profile', () => {
  it('allows by default and denies the kernel surface behind container escapes', () => {
    const p = seccompProfile();
    assert.equal(p.defaultAction, 'SCMP_ACT_ALLOW');
    assert.deepEqual(p.architectures, [process.arch === 'arm64' ? 'SCMP_ARCH_AARCH64' : 'SCMP_ARCH_X86_64']);
    const d = denied('default');
    for (const name of [
      'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd', 'kexec_load', 'kexec_file_load',
      'open_by_handle_at', 'mount', 'umount2', 'move_mount', 'open_tree', 'fsopen', 'fsmount', 'fsconfig', 'fspick',
      'mount_setattr', 'pivot_root', 'init_module', 'finit_module', 'delete_module', 'acct', 'swapon', 'swapoff',
      'reboot', 'settimeofday', 'clock_settime', 'adjtimex', 'quotactl',
    ]) {
      assert.deepEqual(d.get(name), { errnoRet: 1, conditional: false }, name);
    }
    for (const name of ['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'clone3']) assert.deepEqual(d.get(name), { errnoRet: 38, conditional: false }, name);
  });

  it('refuses CLONE_NEWUSER through clone and unshare only, by flag', () => {
    const rules = seccompProfile().syscalls.filter((r) => r.names.includes('clone') || r.names.includes('unshare'));
    assert.equal(rules.length, 2);
    for (const r of rules) assert.deepEqual(r.args, [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }]);
  });

  it('relaxed (operator-listed snapshots) still refuses modules, kexec and host clocks, and gives back the rest', () => {
    const d = denied('relaxed');
    for (const name of ['init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load', 'settimeofday', 'reboot']) {
      assert.ok(d.has(name), name);
    }
    for (const name of ['mount', 'unshare', 'clone', 'clone3', 'keyctl', 'bpf', 'io_uring_setup']) assert.ok(!d.has(name), name);
  });

  it('is part of every sandbox spec, with a cgroup namespace', () => {
    const base = {
      id: 'sb', rootfs: '/r', args: ['/x'], env: [], netnsPath: '/run/netns/n', sysfs: '/sys', uidBase: 100000, cgroupsPath: '/x/sb',
      cpu: 1, memoryGiB: 1, pidsLimit: 10, rlimits: [], binds: [],
    };
    const spec = sandboxSpec(base) as { linux: { seccomp: unknown; namespaces: { type: string }[] } };
    assert.deepEqual(spec.linux.seccomp, seccompProfile('default'));
    assert.ok(spec.linux.namespaces.some((n) => n.type === 'cgroup'));
    const relaxed = sandboxSpec({ ...base, seccomp: 'relaxed' }) as { linux: { seccomp: unknown } };
    assert.deepEqual(relaxed.linux.seccomp, seccompProfile('relaxed'));
  });
});
