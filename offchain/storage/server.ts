/**
 * The blob HTTP server: a worker serves its output blobs and the inputs of its jobs (and, if enabled,
 * accepts uploads) so that dApps, auditors and committee members can fetch them with `fetchBlob` and
 * `readOutput`.
 *
 * | request                | answer                                                         |
 * |------------------------|----------------------------------------------------------------|
 * | `GET /blobs/<id>`      | 200 with the verified bytes (`application/octet-stream`), 404 unknown, 400 malformed id |
 * | `HEAD /blobs/<id>`     | the same status and headers, no body, from the file's size: the blob is neither read nor re-checked (a GET checks it) |
 * | `GET /outputs/<root>`  | with an `outputs` store: an output by its output root (docs/PROTOCOL.md section 5), as `/blobs/<id>` is answered; 404 without one |
 * | `HEAD /outputs/<root>` | the same status and headers, no body                           |
 * | `PUT /blobs`           | only with `uploadToken` set: body = blob bytes, `authorization: Bearer <token>`; 201 `{ id, size }` (idempotent), 401 bad token, 413 over `maxBytes`, 405 when uploads are off |
 * | `POST /jobs`           | a worker's: a signed job request (JSON, offchain/chain/signed-jobs.ts); 202 `{ jobId }` once taken, 400 `{ error, message }` saying why not, 429 when the worker is busy admitting others, 404 when this server takes none |
 * | `GET /jobs`            | a worker's: `{ provider, chainId, market }`, what a dApp signs a request for |
 *
 * Blobs are immutable, so GET answers carry `etag: "<id>"` and an immutable cache-control.
 *
 * A blob is answered from memory, so reads are limited (offchain/storage/read-limits.ts): a client address
 * with `maxReadsPerClient` GET or HEAD reads in flight, or whose reads would hold more than `maxBytesPerClient`
 * bytes of blobs, is answered 429, a read that would take the blobs held for all reads past `maxBytesInFlight` is
 * answered 503, both with a `retry-after`; and an answer not taken
 * whole within `sendTimeoutMs` is cut, its connection closed and its bytes freed.
 *
 * Uploads are off by default: anyone who can reach the server could otherwise fill its disk.
 * The token is a shared secret between the server's operator and the dApps it accepts inputs
 * from; put the server behind TLS before sending it over an untrusted network.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

import type { Hex } from "viem";

import { DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { DinferError, NonRetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { isBlobId, parseBlobId } from "./blob-id.js";
import { BlobHashMismatchError, BlobNotFoundError, BlobTooLargeError } from "./errors.js";
import { validateMaxBytes } from "./read-capped.js";
import {
  clientKey,
  DEFAULT_MAX_BYTES_IN_FLIGHT,
  DEFAULT_MAX_BYTES_PER_CLIENT,
  DEFAULT_MAX_READS_PER_CLIENT,
  DEFAULT_SEND_TIMEOUT_MS,
  ReadLimits,
  type HoldResult,
} from "./read-limits.js";
import type { BlobStore } from "./store.js";

export const MIN_UPLOAD_TOKEN_LENGTH = 16;

/** What a 429 or 503 answer to a read tells the client to wait, seconds. */
const READ_RETRY_AFTER_SECONDS = 5;

export type StartBlobServerParameters = {
  store: BlobStore;
  /** Outputs, named by their output root (a LocalBlobStore with `address: "outputRoot"`), served at `/outputs/<root>`. */
  outputs?: BlobStore;
  /** Interface to bind; loopback unless told otherwise. */
  host?: string;
  /** 0 picks a free port (see the returned `port`). */
  port?: number;
  /** Largest upload accepted (and blob served); defaults to the codec's cap (64 MiB). */
  maxBytes?: number;
  /** Enables `PUT /blobs` for clients that present it; at least 16 characters. Off when absent. */
  uploadToken?: string;
  logger?: Logger;
  /** How long `close()` waits for requests in flight before cutting their connections. */
  closeGraceMs?: number;
  /** Limit for receiving a whole request (headers and body). */
  requestTimeoutMs?: number;
  /** GET and HEAD reads one client address (an IPv6 one: its /64) may have in flight; more are answered 429. */
  maxReadsPerClient?: number;
  /** Bytes of blobs held in memory for all reads in flight; a read past it is answered 503. At least `maxBytes`. */
  maxBytesInFlight?: number;
  /** Bytes of blobs held in memory for one client address's reads in flight; more is answered 429. At least `maxBytes`. */
  maxBytesPerClient?: number;
  /** Limit for sending a whole answer to a read: a client that has not taken it by then is cut off. */
  sendTimeoutMs?: number;
};

/** Takes a signed job request (the parsed JSON body); returns its job id or throws a NonRetryableError saying why not. */
export type SignedJobHandler = (body: unknown) => Promise<bigint>;

/** Largest signed job request body: an inline input of 4,096 bytes in hex and the rest. */
const MAX_SIGNED_JOB_BYTES = 16_384;

export type BlobServer = {
  /** Base URL, e.g. "http://127.0.0.1:41234"; blobs are at `${url}/blobs/<id>`. */
  url: string;
  /**
   * Answers `POST /jobs` with `handler` (a worker's signed job requests), and `GET /jobs` with `about` (the
   * worker's account, chain and market: what a dApp signs a request for).
   */
  takeSignedJobs(handler: SignedJobHandler, about: Record<string, string | number>): void;
  host: string;
  port: number;
  /** Stops accepting connections, lets requests in flight finish (up to `closeGraceMs`); idempotent. */
  close(): Promise<void>;
};

export type StartBlobServerReturnType = BlobServer;

/** Starts the server and resolves once it listens. */
export async function startBlobServer({
  store,
  outputs,
  host = "127.0.0.1",
  port = 0,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
  uploadToken,
  logger = silentLogger(),
  closeGraceMs = 5_000,
  requestTimeoutMs = 60_000,
  maxReadsPerClient = DEFAULT_MAX_READS_PER_CLIENT,
  maxBytesInFlight = DEFAULT_MAX_BYTES_IN_FLIGHT,
  maxBytesPerClient = DEFAULT_MAX_BYTES_PER_CLIENT,
  sendTimeoutMs = DEFAULT_SEND_TIMEOUT_MS,
}: StartBlobServerParameters): Promise<StartBlobServerReturnType> {
  validateMaxBytes(maxBytes);
  validateUploadToken(uploadToken);
  validateReadLimits({ maxBytes, maxReadsPerClient, maxBytesInFlight, maxBytesPerClient, sendTimeoutMs });
  const context: HandlerContext = {
    store,
    outputs,
    maxBytes,
    tokenDigest: uploadToken === undefined ? undefined : digest(uploadToken),
    logger,
    limits: new ReadLimits({ maxReadsPerClient, maxBytesInFlight, maxBytesPerClient }),
    sendTimeoutMs,
  };
  const server = createServer();
  const close = gracefulCloser({ server, closeGraceMs, onClosed: () => logger.info({ msg: "blob server closed", url }) });
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    handleRequest(context, request, response).catch((error: unknown) => {
      logger.error({ msg: "blob request failed", method: request.method, url: request.url, err: error });
      if (!response.headersSent) sendError(response, 500, "INTERNAL", "internal error");
      else response.destroy();
    });
  });
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = Math.min(requestTimeoutMs, 60_000);
  await listen(server, host, port);
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  logger.info({ msg: "blob server listening", url, uploads: uploadToken !== undefined });
  const takeSignedJobs = (handler: SignedJobHandler, about: Record<string, string | number>) => {
    context.signedJobs = handler;
    context.signedJobsAbout = about;
  };
  return { url, host, port: bound, close, takeSignedJobs };
}

type HandlerContext = {
  signedJobs?: SignedJobHandler;
  signedJobsAbout?: Record<string, string | number>;
  store: BlobStore;
  outputs: BlobStore | undefined;
  maxBytes: number;
  tokenDigest: Buffer | undefined;
  logger: Logger;
  limits: ReadLimits;
  sendTimeoutMs: number;
};

async function handleRequest(context: HandlerContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  const method = request.method ?? "GET";
  if (path === "/jobs" || path === "/jobs/") return handleSignedJob(context, request, response);
  if (path === "/blobs" || path === "/blobs/") {
    if (method === "PUT") return handleUpload(context, request, response);
    return sendError(response, 405, "METHOD_NOT_ALLOWED", "use PUT to upload a blob", { allow: "PUT" });
  }
  const match = /^\/(blobs|outputs)\/([^/]*)$/.exec(path);
  const store = match?.[1] === "outputs" ? context.outputs : context.store;
  if (match === null || store === undefined) return sendError(response, 404, "NOT_FOUND", "no such route; blobs are at /blobs/<id>");
  if (method !== "GET" && method !== "HEAD") {
    return sendError(response, 405, "METHOD_NOT_ALLOWED", "use GET or HEAD", { allow: "GET, HEAD" });
  }
  if (!isBlobId(match[2])) {
    return sendError(response, 400, "INVALID_BLOB_ID", match[1] === "outputs" ? "an output root is 0x and 64 hex digits" : "a blob id is 0x and 64 hex digits");
  }
  return handleRead({ ...context, store }, parseBlobId(match[2]), method === "HEAD", request, response);
}

async function handleRead(context: HandlerContext, id: Hex, headOnly: boolean, request: IncomingMessage, response: ServerResponse) {
  const { store, maxBytes, logger, limits } = context;
  const client = clientKey(request.socket.remoteAddress);
  const read = limits.open(client);
  if (read === undefined) {
    logger.debug({ msg: "blob read refused: client at its cap", client, reads: limits.maxReadsPerClient });
    return sendTooMany(response, `this client address already has ${limits.maxReadsPerClient} blob reads in flight, the most one may`);
  }
  // Released once, whether the answer is sent, fails, is cut by the deadline or dropped by the client: the
  // response closes then, or, for an answer queued behind another on a pipelining connection, only the socket.
  let closed = false;
  const socket = request.socket;
  const onClose = () => {
    closed = true;
    clearTimeout(deadline);
    read.release();
    response.off("close", onClose);
    forgetOnSocketClose();
  };
  const deadline = setTimeout(() => {
    logger.debug({ msg: "blob read cut: not taken within the send timeout", client, blob_id: id, timeout_ms: context.sendTimeoutMs });
    socket.destroy();
  }, context.sendTimeoutMs);
  deadline.unref();
  response.once("close", onClose);
  const forgetOnSocketClose = whenSocketCloses(socket, onClose);
  // The size first, from a stat: HEAD needs nothing more (anyone may ask, for any of the ids the chain names),
  // and a GET holds it before reading. A store without `size` is read for both, holding the cap meanwhile.
  const size = store.size === undefined ? maxBytes : await store.size(id);
  if (size === undefined) return sendError(response, 404, "BLOB_NOT_FOUND", `no blob ${id}`);
  if (size > maxBytes) return sendError(response, 500, "BLOB_TOO_LARGE", "stored blob exceeds the serving cap");
  if (headOnly && store.size !== undefined) {
    response.writeHead(200, blobHeaders(id, size));
    return void response.end();
  }
  if (closed) return; // the client left: nothing to read for
  const holding = read.hold(size);
  if (holding !== "held") return sendRefused(context, response, client, holding);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(id);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return sendError(response, 404, "BLOB_NOT_FOUND", `no blob ${id}`);
    if (error instanceof BlobHashMismatchError || error instanceof BlobTooLargeError) {
      logger.error({ msg: "stored blob unreadable", blob_id: id, err: error });
      return sendError(response, 500, (error as DinferError).code, "stored blob is unreadable");
    }
    throw error;
  }
  if (bytes.byteLength > maxBytes) return sendError(response, 500, "BLOB_TOO_LARGE", "stored blob exceeds the serving cap");
  // Down to what was read (a store without `size` held the cap); up only if the file changed since its stat.
  const holdingRead = read.hold(bytes.byteLength);
  if (holdingRead !== "held") return sendRefused(context, response, client, holdingRead);
  response.writeHead(200, blobHeaders(id, bytes.byteLength));
  response.end(headOnly ? undefined : bytes);
  logger.debug({ msg: "blob served", blob_id: id, bytes: bytes.byteLength, head: headOnly });
}

/** What runs when each socket closes: the reads it carries, pipelined or not. */
const socketCloseRuns = new WeakMap<Socket, Set<() => void>>();

/**
 * Runs `run` when `socket` closes, until the returned function forgets it: one listener per socket, however
 * many reads a client pipelines on it (one each would pass Node's listener limit and warn of a leak).
 */
function whenSocketCloses(socket: Socket, run: () => void): () => void {
  let runs = socketCloseRuns.get(socket);
  if (runs === undefined) {
    const waiting = new Set<() => void>();
    socket.once("close", () => {
      for (const waiter of [...waiting]) waiter();
    });
    socketCloseRuns.set(socket, waiting);
    runs = waiting;
  }
  runs.add(run);
  return () => void runs.delete(run);
}

/**
 * The answer to a read whose blob would take the bytes held past a cap: 429 past the client's own
 * (`maxBytesPerClient`), 503 past the server's (`maxBytesInFlight`).
 */
function sendRefused(context: HandlerContext, response: ServerResponse, client: string, cap: Exclude<HoldResult, "held">): void {
  const { limits, logger } = context;
  if (cap === "client-cap") {
    logger.debug({ msg: "blob read refused: client's bytes in flight at its cap", client, max_bytes_per_client: limits.maxBytesPerClient });
    return sendTooMany(response, `this client address's reads in flight already hold up to ${limits.maxBytesPerClient} bytes of blobs, the most one may`);
  }
  logger.debug({ msg: "blob read refused: bytes in flight at the cap", client, max_bytes_in_flight: limits.maxBytesInFlight });
  const problem = `the server is at its cap of ${limits.maxBytesInFlight} bytes of blobs held for reads in flight`;
  sendError(response, 503, "SERVER_BUSY", `${problem}: retry in ${READ_RETRY_AFTER_SECONDS} s`, { "retry-after": String(READ_RETRY_AFTER_SECONDS) });
}

/**
 * The 429 answer to a read past one of the client's own caps (reads or bytes in flight): `problem` says which.
 * The client itself can clear it, by waiting for its reads to finish and opening fewer at once.
 */
function sendTooMany(response: ServerResponse, problem: string): void {
  sendError(response, 429, "TOO_MANY_REQUESTS", `${problem}: retry in ${READ_RETRY_AFTER_SECONDS} s, and read fewer blobs in parallel`, {
    "retry-after": String(READ_RETRY_AFTER_SECONDS),
  });
}

/** A blob's answer headers: it is immutable, named by `id`. */
function blobHeaders(id: Hex, size: number): Record<string, string | number> {
  return {
    "content-type": "application/octet-stream",
    "content-length": size,
    etag: `"${id}"`,
    "cache-control": "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
  };
}

async function handleUpload({ store, maxBytes, tokenDigest, logger }: HandlerContext, request: IncomingMessage, response: ServerResponse) {
  if (tokenDigest === undefined) {
    return sendError(response, 405, "UPLOADS_DISABLED", "uploads are disabled on this server", { allow: "" }, true);
  }
  if (!hasToken(request.headers.authorization, tokenDigest)) {
    return sendError(response, 401, "UNAUTHORIZED", "missing or wrong upload token", { "www-authenticate": "Bearer" }, true);
  }
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > maxBytes) return sendError(response, 413, "BLOB_TOO_LARGE", `uploads are capped at ${maxBytes} bytes`, {}, true);
  const body = await readBody(request, maxBytes);
  if (body === undefined) return sendError(response, 413, "BLOB_TOO_LARGE", `uploads are capped at ${maxBytes} bytes`, {}, true);
  const id = await store.put(body);
  response.writeHead(201, { "content-type": "application/json", location: `/blobs/${id}` });
  response.end(JSON.stringify({ id, size: body.byteLength }));
  logger.info({ msg: "blob uploaded", blob_id: id, bytes: body.byteLength });
}

async function handleSignedJob({ signedJobs, signedJobsAbout, logger }: HandlerContext, request: IncomingMessage, response: ServerResponse) {
  if (signedJobs === undefined) return sendError(response, 404, "NOT_FOUND", "this server takes no signed jobs (a worker's blob server does)");
  if (request.method === "GET") {
    const about = JSON.stringify(signedJobsAbout ?? {});
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(about) });
    return void response.end(about);
  }
  if (request.method !== "POST") return sendError(response, 405, "METHOD_NOT_ALLOWED", "use POST with a signed job request", { allow: "GET, POST" });
  const body = await readBody(request, MAX_SIGNED_JOB_BYTES);
  if (body === undefined) return sendError(response, 413, "REQUEST_TOO_LARGE", `a signed job request is at most ${MAX_SIGNED_JOB_BYTES} bytes`, {}, true);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return sendError(response, 400, "BAD_JSON", "the body is not JSON: send the signed job request as JSON");
  }
  let jobId: bigint;
  try {
    jobId = await signedJobs(parsed);
  } catch (error) {
    if (!(error instanceof DinferError)) throw error;
    logger.info({ msg: "signed job refused", reason: error.message });
    // A busy worker says so (try again later, or another provider); anything else is the request's fault.
    return sendError(response, error instanceof NonRetryableError ? 400 : 429, error.code, error.message, error instanceof NonRetryableError ? {} : { "retry-after": "5" });
  }
  const answer = JSON.stringify({ jobId: jobId.toString() });
  response.writeHead(202, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) });
  response.end(answer);
}

/**
 * The request body, or undefined once it passes `maxBytes`; then reading stops (the socket is
 * closed after the 413 answer), rather than destroying the socket before the answer is sent.
 */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        request.off("data", onData);
        request.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    request.on("data", onData);
    request.once("end", () => resolve(new Uint8Array(Buffer.concat(chunks, total))));
    request.once("error", reject);
  });
}

function sendError(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  closeConnection = false,
): void {
  const body = JSON.stringify({ error: code, message });
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
    ...(closeConnection ? { connection: "close" } : {}),
  });
  response.end(body);
}

function hasToken(header: string | undefined, tokenDigest: Buffer): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? "");
  return match !== null && timingSafeEqual(digest(match[1]!), tokenDigest);
}

/** sha256 of the token: equal-length inputs for the constant-time comparison. */
function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

function validateUploadToken(token: string | undefined): void {
  if (token === undefined) return;
  if (typeof token !== "string" || token.length < MIN_UPLOAD_TOKEN_LENGTH) {
    throw new NonRetryableError(`uploadToken: expected at least ${MIN_UPLOAD_TOKEN_LENGTH} characters`, {
      code: "INVALID_OPTION",
      details: { field: "uploadToken" },
    });
  }
}

type ReadLimitOptions = { maxBytes: number; maxReadsPerClient: number; maxBytesInFlight: number; maxBytesPerClient: number; sendTimeoutMs: number };

function validateReadLimits({ maxBytes, maxReadsPerClient, maxBytesInFlight, maxBytesPerClient, sendTimeoutMs }: ReadLimitOptions): void {
  const invalid = (field: string, message: string) => new NonRetryableError(`${field}: ${message}`, { code: "INVALID_OPTION", details: { field } });
  if (!Number.isSafeInteger(maxReadsPerClient) || maxReadsPerClient < 1) {
    throw invalid("maxReadsPerClient", `expected a positive integer, got ${maxReadsPerClient}`);
  }
  if (!Number.isSafeInteger(sendTimeoutMs) || sendTimeoutMs < 1) {
    throw invalid("sendTimeoutMs", `expected a positive integer (milliseconds), got ${sendTimeoutMs}`);
  }
  // A byte cap below maxBytes would refuse the largest blobs the server takes on every read.
  const checkByteCap = (field: string, cap: number) => {
    if (Number.isSafeInteger(cap) && cap >= maxBytes) return;
    const why = "a blob of maxBytes could never be served; raise it, or lower maxBytes";
    throw invalid(field, `expected an integer of at least maxBytes (${maxBytes}), got ${cap}: ${why}`);
  };
  checkByteCap("maxBytesInFlight", maxBytesInFlight);
  checkByteCap("maxBytesPerClient", maxBytesPerClient);
}

/**
 * Graceful close for `server`: stop accepting, let requests in flight finish on connections that
 * then close (rather than wait out keep-alive timeouts), cut whatever remains after
 * `closeGraceMs`. Install before the request handler, so it sees every request first.
 */
function gracefulCloser({ server, closeGraceMs, onClosed }: { server: Server; closeGraceMs: number; onClosed: () => void }): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const inFlight = new Set<ServerResponse>();
  server.on("request", (_request: IncomingMessage, response: ServerResponse) => {
    inFlight.add(response);
    if (closing !== undefined) response.setHeader("connection", "close");
    response.once("close", () => {
      inFlight.delete(response);
      if (closing !== undefined) setImmediate(() => server.closeIdleConnections());
    });
  });
  return () => {
    closing ??= new Promise<void>((resolve) => {
      for (const response of inFlight) if (!response.headersSent) response.setHeader("connection", "close");
      const timer = setTimeout(() => server.closeAllConnections(), closeGraceMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        onClosed();
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (cause: Error) =>
      reject(new NonRetryableError(`blob server cannot listen on ${host}:${port}`, { code: "LISTEN_FAILED", details: { host, port }, cause }));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
