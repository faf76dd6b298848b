import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses as bytes (4 for IPv4, 16 for IPv6), and which of them a server fetching URLs for
 * strangers must not reach. Text forms are only compared after parsing: `::ffff:7f00:1`,
 * `::ffff:127.0.0.1` and `127.0.0.1` are one address to a socket, so they must be one to the check.
 */

export type IpBytes = Uint8Array;

/** Why an address is not public, worst first where ranges nest (metadata sits inside link-local). */
export type AddressKind =
  | 'metadata'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

export const ADDRESS_KIND_TEXT: Record<AddressKind, string> = {
  metadata: 'a cloud metadata address',
  loopback: 'a loopback address',
  private: 'a private-network address',
  'link-local': 'a link-local address',
  unspecified: 'an unspecified ("this host") address',
  cgnat: 'a carrier-grade NAT (shared) address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved, non-public address',
};

export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/** Parses an IPv4 or IPv6 address in any form Node accepts; undefined when `text` is not one. */
export function parseIp(text: string): IpBytes | undefined {
  const ip = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) return undefined;
  let v6 = ip;
  // A dotted IPv4 tail stands for the last two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(v6);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    v6 = `${v6.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = v6.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(rest);
  const all =
    rest === undefined
      ? left
      : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The longest run of zero groups (two or more) becomes "::", as in RFC 5952.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const bytes = parseIp(m[1]!);
  if (!bytes) return undefined;
  const prefix = m[2] === undefined ? bytes.length * 8 : Number(m[2]);
  if (prefix > bytes.length * 8) return undefined;
  // `::ffff:10.0.0.0/104` means 10.0.0.0/8: compare like with like.
  const v4 = embeddedMapped(bytes);
  if (v4 && prefix >= 96) return { bytes: v4, prefix: prefix - 96 };
  return { bytes, prefix };
}

export function cidrContains(cidr: Cidr, address: IpBytes): boolean {
  if (cidr.bytes.length !== address.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== address[i]) return false;
  const bits = cidr.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (cidr.bytes[full]! & mask) === (address[full]! & mask);
}

const cidr = (text: string): Cidr => parseCidr(text)!;

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`): the socket talks IPv4 to a.b.c.d. */
function embeddedMapped(b: IpBytes): IpBytes | undefined {
  if (b.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return undefined;
  return b[10] === 0xff && b[11] === 0xff ? b.slice(12) : undefined;
}

const NAT64 = cidr('64:ff9b::/96');
const SIX_TO_FOUR = cidr('2002::/16');

/**
 * The IPv4 address an IPv6 address stands for: mapped (the socket itself goes over IPv4), NAT64's
 * well-known prefix and 6to4 (a gateway forwards to the embedded address). Each is judged by the
 * address it reaches, so `64:ff9b::a9fe:a9fe` is the metadata service and `64:ff9b::808:808` public.
 */
export function embeddedIPv4(b: IpBytes): IpBytes | undefined {
  if (b.length !== 16) return undefined;
  const mapped = embeddedMapped(b);
  if (mapped) return mapped;
  if (cidrContains(NAT64, b)) return b.slice(12);
  if (cidrContains(SIX_TO_FOUR, b)) return b.slice(2, 6);
  return undefined;
}

/**
 * IANA's special-purpose registries, reduced to what a fetch must not reach. First match wins.
 * Documentation, benchmarking and protocol-assignment ranges are refused as "reserved": no image
 * lives there, and some networks route them internally.
 */
const IPV4_RANGES: Array<[Cidr, AddressKind]> = (
  [
    // AWS/GCP/Azure/OpenStack/DigitalOcean/Oracle, AWS ECS task metadata, Alibaba Cloud.
    ['169.254.169.254/32', 'metadata'],
    ['169.254.170.2/32', 'metadata'],
    ['100.100.100.200/32', 'metadata'],
    // Linux connects 0.0.0.0 to the local host.
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'cgnat'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'reserved'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'reserved'],
    ['198.51.100.0/24', 'reserved'],
    ['203.0.113.0/24', 'reserved'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
    ['240.0.0.0/4', 'reserved'],
  ] as const
).map(([c, kind]) => [cidr(c), kind]);

const IPV6_RANGES: Array<[Cidr, AddressKind]> = (
  [
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    // AWS's IPv6 instance metadata endpoint (inside fc00::/7, named for a clearer message).
    ['fd00:ec2::254/128', 'metadata'],
    ['fc00::/7', 'private'],
    ['fe80::/10', 'link-local'],
    // Site-local: deprecated, still routed inside some networks.
    ['fec0::/10', 'private'],
    ['ff00::/8', 'multicast'],
    ['2001::/23', 'reserved'],
    ['2001:db8::/32', 'reserved'],
    ['3fff::/20', 'reserved'],
  ] as const
).map(([c, kind]) => [cidr(c), kind]);

/** Global unicast: every public IPv6 address lies inside it, so anything outside is not public. */
const IPV6_GLOBAL = cidr('2000::/3');

/**
 * What kind of non-public address `b` is, or undefined when it is public. An IPv6 address that
 * embeds an IPv4 one is judged by the IPv4 address (see embeddedIPv4).
 */
export function classifyIp(b: IpBytes): AddressKind | undefined {
  const v4 = embeddedIPv4(b);
  if (v4) return classifyIp(v4);
  const ranges = b.length === 4 ? IPV4_RANGES : IPV6_RANGES;
  for (const [range, kind] of ranges) if (cidrContains(range, b)) return kind;
  if (b.length === 16 && !cidrContains(IPV6_GLOBAL, b)) return 'reserved';
  return undefined;
}
