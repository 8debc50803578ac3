/**
 * The JSON-RPC transport over node:http (offchain/chain/rpc-transport.ts) against a real HTTP server on a
 * socket: answers, the node's errors and transport failures come out as the errors viem's own http
 * transport gives (classifyChainError reads them), and a kept-alive connection the server dropped is
 * retried once on a fresh one.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

import { after, afterEach, describe, it } from "mocha";
import { createPublicClient, HttpRequestError, ResponseBodyTooLargeError, RpcRequestError, TimeoutError, type BaseError } from "viem";

import { classifyChainError, ChainTransportError } from "../../offchain/chain/errors.js";
import { nodeHttpTransport } from "../../offchain/chain/rpc-transport.js";
import { NonRetryableError, RetryableError } from "../../offchain/errors.js";

type Handler = (body: { id: number; method: string; params?: unknown }, req: IncomingMessage, res: ServerResponse, nth: { request: number; onSocket: number }) => void;

const servers: Server[] = [];

/** A server on 127.0.0.1 that hands each JSON-RPC request to `handler`; counts requests and connections. */
async function serve(handler: Handler): Promise<{ url: string; stats: { requests: number; connections: number } }> {
  const stats = { requests: 0, connections: 0 };
  const perSocket = new WeakMap<Socket, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      stats.requests++;
      const onSocket = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, onSocket);
      handler(JSON.parse(Buffer.concat(chunks).toString("utf8")), req, res, { request: stats.requests, onSocket });
    });
  });
  server.on("connection", () => stats.connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function clientFor(url: string, options: Parameters<typeof nodeHttpTransport>[1] = {}) {
  return createPublicClient({ transport: nodeHttpTransport(url, options), cacheTime: 0 });
}

function chainOf(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = error; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

describe("chain: JSON-RPC over node:http", () => {
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });
  after(() => {
    for (const server of servers.splice(0)) server.close();
  });

  it("sends JSON-RPC 2.0 with ids and credentials from the URL, returns the result, counts each method", async () => {
    const seen: { method: string; id: number; authorization: string | undefined }[] = [];
    const { url, stats } = await serve((body, req, res) => {
      seen.push({ method: body.method, id: body.id, authorization: req.headers.authorization });
      reply(res, 200, { jsonrpc: "2.0", id: body.id, result: "0x2a" });
    });
    const methods: string[] = [];
    const client = clientFor(url.replace("http://", "http://alice:s%3Acret@"), { onRequest: (m) => methods.push(m) });
    assert.equal(await client.getBlockNumber(), 42n);
    assert.equal(await client.getChainId(), 42);
    assert.deepEqual(methods, ["eth_blockNumber", "eth_chainId"]);
    assert.deepEqual(
      seen.map((s) => s.method),
      ["eth_blockNumber", "eth_chainId"],
    );
    assert.notEqual(seen[0]!.id, seen[1]!.id);
    assert.equal(seen[0]!.authorization, `Basic ${Buffer.from("alice:s:cret").toString("base64")}`);
    assert.equal(stats.connections, 1, "the second request reuses the kept-alive connection");
  });

  it("gives the node's JSON-RPC error (with its revert data) as an RpcRequestError, which is not retried", async () => {
    const { url } = await serve((body, _req, res) => reply(res, 200, { jsonrpc: "2.0", id: body.id, error: { code: 3, message: "execution reverted", data: "0x08c379a0" } }));
    const error = await clientFor(url).request({ method: "eth_call", params: [{}, "latest"] } as never).catch((e: unknown) => e);
    const rpc = chainOf(error).find((e) => e instanceof RpcRequestError) as RpcRequestError | undefined;
    assert.ok(rpc, `expected an RpcRequestError in ${String(error)}`);
    assert.equal(rpc.code, 3);
    assert.deepEqual((rpc.cause as { data?: unknown }).data, "0x08c379a0");
    assert.ok(!(classifyChainError({ error }) instanceof ChainTransportError));
  });

  it("gives HTTP 503 with a text body as an HttpRequestError with its status, retryable", async () => {
    const { url } = await serve((_body, _req, res) => reply(res, 503, "upstream busy"));
    const error = await clientFor(url).getBlockNumber().catch((e: unknown) => e);
    const http = chainOf(error).find((e) => e instanceof HttpRequestError) as HttpRequestError | undefined;
    assert.ok(http, `expected an HttpRequestError in ${String(error)}`);
    assert.equal(http.status, 503);
    assert.ok(classifyChainError({ error }) instanceof RetryableError);
  });

  it("gives a JSON-RPC error under HTTP 429 as an RpcRequestError with the status, retryable", async () => {
    const { url } = await serve((body, _req, res) => reply(res, 429, { jsonrpc: "2.0", id: body.id, error: { code: -32005, message: "rate limited" } }));
    const error = await clientFor(url).getBlockNumber().catch((e: unknown) => e);
    const rpc = chainOf(error).find((e) => e instanceof RpcRequestError) as RpcRequestError | undefined;
    assert.ok(rpc);
    assert.equal(rpc.status, 429);
    assert.ok(classifyChainError({ error }) instanceof RetryableError);
  });

  it("gives a 2xx answer that is not JSON-RPC (empty, a proxy's HTML page) as a retryable HttpRequestError without a status, never as a result", async () => {
    for (const text of ["", "<html>gateway starting</html>"]) {
      const { url } = await serve((_body, _req, res) => reply(res, 200, text));
      const error = await clientFor(url).getBlockNumber().catch((e: unknown) => e);
      const http = chainOf(error).find((e) => e instanceof HttpRequestError) as HttpRequestError | undefined;
      assert.ok(http, `expected an HttpRequestError for ${JSON.stringify(text)} in ${String(error)}`);
      assert.equal(http.status, undefined, "as viem gives it: a transport failure, retried");
      assert.ok(classifyChainError({ error }) instanceof RetryableError, `${JSON.stringify(text)} is retried`);
    }
  });

  it("reads `\"error\": null` beside a result as no error", async () => {
    const { url } = await serve((body, _req, res) => reply(res, 200, { jsonrpc: "2.0", id: body.id, result: "0x7", error: null }));
    assert.equal(await clientFor(url).getBlockNumber(), 7n);
  });

  it("follows a 307 or 308 redirect with the same POST, keeping credentials on the same origin only", async () => {
    const seen: { at: string; method: string; authorization: string | undefined }[] = [];
    const node = await serve((body, req, res) => {
      seen.push({ at: `node${req.url}`, method: body.method, authorization: req.headers.authorization });
      if (req.url === "/old") {
        res.writeHead(308, { location: "/rpc", "content-length": 0 }).end();
        return;
      }
      reply(res, 200, { jsonrpc: "2.0", id: body.id, result: "0x5" });
    });
    const proxy = await serve((body, req, res) => {
      seen.push({ at: `proxy${req.url}`, method: body.method, authorization: req.headers.authorization });
      res.writeHead(307, { location: `${node.url}/old`, "content-length": 0 }).end();
    });
    const auth = `Basic ${Buffer.from("alice:pw").toString("base64")}`;
    assert.equal(await clientFor(`${node.url.replace("http://", "http://alice:pw@")}/old`).getBlockNumber(), 5n);
    assert.deepEqual(seen.splice(0), [
      { at: "node/old", method: "eth_blockNumber", authorization: auth },
      { at: "node/rpc", method: "eth_blockNumber", authorization: auth },
    ]);
    assert.equal(await clientFor(proxy.url.replace("http://", "http://alice:pw@")).getBlockNumber(), 5n);
    assert.deepEqual(
      seen.splice(0).map((s) => [s.at, s.authorization]),
      [
        ["proxy/", auth],
        ["node/old", undefined],
        ["node/rpc", undefined],
      ],
      "another origin does not get the credentials",
    );
  });

  it("refuses a redirect loop after 3 hops and a redirect to another scheme, naming the problem", async () => {
    const loop = await serve((_body, _req, res) => void res.writeHead(307, { location: "/again", "content-length": 0 }).end());
    const error = await clientFor(loop.url).getBlockNumber().catch((e: unknown) => e);
    const http = chainOf(error).find((e) => e instanceof HttpRequestError) as HttpRequestError | undefined;
    assert.ok(http, String(error));
    assert.equal(http.status, 307);
    assert.match(String(http.details), /more than 3 redirects/);
    assert.equal(loop.stats.requests, 4);
    const ftp = await serve((_body, _req, res) => void res.writeHead(308, { location: "ftp://example.org/", "content-length": 0 }).end());
    const refused = await clientFor(ftp.url).getBlockNumber().catch((e: unknown) => e);
    assert.match(String((chainOf(refused).find((e) => e instanceof HttpRequestError) as HttpRequestError | undefined)?.details), /redirected to "ftp:\/\/example\.org\/", not an http\(s\) URL/);
  });

  it("refuses an RPC URL that is not http(s), naming the remedy", () => {
    for (const rpcUrl of ["ws://127.0.0.1:8545", "127.0.0.1:8545", "not a url"]) {
      assert.throws(
        () => nodeHttpTransport(rpcUrl),
        (error: unknown) => error instanceof NonRetryableError && error.code === "CONFIG" && /is not an http\(s\) URL: pass the node's JSON-RPC endpoint/.test(error.message),
        rpcUrl,
      );
    }
  });

  it("times out a request the node does not answer, with a retryable TimeoutError", async () => {
    const { url } = await serve(() => {});
    const started = Date.now();
    const error = await clientFor(url, { timeoutMs: 200 }).getBlockNumber().catch((e: unknown) => e);
    assert.ok(chainOf(error).some((e) => e instanceof TimeoutError), `expected a TimeoutError in ${String(error)}`);
    assert.ok(Date.now() - started < 5_000);
    assert.ok(classifyChainError({ error }) instanceof RetryableError);
  });

  it("clears each request's time limit as its answer comes (no timer left to fire and build a TimeoutError later, as AbortSignal.timeout's did per request)", async () => {
    const { url } = await serve((body, _req, res) => reply(res, 200, { jsonrpc: "2.0", id: body.id, result: "0x1" }));
    const client = clientFor(url, { timeoutMs: 60_000 });
    const [set, clear] = [globalThis.setTimeout, globalThis.clearTimeout];
    const limits = new Set<unknown>();
    let cleared = 0;
    globalThis.setTimeout = ((handler: () => void, ms?: number) => {
      const timer = set(handler, ms);
      if (ms === 60_000) limits.add(timer);
      return timer;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((timer: NodeJS.Timeout) => {
      if (limits.has(timer)) cleared++;
      clear(timer);
    }) as typeof clearTimeout;
    try {
      for (let i = 0; i < 3; i++) assert.equal(await client.getBlockNumber(), 1n);
    } finally {
      [globalThis.setTimeout, globalThis.clearTimeout] = [set, clear];
    }
    assert.equal(limits.size, 3, "one limit per request");
    assert.equal(cleared, 3, "each cleared as its answer came");
  });

  it("refuses an answer over the size cap", async () => {
    const { url } = await serve((body, _req, res) => reply(res, 200, { jsonrpc: "2.0", id: body.id, result: `0x${"00".repeat(4096)}` }));
    const error = await clientFor(url, { maxResponseBytes: 1024 }).request({ method: "eth_getCode", params: ["0x0000000000000000000000000000000000000001", "latest"] } as never).catch((e: unknown) => e);
    assert.ok(chainOf(error).some((e) => e instanceof ResponseBodyTooLargeError), `expected ResponseBodyTooLargeError in ${String(error)}`);
  });

  it("gives a refused connection as an HttpRequestError without a status, retryable", async () => {
    const { url } = await serve(() => {});
    servers.pop()!.close();
    await new Promise((r) => setTimeout(r, 50));
    const error = await clientFor(url).getBlockNumber().catch((e: unknown) => e);
    const http = chainOf(error).find((e) => e instanceof HttpRequestError) as HttpRequestError | undefined;
    assert.ok(http, `expected an HttpRequestError in ${String(error)}`);
    assert.equal(http.status, undefined);
    assert.match((http as BaseError).details + String(http.cause), /ECONNREFUSED/);
    assert.ok(classifyChainError({ error }) instanceof RetryableError);
  });

  it("sends a request once more on a fresh connection when the server drops a kept-alive one under it", async () => {
    const { url, stats } = await serve((body, req, res, nth) => {
      // The second request on a connection: the server drops it unanswered (as a server closing an idle
      // connection just as the request arrived would).
      if (nth.onSocket === 2) return req.socket.destroy();
      reply(res, 200, { jsonrpc: "2.0", id: body.id, result: "0x1" });
    });
    const client = clientFor(url);
    assert.equal(await client.getBlockNumber(), 1n);
    assert.equal(await client.getBlockNumber(), 1n);
    assert.equal(stats.requests, 3, "the dropped request was sent again");
    assert.equal(stats.connections, 2);
  });

  it("does not resend on a fresh connection that fails: the failure is the caller's to retry", async () => {
    const { url, stats } = await serve((_body, req) => req.socket.destroy());
    const error = await clientFor(url).getBlockNumber().catch((e: unknown) => e);
    assert.ok(chainOf(error).some((e) => e instanceof HttpRequestError), `expected an HttpRequestError in ${String(error)}`);
    assert.equal(stats.requests, 1);
    assert.ok(classifyChainError({ error }) instanceof RetryableError);
  });
});
