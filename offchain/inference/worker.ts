/**
 * An inference worker thread: owns its sessions (a SessionCache), runs one job at a time, and
 * answers with the output blob, its id and its output root, or a serialized error. The hashing
 * happens here too (checking the input against its id when asked, and the output's id and root):
 * a blob of megabytes takes tens of milliseconds to hash, which on the main thread would hold up
 * every other job's chain work and cap a worker's throughput at one thread's hashing speed. onnxruntime-node's `run` blocks the thread
 * it is called on, which is why it happens here and not on the main thread. Told to retire (a timed
 * out job, the runner closing), it does no further onnxruntime work and exits as soon as the call
 * in progress, if any, has returned.
 */
import { parentPort, workerData } from "node:worker_threads";

import pino from "pino";

import { outputRoot } from "../codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob } from "../codec/tensor.js";
import { verifyBlob } from "../storage/blob-id.js";
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
    const verifyStart = performance.now();
    if (request.verifyInput !== undefined) verifyBlob({ bytes: request.input, ...request.verifyInput });
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
    const hashStart = performance.now();
    const encodeMs = hashStart - encodeStart;
    const [outputId, root] = [blobId(output), outputRoot(output)];
    const hashMs = decodeStart - verifyStart + (performance.now() - hashStart);
    post(
      { type: "result", id: request.id, output, outputId, outputRoot: root, ep: session.ep, epReason: session.reason, ms, prepMs, encodeMs, hashMs },
      [output.buffer as ArrayBuffer],
    );
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
