/**
 * viem's HTTP transport with Node's own client (node:http, node:https) in place of `fetch`.
 *
 * A worker sends a dozen JSON-RPC requests per job; over `fetch` each cost its main thread about 0.3 ms of
 * CPU, over node:http on a kept-alive connection 0.10-0.14 ms: 2.1-2.9x less (`npm run bench:rpc`,
 * bench/results/rpc.json; on a busy machine both cost more, fetch 0.6-1 ms). Everything else
 * is viem's http transport as it was: one request per call (no batching), no retries of its own, the same
 * errors for the same failures, so that `classifyChainError` reads them as before:
 *   - no answer in time: `TimeoutError`;
 *   - the connection failed (refused, reset, DNS): `HttpRequestError` without a status;
 *   - a status other than 2xx: `RpcRequestError` when the body is a JSON-RPC error, else
 *     `HttpRequestError` with the status;
 *   - a JSON-RPC error in a 2xx answer: `RpcRequestError`;
 *   - an answer over `maxResponseBytes`: `ResponseBodyTooLargeError`.
 * Credentials in the URL (`https://user:pass@host/`) are sent as Basic authorization, as viem does. A 307
 * or 308 redirect is followed (up to 3), as `fetch` follows it, with the credentials for the same origin only.
 *
 * Connections are kept alive (Node's global agents). A server may close an idle one just as a request
 * goes out on it; such a request (a reused socket reset before any answer) is sent once more on a fresh
 * connection: Node's documented remedy, and harmless for JSON-RPC (a raw transaction sent twice is "already
 * known", which the sender counts as sent).
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

import {
  createTransport,
  HttpRequestError,
  ResponseBodyTooLargeError,
  RpcRequestError,
  stringify,
  TimeoutError,
  type Transport,
} from "viem";

import { deadline } from "../deadline.js";
import { NonRetryableError } from "../errors.js";

/** viem's own cap on an HTTP answer. */
const DEFAULT_MAX_RESPONSE_BYTES = 10_485_760;

export type NodeHttpTransportParameters = {
  /** Per-request limit, milliseconds; 0: none. */
  timeoutMs?: number;
  /** Called with the method of every JSON-RPC request sent (metrics: requests per method). */
  onRequest?: (method: string) => void;
  maxResponseBytes?: number;
};

type RpcBody = { jsonrpc: "2.0"; id: number; method: string; params?: unknown };
type RpcAnswer = { result?: unknown; error?: { code: number; message: string; data?: unknown } };

/**
 * A viem transport for an http(s) JSON-RPC endpoint (an https URL goes over node:https, an http one over
 * node:http); see the module comment. Any other URL is refused (NonRetryableError, code CONFIG).
 */
export function nodeHttpTransport(rpcUrl: string, { timeoutMs = 10_000, onRequest, maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES }: NodeHttpTransportParameters = {}): Transport {
  const parsed = URL.parse(rpcUrl);
  if (parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new NonRetryableError(`the RPC URL ${JSON.stringify(rpcUrl)} is not an http(s) URL: pass the node's JSON-RPC endpoint, e.g. http://127.0.0.1:8545`, {
      code: "CONFIG",
      details: { rpcUrl },
    });
  }
  const { url, authorization } = splitCredentials(rpcUrl);
  let nextId = 0;
  return ({ chain }) =>
    createTransport(
      {
        key: "http",
        name: "HTTP JSON-RPC (node:http)",
        type: "http",
        retryCount: 0,
        timeout: timeoutMs,
        async request({ method, params }, options) {
          onRequest?.(method);
          const body: RpcBody = { jsonrpc: "2.0", id: ++nextId, method, params };
          const answer = await post({ url, authorization, body, timeoutMs, maxResponseBytes, signal: options?.signal });
          if (answer.error != null) throw new RpcRequestError({ body, error: answer.error, url: rpcUrl });
          return answer.result as never;
        },
      },
      { url: rpcUrl, chain },
    );
}

type PostParameters = {
  url: URL;
  authorization: string | undefined;
  body: RpcBody;
  timeoutMs: number;
  maxResponseBytes: number;
  signal: AbortSignal | undefined;
};

async function post(parameters: PostParameters): Promise<RpcAnswer> {
  const { url, body, timeoutMs, signal } = parameters;
  const label = url.href;
  const payload = stringify(body);
  const limit = timeoutMs > 0 ? deadline(timeoutMs, signal) : undefined;
  const abort = limit?.signal ?? signal;
  try {
    let target: Target = { url, authorization: parameters.authorization };
    for (let hop = 0; ; hop++) {
      let response: Exchanged;
      try {
        response = await exchange({ ...parameters, ...target, payload, abort });
      } catch (error) {
        if (!(error instanceof StaleSocketError)) throw error;
        // On a connection of its own: the agent's next pooled one may be just as dead (a restarted node).
        response = await exchange({ ...parameters, ...target, payload, abort, fresh: true });
      }
      // 307 and 308 resend the same POST elsewhere, as `fetch` follows them (301-303 would turn it into a GET).
      const location = response.status === 307 || response.status === 308 ? response.location : undefined;
      if (location === undefined) return answerOf({ ...response, body, url: label });
      if (hop === MAX_REDIRECTS) {
        throw new HttpRequestError({ body, details: `more than ${MAX_REDIRECTS} redirects: give the node's own URL`, status: response.status, url: label });
      }
      target = redirected({ from: target, location, body, status: response.status, label });
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (limit?.expired) throw new TimeoutError({ body, url: label });
    if (error instanceof RpcRequestError || error instanceof HttpRequestError || error instanceof ResponseBodyTooLargeError) throw error;
    throw new HttpRequestError({ body, cause: error instanceof StaleSocketError ? error.cause : (error as Error), url: label });
  } finally {
    limit?.clear();
  }
}

/** Redirects followed per request (307 and 308 only). */
const MAX_REDIRECTS = 3;

/** Where a request goes: its URL and its credentials. */
type Target = { url: URL; authorization: string | undefined };

type Exchanged = { status: number; text: string; location: string | undefined };

/**
 * The target a redirect names: http(s) only; credentials kept for the same origin only (as `fetch` drops
 * them on a cross-origin redirect), unless the new URL carries its own.
 */
function redirected({ from, location, body, status, label }: { from: Target; location: string; body: RpcBody; status: number; label: string }): Target {
  const next = URL.parse(location, from.url.href);
  if (next === null || (next.protocol !== "http:" && next.protocol !== "https:")) {
    throw new HttpRequestError({ body, details: `redirected to ${JSON.stringify(location)}, not an http(s) URL`, status, url: label });
  }
  const own = splitCredentials(next.href);
  const authorization = own.authorization ?? (own.url.origin === from.url.origin ? from.authorization : undefined);
  return { url: own.url, authorization };
}

/** A kept-alive connection that was reset before it answered: the request may be sent again. */
class StaleSocketError extends Error {
  constructor(override readonly cause: Error) {
    super("a reused connection was reset");
  }
}

/** One request and its whole answer as text; rejects with StaleSocketError when a reused socket reset. */
function exchange({
  url,
  authorization,
  payload,
  maxResponseBytes,
  abort,
  fresh = false,
}: PostParameters & { payload: string; abort: AbortSignal | undefined; fresh?: boolean }): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(payload) };
    if (authorization !== undefined) headers.authorization = authorization;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(url, { method: "POST", headers, signal: abort, ...(fresh ? { agent: false } : {}) }, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) {
          response.destroy();
          reject(new ResponseBodyTooLargeError({ maxSize: maxResponseBytes, size }));
          return;
        }
        chunks.push(chunk);
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks, size).toString("utf8"), location: response.headers.location }));
      response.on("error", reject);
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      const reset = error.code === "ECONNRESET" || error.code === "EPIPE";
      reject(reset && request.reusedSocket && abort?.aborted !== true ? new StaleSocketError(error) : error);
    });
    request.end(payload);
  });
}

/** The JSON-RPC answer of a response, or the error viem's http transport throws for it. */
function answerOf({ status, text, body, url }: { status: number; text: string; body: RpcBody; url: string }): RpcAnswer {
  const ok = status >= 200 && status < 300;
  // A 2xx answer that is not JSON-RPC (empty, an HTML page from a proxy) is a transport failure without a
  // status, as viem's http transport throws it: retried, never read as a result.
  if (ok && text.trim() === "") throw new HttpRequestError({ body, details: "the answer is empty", url });
  let data: unknown;
  try {
    data = JSON.parse(text || "{}");
  } catch (error) {
    if (ok) throw new HttpRequestError({ body, cause: error as Error, details: `the answer is not JSON: ${text.slice(0, 200)}`, url });
    data = { error: text };
  }
  const answer = (Array.isArray(data) && data.length === 1 ? data[0] : data) as RpcAnswer;
  if (!ok) {
    if (isRpcError(answer.error)) throw new RpcRequestError({ body, error: answer.error, status, url });
    throw new HttpRequestError({ body, details: stringify(answer?.error) || `HTTP ${status}`, status, url });
  }
  if (answer === null || typeof answer !== "object") throw new HttpRequestError({ body, details: `not a JSON-RPC answer: ${text.slice(0, 200)}`, url });
  // `"error": null` beside a result is no error (JSON-RPC 1.0 style), as viem reads it.
  if (answer.error != null && !isRpcError(answer.error)) {
    throw new HttpRequestError({ body, details: `malformed JSON-RPC error: ${stringify(answer.error).slice(0, 200)}`, status, url });
  }
  return answer;
}

function isRpcError(error: unknown): error is { code: number; message: string; data?: unknown } {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  return typeof e?.code === "number" && typeof e.message === "string";
}

/** The URL without user:password, and those as a Basic authorization header. */
function splitCredentials(rpcUrl: string): { url: URL; authorization: string | undefined } {
  const url = new URL(rpcUrl);
  if (url.username === "" && url.password === "") return { url, authorization: undefined };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = "";
  url.password = "";
  return { url, authorization: `Basic ${Buffer.from(credentials).toString("base64")}` };
}
