import { createServer, type Server } from "node:http";

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The worker's Prometheus metrics, on their own registry. */
export function createWorkerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "dinfer_process_" });
  return {
    registry,
    jobs: new Counter({
      name: "dinfer_jobs_total",
      help: "Jobs seen by this worker, by outcome (claimed, lost_race, skipped, finalized, expired, slashed)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    inference: new Histogram({
      name: "dinfer_inference_seconds",
      help: "Inference latency (session.run in the worker thread)",
      labelNames: ["model", "ep"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    gas: new Counter({
      name: "dinfer_gas_spent_wei_total",
      help: "Transaction fees paid (gasUsed * effectiveGasPrice), wei",
      registers: [registry],
    }),
    earnings: new Counter({
      name: "dinfer_earnings_wei_total",
      help: "Fees credited to this provider by finalized jobs, wei",
      registers: [registry],
    }),
    active: new Gauge({ name: "dinfer_jobs_active", help: "Jobs claimed and not yet ended", registers: [registry] }),
    stage: new Histogram({
      name: "dinfer_job_stage_seconds",
      help: "Time per job in each pipeline stage (fetch, check, wait, prep, hash, run, output, claimAndCommit, commit, reveal, finalize...)",
      labelNames: ["stage"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    rpc: new Counter({
      name: "dinfer_rpc_requests_total",
      help: "JSON-RPC requests sent to the chain node, by method",
      labelNames: ["method"] as const,
      registers: [registry],
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

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
