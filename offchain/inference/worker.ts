/**
 * An inference worker thread: owns its sessions (a SessionCache), runs one job at a time, and
 * answers with the output blob or a serialized error. It hashes nothing: the runner's HashPool does,
 * so that a thread feeding a GPU spends its time on runs. onnxruntime-node's `run` blocks the thread
 * it is called on, which is why it happens here and not on the main thread. Told to retire (a timed
 * out job, the runner closing), it does no further onnxruntime work and exits as soon as the call
 * in progress, if any, has returned.
 */
import { parentPort, workerData } from "node:worker_threads";

import pino from "pino";

import { decodeTensorBlob, encodeTensorBlob } from "../codec/tensor.js";
import { serializeError } from "./errors.js";
import type { RetireRequest, RunRequest, WorkerConfig, WorkerMessage } from "./protocol.js";
import { runModelSession, SessionCache } from "./session.js";

if (parentPort === null) throw new Error("offchain/inference/worker.ts must run in a worker thread");
const port = parentPort;
const config = workerData as WorkerConfig;

const log = pino(
  { level: config.logLevel, base: undefined, timestamp: false },
  { write: (line: string) => post({ type: "log", line }) },
);

const cache = new SessionCache({
  log,
  sessionOptions: config.sessionOptions,
  timedRuns: config.timedRuns,
  probeDimSize: config.probeDimSize,
});

let busy = false;
let retiring = false;

port.on("message", (message: RunRequest | RetireRequest) => {
  if (message.type === "retire") {
    retiring = true;
    if (!busy) leave();
    return;
  }
  void handle(message);
});

async function handle(request: RunRequest): Promise<void> {
  busy = true;
  try {
    const decodeStart = performance.now();
    const inputs = decodeTensorBlob(request.input, { maxBytes: config.maxBlobBytes });
    const decodeMs = performance.now() - decodeStart;
    const session = await cache.get({ modelPath: request.modelPath, modelHash: request.modelHash, ep: request.ep, probeInputs: inputs });
    if (retiring) return;
    post({ type: "started", id: request.id, ep: session.ep });
    const runStart = performance.now();
    const { outputs, ms } = await runModelSession({
      session: session.session,
      inputs,
      modelHash: session.modelHash,
      ep: session.ep,
      allowNonFinite: request.allowNonFinite,
    });
    const encodeStart = performance.now();
    const prepMs = decodeMs + (encodeStart - runStart - ms);
    const output = encodeTensorBlob(outputs, { maxBytes: config.maxBlobBytes });
    const encodeMs = performance.now() - encodeStart;
    post({ type: "result", id: request.id, output, ep: session.ep, epReason: session.reason, ms, prepMs, encodeMs }, [output.buffer as ArrayBuffer]);
  } catch (error) {
    post({ type: "error", id: request.id, error: serializeError(error) });
  } finally {
    busy = false;
    if (retiring) leave();
  }
}

/** Ends this thread (only between onnxruntime calls: see RetireRequest). */
function leave(): void {
  process.exit(0);
}

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}
