/**
 * The one parser of Daytona's `networkAllowList`: a comma-separated list of at most 5 IPv4 networks, each written
 * with an explicit `/prefix` (0–32). The API validates what a client sends with it and the runner parses what it will
 * install with it, so a list the API accepted is never refused (or read differently) by the runner.
 *
 * Rules and messages follow Daytona's DTO validation (shared/docs/daytona-api-facts.md §7.4): a bare address is
 * refused ("Missing CIDR prefix length"), not read as /32. Empty items (",," or a trailing comma) and surrounding
 * whitespace are ignored; an empty or blank list means "no networks".
 */

export const MAX_ALLOW_LIST_NETWORKS = 5;

export type AllowListParse =
  /** `cidrs` are canonical: host bits cleared, octets without leading zeros, e.g. `10.1.2.3/8` → `10.0.0.0/8`. */
  | { ok: true; cidrs: string[] }
  | { ok: false; message: string };

export function parseNetworkAllowList(raw: string | null | undefined): AllowListParse {
  if (raw === null || raw === undefined) return { ok: true, cidrs: [] };
  const networks = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (networks.length > MAX_ALLOW_LIST_NETWORKS) {
    return { ok: false, message: `Network allow list cannot contain more than ${MAX_ALLOW_LIST_NETWORKS} networks` };
  }
  const cidrs: string[] = [];
  for (const network of networks) {
    const slash = network.indexOf('/');
    if (slash < 0) return { ok: false, message: `Invalid network format: "${network}". Missing CIDR prefix length (e.g., /24)` };
    const ip = network.slice(0, slash);
    const prefix = network.slice(slash + 1);
    const octets = ip.split('.');
    if (octets.length !== 4 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) {
      return { ok: false, message: `Invalid IP address: "${ip}" in network "${network}". Must be a valid IPv4 address` };
    }
    if (!/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) {
      return { ok: false, message: `Invalid CIDR prefix length: "${prefix}" in network "${network}". Must be between 0 and 32` };
    }
    const bits = Number(prefix);
    const addr = octets.reduce((acc, o) => acc * 256 + Number(o), 0);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const base = (addr & mask) >>> 0;
    cidrs.push(`${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.')}/${bits}`);
  }
  return { ok: true, cidrs };
}
