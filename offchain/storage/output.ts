/**
 * The one way to read a revealed output (docs/PROTOCOL.md, section 7, "Output availability"): from its
 * inline bytes or the first of its locations (read at once, within one time budget) to serve bytes whose
 * output root is the one revealed on-chain. The SDK, the CLI and the verifier read outputs here; each
 * location is read with the one blob reader (offchain/storage/fetch.ts), so a location fails with the
 * same error classes everywhere.
 *
 * | location                               | read as                                                           |
 * |----------------------------------------|-------------------------------------------------------------------|
 * | `http(s)://.../blobs/<blob id>` (workers) | `fetchBlob`: checked against the id, then against the root     |
 * | `ipfs://<cid>[/path]`                  | `readBlob` through the IPFS node (else the gateway); the root binds it |
 * | any other http(s) URL                  | `readBlob`; the root binds it                                     |
 * | `file:///abs/path`                     | the same, only with `allowFileUris` (same-machine tests)          |
 *
 * Only a worker's blob server route (`/blobs/<id>`, which serves nothing but the blob of that id) is read
 * by the id its URL names. An `ipfs://` location is bound by the output root alone, whatever its path ends
 * with: a CID and its path are the provider's choice, the root is what the chain holds.
 *
 * `fetchOutput` never throws for a location's faults (a verifier decides what an unserved output means);
 * `readOutput` throws (a dApp wants the output or an error it can act on).
 */
import type { Hex } from "viem";

import { hexToBytes } from "../codec/hex.js";
import { outputRoot } from "../codec/merkle.js";
import { DinferError, NonRetryableError, RetryableError } from "../errors.js";
import { isBlobId } from "./blob-id.js";
import { fetchBlob, readBlob } from "./fetch.js";
import { firstServed, type LocationFailure } from "./first-served.js";
import type { IpfsBlobReader } from "./ipfs-uri.js";
import type { BlobStore } from "./store.js";

export type ReadOutputOptions = {
  /** Largest output accepted. */
  maxBytes?: number;
  /** Base URL of an IPFS HTTP gateway, for `ipfs://` locations when no node is given. */
  ipfsGateway?: string;
  /** An IPFS node that reads `ipfs://` locations (offchain/storage/ipfs.ts). */
  ipfs?: IpfsBlobReader;
  /** Accept `file://` locations (same-machine tests only). */
  allowFileUris: boolean;
  /**
   * Read http(s) locations on loopback, private and link-local hosts (`fetchBlob`'s `allowPrivateHosts`, and its
   * default: yes). A location chosen by a provider is refused unread without it (a `PrivateHostRefusedError`, one
   * location's failure like any other).
   */
  allowPrivateHosts?: boolean;
  /** Limit of each location's read. */
  timeoutMs?: number;
  /**
   * Time for the whole read, every location together (they are read at once): a verifier's deadline does not
   * move for a provider that lists many locations that never answer.
   */
  budgetMs?: number;
  store?: BlobStore;
  signal?: AbortSignal;
};

export type OutputLocationsParameters = {
  /** The output root the bytes must match (a provider's revealed root, or an auditor's). */
  root: Hex;
  /** Bytes revealed inline (the market checked them against the root): no fetch needed. */
  inline?: Hex;
  /**
   * Every known location, read at once until one serves bytes matching `root`; the first `MAX_LOCATIONS`
   * (offchain/storage/first-served.ts) only, so list the chain's own first.
   */
  uris: readonly (string | undefined)[];
};

/** An output fetched from one of its locations, or why none served it. */
export type FetchedOutput = { ok: true; bytes: Uint8Array; source: string } | { ok: false; problem: string };

export type FetchOutputParameters = ReadOutputOptions & OutputLocationsParameters;

/** The revealed bytes do not have the output root revealed on-chain. */
export class OutputRootMismatchError extends NonRetryableError {
  override name = "OutputRootMismatchError";

  constructor({ source, expected, actual }: { source: string; expected: Hex; actual: Hex }) {
    super(`output does not match the root revealed on-chain: its bytes have root ${actual}, not ${expected} (${source})`, {
      code: "OUTPUT_ROOT_MISMATCH",
      details: { source, expected, actual },
    });
  }
}

/** No location is known for the output (no inline bytes, no URI). */
export class NoOutputLocationError extends NonRetryableError {
  override name = "NoOutputLocationError";

  constructor() {
    super("the job has no output URI and no inline output", { code: "NO_OUTPUT_URI" });
  }
}

/** Several locations were tried and none served the output; one of them may later (a timeout, a 5xx). */
export class OutputUnavailableError extends RetryableError {
  override name = "OutputUnavailableError";

  constructor({ problem, cause }: { problem: string; cause?: unknown }) {
    super(`no location served the output: ${problem}`, { code: "OUTPUT_UNAVAILABLE", details: { problem }, cause });
  }
}

/** Several locations were tried and each failed for good (not found, wrong bytes, refused). */
export class OutputNotServedError extends NonRetryableError {
  override name = "OutputNotServedError";

  constructor({ problem, cause }: { problem: string; cause?: unknown }) {
    super(`no location served the output: ${problem}`, { code: "OUTPUT_NOT_SERVED", details: { problem }, cause });
  }
}

type Attempts = { ok: true; bytes: Uint8Array; source: string } | { ok: false; failures: LocationFailure[] };

/**
 * An output from its inline bytes or the first of its locations to serve bytes matching its root. A
 * location that fails or serves other bytes is only one location: the result says why each failed, and
 * the caller decides when that counts as wrong. Never throws for a location's faults.
 */
export async function fetchOutput(parameters: FetchOutputParameters): Promise<FetchedOutput> {
  const attempts = await tryLocations(parameters);
  if (attempts.ok) return attempts;
  const { failures } = attempts;
  return { ok: false, problem: failures.length === 0 ? "no location is known" : failures.map(({ source, error }) => `${source}: ${describeFailure(error)}`).join("; ") };
}

/**
 * The output's bytes, or an error to act on: with one location its own (a `BlobNotFoundError`, a
 * retryable `BlobUnavailableError`, an `OutputRootMismatchError`...), with several an
 * `OutputUnavailableError` when one may serve it later and an `OutputNotServedError` when none will.
 */
export async function readOutput(parameters: FetchOutputParameters): Promise<{ bytes: Uint8Array; source: string }> {
  const attempts = await tryLocations(parameters);
  if (attempts.ok) return { bytes: attempts.bytes, source: attempts.source };
  const { failures } = attempts;
  if (failures.length === 0) throw new NoOutputLocationError();
  if (failures.length === 1) throw failures[0]!.error;
  const problem = failures.map(({ source, error }) => `${source}: ${describeFailure(error)}`).join("; ");
  const retryable = failures.find(({ error }) => error instanceof RetryableError);
  if (retryable) throw new OutputUnavailableError({ problem, cause: retryable.error });
  throw new OutputNotServedError({ problem, cause: failures[0]!.error });
}

async function tryLocations({ root, inline, uris, budgetMs, signal, ...options }: FetchOutputParameters): Promise<Attempts> {
  const expected = root.toLowerCase() as Hex;
  const failures: LocationFailure[] = [];
  if (inline !== undefined && inline.length > 2) {
    const bytes = hexToBytes(inline);
    const actual = outputRoot(bytes);
    if (actual === expected) return { ok: true, bytes, source: "inline" };
    failures.push({ source: "inline", error: new OutputRootMismatchError({ source: "inline", expected: root, actual }) });
  }
  const served = await firstServed({
    uris,
    budgetMs,
    signal,
    read: async (uri, signal) => {
      const bytes = await readOutputUri({ uri, ...options, signal });
      const actual = outputRoot(bytes);
      if (actual !== expected) throw new OutputRootMismatchError({ source: uri, expected: root, actual });
      return bytes;
    },
  });
  if (served.ok) return { ok: true, bytes: served.value, source: served.source };
  return { ok: false, failures: [...failures, ...served.failures] };
}

/**
 * One location's bytes. An http(s) `.../blobs/<id>` URI (a worker's blob server) is read and checked by its
 * id; any other (`ipfs://<cid>[/path]`, another URL) is read capped and bound to the chain by the root check
 * alone.
 */
async function readOutputUri({ uri, allowFileUris, ...options }: { uri: string } & ReadOutputOptions): Promise<Uint8Array> {
  if (uri.startsWith("file:") && !allowFileUris) {
    throw new NonRetryableError("file:// URIs are refused (allowFileUris is off)", { code: "OUTPUT_URI_REFUSED", details: { uri } });
  }
  const id = blobServerId(uri);
  if (id !== undefined) return fetchBlob({ uri, expectedHash: id, ...options });
  return readBlob({ uri, ...options });
}

/** The blob id an http(s) URL of a blob server's read route names (`.../blobs/<id>`), else undefined. */
export function blobServerId(uri: string): Hex | undefined {
  const match = /^https?:\/\/[^?#]*\/blobs\/([^/?#]+)(?:[?#].*)?$/i.exec(uri);
  return match !== null && isBlobId(match[1]) ? (match[1].toLowerCase() as Hex) : undefined;
}

/** "BlobNotFoundError: blob not found: ..." for a project error; the message for any other. */
function describeFailure(error: unknown): string {
  if (error instanceof DinferError) return `${error.name}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
