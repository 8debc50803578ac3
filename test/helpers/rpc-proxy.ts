/**
 * A real HTTP JSON-RPC proxy in front of a node, as a paid endpoint would see a daemon: it forwards
 * every request and counts the JSON-RPC calls (each element of a batch is one call, as endpoints
 * bill them) by method and over time. `down()` makes it answer 503 to everything (an outage),
 * `up()` forwards again.
 *
 *   const proxy = await startRpcProxy({ target: net.url });
 *   ... point the daemon at proxy.url ...
 *   const { calls } = proxy.window(); await sleep(20_000); proxy.window().calls - calls
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export type RpcProxy = {
  url: string;
  /** JSON-RPC calls forwarded (or refused while down), in all and by method. */
  calls: () => number;
  byMethod: () => Record<string, number>;
  /** Times (ms since the epoch) of every call, for a rate over a window. */
  times: () => readonly number[];
  down: () => void;
  up: () => void;
  close: () => Promise<void>;
};

export async function startRpcProxy({ target, host = "127.0.0.1" }: { target: string; host?: string }): Promise<RpcProxy> {
  const byMethod: Record<string, number> = {};
  const times: number[] = [];
  let isDown = false;
  const count = (body: unknown) => {
    for (const call of Array.isArray(body) ? body : [body]) {
      const method = typeof call === "object" && call !== null && "method" in call ? String(call.method) : "?";
      byMethod[method] = (byMethod[method] ?? 0) + 1;
      times.push(Date.now());
    }
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    try {
      count(JSON.parse(text));
    } catch {
      count(undefined);
    }
    if (isDown) {
      res.writeHead(503, { "content-type": "text/plain" }).end("endpoint down (test outage)");
      return;
    }
    try {
      const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: text });
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch (error) {
      res.writeHead(502, { "content-type": "text/plain" }).end(String(error));
    }
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://${host}:${port}`,
    calls: () => times.length,
    byMethod: () => ({ ...byMethod }),
    times: () => times,
    down: () => (isDown = true),
    up: () => (isDown = false),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
