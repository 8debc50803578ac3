/**
 * The one way to read a blob: `fetchBlob` resolves a blob URI to bytes and checks them against the hash
 * the chain holds; `readBlob` reads the same way for a caller that binds the bytes otherwise (a revealed
 * output by its root, offchain/storage/output.ts; a model by its sha256, offchain/sdk/input-check.ts).
 *
 * | URI                      | read from                                       |
 * |--------------------------|-------------------------------------------------|
 * | `http(s)://...`          | the URL, streamed                               |
 * | `ipfs://<cid>[/path]`    | the `ipfs` node given, else `<ipfsGateway>/ipfs/<cid>[/path]` |
 * | `file:///abs/path`       | the local file                                  |
 * | `0x<64 hex>` (a blob id) | the given `BlobStore`                           |
 *
 * Whatever the source, nothing past `maxBytes` is held (a peer that lies about its length or
 * streams forever is cut off there), HTTP and IPFS reads end at `timeoutMs`, and the bytes are returned
 * only if their SHA-256 equals `expectedHash`: an `ipfs://` CID says where to look, never what the
 * chain committed to. Errors say whether to retry: a mismatch, a 404,
 * an oversized blob or a bad URI are non-retryable; timeouts, network failures, 5xx and 429 are
 * `BlobUnavailableError` (retryable). The function never retries by itself.
 *
 * With `allowPrivateHosts` off (the daemons' reads of URIs others chose; offchain/storage/host-policy.ts), an
 * http(s) read whose host is, or resolves to, a loopback, private, link-local or otherwise non-public address is
 * refused before any request is sent (`PrivateHostRefusedError`), at every redirect. An `ipfs://` URI read through
 * the gateway is not screened while it stays on the gateway: it names no host, and the gateway is the operator's own
 * choice; a redirect off the gateway is screened like any other hop.
 */
import { open } from "node:fs/promises";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { fileURLToPath } from "node:url";

import type { Hex } from "viem";

import { DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { deadline } from "../deadline.js";
import { DinferError, NonRetryableError } from "../errors.js";
import { isBlobId, parseBlobId, verifyBlob } from "./blob-id.js";
import {
  BlobNotFoundError,
  BlobRejectedError,
  BlobTooLargeError,
  BlobUnavailableError,
  InvalidBlobUriError,
  PrivateHostRefusedError,
} from "./errors.js";
import { ipLiteral, privateAddressKind, publicOnlyLookup } from "./host-policy.js";
import { parseIpfsUri, type IpfsBlobReader } from "./ipfs-uri.js";
import { readCapped, validateMaxBytes } from "./read-capped.js";
import type { BlobStore } from "./store.js";

export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

/** Where a URI's bytes come from (`viaIpfsGateway`: an `ipfs://` URI's URL at the configured gateway). */
export type BlobSource =
  | { kind: "http"; url: string; viaIpfsGateway?: true }
  | { kind: "file"; path: string }
  | { kind: "store"; id: Hex }
  | { kind: "ipfs"; uri: string; cid: string; path: string[] };

export type ResolveBlobUriParameters = {
  uri: string;
  /** Base URL of an IPFS HTTP gateway, e.g. "http://127.0.0.1:8080"; used for `ipfs://` when no node is. */
  ipfsGateway?: string;
  /** An IPFS node reads `ipfs://` URIs itself (the gateway is then not used). */
  ipfsNode?: boolean;
};

/** Maps a blob URI to its source, without any I/O; throws `InvalidBlobUriError` naming the problem. */
export function resolveBlobUri({ uri, ipfsGateway, ipfsNode = false }: ResolveBlobUriParameters): BlobSource {
  if (typeof uri !== "string" || uri.length === 0) {
    throw new InvalidBlobUriError({ uri: String(uri), problem: "empty" });
  }
  if (isBlobId(uri)) return { kind: "store", id: parseBlobId(uri, "uri") };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  switch (scheme) {
    case "http":
    case "https":
      return { kind: "http", url: parseHttpUrl(uri) };
    case "ipfs":
      if (ipfsNode) return { kind: "ipfs", uri, ...parseIpfsUri(uri) };
      return { kind: "http", url: ipfsGatewayUrl({ uri, ipfsGateway }), viaIpfsGateway: true };
    case "file":
      return { kind: "file", path: parseFileUri(uri) };
    default:
      throw new InvalidBlobUriError({
        uri,
        problem: scheme === undefined ? "expected http(s)://, ipfs://, file:// or a blob id" : `unsupported scheme "${scheme}:"`,
      });
  }
}

export type ReadBlobParameters = {
  uri: string;
  /** Largest blob accepted; defaults to the codec's cap (64 MiB). */
  maxBytes?: number;
  /** Limit for a whole HTTP read, headers and body; defaults to 30 s. */
  timeoutMs?: number;
  ipfsGateway?: string;
  /** Reads `ipfs://` URIs (an IPFS node, offchain/storage/ipfs.ts); without one they go through `ipfsGateway`. */
  ipfs?: IpfsBlobReader;
  /** Resolves bare blob ids. */
  store?: BlobStore;
  /** Cancels an HTTP read (shutdown); the error is then a retryable `BlobUnavailableError`. */
  signal?: AbortSignal;
  /**
   * Read http(s) URIs whose host is, or resolves to, a non-public address (loopback, private, link-local...).
   * Default true: the caller chose the URI. A daemon reading a URI a stranger chose (a job's input, a revealed
   * output) turns it off unless it runs on a devnet: such a read is then refused with a `PrivateHostRefusedError`
   * before any request is sent, at every redirect too. An `ipfs://` URI read through `ipfsGateway` is not screened
   * while it stays on the gateway (its host, or a `<cid>.ipfs.`/`.ipns.` subdomain of it, on its port): a redirect
   * elsewhere (a poster's `_redirects` file, a gateway gone bad) is screened like any other hop.
   */
  allowPrivateHosts?: boolean;
  /**
   * The gateway an http(s) `uri` was resolved to from an `ipfs://` URI elsewhere (a hashing thread's read of
   * `resolveBlobUri`'s URL): its hops are not screened, as above. Set by `readBlob` itself for an `ipfs://` `uri`.
   */
  viaGateway?: string;
};

/**
 * The bytes behind `uri`, not checked against any hash: the caller binds them to the chain. Every
 * other rule of `fetchBlob` applies (the size cap, the time limit, the error classes).
 */
export async function readBlob({
  uri,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
  timeoutMs = DEFAULT_FETCH_TIMEOUT_MS,
  ipfsGateway,
  ipfs,
  store,
  signal,
  allowPrivateHosts = true,
  viaGateway,
}: ReadBlobParameters): Promise<Uint8Array> {
  validateMaxBytes(maxBytes);
  validateTimeout(timeoutMs);
  const source = resolveBlobUri({ uri, ipfsGateway, ipfsNode: ipfs !== undefined });
  const gateway = source.kind === "http" && source.viaIpfsGateway === true ? ipfsGateway : viaGateway;
  const screen = allowPrivateHosts ? undefined : { gateway: gateway === undefined ? undefined : new URL(gateway) };
  return readSource({ source, label: describeSource(source), maxBytes, timeoutMs, store, ipfs, signal, uri, screen });
}

export type FetchBlobParameters = ReadBlobParameters & {
  /** The blob id (SHA-256) the bytes must have, e.g. a job's inputHash. */
  expectedHash: Hex;
  /**
   * Return the bytes without hashing them: the caller checks them against `expectedHash` before it
   * uses them (the provider worker has its inference thread do it, off the main thread). The size
   * cap, the time limit and every other check still apply.
   */
  deferVerification?: boolean;
};

export type FetchBlobReturnType = Uint8Array;

/** The verified bytes behind `uri` (unverified with `deferVerification`). */
export async function fetchBlob({
  uri,
  expectedHash,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
  timeoutMs = DEFAULT_FETCH_TIMEOUT_MS,
  ipfsGateway,
  ipfs,
  store,
  signal,
  deferVerification = false,
  allowPrivateHosts = true,
  viaGateway,
}: FetchBlobParameters): Promise<FetchBlobReturnType> {
  const expected = parseBlobId(expectedHash, "expectedHash");
  const bytes = await readBlob({ uri, maxBytes, timeoutMs, ipfsGateway, ipfs, store, signal, allowPrivateHosts, viaGateway });
  return deferVerification ? bytes : verifyBlob({ bytes, expected, source: describeSource(resolveBlobUri({ uri, ipfsGateway, ipfsNode: ipfs !== undefined })) });
}

type ReadSourceParameters = {
  source: BlobSource;
  label: string;
  maxBytes: number;
  timeoutMs: number;
  store: BlobStore | undefined;
  ipfs: IpfsBlobReader | undefined;
  signal: AbortSignal | undefined;
  uri: string;
  /** Refuse non-public hosts (`allowPrivateHosts` off), except on `gateway`'s (the operator's IPFS gateway). */
  screen: Screen | undefined;
};

type Screen = { gateway: URL | undefined };

function readSource({ source, label, maxBytes, timeoutMs, store, ipfs, signal, uri, screen }: ReadSourceParameters): Promise<Uint8Array> {
  switch (source.kind) {
    case "http":
      return readHttp({ url: source.url, label, maxBytes, timeoutMs, signal, screen });
    case "file":
      return readFileSource({ path: source.path, label, maxBytes });
    case "store":
      if (store === undefined) throw new InvalidBlobUriError({ uri, problem: "a bare blob id needs a local store, none given" });
      return readStore({ store, id: source.id, maxBytes });
    case "ipfs":
      return ipfs!.cat({ cid: source.cid, path: source.path, maxBytes, timeoutMs, signal });
  }
}

/** Redirects an HTTP read follows before it gives up (a loop, or a chain of hops). */
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * An HTTP(S) read with Node's own client (node:http), not `fetch`: reading a 4.9 MB det input took 2.5x less
 * CPU (the worker reads one per job on its main thread). Keep-alive connections are reused (Node's global
 * agents; a screened read's own, SCREENED_AGENTS), redirects are followed up to MAX_REDIRECTS, to http(s) only.
 * `screen`: each hop's host is checked (`screenedRequest`) before its request is sent, but for a hop on the gateway.
 */
async function readHttp({
  url,
  label,
  maxBytes,
  timeoutMs,
  signal,
  screen,
}: {
  url: string;
  label: string;
  maxBytes: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  screen: Screen | undefined;
}): Promise<Uint8Array> {
  const limit = deadline(timeoutMs, signal);
  const combined = limit.signal;
  try {
    let target = new URL(url);
    for (let redirects = 0; ; redirects++) {
      const screened = screen !== undefined && !(screen.gateway !== undefined && onGateway(target, screen.gateway));
      const response = await openHttp(target, combined, screened ? screenedRequest(target, label) : {});
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        response.destroy();
        if (redirects === MAX_REDIRECTS) throw new BlobUnavailableError({ source: label, problem: `more than ${MAX_REDIRECTS} redirects` });
        const next = URL.parse(location, target.href);
        if (next === null) throw new BlobRejectedError({ source: label, problem: `redirected to ${JSON.stringify(location.slice(0, 200))}, not a URL` });
        target = next;
        if (target.protocol !== "http:" && target.protocol !== "https:") {
          throw new BlobRejectedError({ source: label, problem: `redirected to a ${target.protocol} URL` });
        }
        continue;
      }
      const announced = response.headers["content-length"];
      try {
        checkStatus(status, label);
        checkContentLength(announced ?? null, maxBytes, label);
      } catch (error) {
        response.destroy();
        throw error;
      }
      return await readCapped({ source: response, maxBytes, label, expectedBytes: announced === undefined ? undefined : Number(announced) });
    }
  } catch (error) {
    if (error instanceof DinferError) throw error;
    if (limit.expired) {
      throw new BlobUnavailableError({ source: label, problem: `timed out after ${timeoutMs} ms`, details: { timeoutMs }, cause: error });
    }
    if (signal?.aborted) throw new BlobUnavailableError({ source: label, problem: "aborted", cause: error });
    throw new BlobUnavailableError({ source: label, problem: networkProblem(error), cause: error });
  } finally {
    limit.clear();
  }
}

/** Whether `url` is on the IPFS gateway `gateway`: its host or a `<cid>.ipfs.`/`<name>.ipns.` subdomain of it, same scheme and port. */
function onGateway(url: URL, gateway: URL): boolean {
  if (url.protocol !== gateway.protocol || url.port !== gateway.port) return false;
  const host = gateway.hostname;
  return url.hostname === host || url.hostname.endsWith(`.ipfs.${host}`) || url.hostname.endsWith(`.ipns.${host}`);
}

/**
 * Keep-alive agents of screened reads, with the global agents' settings. A screened read never goes through the
 * global agents: a socket they keep open from an unscreened read (the IPFS gateway on localhost, an SDK call in the
 * same process) would carry it to a private host with no lookup, hence no check.
 */
const SCREENED_AGENTS = {
  "http:": new HttpAgent({ keepAlive: true, scheduling: "lifo", timeout: 5_000 }),
  "https:": new HttpsAgent({ keepAlive: true, scheduling: "lifo", timeout: 5_000 }),
};

/**
 * A request to `url` that reaches only public addresses: an IP literal is judged here (node:net looks no literal
 * up), a hostname when its socket connects, by the lookup that resolves it (`publicOnlyLookup`), so a DNS answer
 * that changes between a check and the connect (rebinding) is no way round. Throws `PrivateHostRefusedError`.
 */
function screenedRequest(url: URL, source: string): RequestOptions {
  const literal = ipLiteral(url);
  const kind = literal === undefined ? undefined : privateAddressKind(literal);
  if (literal !== undefined && kind !== undefined) throw new PrivateHostRefusedError({ source, host: literal, address: literal, kind });
  return {
    agent: SCREENED_AGENTS[url.protocol === "https:" ? "https:" : "http:"],
    lookup: publicOnlyLookup((refused) => new PrivateHostRefusedError({ source, ...refused })),
  };
}

/** The response's head (its body still to read), or the request's error; `signal` aborts either. */
function openHttp(url: URL, signal: AbortSignal, options: RequestOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { ...options, signal, headers: { accept: "application/octet-stream" } }, resolve);
    request.on("error", reject);
    request.end();
  });
}

/** Throws for any status but 2xx: 404/410 not found; 408, 425, 429, 5xx retryable; other 4xx final. */
function checkStatus(status: number, label: string): void {
  if (status >= 200 && status < 300) return;
  if (status === 404 || status === 410) throw new BlobNotFoundError({ source: label, details: { status } });
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    throw new BlobUnavailableError({ source: label, problem: `HTTP ${status}`, details: { status } });
  }
  throw new BlobRejectedError({ source: label, problem: `HTTP ${status}`, details: { status } });
}

function checkContentLength(header: string | null, maxBytes: number, label: string): void {
  if (header === null || !/^\d+$/.test(header)) return;
  const size = Number(header);
  if (size > maxBytes) throw new BlobTooLargeError({ source: label, maxBytes, size });
}

async function readFileSource({ path, label, maxBytes }: { path: string; label: string; maxBytes: number }): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, "r");
    const stats = await handle.stat();
    if (!stats.isFile()) throw new BlobRejectedError({ source: label, problem: "not a regular file" });
    if (stats.size > maxBytes) throw new BlobTooLargeError({ source: label, maxBytes, size: stats.size });
    // Read through the capped reader anyway: the file may grow after the stat.
    return await readCapped({ source: handle.createReadStream({ autoClose: false }), maxBytes, label });
  } catch (error) {
    throw fileError(error, label);
  } finally {
    await handle?.close();
  }
}

async function readStore({ store, id, maxBytes }: { store: BlobStore; id: Hex; maxBytes: number }): Promise<Uint8Array> {
  const bytes = await store.get(id);
  if (bytes.byteLength > maxBytes) throw new BlobTooLargeError({ source: id, maxBytes, size: bytes.byteLength });
  return bytes;
}

function fileError(error: unknown, label: string): unknown {
  if (error instanceof DinferError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return new BlobNotFoundError({ source: label, cause: error });
  if (code === "EISDIR" || code === "EACCES" || code === "EPERM") {
    return new BlobRejectedError({ source: label, problem: code, cause: error });
  }
  return new BlobUnavailableError({ source: label, problem: code ?? "read failed", cause: error });
}

function parseHttpUrl(uri: string): string {
  try {
    return new URL(uri).href;
  } catch (cause) {
    throw new InvalidBlobUriError({ uri, problem: "malformed URL", cause });
  }
}

function parseFileUri(uri: string): string {
  try {
    return fileURLToPath(uri);
  } catch (cause) {
    throw new InvalidBlobUriError({ uri, problem: "not a local absolute file URL", cause });
  }
}

/** `<gateway>/ipfs/<cid>[/path]`, with the path's segments re-encoded and `.`/`..` refused. */
export function ipfsGatewayUrl({ uri, ipfsGateway }: Omit<ResolveBlobUriParameters, "ipfsNode">): string {
  const { cid, path } = parseIpfsUri(uri);
  if (ipfsGateway === undefined) {
    throw new InvalidBlobUriError({
      uri,
      problem: "no IPFS gateway configured and no IPFS node: run one (the daemons' `ipfs` option, `--ipfs`) or set `ipfsGateway`",
    });
  }
  return [gatewayBase(ipfsGateway, uri), "ipfs", cid, ...path.map(encodeURIComponent)].join("/");
}

function gatewayBase(gateway: string, uri: string): string {
  let url: URL;
  try {
    url = new URL(gateway);
  } catch (cause) {
    throw new InvalidBlobUriError({ uri, problem: `IPFS gateway "${gateway}" is not a URL`, cause });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidBlobUriError({ uri, problem: `IPFS gateway "${gateway}" is not http(s)` });
  }
  if (url.search !== "" || url.hash !== "") {
    throw new InvalidBlobUriError({ uri, problem: `IPFS gateway "${gateway}" must not have a query or fragment` });
  }
  return url.href.replace(/\/+$/, "");
}

/** The source for messages and logs: an HTTP URL without its query (it may carry a token). */
function describeSource(source: BlobSource): string {
  switch (source.kind) {
    case "http": {
      const url = new URL(source.url);
      return `${url.origin}${url.pathname}`;
    }
    case "file":
      return source.path;
    case "store":
      return `store:${source.id}`;
    case "ipfs":
      return source.uri;
  }
}

function networkProblem(error: unknown): string {
  const { code, cause } = (error ?? {}) as { code?: string; cause?: { code?: string; message?: string } };
  return cause?.code ?? cause?.message ?? code ?? (error instanceof Error ? error.message : String(error));
}

function validateTimeout(timeoutMs: number): void {
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new NonRetryableError(`timeoutMs: expected a positive integer, got ${timeoutMs}`, {
      code: "INVALID_OPTION",
      details: { field: "timeoutMs", value: String(timeoutMs) },
    });
  }
}
