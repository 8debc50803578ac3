/**
 * The explorer's HTTP server (node:http): the page and the JSON API under it, read-only.
 *
 * | request                         | answer |
 * |---------------------------------|--------|
 * | `GET /`                         | the page (offchain/explorer/page/: one HTML file, plain JS, CSS; no build step, nothing from a CDN) |
 * | `GET /app.js`, `GET /style.css` | the page's script and style |
 * | `GET /api/network`              | `networkView` |
 * | `GET /api/providers`            | `providersView` |
 * | `GET /api/providers/<address>`  | `providerView`; 404 for an address no event named, 400 for a malformed one |
 * | `GET /api/jobs?provider=&model=&status=&limit=&offset=` | `jobsView` (limit 1..500, default 50) |
 * | `GET /api/jobs/<id>`            | `jobView` (decimal id); 404 unknown |
 * | `GET /api/models`               | `modelsView` |
 * | `GET /api/disputes`             | `disputesView` |
 * | `GET /api/events`               | Server-Sent Events: `{ "version", "block" }` now and whenever the indexer advances (`version` changes when the data does) |
 *
 * Errors are JSON `{ "error": "<sentence>" }`. Loopback only unless told otherwise.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { NonRetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { viewJson, type JobsQuery } from "./views.js";

export const PAGE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "page");

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/** What the server asks of the explorer; each view is a JSON-able value or undefined for "not found". */
export type ExplorerSource = {
  network(): unknown;
  providers(): unknown;
  provider(address: string): unknown | undefined;
  jobs(query: JobsQuery): unknown;
  job(jobId: bigint): unknown | undefined;
  models(): unknown;
  disputes(): unknown;
  /** The current `{ version, block }`. */
  position(): { version: number; block: string | null };
  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
};

export type StartExplorerServerParameters = {
  source: ExplorerSource;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  logger?: Logger;
  /** Between comment lines on an idle event stream, so proxies keep it open. */
  heartbeatMs?: number;
  pageDir?: string;
};

export type ExplorerServer = { url: string; port: number; close(): Promise<void> };

/** A request the API cannot answer as asked (a malformed id or query): a 400 with its message. */
class BadRequestError extends NonRetryableError {
  override name = "BadRequestError";
  constructor(message: string) {
    super(message, { code: "BAD_REQUEST" });
  }
}

export async function startExplorerServer({
  source,
  host = "127.0.0.1",
  port = 0,
  logger = silentLogger(),
  heartbeatMs = 15_000,
  pageDir = PAGE_DIR,
}: StartExplorerServerParameters): Promise<ExplorerServer> {
  const files = new Map(Object.entries(STATIC_FILES).map(([route, { file, type }]) => [route, { body: readFileSync(path.join(pageDir, file)), type }]));
  const streams = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      if (error instanceof BadRequestError) return json(res, 400, { error: error.message });
      logger.error({ msg: "explorer request failed", url: req.url, err: error });
      if (!res.headersSent) json(res, 500, { error: "the explorer failed to answer: see its log" });
      else res.end();
    }
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "only GET" });
    const url = new URL(req.url ?? "/", "http://explorer");
    const route = url.pathname;
    const file = files.get(route);
    if (file) {
      res.writeHead(200, {
        "content-type": file.type,
        "content-length": file.body.length,
        "cache-control": "no-cache",
        "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
      });
      return void res.end(req.method === "HEAD" ? undefined : file.body);
    }
    if (route === "/api/events") return events(req, res);
    if (route === "/api/network") return json(res, 200, source.network());
    if (route === "/api/providers") return json(res, 200, source.providers());
    if (route === "/api/models") return json(res, 200, source.models());
    if (route === "/api/disputes") return json(res, 200, source.disputes());
    if (route === "/api/jobs") return json(res, 200, source.jobs(jobsQuery(url.searchParams)));
    const provider = /^\/api\/providers\/([^/]+)$/.exec(route);
    if (provider) {
      const address = decodeURIComponent(provider[1]!);
      if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new BadRequestError(`"${address}" is not an address (0x and 40 hex digits)`);
      const view = source.provider(address);
      return view === undefined ? json(res, 404, { error: `no event names ${address}` }) : json(res, 200, view);
    }
    const job = /^\/api\/jobs\/([^/]+)$/.exec(route);
    if (job) {
      const id = decodeURIComponent(job[1]!);
      if (!/^[0-9]{1,78}$/.test(id)) throw new BadRequestError(`"${id}" is not a job id (a decimal integer)`);
      const view = source.job(BigInt(id));
      return view === undefined ? json(res, 404, { error: `no job ${id} in the indexed events` }) : json(res, 200, view);
    }
    json(res, 404, { error: `nothing at ${route}: see the README's "Explorer" for the API` });
  }

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    const send = () => res.write(`data: ${JSON.stringify(source.position())}\n\n`);
    res.write("retry: 1000\n\n");
    send();
    streams.add(res);
    const unsubscribe = source.subscribe(send);
    const heartbeat = setInterval(() => res.write(": ping\n\n"), heartbeatMs);
    heartbeat.unref();
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
    };
    req.once("close", end);
    res.once("close", end);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (cause) => reject(new NonRetryableError(`explorer cannot listen on ${host}:${port}`, { code: "LISTEN_FAILED", details: { host, port }, cause })));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  logger.info({ msg: "explorer listening", url });
  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function jobsQuery(params: URLSearchParams): JobsQuery {
  const int = (name: string, min: number, max: number): number | undefined => {
    const text = params.get(name);
    if (text === null || text === "") return undefined;
    if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) throw new BadRequestError(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
    return Number(text);
  };
  const provider = params.get("provider") || undefined;
  if (provider !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(provider)) throw new BadRequestError(`provider must be an address, got "${provider}"`);
  const status = params.get("status") || undefined;
  const statuses = ["posted", "claimed", "committed", "revealed", "disputed", "finalized", "expired", "slashed"];
  if (status !== undefined && !statuses.includes(status)) throw new BadRequestError(`status must be one of ${statuses.join(", ")}, got "${status}"`);
  return { provider, status, modelId: int("model", 0, 2 ** 32 - 1), limit: int("limit", 1, 500), offset: int("offset", 0, Number.MAX_SAFE_INTEGER) };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, viewJson);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
