import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

/**
 * Addresses a webhook may not reach unless the operator allows private targets: the host itself, its private
 * networks, link-local (cloud metadata 169.254.169.254 and fd00:ec2::254 included), CGNAT, benchmarking, multicast
 * and reserved ranges. IPv4-mapped IPv6 addresses are judged by their IPv4 part.
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

export class TargetRefused extends Error {
  constructor(address: string) {
    super(`Target address ${address} is not allowed (loopback, private, link-local or reserved); set SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls connect that refuses private addresses. It runs on the address the socket then connects to,
 * so a name that resolves to a public address when the endpoint is saved and to a private one later (DNS rebinding)
 * is refused at the attempt. Literal IP hosts skip `lookup` in Node, so `checkLiteralHost` covers those.
 */
export function guardedLookup(hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true, verbatim: true }, (err, addresses) => {
    if (err) return callback(err, options.all ? [] : '');
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad || list.length === 0) return callback(new TargetRefused(bad?.address ?? hostname) as NodeJS.ErrnoException, options.all ? [] : '');
    if (options.all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
}

/** The URL's host when it is an IP literal (brackets removed), else undefined. */
export function literalHost(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? host : undefined;
}

/** Refuses a URL whose host is a private IP literal or a name that is always local (`localhost`). */
export function refusedLiteralHost(url: URL): string | undefined {
  const lit = literalHost(url);
  if (lit) return isPrivateAddress(lit) ? lit : undefined;
  const name = url.hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') ? name : undefined;
}
