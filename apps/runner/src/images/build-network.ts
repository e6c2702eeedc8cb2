import { DnsForwarder } from '../network/dns.js';
import type { Cidr, FloorSettings } from '../network/floor.js';
import { Network, parseAllowList, type EgressPolicy } from '../network/network.js';
import type { UidPool } from '../sandbox/uid-pool.js';
import type { BuildSlot } from './builder.js';

/*
 * RUN steps of builds get a network namespace on a bridge of their own (`<bridge>b`, its own nft table), built by the
 * same Network code as sandboxes and under the same egress floor, plus a DNS forwarder on that bridge's gateway. It is
 * separate from the sandbox bridge so the sandbox service's policy sets never have to know about builds. Each build's
 * address carries its organization's policy (limited egress, block-all, allow list) in the same nft sets sandboxes use.
 */
export class BuildNetwork {
  readonly network: Network;
  private dns?: DnsForwarder;
  /** Build addresses in use, with the policy of each. */
  private readonly used = new Map<number, EgressPolicy>();
  private started?: Promise<void>;

  constructor(
    bridge: string,
    subnet: Cidr,
    floor: FloorSettings,
    private readonly uids: Pick<UidPool, 'allocate' | 'release'>,
  ) {
    // The build subnet is denied too: one build never reaches another.
    this.network = new Network(`${bridge}b`, subnet, { ...floor, deny: [...floor.deny, subnet] });
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      await this.network.init([]);
      this.dns = new DnsForwarder(this.network.gateway);
      await this.dns.start();
    })().catch((err: unknown) => {
      this.started = undefined;
      throw err;
    });
    return this.started;
  }

  async acquire(policy: EgressPolicy = {}): Promise<BuildSlot> {
    // A malformed allow list is refused before any host state is made (the API validated it with the same parser).
    parseAllowList(policy.networkAllowList);
    await this.start();
    let index = 1;
    while (this.used.has(index)) index++;
    if (index > this.network.capacity) throw new Error('no free build network address');
    this.used.set(index, { ...policy });
    const uidBase = this.uids.allocate();
    if (uidBase === undefined) {
      this.used.delete(index);
      throw new Error('runner has no free host uid range for a build');
    }
    try {
      await this.network.setup(index);
      await this.sync();
    } catch (err) {
      this.used.delete(index);
      this.uids.release(uidBase);
      await this.network.teardown(index);
      throw err;
    }
    return {
      netnsPath: this.network.nsPath(index),
      sysfs: this.network.sysfsDir(index),
      dns: this.network.gateway,
      uidBase,
      release: async () => {
        this.used.delete(index);
        await this.network.teardown(index);
        await this.sync().catch(() => undefined);
        this.uids.release(uidBase);
      },
    };
  }

  private sync(): Promise<void> {
    return this.network.syncPolicies([...this.used].map(([i, policy]) => ({ index: i, ip: this.network.ipFor(i), policy })));
  }

  /** Removes the bridge, table and namespaces; the next build recreates them. */
  async close(): Promise<void> {
    if (!this.started) return;
    await this.started.catch(() => undefined);
    await this.dns?.stop();
    await this.network.removeHostState();
    this.started = undefined;
  }
}
