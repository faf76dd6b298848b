import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { domainToASCII } from 'node:url';
import { buildConnector } from 'undici';
import { LoupeError } from '../errors/loupe-error.js';
import {
  ADDRESS_KIND_TEXT,
  cidrContains,
  classifyIp,
  embeddedIPv4,
  formatIp,
  parseCidr,
  parseIp,
  type AddressKind,
  type Cidr,
} from './url-address.js';

/** Which URLs `loupe serve` may fetch on a client's behalf, and how much it will take from them. */
export interface UrlPolicy {
  /**
   * Reach non-public addresses (loopback, private networks, link-local…), for deployments whose
   * images live on an internal network. Cloud metadata endpoints stay refused even then: they hand
   * out credentials, so only an explicit `allow` entry opens them.
   */
  allowPrivate: boolean;
  /**
   * Always allowed, whatever they resolve to: exact hostnames (`images.internal`) and IP addresses
   * or CIDRs (`127.0.0.1/32`, `10.1.0.0/16`, `fd00::/8`). A CIDR also matches an IPv6 address that
   * embeds an IPv4 address inside it (`::ffff:10.1.2.3`).
   */
  allow: readonly string[];
  /** Largest body accepted, checked against Content-Length and again while streaming. */
  maxBytes: number;
  /** Limit on the whole fetch: every redirect hop, connection and byte of the body. */
  timeoutMs: number;
  /** Redirect hops followed; each one is checked like the URL the client sent. */
  maxRedirects: number;
}

/** The same defaults as `serve.url` in serve-config.ts, for callers without a config. */
export const DEFAULT_URL_POLICY: Readonly<UrlPolicy> = Object.freeze({
  allowPrivate: false,
  allow: Object.freeze([]) as readonly string[],
  maxBytes: 20 * 2 ** 20,
  timeoutMs: 10_000,
  maxRedirects: 3,
});

/** Resolves a hostname to every address it has, like dns.lookup with `all: true`. */
export type Resolver = (hostname: string, family: 0 | 4 | 6) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname, family) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, family }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/** Why a connection was not made. Internal: the fetcher turns it into a LoupeError naming the URL. */
export class RefusedAddress extends Error {
  constructor(
    /** The hostname as the URL gave it (an IP literal is its own hostname). */
    readonly host: string,
    readonly address: string,
    readonly kind: AddressKind,
  ) {
    super(`${address} is ${ADDRESS_KIND_TEXT[kind]}`);
    this.name = 'RefusedAddress';
  }

  /** Words for an API client. A resolved address is not echoed: it would map internal DNS for them. */
  describe(): string {
    const what = ADDRESS_KIND_TEXT[this.kind];
    if (!isIP(this.host)) return `${this.host} resolves to ${what}`;
    const bytes = parseIp(this.address);
    const v4 = bytes && embeddedIPv4(bytes);
    return `${this.address}${v4 ? ` (${formatIp(v4)})` : ''} is ${what}`;
  }
}

/** A policy checked and parsed once, ready to judge hosts and addresses. */
export interface AddressGuard {
  readonly policy: Readonly<UrlPolicy>;
  /** Undefined when `host` may be reached at `address`, else why not. */
  check(host: string, address: string): RefusedAddress | undefined;
}

const normalHost = (host: string) => host.toLowerCase().replace(/\.$/, '');

/** Checks a policy (an operator's config) and compiles it; INVALID_CONFIG names a bad entry. */
export function compileUrlPolicy(policy: Readonly<UrlPolicy>): AddressGuard {
  const bad = (what: string, got: unknown) =>
    new LoupeError('INVALID_CONFIG', `serve.url.${what}, got ${JSON.stringify(got)}`, { [what]: got });
  const positiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1;
  if (typeof policy.allowPrivate !== 'boolean')
    throw bad('allowPrivate must be true or false', policy.allowPrivate);
  if (!positiveInt(policy.maxBytes)) throw bad('maxBytes must be a positive integer', policy.maxBytes);
  if (!positiveInt(policy.timeoutMs)) throw bad('timeoutMs must be a positive integer', policy.timeoutMs);
  if (!Number.isSafeInteger(policy.maxRedirects) || policy.maxRedirects < 0)
    throw bad('maxRedirects must be a non-negative integer', policy.maxRedirects);
  if (!Array.isArray(policy.allow)) throw bad('allow must be a list', policy.allow);

  const cidrs: Cidr[] = [];
  const hosts = new Set<string>();
  for (const entry of policy.allow) {
    const text = typeof entry === 'string' ? entry.trim() : '';
    const range = parseCidr(text);
    if (range) {
      cidrs.push(range);
      continue;
    }
    // Punycode, so `bücher.example` matches the hostname the URL parser produces.
    const ascii = /^[^/:@\s*]+$/.test(text) ? domainToASCII(text) : '';
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/.test(ascii))
      throw bad('allow entries must be hostnames, IP addresses or CIDRs', entry);
    hosts.add(normalHost(ascii));
  }

  return {
    policy,
    check(host, address) {
      if (hosts.has(normalHost(host))) return undefined;
      const bytes = parseIp(address);
      // Not an address at all: nothing vouches for it, so nothing connects to it.
      if (!bytes) return new RefusedAddress(host, address, 'reserved');
      const kind = classifyIp(bytes);
      if (kind === undefined) return undefined;
      const v4 = embeddedIPv4(bytes);
      if (cidrs.some((c) => cidrContains(c, bytes) || (v4 !== undefined && cidrContains(c, v4))))
        return undefined;
      if (policy.allowPrivate && kind !== 'metadata') return undefined;
      return new RefusedAddress(host, isIP(address) ? address : formatIp(bytes), kind);
    },
  };
}

/**
 * A lookup for net.connect that refuses a name when any of its addresses is refused. Refusing the
 * whole name rather than connecting to its acceptable addresses is deliberate: a public name that
 * also publishes an internal address is a misconfiguration or a rebinding attempt, and either way
 * the answer should not depend on which address the connection happens to try first.
 *
 * Because the socket connects to exactly what this returns, the address checked is the address
 * connected to: no second resolution that could answer differently (DNS rebinding).
 */
export function guardedLookup(guard: AddressGuard, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : 0;
    resolve(hostname, family).then(
      (addresses) => {
        const refused = addresses.map((a) => guard.check(hostname, a.address)).find((r) => r !== undefined);
        if (refused) return callback(refused as NodeJS.ErrnoException, '', 0);
        if (addresses.length === 0) {
          const none = Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND' });
          return callback(none, '', 0);
        }
        if (options.all) return callback(null, addresses);
        callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/**
 * The connector for an undici Agent: every connection, the first and each redirect hop's, passes
 * through it. Node connects to an IP literal without calling `lookup`, so literals are judged here,
 * before any packet is sent; names are judged by the lookup. The connected socket's peer is checked
 * once more so that no path (a Node change, an option that bypasses lookup) can skip the policy.
 */
export function guardedConnector(
  guard: AddressGuard,
  resolve: Resolver = systemResolver,
): ReturnType<typeof buildConnector> {
  const base = buildConnector({ timeout: guard.policy.timeoutMs, lookup: guardedLookup(guard, resolve) });
  return (options, callback) => {
    const host = options.hostname;
    if (isIP(host)) {
      const refused = guard.check(host, host);
      if (refused) return callback(refused, null);
    }
    base(options, (err, socket) => {
      if (err) return callback(err, null);
      const peer = (socket as Socket).remoteAddress;
      const refused =
        peer === undefined ? new RefusedAddress(host, '?', 'reserved') : guard.check(host, peer);
      if (refused) {
        (socket as Socket).destroy();
        return callback(refused, null);
      }
      callback(null, socket as Socket);
    });
  };
}
