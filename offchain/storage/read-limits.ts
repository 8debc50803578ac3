/**
 * What a blob server lets its readers hold at once (offchain/storage/server.ts). A blob is answered from
 * memory, read whole and checked, and stays there until the client has taken it: a client that opens many
 * reads and takes them slowly, or never, would otherwise make the server hold a copy per read. So each
 * client has at most `maxReadsPerClient` reads in flight holding at most `maxBytesPerClient` bytes of blobs,
 * and all reads together hold at most `maxBytesInFlight`: one client cannot take the whole budget and leave
 * every other reader a 503.
 *
 * A client is its address, as `clientKey` names it: an IPv6 client is its /64, the block one subscriber is
 * usually given, so that it cannot take a fresh address for each read. Behind a reverse proxy every client
 * is the proxy's address: limit per client there, or raise `maxReadsPerClient`.
 */
import { isIPv4, isIPv6 } from "node:net";

/**
 * Reads one client address has in flight at once. A dApp, verifier or auditor reads a few blobs of a provider
 * at a time; the busiest honest client is a worker reading the inputs of a burst of jobs from a dApp's server,
 * up to its prefetch at once (2 x (inference + hashing threads): 10 on a one-GPU host, 16 on a four-GPU one,
 * offchain/provider/worker.ts). A 429 costs it a backoff and counts against the poster, so this is not below that.
 */
export const DEFAULT_MAX_READS_PER_CLIENT = 16;
/** Bytes of blobs held for all reads in flight: 8 blobs of the largest size (64 MiB), a hundred 4.9 MB images. */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 512 * 1024 * 1024;
/**
 * Bytes of blobs held for one client's reads in flight: two blobs of the largest size, a quarter of the
 * server's budget (a worker's burst of sixteen 4.9 MB inputs is 78 MB).
 */
export const DEFAULT_MAX_BYTES_PER_CLIENT = 128 * 1024 * 1024;
/** How long a blob server may take to send an answer: a 64 MiB blob at 1 MiB/s, with time to spare. */
export const DEFAULT_SEND_TIMEOUT_MS = 120_000;

export type ReadLimitsParameters = {
  /** Reads (GET or HEAD of a blob or output) one client address has in flight at once. */
  maxReadsPerClient: number;
  /** Bytes of blobs held in memory for all the reads in flight together. */
  maxBytesInFlight: number;
  /** Bytes of blobs held in memory for one client address's reads in flight (default DEFAULT_MAX_BYTES_PER_CLIENT). */
  maxBytesPerClient?: number;
};

/** What `ReadLease.hold` did: held, or refused by the client's cap on bytes or by the server's. */
export type HoldResult = "held" | "client-cap" | "server-cap";

/** One read admitted by `ReadLimits.open`, counted until it is released. */
export type ReadLease = {
  /**
   * Sets the bytes this read holds to `bytes`; refused, changing nothing, when that would take the bytes held by
   * the client's reads past `maxBytesPerClient` ("client-cap") or by all reads past `maxBytesInFlight`
   * ("server-cap"). Shrinking always succeeds. After `release` it counts nothing and returns "held": the read's
   * answer is gone, and whatever it holds goes with it.
   */
  hold(bytes: number): HoldResult;
  /** Frees the read's slot and bytes; later calls do nothing. */
  release(): void;
};

export class ReadLimits {
  readonly maxReadsPerClient: number;
  readonly maxBytesInFlight: number;
  readonly maxBytesPerClient: number;
  /** Per client with reads in flight: how many, and the bytes they hold. */
  readonly #clients = new Map<string, { reads: number; bytes: number }>();
  #bytesInFlight = 0;

  constructor({ maxReadsPerClient, maxBytesInFlight, maxBytesPerClient = DEFAULT_MAX_BYTES_PER_CLIENT }: ReadLimitsParameters) {
    this.maxReadsPerClient = maxReadsPerClient;
    this.maxBytesInFlight = maxBytesInFlight;
    this.maxBytesPerClient = maxBytesPerClient;
  }

  /** A read for `client` (a `clientKey`), holding no bytes yet; undefined when the client has `maxReadsPerClient` in flight. */
  open(client: string): ReadLease | undefined {
    const counts = this.#clients.get(client) ?? { reads: 0, bytes: 0 };
    if (counts.reads >= this.maxReadsPerClient) return undefined;
    counts.reads++;
    this.#clients.set(client, counts);
    let held = 0;
    let released = false;
    return {
      hold: (bytes) => {
        if (released) return "held";
        if (bytes > held) {
          if (counts.bytes - held + bytes > this.maxBytesPerClient) return "client-cap";
          if (this.#bytesInFlight - held + bytes > this.maxBytesInFlight) return "server-cap";
        }
        this.#bytesInFlight += bytes - held;
        counts.bytes += bytes - held;
        held = bytes;
        return "held";
      },
      release: () => {
        if (released) return;
        released = true;
        this.#bytesInFlight -= held;
        counts.bytes -= held;
        held = 0;
        if (--counts.reads === 0) this.#clients.delete(client);
      },
    };
  }
}

/**
 * The client a remote address belongs to: an IPv4 address as it is (an IPv4-mapped IPv6 address, as a
 * dual-stack socket reports an IPv4 peer, as that IPv4 address); an IPv6 address as its /64, e.g.
 * "2001:db8:0:1::/64" (a zone, "%eth0", is dropped); anything else, or none (a socket already closed), as
 * given.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return "unknown";
  const [host = address] = address.split("%");
  if (isIPv4(host) || !isIPv6(host)) return address;
  const groups = ipv6Groups(host);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mapped) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".");
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`isIPv6`), "::" expanded and a dotted IPv4 tail as its two groups. */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = "", tail] = address.split("::");
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
