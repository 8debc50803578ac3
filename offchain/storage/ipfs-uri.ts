/**
 * `ipfs://` URIs and what reads them, without Helia itself: the blob reader (offchain/storage/fetch.ts), the
 * output reader and the SDK take any `IpfsBlobReader` (the Helia node of offchain/storage/ipfs.ts is one), so
 * a dApp's package never carries libp2p unless the dApp runs a node.
 *
 * A CID names bytes by the SHA-256 of its DAG's blocks; the chain names them by the SHA-256 of the whole blob
 * (a job's `inputHash`) or by their output root. Whatever an IPFS read returns is therefore checked against what the chain holds before anyone uses
 * it (`fetchBlob`, `readOutput`): a CID is only where to look.
 */
import { InvalidBlobUriError } from "./errors.js";

/** Where an IPFS node listens unless told otherwise: loopback, a free port. */
export const DEFAULT_IPFS_LISTEN = "/ip4/127.0.0.1/tcp/0";

/** `ipfs://<cid>[/path]`, no query or fragment. */
const IPFS_URI = /^ipfs:\/\/([^/?#]*)([^?#]*)$/i;
/** A CID in any multibase (the node parses it for good; this only keeps junk out of URLs and logs). */
const CID = /^[A-Za-z0-9]{1,128}$/;

export type IpfsUri = {
  /** The root CID as written in the URI. */
  cid: string;
  /** Path segments below the root, decoded; `.` and `..` refused. Empty for the root itself. */
  path: string[];
};

/** Parses `ipfs://<cid>[/path]`; throws `InvalidBlobUriError` naming what is wrong. */
export function parseIpfsUri(uri: string): IpfsUri {
  const match = IPFS_URI.exec(uri);
  if (match === null) throw new InvalidBlobUriError({ uri, problem: "expected ipfs://<cid>[/path], no query or fragment" });
  const [, cid = "", path = ""] = match;
  if (!CID.test(cid)) throw new InvalidBlobUriError({ uri, problem: `malformed CID "${cid}"` });
  const segments = path
    .split("/")
    .filter((segment) => segment !== "")
    .map((segment) => decodePathSegment(segment, uri));
  return { cid, path: segments };
}

/** Whether `uri` uses the ipfs scheme (well formed or not). */
export function isIpfsUri(uri: string): boolean {
  return /^ipfs:/i.test(uri);
}

/** `ipfs://<cid>`. */
export function ipfsUriOf(cid: string): string {
  return `ipfs://${cid}`;
}

export type CatIpfsParameters = {
  /** The root CID (as a string; the reader parses it). */
  cid: string;
  /** Path segments below the root. */
  path?: readonly string[];
  /** Nothing past this many bytes is held: `BlobTooLargeError`. */
  maxBytes: number;
  /** The whole read (peers dialled, blocks fetched) ends by then: a retryable `BlobUnavailableError`. */
  timeoutMs: number;
  signal?: AbortSignal;
};

/**
 * What reads `ipfs://` blobs: an IPFS node. `cat` returns the file's bytes, unverified (the caller checks
 * them against the chain), or throws the storage errors: `BlobTooLargeError` past the cap,
 * `BlobUnavailableError` (retryable) when no peer served it in time, `BlobRejectedError` for a CID that is
 * not a file, `InvalidBlobUriError` for a malformed CID.
 */
export interface IpfsBlobReader {
  cat(parameters: CatIpfsParameters): Promise<Uint8Array>;
}

/** What publishes blobs on IPFS and keeps them: an IPFS node. */
export interface IpfsBlobPublisher {
  /**
   * Adds the bytes (UnixFS, raw leaves, CIDv1) and pins them for `holder`: the blocks stay until every
   * holder let go (`unpin`). Returns the CID and its `ipfs://` URI.
   */
  add(bytes: Uint8Array, options: { holder: string }): Promise<{ cid: string; uri: string }>;
  /**
   * Pins a CID already read (every block local) for `holder`; nothing is fetched. Pinning twice for the same
   * holder is a no-op.
   */
  pin(cid: string, options: { holder: string }): Promise<void>;
  /** Lets go of `holder`'s pin; the last holder's unpin leaves the blocks to garbage collection. */
  unpin(cid: string, options: { holder: string }): Promise<void>;
}

function decodePathSegment(segment: string, uri: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch (cause) {
    throw new InvalidBlobUriError({ uri, problem: `malformed percent-encoding in "${segment}"`, cause });
  }
  if (decoded === "." || decoded === ".." || decoded.includes("/")) throw new InvalidBlobUriError({ uri, problem: `path segment "${segment}" not allowed` });
  return decoded;
}
