import { Counter, Gauge, Histogram } from "prom-client";

import { createDaemonMetrics } from "../daemon/metrics.js";

/** The worker's Prometheus metrics: the daemon kit's (inference, gas) and its own, on one registry. */
export function createWorkerMetrics() {
  const base = createDaemonMetrics({ inferenceHelp: "Inference latency (session.run in the worker thread)" });
  const { registry } = base;
  return {
    ...base,
    jobs: new Counter({
      name: "dinfer_jobs_total",
      help: "Jobs seen by this worker, by outcome (claimed, lost_race, skipped, finalized, expired, slashed)",
      labelNames: ["outcome"] as const,
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
