/**
 * Shoal's seccomp profile, in the OCI runtime-spec `linux.seccomp` form.
 *
 * Style: allow by default and deny, by name, the syscalls that reach kernel surface a sandbox has no business
 * touching. An allow-list would be tighter but breaks on every new syscall libc starts using; the denials below are
 * the ones behind most container escapes of recent years (user namespaces, io_uring, keyrings, eBPF, perf,
 * userfaultfd, file handles, mounts) plus host-wide knobs (modules, kexec, clock, swap, reboot).
 *
 * Only the native architecture is listed: on x86_64 a syscall made through another ABI on this kernel (i386 `int 0x80`, x32) hits the filter's
 * bad-arch action and kills the thread, so nobody can dodge a rule by switching ABI.
 */

const EPERM = 1;
/** For syscalls whose callers fall back when the kernel "lacks" them (glibc retries clone3 as clone, io_uring users use epoll/threads). */
const ENOSYS = 38;

const CLONE_NEWUSER = 0x10000000;
/** personality(2) bits that weaken the process's own memory protections. */
const PERSONALITY_DENIED_BITS = {
  READ_IMPLIES_EXEC: 0x0400000,
  ADDR_COMPAT_LAYOUT: 0x0200000,
  MMAP_PAGE_ZERO: 0x0100000,
};

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_EQ' | 'SCMP_CMP_NE';
}

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ERRNO';
  errnoRet: number;
  args?: SeccompArg[];
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ALLOW';
  architectures: string[];
  syscalls: SeccompRule[];
}

const deny = (errnoRet: number, ...names: string[]): SeccompRule => ({ names, action: 'SCMP_ACT_ERRNO', errnoRet });

/** `(arg[index] & bits) == bits`: libseccomp's MASKED_EQ takes the mask in `value` and the datum in `valueTwo`. */
const denyWhenBits = (name: string, index: number, bits: number): SeccompRule => ({
  names: [name],
  action: 'SCMP_ACT_ERRNO',
  errnoRet: EPERM,
  args: [{ index, value: bits, valueTwo: bits, op: 'SCMP_CMP_MASKED_EQ' }],
});

/** Denied under every profile, the relaxed one included: they act on the whole host, not on the sandbox. */
const HOST_WIDE: SeccompRule[] = [
  // Loading code into the kernel or replacing it.
  deny(EPERM, 'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load'),
  // Host clock, swap, process accounting, power, quotas, port I/O, the kernel log.
  deny(EPERM, 'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex'),
  deny(EPERM, 'swapon', 'swapoff', 'acct', 'reboot', 'quotactl', 'quotactl_fd', 'iopl', 'ioperm', 'syslog'),
  // Obsolete interfaces with a history of bugs and no modern user.
  deny(EPERM, 'lookup_dcookie', 'uselib', 'ustat', 'sysfs', 'vhangup', 'nfsservctl', '_sysctl'),
];

/** Denied under the default profile; the relaxed one (nested containers) gives these back. */
const SANDBOX_SURFACE: SeccompRule[] = [
  // Nested user namespaces: the door to every "unprivileged" namespace-only kernel path. clone3 passes its flags in
  // a struct seccomp cannot read, so it is refused as missing and glibc falls back to clone, whose flags it can.
  deny(ENOSYS, 'clone3'),
  denyWhenBits('clone', 0, CLONE_NEWUSER),
  denyWhenBits('unshare', 0, CLONE_NEWUSER),
  // io_uring: a second syscall surface outside seccomp's view; callers fall back on ENOSYS.
  deny(ENOSYS, 'io_uring_setup', 'io_uring_enter', 'io_uring_register'),
  // Kernel keyrings (not namespaced; quotas shared with the host user), eBPF, perf events, userfaultfd (the
  // race-widening primitive of many exploits).
  deny(EPERM, 'keyctl', 'add_key', 'request_key'),
  deny(EPERM, 'bpf', 'perf_event_open', 'userfaultfd'),
  // Opening files by handle bypasses path-based confinement (the "shocker" escape). name_to_handle_at only
  // reports a handle and stays allowed (systemd and some tools read mount ids through it).
  deny(EPERM, 'open_by_handle_at'),
  // The mount family, old API and new: the sandbox's mounts are fixed at start.
  deny(EPERM, 'mount', 'umount2', 'pivot_root', 'move_mount', 'open_tree', 'fsopen', 'fsmount', 'fsconfig', 'fspick', 'mount_setattr'),
  ...Object.values(PERSONALITY_DENIED_BITS).map((bits) => denyWhenBits('personality', 0, bits)),
];

const NATIVE_ARCH = process.arch === 'arm64' ? 'SCMP_ARCH_AARCH64' : 'SCMP_ARCH_X86_64';

export type SeccompLevel = 'default' | 'relaxed';

/** The profile for one sandbox: `relaxed` is for snapshots the operator lists (see README "Containment"). */
export function seccompProfile(level: SeccompLevel = 'default'): SeccompProfile {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [NATIVE_ARCH],
    syscalls: level === 'relaxed' ? [...HOST_WIDE] : [...HOST_WIDE, ...SANDBOX_SURFACE],
  };
}
