/**
 * `dinfer worker` as a separate process, the way an operator runs it: a JSON config file, the key
 * and the worker secret in the environment, structured logs on stderr. The process gets its own
 * process group; `stop()` sends SIGTERM and waits for the exit, `kill()` is a SIGKILL (a crash),
 * and a process exit hook kills the group if a test run dies without calling either.
 *
 *   const worker = await startWorkerProcess({ url, deployment, models, dataDir, key, secret });
 *   try { ... } finally { await worker.kill(); }
 */
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Hex } from "viem";

import type { Deployment } from "../../offchain/chain/deployment.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin/dinfer.js");

/** One parsed pino line of the worker's stderr. */
export type WorkerLogLine = { msg?: string; level?: number; [key: string]: unknown };

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
  readyTimeoutMs?: number;
};

export type WorkerExit = { code: number | null; signal: NodeJS.Signals | null };

export type WorkerProcess = {
  pid: number;
  /** From the "worker ready" line. */
  blobUrl: string;
  metricsUrl?: string;
  account: Hex;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`); throws unless the exit code is 0. */
  stop: (options?: { graceMs?: number }) => Promise<WorkerExit>;
  /** SIGKILL to the whole group, then waits for the exit; safe to call at any time. */
  kill: () => Promise<WorkerExit>;
  /** Everything the process printed so far (stderr and stdout, interleaved). */
  logs: () => string;
  /** The JSON log lines so far. */
  lines: () => WorkerLogLine[];
  /** Waits for a log line matching `predicate`. */
  waitForLine: (predicate: (line: WorkerLogLine) => boolean, what: string, timeoutMs?: number) => Promise<WorkerLogLine>;
  exited: () => boolean;
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
  readyTimeoutMs = 90_000,
}: StartWorkerProcessParameters): Promise<WorkerProcess> {
  const configFile = path.join(dataDir, "worker.config.json");
  const config = {
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
  };
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);

  // Only what this test means: no DINFER_* option leaks in from the shell that runs the tests.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DINFER_")));
  Object.assign(env, { DINFER_PRIVATE_KEY: key, DINFER_WORKER_SECRET: secret, DINFER_LOG_LEVEL: "info", FORCE_COLOR: "0" });

  const child = spawn(process.execPath, [BIN, "worker", "--config", configFile], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("dinfer worker did not start");

  // For a post-mortem: DINFER_E2E_LOG_DIR=<dir> keeps every worker's full output there.
  const logDir = process.env.DINFER_E2E_LOG_DIR;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const logFile = logDir ? path.join(logDir, `worker-${path.basename(dataDir)}-${pid}.log`) : undefined;
  let output = "";
  let partial = "";
  const parsed: WorkerLogLine[] = [];
  const listeners = new Set<() => void>();
  const onStderr = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    if (logFile) appendFileSync(logFile, text);
    partial += text;
    const complete = partial.split("\n");
    partial = complete.pop()!;
    for (const line of complete) {
      if (!line.startsWith("{")) continue;
      try {
        parsed.push(JSON.parse(line) as WorkerLogLine);
      } catch {
        // not a log line
      }
    }
    for (const listener of listeners) listener();
  };
  child.stderr.on("data", onStderr);
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (logFile) appendFileSync(logFile, chunk);
  });

  let exitInfo: WorkerExit | undefined;
  const exit = new Promise<WorkerExit>((resolve) =>
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      for (const listener of listeners) listener();
      resolve(exitInfo);
    }),
  );

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const onProcessExit = () => killGroup("SIGKILL");
  process.once("exit", onProcessExit);

  const logs = () => output;
  const tail = () => output.slice(-8_000);

  const waitForLine = (predicate: (line: WorkerLogLine) => boolean, what: string, timeoutMs = 60_000) =>
    new Promise<WorkerLogLine>((resolve, reject) => {
      let checked = 0;
      const check = () => {
        for (; checked < parsed.length; checked++) {
          if (predicate(parsed[checked]!)) return finish(() => resolve(parsed[checked]!));
        }
        if (exitInfo) finish(() => reject(new Error(`worker exited (${JSON.stringify(exitInfo)}) before ${what}:\n${tail()}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms:\n${tail()}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });

  const kill = async (): Promise<WorkerExit> => {
    process.removeListener("exit", onProcessExit);
    if (!exitInfo) killGroup("SIGKILL");
    const info = await exit;
    killGroup("SIGKILL"); // anything the worker left in its group
    return info;
  };

  const stop = async ({ graceMs = 40_000 }: { graceMs?: number } = {}): Promise<WorkerExit> => {
    process.removeListener("exit", onProcessExit);
    if (!exitInfo) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    const settled = await Promise.race([exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), graceMs).unref())]);
    if (!settled) {
      await kill();
      throw new Error(`worker did not exit within ${graceMs} ms of SIGTERM:\n${tail()}`);
    }
    killGroup("SIGKILL");
    if (settled.code !== 0) throw new Error(`worker exited with ${JSON.stringify(settled)} after SIGTERM:\n${tail()}`);
    return settled;
  };

  let ready: WorkerLogLine;
  try {
    ready = await waitForLine((line) => line.msg === "worker ready", "worker ready line", readyTimeoutMs);
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    pid,
    blobUrl: String(ready.blob_url),
    metricsUrl: ready.metrics_url === undefined ? undefined : String(ready.metrics_url),
    account: ready.account as Hex,
    stop,
    kill,
    logs,
    lines: () => [...parsed],
    waitForLine,
    exited: () => exitInfo !== undefined,
  };
}
