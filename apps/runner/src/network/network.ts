import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { access, mkdir, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { parseNetworkAllowList } from '@shoal/contracts';
import { intToIp, ipToInt } from '../config.js';
import { exec } from '../util/exec.js';
import { cidrOverlaps, cidrString, defaultFloor, nftElements, type Cidr, type FloorSettings } from './floor.js';

export interface EgressPolicy {
  networkBlockAll?: boolean;
  networkAllowList?: string;
  /** Set at create from the organization's `sandboxLimitedNetworkEgress`; the tenant's network settings never clear it. */
  limitedEgress?: boolean;
}

export interface SandboxNet {
  index: number;
  ip: string;
  policy: EgressPolicy;
}

export class NetworkPolicyError extends Error {}

/**
 * The allow list as CIDRs to install, parsed by the same contract the API validated it with, so the two never disagree
 * (a bare address, for one, is refused by both).
 */
export function parseAllowList(raw: string | undefined): string[] {
  const parsed = parseNetworkAllowList(raw);
  if (!parsed.ok) throw new NetworkPolicyError(parsed.message);
  return parsed.cidrs;
}

/**
 * Sandbox networking: one bridge with isolated ports, a netns + veth per sandbox, and one nftables table owned by
 * this runner (named after its bridge, so two runners on a host never touch each other's rules).
 *
 * Egress from a sandbox, in order: the floor (floor.ts) rejects what no policy may reach; then the sandbox's own
 * policy: `open` (no policy), `allow` (its allow list), nothing (networkBlockAll). Limited egress narrows whatever the
 * policy allows to the operator's essential list. Traffic to the host is the input chain's: dropped, except DNS to the
 * forwarder on the gateway for sandboxes in `dns` (all but networkBlockAll). IPv6 is off: sandbox interfaces get no
 * IPv6 address and every IPv6 packet from a sandbox is dropped.
 */
export class Network {
  readonly gateway: string;
  readonly table: string;
  private readonly subnetCidr: string;
  private readonly prefix: number;
  private readonly base: number;
  private readonly vethPrefix: string;

  private deny: Cidr[];

  constructor(
    readonly bridge: string,
    subnet: { base: string; prefix: number },
    private readonly floor: FloorSettings = defaultFloor(subnet),
  ) {
    this.deny = [...floor.deny];
    this.base = ipToInt(subnet.base);
    this.prefix = subnet.prefix;
    this.gateway = intToIp(this.base + 1);
    this.subnetCidr = `${subnet.base}/${subnet.prefix}`;
    this.table = `shoal_${bridge}`;
    this.vethPrefix = `v${createHash('sha1').update(bridge).digest('hex').slice(0, 5)}`;
  }

  get capacity(): number {
    return 2 ** (32 - this.prefix) - 3;
  }

  ipFor(index: number): string {
    return intToIp(this.base + 1 + index);
  }

  /**
   * The sandbox's MAC, derived from its address (a locally administered 02:53 prefix, then the four address bytes);
   * index 0 is the gateway's address, so macFor(0) is the bridge's own MAC.
   * Every sandbox that gets an address has the same MAC as the ones before it, so an ARP entry the host kept for the
   * address, or learnt from a previous holder still answering while its namespace was being torn down, is right.
   * With a random MAC per veth, such an entry sent the host's replies to a MAC that no longer existed until it aged
   * out (seconds), and a new sandbox's first connections timed out.
   */
  macFor(index: number): string {
    const n = this.base + 1 + index;
    return ['02', '53', ...[24, 16, 8, 0].map((shift) => ((n >>> shift) & 0xff).toString(16).padStart(2, '0'))].join(':');
  }

  nsName(index: number): string {
    return `${this.bridge}-${index}`;
  }

  nsPath(index: number): string {
    return `/run/netns/${this.nsName(index)}`;
  }

  /**
   * Where the sandbox's own sysfs is mounted on the host, for its spec to bind at /sys. The sandbox's user namespace
   * cannot mount a sysfs for a network namespace it does not own, and the host's /sys would show every host interface
   * and every other sandbox's veth with its traffic counters; a sysfs mounted from inside the sandbox's network
   * namespace shows only its own `lo` and `eth0`.
   */
  sysfsDir(index: number): string {
    return `${SYSFS_ROOT}/${this.nsName(index)}`;
  }

  vethName(index: number): string {
    return `${this.vethPrefix}${index.toString(16)}`;
  }

  async init(sandboxes: SandboxNet[]): Promise<void> {
    const links = await exec('ip', ['-o', 'link', 'show', 'dev', this.bridge], { allowFailure: true });
    // The bridge's MAC is set, never left to the kernel: a bridge without one takes the lowest MAC among its ports
    // and changes it whenever a veth joins or leaves. Every sandbox keeps the gateway's MAC in its ARP cache, so each
    // change cut running sandboxes off the gateway (DNS, egress) for seconds, until their entry was probed again.
    const gatewayMac = this.macFor(0);
    if (links.code !== 0) {
      await exec('ip', ['-batch', '-'], {
        input:
          [
            `link add ${this.bridge} address ${gatewayMac} type bridge`,
            `addr add ${this.gateway}/${this.prefix} dev ${this.bridge}`,
            `link set ${this.bridge} up`,
          ].join('\n') + '\n',
      });
    } else {
      await exec('ip', ['link', 'set', this.bridge, 'address', gatewayMac]);
      await exec('ip', ['addr', 'replace', `${this.gateway}/${this.prefix}`, 'dev', this.bridge]);
      await exec('ip', ['link', 'set', this.bridge, 'up']);
    }
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    await this.resolveEndpoints();
    await exec('nft', ['-f', '-'], { input: this.ruleset() });
    await this.syncPolicies(sandboxes);
  }

  /** Platform endpoints given by name are denied by address; a name that opens a private range the operator allowed is fatal. */
  private async resolveEndpoints(): Promise<void> {
    this.deny = [...this.floor.deny];
    for (const host of this.floor.endpointHosts) {
      const addrs = await lookup(host, { all: true, family: 4 }).catch(() => []);
      for (const a of addrs) {
        const c = { base: a.address, prefix: 32 };
        const opened = this.floor.allowPrivate.find((p) => cidrOverlaps(p, c)) ?? this.floor.limitedEgress.find((p) => cidrOverlaps(p, c));
        if (opened) throw new Error(`platform endpoint ${host} (${a.address}) lies in operator-opened ${cidrString(opened)}; sandboxes must never reach it`);
        this.deny.push(c);
      }
    }
  }

  /** The whole table; `syncPolicies` later only rewrites the per-sandbox sets. */
  ruleset(): string {
    const b = JSON.stringify(this.bridge);
    const set = (name: string, list: Cidr[]) =>
      `  set ${name} { type ipv4_addr; flags interval; auto-merge;${list.length ? ` elements = { ${nftElements(list)} };` : ''} }`;
    return `
add table inet ${this.table}
delete table inet ${this.table}
table inet ${this.table} {
  set open { type ipv4_addr; }
  set allow { type ipv4_addr . ipv4_addr; flags interval; }
  set dns { type ipv4_addr; }
  set limited { type ipv4_addr; }
${set('floor_deny', this.deny)}
${set('private', this.floor.privateRanges)}
${set('private_open', this.floor.allowPrivate)}
${set('limited_ok', this.floor.limitedEgress)}
  chain floor {
    meta nfproto ipv6 drop
    fib daddr type { local, broadcast, multicast } reject with icmpx type admin-prohibited
    ip daddr @floor_deny reject with icmpx type admin-prohibited
    ip daddr @private ip daddr != @private_open reject with icmpx type admin-prohibited
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname ${b} jump floor
    iifname ${b} ct state established,related accept
    oifname ${b} ct state established,related accept
    iifname ${b} oifname ${b} drop
    iifname ${b} ip saddr != ${this.subnetCidr} drop
    iifname ${b} ip saddr @limited ip daddr != @limited_ok reject with icmpx type admin-prohibited
    iifname ${b} ip saddr @open accept
    iifname ${b} ip saddr . ip daddr @allow accept
    iifname ${b} reject with icmpx type admin-prohibited
    oifname ${b} drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname ${b} meta nfproto ipv6 drop
    iifname ${b} ct state established,related accept
    iifname ${b} ip saddr @dns ip daddr ${this.gateway} udp dport 53 accept
    iifname ${b} ip saddr @dns ip daddr ${this.gateway} tcp dport 53 accept
    iifname ${b} drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${this.subnetCidr} oifname != ${b} masquerade
  }
}
`;
  }

  /** Creates the sandbox's netns, veth and sysfs (replacing leftovers of a crashed run). Three spawns. */
  async setup(index: number): Promise<void> {
    const ns = this.nsName(index);
    const veth = this.vethName(index);
    // Leftovers of a crashed run are checked through the filesystem: a spawn per check would cost more.
    await this.teardownLeftover(index);
    if (await pathExists(`/sys/class/net/${veth}`)) await exec('ip', ['link', 'del', veth], { allowFailure: true });
    await exec('ip', ['-batch', '-'], {
      input:
        [
          `netns add ${ns}`,
          `link add ${veth} type veth peer name eth0 address ${this.macFor(index)} netns ${ns}`,
          `link set ${veth} master ${this.bridge}`,
          `link set dev ${veth} type bridge_slave isolated on`,
          // No IPv6 link-local address on the host side either: each one is an address change the whole host hears
          // at every start and delete, and a browser on the host (Chromium) aborts its requests in flight on it
          // (net::ERR_NETWORK_CHANGED, seen failing noVNC's page in CI). Bridge ports need no address of their own.
          `link set ${veth} addrgenmode none`,
          `link set ${veth} up`,
        ].join('\n') + '\n',
    });
    await exec('ip', ['-n', ns, '-batch', '-'], {
      input:
        [
          'link set lo up',
          // IPv6 is off inside sandboxes: no link-local address (set before the link comes up), so only ::1 exists.
          // Cheaper than the disable_ipv6 sysctl, which would need a spawn inside the namespace per start.
          'link set eth0 addrgenmode none',
          `addr add ${this.ipFor(index)}/${this.prefix} dev eth0`,
          'link set eth0 up',
          `route add default via ${this.gateway}`,
        ].join('\n') + '\n',
    });
    const sysfs = this.sysfsDir(index);
    await mkdir(sysfs, { recursive: true });
    // nsenter enters only the network namespace, so the mount lands in the host's mount namespace, and a sysfs takes
    // the network namespace of the process that mounts it.
    await exec('nsenter', [`--net=${this.nsPath(index)}`, '--', 'mount', '-t', 'sysfs', '-o', 'ro,nosuid,nodev,noexec', 'sysfs', sysfs]);
  }

  async exists(index: number): Promise<boolean> {
    const r = await exec('ip', ['netns', 'pids', this.nsName(index)], { allowFailure: true });
    return r.code === 0;
  }

  /** Deleting the namespace deletes the veth pair with it (30-60 ms of kernel time, so callers need not wait). */
  async teardown(index: number): Promise<void> {
    // A sysfs outlives its network namespace (still mounted, holding the namespace's memory, showing nothing): one
    // per sandbox ever made would pile up on the host.
    await unmountAll(this.sysfsDir(index));
    // The host's ARP entry for the address may outlive the veth: it stays right, since every holder of an address has
    // the MAC derived from it (macFor).
    await exec('ip', ['netns', 'del', this.nsName(index)], { allowFailure: true });
  }

  /**
   * Deletes the namespace and its sysfs only if they are there (checked through the filesystem: a spawn per check
   * would cost more).
   */
  async teardownLeftover(index: number): Promise<void> {
    if (await pathExists(this.nsPath(index))) await this.teardown(index);
    else await unmountAll(this.sysfsDir(index));
  }

  /** Rewrites the per-sandbox policy sets in one atomic nft transaction from the full list of sandboxes with a network. */
  async syncPolicies(sandboxes: SandboxNet[]): Promise<void> {
    const open: string[] = [];
    const allow: string[] = [];
    const dns: string[] = [];
    const limited: string[] = [];
    for (const s of sandboxes) {
      // networkBlockAll blocks the host resolver too; every other sandbox needs it to reach what it may reach.
      if (s.policy.networkBlockAll) continue;
      dns.push(s.ip);
      if (s.policy.limitedEgress) limited.push(s.ip);
      const cidrs = parseAllowList(s.policy.networkAllowList);
      if (cidrs.length === 0) open.push(s.ip);
      else for (const c of cidrs) allow.push(`${s.ip} . ${c}`);
    }
    const lines: string[] = [];
    for (const [name, elements] of [
      ['open', open],
      ['allow', allow],
      ['dns', dns],
      ['limited', limited],
    ] as const) {
      lines.push(`flush set inet ${this.table} ${name}`);
      if (elements.length) lines.push(`add element inet ${this.table} ${name} { ${elements.join(', ')} }`);
    }
    await exec('nft', ['-f', '-'], { input: lines.join('\n') + '\n' });
  }

  /**
   * Deletes the namespaces named after this bridge whose index no sandbox holds: spares a killed runner made ahead,
   * or a create it was cut off in. Returns how many went.
   */
  async removeStrays(held: ReadonlySet<number>): Promise<number> {
    const strays = (await this.ownNamespaces()).filter(([, index]) => !held.has(index));
    for (const [, index] of strays) await this.teardown(index);
    // A sysfs whose namespace someone else deleted stays mounted until someone unmounts it.
    for (const [dir, index] of await this.ownSysfsDirs()) if (!held.has(index)) await unmountAll(dir);
    return strays.length;
  }

  /** The sysfs dirs named after this bridge, with their index. */
  private async ownSysfsDirs(): Promise<Array<[string, number]>> {
    const names = await readdir(SYSFS_ROOT).catch(() => [] as string[]);
    return ownIndexes(names, this.bridge).map(([n, i]) => [`${SYSFS_ROOT}/${n}`, i]);
  }

  /** The namespaces named after this bridge (`<bridge>-<index>`), with their index. */
  private async ownNamespaces(): Promise<Array<[string, number]>> {
    return ownIndexes(await readdir('/run/netns').catch(() => [] as string[]), this.bridge);
  }

  /**
   * Deletes the bridge, the table and every namespace named after this bridge (recreated at the next start); only
   * when no sandbox needs them. A namespace whose sandbox was never recorded (a create cut short) goes too.
   */
  async removeHostState(): Promise<void> {
    for (const [, index] of await this.ownNamespaces()) await this.teardown(index);
    for (const [dir] of await this.ownSysfsDirs()) await unmountAll(dir);
    await rmdir(SYSFS_ROOT).catch(() => undefined);
    await exec('nft', ['delete', 'table', 'inet', this.table], { allowFailure: true });
    await exec('ip', ['link', 'del', this.bridge], { allowFailure: true });
  }
}

const SYSFS_ROOT = '/run/shoal-sysfs';

/** `<bridge>-<index>` names among `names`, with their index. */
function ownIndexes(names: string[], bridge: string): Array<[string, number]> {
  const prefix = `${bridge}-`;
  return names.filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length))).map((n) => [n, Number(n.slice(prefix.length))]);
}

/** A directory is a mount point when it lies on another device than its parent. */
async function isMountPoint(dir: string): Promise<boolean> {
  const [own, parent] = await Promise.all([stat(dir).catch(() => null), stat(`${dir}/..`).catch(() => null)]);
  return own !== null && parent !== null && own.dev !== parent.dev;
}

/**
 * Unmounts everything stacked on `dir` and removes it. Lazily, so that no reader can make a delete fail; the namespace
 * goes when the last reader does.
 */
async function unmountAll(dir: string): Promise<void> {
  for (let i = 0; i < 4 && (await isMountPoint(dir)); i++) await exec('umount', ['-l', dir], { allowFailure: true });
  await rmdir(dir).catch(() => undefined);
}

function pathExists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
