/**
 * Which hosts a reader may send requests to on behalf of whoever chose the URI. A job's input URI is chosen by
 * its poster, an output location by a provider: a daemon (or a public explorer, or a dApp's server using the
 * SDK) that reads them blindly can be made to send requests into its own network (server-side request forgery):
 * the cloud's metadata service at 169.254.169.254, an admin port on 127.0.0.1, a hostname that resolves to a
 * private address. The bytes are checked against their hash, so nothing leaks directly, but the requests
 * themselves are sent (a GET with side effects, a yes/no answer on known content).
 *
 * `privateAddressKind` names the non-public ranges; `publicOnlyLookup` is a `lookup` for node:net that refuses
 * a hostname resolving to one of them when the socket connects, so no DNS answer that changes between a check
 * and the connect (rebinding) gets through. Node calls no `lookup` for an IP literal: `ipLiteral` is there for
 * the reader to check those itself. `allowsPrivateHosts` is when a reader lets them through by default: only on a
 * devnet.
 */
import { lookup as dnsLookup } from "node:dns";
import { isIPv4, isIPv6, type LookupFunction } from "node:net";

import type { PublicClient } from "viem";

/**
 * Hardhat's chain id for local networks; `dinfer` treats it as the devnet. It lives here, not with the devnet's
 * other settings (offchain/devnet/chain-spec.ts re-exports it), because the SDK's reads apply the rule below and
 * the SDK must not import the devnet.
 */
export const DEVNET_CHAIN_ID = 31337;

/**
 * `allowPrivateHosts` as the daemons, `dinfer audit`, the SDK client and the CLI's output reads apply it: as
 * configured, else on only on a devnet (chain id 31337), whose dApps and daemons serve their inputs and outputs on
 * 127.0.0.1 (the e2e tests, `npm run demo`, `dinfer devnet`). `chainId` is the RPC node's, not the URI's author's.
 */
export function allowsPrivateHosts({ allowPrivateHosts, chainId }: { allowPrivateHosts?: boolean; chainId: number }): boolean {
  return allowPrivateHosts ?? chainId === DEVNET_CHAIN_ID;
}

/**
 * `allowsPrivateHosts` with the chain id asked of `publicClient`, only when `allowPrivateHosts` is left out: how the
 * SDK's reads of locations others chose decide it (a file:// location goes with it).
 */
export async function privateHostsAllowed(allowPrivateHosts: boolean | undefined, publicClient: Pick<PublicClient, "getChainId">): Promise<boolean> {
  return allowPrivateHosts ?? allowsPrivateHosts({ chainId: await publicClient.getChainId() });
}

/**
 * The host of `url` when it is an IP address (an IPv6 one without its brackets), else undefined. The URL parser
 * has already turned the shorthand forms of an IPv4 address (`2130706433`, `0x7f.1`) into dotted quads.
 */
export function ipLiteral(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return isIPv4(host) || isIPv6(host) ? host : undefined;
}

/** A hostname that resolved to a non-public address, as `publicOnlyLookup` reports it. */
export type RefusedAddress = { host: string; address: string; kind: string };

/**
 * A `lookup` for node:net (`http.request`'s option) that resolves `hostname` as node:dns does and fails with
 * `refuse`'s error when any of its addresses is non-public: the check and the connect then use the same answer.
 * It answers both ways node:net asks (one address, or all of them for happy eyeballs).
 */
export function publicOnlyLookup(refuse: (refused: RefusedAddress) => Error): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "");
      for (const { address } of addresses) {
        const kind = privateAddressKind(address);
        if (kind !== undefined) return callback(refuse({ host: hostname, address, kind }), "");
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (first === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "");
      callback(null, first.address, first.family);
    });
  };
}

/** IPv4 ranges that are not the public internet: [first address, prefix length, what it is]. */
const IPV4_RANGES: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "this network"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "carrier-grade NAT"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "protocol assignments"],
  ["192.0.2.0", 24, "documentation"],
  ["192.88.99.0", 24, "6to4 relay"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation"],
  ["203.0.113.0", 24, "documentation"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"],
];

/**
 * What kind of non-public address an IP literal is ("loopback", "private", "link-local", ...), or undefined
 * for a public one. An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
 * `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32`,
 * whose client address is the last 32 bits inverted) is judged by the IPv4 address (Teredo's by both its server's
 * and its client's). The local-use NAT64 prefix `64:ff9b:1::/48` is a network's own translator, where the IPv4
 * address may sit anywhere: it is refused whole. Not an IP: undefined.
 */
export function privateAddressKind(ip: string): string | undefined {
  if (isIPv4(ip)) return ipv4Kind(ipv4Value(ip));
  const g = ipv6Groups(ip);
  if (g === undefined) return undefined;
  const embedded = (hi: number, lo: number) => ipv4Kind(((hi << 16) | lo) >>> 0);
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return "unspecified";
  if (zeroUpTo(7) && g[7] === 1) return "loopback";
  if (zeroUpTo(5) && g[5] === 0xffff) return embedded(g[6]!, g[7]!);
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return embedded(g[6]!, g[7]!);
  if (zeroUpTo(6)) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "NAT64 local use";
  if (g[0] === 0x2002) return embedded(g[1]!, g[2]!);
  if (g[0] === 0x2001 && g[1] === 0) return embedded(g[2]!, g[3]!) ?? embedded(~g[6]! & 0xffff, ~g[7]! & 0xffff);
  if (g[0] === 0x2001 && g[1] === 0xdb8) return "documentation";
  if (g[0] === 0x3fff && (g[1]! & 0xf000) === 0) return "documentation";
  if (g[0] === 0x2001 && g[1] === 2 && g[2] === 0) return "benchmarking";
  if (g[0] === 0x2001 && ((g[1]! & 0xfff0) === 0x10 || (g[1]! & 0xfff0) === 0x20)) return "ORCHID";
  if (g[0] === 0x5f00) return "SRv6 segment";
  if (g[0] === 0x100 && g.slice(1, 4).every((x) => x === 0)) return "discard-only";
  if ((g[0]! & 0xfe00) === 0xfc00) return "unique local";
  if ((g[0]! & 0xffc0) === 0xfe80) return "link-local";
  if ((g[0]! & 0xffc0) === 0xfec0) return "site-local";
  if ((g[0]! & 0xff00) === 0xff00) return "multicast";
  return undefined;
}

function ipv4Value(ip: string): number {
  return ip.split(".").reduce((value, octet) => ((value << 8) | Number(octet)) >>> 0, 0);
}

function ipv4Kind(value: number): string | undefined {
  for (const [first, bits, kind] of IPV4_RANGES) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if (((value & mask) >>> 0) === ipv4Value(first)) return kind;
  }
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (a zone `%eth0` dropped), or undefined when it is not one. */
function ipv6Groups(ip: string): number[] | undefined {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  if (!isIPv6(text)) return undefined;
  // A dotted IPv4 tail is the last two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const [head, rest] = text.split("::") as [string, string | undefined];
  if (rest === undefined) return parse(head);
  const before = parse(head);
  const after = parse(rest);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}
