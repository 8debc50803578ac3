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
 * Uploads are off by default: anyone who can reach the server could otherwise fill its disk.
 * The token is a shared secret between the server's operator and the dApps it accepts inputs
 * from; put the server behind TLS before sending it over an untrusted network.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { Hex } from "viem";

import { DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { DinferError, NonRetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { isBlobId, parseBlobId } from "./blob-id.js";
import { BlobHashMismatchError, BlobNotFoundError, BlobTooLargeError } from "./errors.js";
import { validateMaxBytes } from "./read-capped.js";
import type { BlobStore } from "./store.js";

export const MIN_UPLOAD_TOKEN_LENGTH = 16;

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
}: StartBlobServerParameters): Promise<StartBlobServerReturnType> {
  validateMaxBytes(maxBytes);
  validateUploadToken(uploadToken);
  const context: HandlerContext = { store, outputs, maxBytes, tokenDigest: uploadToken === undefined ? undefined : digest(uploadToken), logger };
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
  return handleRead({ ...context, store }, parseBlobId(match[2]), method === "HEAD", response);
}

async function handleRead({ store, maxBytes, logger }: HandlerContext, id: Hex, headOnly: boolean, response: ServerResponse) {
  // HEAD costs a stat, not a read and a hash: anyone may ask, for any of the ids the chain names.
  if (headOnly && store.size !== undefined) {
    const size = await store.size(id);
    if (size === undefined) return sendError(response, 404, "BLOB_NOT_FOUND", `no blob ${id}`);
    if (size > maxBytes) return sendError(response, 500, "BLOB_TOO_LARGE", "stored blob exceeds the serving cap");
    response.writeHead(200, blobHeaders(id, size));
    return void response.end();
  }
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
  response.writeHead(200, blobHeaders(id, bytes.byteLength));
  response.end(headOnly ? undefined : bytes);
  logger.debug({ msg: "blob served", blob_id: id, bytes: bytes.byteLength, head: headOnly });
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
