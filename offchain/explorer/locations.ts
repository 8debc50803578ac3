/**
 * Which output locations a public explorer may fetch. A location is whatever URI a provider or an auditor
 * revealed on chain, so fetching it blindly lets anyone make the explorer's server send requests into its
 * own network (server-side request forgery). Only `http(s)://` and `ipfs://` locations are read; an http(s)
 * host that is, or resolves to, a loopback, private, link-local or otherwise non-public address is refused
 * unless the explorer was started with `allowPrivateHosts` (a devnet, whose workers serve on 127.0.0.1).
 * An `ipfs://` location goes to the gateway the operator configured, never to a host the URI names.
 *
 * @dev The check resolves a hostname once, and the fetch (offchain/storage/fetch.ts) resolves it again and
 * follows redirects: a DNS answer that changes between the two (rebinding), or a public host that redirects
 * to a private one, is not caught here.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIPv4, isIPv6 } from "node:net";

/** Every address a hostname resolves to. */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export type ScreenLocationsParameters = {
  /** Read hosts on loopback, private and link-local addresses too (a devnet, tests). */
  allowPrivateHosts: boolean;
  /** Resolves a hostname (node:dns `lookup`, every address, by default). */
  resolve?: ResolveHost;
};

export type ScreenLocationsReturnType = {
  /** The locations that may be fetched, in their order. */
  allowed: string[];
  /** One line per refused location: `<uri>: not fetched: <why>`. */
  refused: string[];
};

const FETCHED_SCHEMES = new Set(["http:", "https:", "ipfs:"]);

const resolveAll: ResolveHost = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The locations of `uris` the explorer may fetch, and why each other one is refused. */
export async function screenLocations(uris: readonly (string | undefined)[], { allowPrivateHosts, resolve = resolveAll }: ScreenLocationsParameters): Promise<ScreenLocationsReturnType> {
  const unique = [...new Set(uris.filter((u): u is string => u !== undefined && u !== ""))];
  const verdicts = await Promise.all(unique.map((uri) => refusalOf(uri, { allowPrivateHosts, resolve })));
  const allowed: string[] = [];
  const refused: string[] = [];
  unique.forEach((uri, i) => {
    const why = verdicts[i];
    if (why === undefined) allowed.push(uri);
    else refused.push(`${uri}: not fetched: ${why}`);
  });
  return { allowed, refused };
}

/** Why the explorer must not fetch `uri`, or undefined when it may. */
export async function refusalOf(uri: string, { allowPrivateHosts, resolve = resolveAll }: ScreenLocationsParameters): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "not a URL";
  }
  if (!FETCHED_SCHEMES.has(url.protocol)) return `the explorer reads only http, https and ipfs locations, not ${url.protocol.slice(0, -1)}`;
  if (url.protocol === "ipfs:" || allowPrivateHosts) return undefined;
  // The URL parser has already turned the shorthand forms of an IPv4 address (2130706433, 0x7f.1) into
  // dotted quads; an IPv6 literal keeps its brackets.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const advice = "start the explorer with --allow-private-hosts to read it";
  if (isIPv4(host) || isIPv6(host)) {
    const kind = privateAddressKind(host);
    return kind === undefined ? undefined : `${host} is a private address (${kind}); ${advice}`;
  }
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (error) {
    return `cannot resolve ${host}: ${(error as Error).message}`;
  }
  if (addresses.length === 0) return `${host} resolves to no address`;
  for (const address of addresses) {
    const kind = privateAddressKind(address);
    if (kind !== undefined) return `${host} resolves to ${address}, a private address (${kind}); ${advice}`;
  }
  return undefined;
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
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"],
];

/**
 * What kind of non-public address an IP literal is ("loopback", "private", "link-local", ...), or undefined
 * for a public one. An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address. Not an IP: undefined.
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
  if (zeroUpTo(6)) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x2002) return embedded(g[1]!, g[2]!);
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
