/**
 * Which output locations a public explorer may fetch. A location is whatever URI a provider or an auditor
 * revealed on chain, so fetching it blindly lets anyone make the explorer's server send requests into its
 * own network (server-side request forgery). Only `http(s)://` and `ipfs://` locations are read; an http(s)
 * host that is, or resolves to, a loopback, private, link-local or otherwise non-public address is refused
 * unless the explorer was started with `allowPrivateHosts` (a devnet, whose workers serve on 127.0.0.1).
 * An `ipfs://` location goes to the gateway the operator configured, never to a host the URI names.
 *
 * The address ranges are offchain/storage/host-policy.ts's, which the daemons screen their reads by too.
 *
 * @dev The check resolves a hostname once, and the fetch resolves it again and follows redirects: a DNS answer
 * that changes between the two (rebinding), or a public host that redirects to a private one, is not caught
 * here but by the fetch itself, which the comparison runs with the same `allowPrivateHosts`
 * (offchain/storage/fetch.ts refuses a non-public address when the socket connects, at every redirect). This
 * screen comes first so that a refused location is named, with why, on the page.
 */
import { lookup as dnsLookup } from "node:dns/promises";

import { ipLiteral, privateAddressKind } from "../storage/host-policy.js";

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
  const advice = "start the explorer with --allow-private-hosts to read it";
  const literal = ipLiteral(url);
  if (literal !== undefined) {
    const kind = privateAddressKind(literal);
    return kind === undefined ? undefined : `${literal} is a private address (${kind}); ${advice}`;
  }
  const host = url.hostname;
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
