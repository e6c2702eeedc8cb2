import { networkInterfaces } from 'node:os';
import { ipToInt, parseIpv4, parseSubnet } from '../config.js';

/*
 * The egress floor: destinations no sandbox reaches, whatever its policy says. It is checked before any allow
 * rule, so neither a tenant's networkAllowList nor the organization's limited-egress list can lift it. Only the
 * private ranges have an operator switch (SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS); everything else is fixed.
 */

export interface Cidr {
  base: string;
  prefix: number;
}

export interface FloorSettings {
  /** Always denied: link-local, loopback, this network, multicast/reserved, every runner's sandbox subnet, the platform's endpoints, the operator's extra list. */
  deny: Cidr[];
  /** Denied unless inside `allowPrivate`: RFC 1918 and carrier-grade NAT space. */
  privateRanges: Cidr[];
  /** Private CIDRs the operator opened (never overlapping `deny` or the host's addresses). */
  allowPrivate: Cidr[];
  /** What a sandbox with limited egress may reach besides the DNS forwarder (empty: nothing). */
  limitedEgress: Cidr[];
  /** Host names of platform endpoints (API, registry) resolved at start and added to `deny`. */
  endpointHosts: string[];
}

/** Fixed ranges no sandbox may reach. 198.18.0.0/15 (benchmarking) is deliberately absent: tests use it as "the internet". */
export const ALWAYS_DENIED: readonly Cidr[] = [
  { base: '0.0.0.0', prefix: 8 },
  { base: '127.0.0.0', prefix: 8 },
  { base: '169.254.0.0', prefix: 16 },
  { base: '224.0.0.0', prefix: 4 },
  // Class E and the limited broadcast address 255.255.255.255.
  { base: '240.0.0.0', prefix: 4 },
];

export const PRIVATE_RANGES: readonly Cidr[] = [
  { base: '10.0.0.0', prefix: 8 },
  { base: '172.16.0.0', prefix: 12 },
  { base: '192.168.0.0', prefix: 16 },
  { base: '100.64.0.0', prefix: 10 },
];

export function cidrString(c: Cidr): string {
  return `${c.base}/${c.prefix}`;
}

function range(c: Cidr): [number, number] {
  const start = ipToInt(c.base);
  return [start, start + 2 ** (32 - c.prefix) - 1];
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  const [as, ae] = range(a);
  const [bs, be] = range(b);
  return as <= be && bs <= ae;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  const [os, oe] = range(outer);
  const [is, ie] = range(inner);
  return os <= is && ie <= oe;
}

/** Parses a comma-separated list of IPv4 CIDRs (a bare address means /32); pushes one message per bad item. */
export function parseCidrList(name: string, raw: string | undefined, errors: string[]): Cidr[] {
  if (!raw || !raw.trim()) return [];
  const out: Cidr[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const c = parseSubnet(item.includes('/') ? item : `${item}/32`, 0, 32);
    if (!c) errors.push(`${name}: "${item}" is not an IPv4 address or CIDR`);
    else out.push(c);
  }
  return out;
}

/** The host part of `http://host:port/...` or of an image reference `host:port/repo:tag`; undefined for none. */
export function endpointHost(urlOrRef: string | undefined): string | undefined {
  if (!urlOrRef) return undefined;
  const authority = urlOrRef.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '';
  // An image reference without a registry part ("debian:12") names no host.
  if (!/^https?:\/\//i.test(urlOrRef) && !urlOrRef.includes('/')) return undefined;
  const bracketed = /^\[([^\]]+)\]/.exec(authority);
  const host = bracketed ? bracketed[1]! : authority.replace(/:\d+$/, '');
  return host || undefined;
}

/** Every IPv4 address configured on this host, on any interface. */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

export interface FloorInput {
  env: NodeJS.ProcessEnv;
  subnet: Cidr;
  apiUrl: string | undefined;
  defaultImage: string;
  hostAddresses: string[];
}

/**
 * Builds the floor from the environment. Operator lists that would open something the floor denies (link-local,
 * the host, a runner's sandbox subnet, a platform endpoint) are errors, reported with everything else wrong.
 */
export function loadFloor(input: FloorInput, errors: string[]): FloorSettings {
  const { env } = input;
  const peers = parseCidrList('SHOAL_RUNNER_PEER_SUBNETS', env.SHOAL_RUNNER_PEER_SUBNETS, errors);
  const extra = parseCidrList('SHOAL_RUNNER_DENY_CIDRS', env.SHOAL_RUNNER_DENY_CIDRS, errors);
  const allowPrivate = parseCidrList('SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS', env.SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS, errors);
  const limitedEgress = parseCidrList('SHOAL_RUNNER_LIMITED_EGRESS_CIDRS', env.SHOAL_RUNNER_LIMITED_EGRESS_CIDRS, errors);

  const endpointHosts: string[] = [];
  const endpoints: Cidr[] = [];
  for (const h of [endpointHost(input.apiUrl), endpointHost(input.defaultImage)]) {
    if (!h) continue;
    const ip = parseIpv4(h);
    if (ip) endpoints.push({ base: ip, prefix: 32 });
    else if (h.includes(':')) continue; // an IPv6 endpoint: IPv6 is off inside sandboxes
    else endpointHosts.push(h);
  }

  // Named for the error messages; order matters only for them.
  const named: Array<[string, Cidr]> = [
    ...ALWAYS_DENIED.map((c): [string, Cidr] => [c.base.startsWith('169.254') ? 'link-local' : 'a reserved range', c]),
    ['this runner’s sandbox subnet', input.subnet],
    ...peers.map((c): [string, Cidr] => ['another runner’s sandbox subnet', c]),
    ...endpoints.map((c): [string, Cidr] => ['a platform endpoint (API or registry)', c]),
    ...extra.map((c): [string, Cidr] => ['SHOAL_RUNNER_DENY_CIDRS', c]),
  ];
  const host = input.hostAddresses.map((a): Cidr => ({ base: a, prefix: 32 }));

  const checkOpening = (name: string, list: Cidr[], mustBePrivate: boolean) => {
    for (const c of list) {
      for (const [what, d] of named) {
        if (cidrOverlaps(c, d)) errors.push(`${name}: ${cidrString(c)} would open ${what} (${cidrString(d)}), which sandboxes never reach`);
      }
      for (const h of host) {
        if (cidrOverlaps(c, h)) errors.push(`${name}: ${cidrString(c)} contains this host's address ${h.base}; the host is never reachable from sandboxes, list narrower CIDRs`);
      }
      if (mustBePrivate && !PRIVATE_RANGES.some((p) => cidrContains(p, c))) {
        errors.push(`${name}: ${cidrString(c)} is not inside a private range (${PRIVATE_RANGES.map(cidrString).join(', ')}); public addresses need no opening`);
      }
    }
  };
  checkOpening('SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS', allowPrivate, true);
  checkOpening('SHOAL_RUNNER_LIMITED_EGRESS_CIDRS', limitedEgress, false);
  // A limited-egress entry in a private range that the operator did not open would silently reach nothing.
  for (const c of limitedEgress) {
    if (PRIVATE_RANGES.some((p) => cidrOverlaps(p, c)) && !allowPrivate.some((a) => cidrContains(a, c))) {
      errors.push(`SHOAL_RUNNER_LIMITED_EGRESS_CIDRS: ${cidrString(c)} is in a private range; open it with SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS too`);
    }
  }

  return {
    deny: [...ALWAYS_DENIED, input.subnet, ...peers, ...endpoints, ...extra],
    privateRanges: [...PRIVATE_RANGES],
    allowPrivate,
    limitedEgress,
    endpointHosts,
  };
}

/** The floor with defaults only, for code and tests that construct a Network by hand. */
export function defaultFloor(subnet: Cidr): FloorSettings {
  return { deny: [...ALWAYS_DENIED, subnet], privateRanges: [...PRIVATE_RANGES], allowPrivate: [], limitedEgress: [], endpointHosts: [] };
}

/** nft set elements for a list of CIDRs; nft merges overlapping intervals itself with `auto-merge`. */
export function nftElements(list: Cidr[]): string {
  return list.map(cidrString).join(', ');
}
