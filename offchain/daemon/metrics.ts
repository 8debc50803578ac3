/**
 * The metrics every daemon has (process defaults, inference latency, gas spent) on its own Prometheus
 * registry, and the server for `GET /metrics`. Each daemon adds its own counters to the registry
 * (offchain/provider/metrics.ts, offchain/verifier/metrics.ts).
 */
import { createServer, type Server } from "node:http";

import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** How often the event loop's lag is sampled (`dinfer_process_nodejs_eventloop_lag_*`), ms. */
const EVENT_LOOP_SAMPLE_MS = 100;

/** The metrics both daemons keep; `inferenceHelp` says what their inference is (a job's run, a re-execution). */
export function createDaemonMetrics({ inferenceHelp }: { inferenceHelp: string }) {
  const registry = new Registry();
  // The event loop's lag is sampled by a timer that wakes the main thread every `eventLoopMonitoringPrecision` ms:
  // prom-client's 10 ms was 100 of an idle worker's 103 wake-ups a second and half its main thread's CPU. At
  // 100 ms the lag is still measured to the nanosecond, ten times a second.
  collectDefaultMetrics({ register: registry, prefix: "dinfer_process_", eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return {
    registry,
    inference: new Histogram({
      name: "dinfer_inference_seconds",
      help: inferenceHelp,
      labelNames: ["model", "ep"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    gas: new Counter({
      name: "dinfer_gas_spent_wei_total",
      help: "Transaction fees paid (gasUsed * effectiveGasPrice), wei",
      registers: [registry],
    }),
  };
}

export type DaemonMetrics = ReturnType<typeof createDaemonMetrics>;

/** Serves `GET /metrics` on 127.0.0.1 (or `host`). Port 0 picks a free one. */
export async function startMetricsServer({ registry, host = "127.0.0.1", port }: { registry: Registry; host?: string; port: number }) {
  const server: Server = createServer(async (req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": registry.contentType }).end(await registry.metrics());
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return {
    url: `http://${host}:${bound}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
