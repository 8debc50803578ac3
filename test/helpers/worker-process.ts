/**
 * `dinfer worker` as a separate process, the way an operator runs it: a JSON config file, the key
 * and the worker secret in the environment, structured logs on stderr (`offchain/devnet/daemon.ts`,
 * as the demo starts its workers). The process gets its own process group; `stop()` sends SIGTERM
 * and waits for the exit, `kill()` is a SIGKILL (a crash), and a process exit hook kills the group
 * if a test run dies without calling either.
 *
 *   const worker = await startWorkerProcess({ url, deployment, models, dataDir, key, secret });
 *   try { ... } finally { await worker.kill(); }
 *
 * For a post-mortem, DINFER_E2E_LOG_DIR=<dir> keeps every worker's full output there.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import type { Hex } from "viem";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { startDaemon, type Daemon, type DaemonExit, type DaemonLogLine } from "../../offchain/devnet/daemon.js";

/** One parsed pino line of the worker's stderr. */
export type WorkerLogLine = DaemonLogLine;
export type WorkerExit = DaemonExit;

export type StartWorkerProcessParameters = {
  url: string;
  deployment: Deployment;
  models: readonly { modelId: number; path: string; minFee?: bigint }[];
  /** Journal and blob store; the config file is written here too. */
  dataDir: string;
  key: Hex;
  secret: string;
  /** Blob server port; 0 picks a free one (the ready line says which). */
  port?: number;
  pollIntervalMs?: number;
  ep?: "cpu" | "webgpu" | "cuda" | "auto";
  /** Extra options merged into the config file. */
  extra?: Record<string, unknown>;
  /** Extra DINFER_* environment (e.g. DINFER_ALLOW_FAULTS=1 for a `fault` in `extra`). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
};

export type WorkerProcess = Omit<Daemon, "ready" | "onLine"> & {
  /** From the "worker ready" line. */
  blobUrl: string;
  metricsUrl?: string;
  account: Hex;
};

export async function startWorkerProcess({
  url,
  deployment,
  models,
  dataDir,
  key,
  secret,
  port = 0,
  pollIntervalMs = 200,
  ep = "cpu",
  extra = {},
  env = {},
  readyTimeoutMs = 90_000,
}: StartWorkerProcessParameters): Promise<WorkerProcess> {
  const logDir = process.env.DINFER_E2E_LOG_DIR;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const daemon = await startDaemon({
    command: "worker",
    configFile: path.join(dataDir, "worker.config.json"),
    config: {
      rpcUrl: url,
      addresses: deployment,
      models: models.map((m) => ({ modelId: m.modelId, path: m.path, minFee: (m.minFee ?? 0n).toString() })),
      dataDir,
      host: "127.0.0.1",
      port,
      metricsPort: 0,
      pollIntervalMs,
      ep,
      threads: 1,
      ...extra,
    },
    env: { DINFER_PRIVATE_KEY: key, DINFER_WORKER_SECRET: secret, ...env },
    readyMsg: "worker ready",
    readyTimeoutMs,
    logFile: logDir ? path.join(logDir, `worker-${path.basename(dataDir)}-${Date.now()}.log`) : undefined,
  });
  const { ready, onLine: _onLine, ...rest } = daemon;
  return {
    ...rest,
    blobUrl: String(ready.blob_url),
    metricsUrl: ready.metrics_url === undefined ? undefined : String(ready.metrics_url),
    account: ready.account as Hex,
  };
}
