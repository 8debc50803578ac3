/**
 * dinfer's IPFS node: Helia with a filesystem blockstore and datastore under one directory (a daemon's
 * `<dataDir>/ipfs`), and a libp2p that talks only to whom it is told:
 *
 * - TCP on `listen` (default `/ip4/127.0.0.1/tcp/0`: loopback, a free port), noise, yamux, identify;
 * - no bootstrap list, no mDNS, no DHT, no delegated routers, no public gateways, no AutoNAT, relay or UPnP:
 *   blocks come over bitswap from connected peers only. The peers are those configured (`peers`, dialled at
 *   start and again before every read) and whoever dialled us (a dApp dialling a worker's node, say);
 * - content routing is a no-op router of our own: nothing is announced, no provider is looked up, and
 *   removing a block does not fail for want of a DHT.
 *
 * `add` stores bytes as UnixFS (raw leaves, CIDv1) and pins them; `cat` reads a file with a byte cap
 * (offchain/storage/read-capped.ts) and a time limit; `pin`/`unpin` keep blocks per holder (a job's input,
 * its output), recorded in the pin's metadata, so two jobs with the same input each hold it until their own
 * end; `gc` drops what no pin holds. The bytes a read returns are never trusted: callers check them against
 * the chain (offchain/storage/fetch.ts `fetchBlob`, offchain/storage/output.ts).
 *
 *   const node = await startIpfsNode({ dir: ".dinfer/ipfs", peers: ["/ip4/127.0.0.1/tcp/4001/p2p/12D3..."] });
 *   const { uri } = await node.add(bytes, { holder: "job:7:input" });
 *   await node.stop();
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { unixfs, type UnixFS } from "@helia/unixfs";
import { identify } from "@libp2p/identify";
import { tcp } from "@libp2p/tcp";
import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import { FsBlockstore } from "blockstore-fs";
import { FsDatastore } from "datastore-fs";
import { createHelia, type Helia } from "helia";
import type { Libp2pOptions } from "libp2p";
import { CID } from "multiformats/cid";

import { DinferError, NonRetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { BlobNotFoundError, BlobRejectedError, BlobUnavailableError, InvalidBlobUriError } from "./errors.js";
import { DEFAULT_IPFS_LISTEN, ipfsUriOf, type CatIpfsParameters, type IpfsBlobPublisher, type IpfsBlobReader } from "./ipfs-uri.js";
import { readCapped, validateMaxBytes } from "./read-capped.js";

/** How long dialling one configured peer may take before a read goes on without it. */
const DIAL_TIMEOUT_MS = 5_000;

export type StartIpfsNodeParameters = {
  /** The node's repository: `<dir>/blocks` (blockstore) and `<dir>/datastore` (pins, peer id, peer store). */
  dir: string;
  /** Multiaddrs to listen on; default loopback on a free port. */
  listen?: readonly string[];
  /** Multiaddrs to tell peers we are reachable at (behind NAT, a public address); default: the listen addresses. */
  announce?: readonly string[];
  /** Peers to dial at start and before each read (`/ip4/.../tcp/<port>[/p2p/<peer id>]`). */
  peers?: readonly string[];
  logger?: Logger;
};

export type IpfsNode = IpfsBlobReader &
  IpfsBlobPublisher & {
    /** Our peer id. */
    readonly peerId: string;
    /** Where others can dial us: each listen (or announce) address with our peer id. */
    addresses(): string[];
    /** Dials one more peer now (also remembered for later reads). Throws `BlobUnavailableError` when it cannot be reached. */
    dial(address: string, options?: { timeoutMs?: number }): Promise<void>;
    /** Peers connected now. */
    connectedPeers(): string[];
    /** Whether a CID is pinned (by any holder). */
    isPinned(cid: string): Promise<boolean>;
    /** The holders of a CID's pin (empty when not pinned). */
    holders(cid: string): Promise<string[]>;
    /** Deletes every block no pin holds (what reads fetched for jobs never taken, a job's blocks after its end). */
    gc(): Promise<void>;
    /** Stops libp2p and closes the stores; idempotent. */
    stop(): Promise<void>;
  };

/** A configured IPFS address is not a multiaddr (named by the option it came from). */
export class IpfsConfigError extends NonRetryableError {
  override name = "IpfsConfigError";

  constructor({ option, value, cause }: { option: string; value: string; cause?: unknown }) {
    super(`${option}: ${JSON.stringify(value)} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001, a peer with /p2p/<peer id> at the end)`, {
      code: "INVALID_OPTION",
      details: { option, value },
      cause,
    });
  }
}

/** Starts a node and dials its peers (a peer that cannot be reached now is logged and dialled again before each read). */
export async function startIpfsNode({ dir, listen = [DEFAULT_IPFS_LISTEN], announce = [], peers = [], logger = silentLogger() }: StartIpfsNodeParameters): Promise<IpfsNode> {
  const listenAddrs = listen.map((value) => parseMultiaddr(value, "ipfs.listen").toString());
  const announceAddrs = announce.map((value) => parseMultiaddr(value, "ipfs.announce").toString());
  const known = new Map(peers.map((value) => [value, parseMultiaddr(value, "ipfs.peers")] as const));
  mkdirSync(path.join(dir, "blocks"), { recursive: true });
  mkdirSync(path.join(dir, "datastore"), { recursive: true });
  const libp2p = {
    addresses: { listen: listenAddrs, announce: announceAddrs },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    contentRouters: [() => NO_ROUTING],
    services: { identify: identify() },
  } satisfies Libp2pOptions<{ identify: unknown }>;
  let helia: Helia & { libp2p: { peerId: { toString(): string } } & LibP2pSurface };
  try {
    helia = (await createHelia({
      blockstore: new FsBlockstore(path.join(dir, "blocks")),
      datastore: new FsDatastore(path.join(dir, "datastore")),
      // Replaces Helia's whole default libp2p (public bootstrap peers, mDNS, DHT, delegated routing, relays...).
      libp2p: { ...libp2p, config: "replace" } as never,
      // No delegated routers and no public trustless gateways.
      http: { delegatedRouters: [], recursiveGateways: [] },
    })) as never;
    await helia.start();
  } catch (cause) {
    throw new NonRetryableError(`the IPFS node cannot start (repository ${dir}, listen ${listenAddrs.join(", ")}): ${describe(cause)}`, {
      code: "IPFS_START_FAILED",
      details: { dir, listen: listenAddrs },
      cause,
    });
  }
  return new HeliaIpfsNode({ helia, known, logger: logger.child({ component: "ipfs" }) }).started();
}

/** The bits of libp2p used here (the generic Libp2p type drags its whole service map along). */
type LibP2pSurface = {
  getMultiaddrs(): { toString(): string }[];
  getConnections(): { remotePeer: { toString(): string } }[];
  dial(target: Multiaddr, options?: { signal?: AbortSignal }): Promise<unknown>;
};

type HeliaIpfsNodeParameters = {
  helia: Helia & { libp2p: { peerId: { toString(): string } } & LibP2pSurface };
  known: Map<string, Multiaddr>;
  logger: Logger;
};

class HeliaIpfsNode implements IpfsNode {
  readonly peerId: string;
  readonly #helia: HeliaIpfsNodeParameters["helia"];
  readonly #fs: UnixFS;
  readonly #known: Map<string, Multiaddr>;
  readonly #log: Logger;
  /** Pin updates one at a time: a pin's holders are read, changed and written back. */
  #pins: Promise<unknown> = Promise.resolve();
  #stopping?: Promise<void>;

  constructor({ helia, known, logger }: HeliaIpfsNodeParameters) {
    this.#helia = helia;
    this.#fs = unixfs(helia);
    this.#known = known;
    this.#log = logger;
    this.peerId = helia.libp2p.peerId.toString();
  }

  async started(): Promise<this> {
    await this.#dialKnown(AbortSignal.timeout(DIAL_TIMEOUT_MS));
    this.#log.info({ msg: "ipfs node started", peer_id: this.peerId, addresses: this.addresses(), peers: this.connectedPeers().length });
    return this;
  }

  addresses(): string[] {
    return this.#helia.libp2p.getMultiaddrs().map(String);
  }

  connectedPeers(): string[] {
    return [...new Set(this.#helia.libp2p.getConnections().map((c) => c.remotePeer.toString()))];
  }

  async dial(address: string, { timeoutMs = DIAL_TIMEOUT_MS }: { timeoutMs?: number } = {}): Promise<void> {
    const target = parseMultiaddr(address, "peer");
    this.#known.set(address, target);
    try {
      await this.#helia.libp2p.dial(target, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (cause) {
      throw new BlobUnavailableError({ source: address, problem: `the IPFS peer cannot be reached: ${describe(cause)}`, cause });
    }
  }

  async add(bytes: Uint8Array, { holder }: { holder: string }): Promise<{ cid: string; uri: string }> {
    const cid = await this.#fs.addBytes(bytes, { rawLeaves: true, cidVersion: 1 });
    await this.pin(cid.toString(), { holder });
    return { cid: cid.toString(), uri: ipfsUriOf(cid.toString()) };
  }

  async cat({ cid, path: segments = [], maxBytes, timeoutMs, signal }: CatIpfsParameters): Promise<Uint8Array> {
    validateMaxBytes(maxBytes);
    const label = ipfsUriOf([cid, ...segments].join("/"));
    const root = parseCid(cid, label);
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      await this.#dialKnown(AbortSignal.any([combined, AbortSignal.timeout(DIAL_TIMEOUT_MS)]));
      // `length`: one byte past the cap is enough to know a blob is too large, and the exporter then asks peers only
      // for the blocks that hold those bytes: a capped read of a large DAG neither downloads the rest in the background
      // nor leaves more of it on this node than it read.
      const source = this.#fs.cat(root, { signal: combined, length: maxBytes + 1, ...(segments.length > 0 ? { path: segments.join("/") } : {}) });
      return await readCapped({ source, maxBytes, label });
    } catch (error) {
      if (error instanceof DinferError) throw error;
      throw this.#readError({ error, label, timeoutMs, timedOut: timeout.aborted, aborted: signal?.aborted === true });
    }
  }

  async pin(cid: string, { holder }: { holder: string }): Promise<void> {
    const parsed = parseCid(cid, ipfsUriOf(cid));
    await this.#serially(async () => {
      const holders = await this.#holdersOf(parsed);
      if (holders === undefined) {
        // Every block must be local (just added, or just read whole): a read cut off (another location served the
        // blob first) leaves a DAG in part. `pins.add` walks the DAG in concurrent jobs, and a block missing there
        // rejects jobs nobody awaits (the process dies of an unhandled rejection): so the blob is first read from
        // the store alone, in order, where a missing block is a plain error for the caller.
        for await (const _ of this.#fs.cat(parsed, { offline: true })) {
          // reads each block from the store
        }
        for await (const _ of this.#helia.pins.add(parsed, { metadata: { [holder]: true }, offline: true } as never)) {
          // walks the DAG, counting each block pinned
        }
        return;
      }
      if (!holders.includes(holder)) await this.#helia.pins.setMetadata(parsed, Object.fromEntries([...holders, holder].map((h) => [h, true])));
    });
  }

  async unpin(cid: string, { holder }: { holder: string }): Promise<void> {
    const parsed = parseCid(cid, ipfsUriOf(cid));
    await this.#serially(async () => {
      const holders = await this.#holdersOf(parsed);
      if (holders === undefined || !holders.includes(holder)) return;
      const left = holders.filter((h) => h !== holder);
      if (left.length > 0) return this.#helia.pins.setMetadata(parsed, Object.fromEntries(left.map((h) => [h, true])));
      for await (const _ of this.#helia.pins.rm(parsed)) {
        // walks the DAG, releasing each block
      }
    });
  }

  async isPinned(cid: string): Promise<boolean> {
    return (await this.#holdersOf(parseCid(cid, ipfsUriOf(cid)))) !== undefined;
  }

  async holders(cid: string): Promise<string[]> {
    return (await this.#holdersOf(parseCid(cid, ipfsUriOf(cid)))) ?? [];
  }

  async gc(): Promise<void> {
    await this.#serially(() => this.#helia.gc());
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#pins.catch(() => {});
      await this.#helia.stop();
      this.#log.info({ msg: "ipfs node stopped", peer_id: this.peerId });
    })();
    return this.#stopping;
  }

  /** The pin's holders, or undefined when the CID is not pinned. */
  async #holdersOf(cid: CID): Promise<string[] | undefined> {
    try {
      const pin = await this.#helia.pins.get(cid);
      return Object.keys(pin.metadata ?? {});
    } catch (error) {
      if ((error as { name?: string }).name === "NotFoundError") return undefined;
      throw error;
    }
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#pins.then(task, task);
    this.#pins = run.catch(() => {});
    return run;
  }

  /** Dials every configured peer not connected now, in parallel; one that fails is logged, never thrown. */
  async #dialKnown(signal: AbortSignal): Promise<void> {
    const connected = new Set(this.connectedPeers());
    await Promise.all(
      [...this.#known.entries()].map(async ([address, target]) => {
        const peer = target.getComponents().find((c) => c.name === "p2p")?.value;
        if (peer !== undefined && connected.has(peer)) return;
        try {
          await this.#helia.libp2p.dial(target, { signal });
        } catch (error) {
          this.#log.debug({ msg: "ipfs peer not reachable", peer: address, err: describe(error) });
        }
      }),
    );
  }

  /** A failed read as a storage error that says what went wrong and what to do. */
  #readError({ error, label, timeoutMs, timedOut, aborted }: { error: unknown; label: string; timeoutMs: number; timedOut: boolean; aborted: boolean }): DinferError {
    const name = (error as { name?: string }).name ?? "";
    if (name === "NotAFileError" || name === "NotUnixFSError") {
      return new BlobRejectedError({ source: label, problem: "the CID is not a file (a directory, or not UnixFS): name the file in the URI's path", cause: error });
    }
    if (name === "DoesNotExistError" || name === "NoContentError") return new BlobNotFoundError({ source: label, details: { problem: "no such path below the CID" }, cause: error });
    if (timedOut) {
      const peers = this.connectedPeers().length;
      return new BlobUnavailableError({
        source: label,
        problem:
          `no IPFS peer served it within ${timeoutMs} ms (${peers} peer${peers === 1 ? "" : "s"} connected, ${this.#known.size} configured): ` +
          "this network has no DHT or public gateway, so add the node that holds it (the poster's or the provider's) to ipfs.peers, or dial it",
        details: { timeoutMs, connectedPeers: peers },
        cause: error,
      });
    }
    if (aborted) return new BlobUnavailableError({ source: label, problem: "aborted", cause: error });
    return new BlobUnavailableError({ source: label, problem: describe(error), cause: error });
  }
}

/** The content router of a network without one: nothing announced, no provider found, nothing stored. */
const NO_ROUTING = {
  provide: async () => {},
  cancelReprovide: async () => {},
  // eslint-disable-next-line require-yield
  findProviders: async function* () {},
  put: async () => {},
  get: async () => {
    throw new Error("no content routing in a dinfer IPFS network");
  },
};

function parseMultiaddr(value: string, option: string): Multiaddr {
  try {
    if (typeof value !== "string" || !value.startsWith("/")) throw new Error("a multiaddr starts with /");
    return multiaddr(value);
  } catch (cause) {
    throw new IpfsConfigError({ option, value: String(value), cause });
  }
}

function parseCid(cid: string, uri: string): CID {
  try {
    return CID.parse(cid);
  } catch (cause) {
    throw new InvalidBlobUriError({ uri, problem: `malformed CID "${cid}"`, cause });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
