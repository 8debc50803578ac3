/**
 * An inference worker thread: owns its sessions (a SessionCache), runs one request at a time (its jobs
 * stacked into one run where the model batches, offchain/inference/batching.ts), and answers each job
 * with its output blob or a serialized error. It hashes nothing: the runner's HashPool does,
 * so that a thread feeding a GPU spends its time on runs. onnxruntime-node's `run` blocks the thread
 * it is called on, which is why it happens here and not on the main thread. Told to retire (a timed
 * out job, the runner closing), it does no further onnxruntime work and exits as soon as the call
 * in progress, if any, has returned. A thread given a GPU device (WorkerConfig.deviceId: the runner's
 * `devices`) creates its GPU sessions on that device, and chooses its providers there.
 */
import { parentPort, workerData } from "node:worker_threads";

import pino from "pino";

import { decodeTensorBlob, encodeTensorBlob, type Tensor } from "../codec/tensor.js";
import { compareOutputs } from "../codec/tolerance.js";
import { nameOsThread } from "../threads/thread-name.js";
import { batchKey, batchSizeOf, hasDynamicBatchAxis, splitOutputs, stackInputs } from "./batching.js";
import { serializeError } from "./errors.js";
import type { RetireRequest, RunRequest, WorkerConfig, WorkerMessage } from "./protocol.js";
import { runModelSession, SessionCache, type CachedSession } from "./session.js";
import { validateInputs } from "./validate.js";

if (parentPort === null) throw new Error("offchain/inference/worker.ts must run in a worker thread");
const port = parentPort;
const config = workerData as WorkerConfig;
nameOsThread();

const log = pino(
  { level: config.logLevel, base: undefined, timestamp: false },
  { write: (line: string) => post({ type: "log", line }) },
);

const cache = new SessionCache({
  log,
  sessionOptions: config.sessionOptions,
  timedRuns: config.timedRuns,
  probeDimSize: config.probeDimSize,
  deviceId: config.deviceId,
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

/** Whether a model (by session: model hash and provider) batches: checked on its first stacked run. */
const batching = new Map<string, { verified: boolean; reason: string }>();

type Decoded = { id: number; inputs: Tensor[]; decodeMs: number; input: Uint8Array; returnInput: boolean };
type Ran = { outputs: Tensor[]; ms: number; prepMs: number; batchSize: number };

async function handle(request: RunRequest): Promise<void> {
  busy = true;
  try {
    const decoded: Decoded[] = [];
    for (const job of request.jobs) {
      const decodeStart = performance.now();
      try {
        decoded.push({
          id: job.id,
          inputs: decodeTensorBlob(job.input, { maxBytes: config.maxBlobBytes }),
          decodeMs: performance.now() - decodeStart,
          input: job.input,
          returnInput: job.returnInput === true,
        });
      } catch (error) {
        fail(job.id, error);
      }
    }
    if (decoded.length === 0) return;
    let session: CachedSession;
    let load = false;
    try {
      // The runner times a request by its session: one it knows we have is on the run's limit, unannounced.
      load = !cache.has({ modelHash: request.modelHash, ep: request.ep });
      if (load && request.announce !== true) post({ type: "loading", id: request.id });
      session = await cache.get({ modelPath: request.modelPath, modelHash: request.modelHash, ep: request.ep, probeInputs: decoded[0]!.inputs });
    } catch (error) {
      for (const job of decoded) fail(job.id, error);
      return;
    }
    if (retiring) return;
    if (load || request.announce === true) post({ type: "started", id: request.id, ep: session.ep });
    for (const group of groups(decoded, session)) {
      if (retiring) return;
      const ran = group.length === 1 ? await runAlone(group[0]!, session, request) : await runStacked(group, session, request);
      for (const [job, result] of ran) {
        if (result instanceof Error) fail(job.id, result);
        else answer(job, result, session);
      }
    }
  } finally {
    busy = false;
    if (retiring) leave();
  }
}

/**
 * The request's jobs in runs: those that agree on everything but the first axis stacked together when the
 * model batches (dynamic first axis, not refused on an earlier check), every other job alone.
 */
function groups(jobs: readonly Decoded[], session: CachedSession): Decoded[][] {
  const state = batching.get(batchingKey(session));
  if (jobs.length === 1 || state?.verified === false || !hasDynamicBatchAxis(session.session.inputMetadata)) return jobs.map((job) => [job]);
  const byKey = new Map<string, Decoded[]>();
  const alone: Decoded[][] = [];
  for (const job of jobs) {
    const key = batchKey(job.inputs);
    if (key === undefined || batchSizeOf(job.inputs) === undefined) alone.push([job]);
    else byKey.set(key, [...(byKey.get(key) ?? []), job]);
  }
  return [...byKey.values(), ...alone];
}

async function runAlone(job: Decoded, session: CachedSession, request: RunRequest): Promise<[Decoded, Ran | Error][]> {
  const runStart = performance.now();
  try {
    const { outputs, ms } = await runModelSession({ session: session.session, inputs: job.inputs, modelHash: session.modelHash, ep: session.ep, allowNonFinite: request.allowNonFinite });
    return [[job, { outputs, ms, prepMs: job.decodeMs + (performance.now() - runStart - ms), batchSize: 1 }]];
  } catch (error) {
    return [[job, error instanceof Error ? error : new Error(String(error))]];
  }
}

/**
 * One stacked run for jobs of one batch key, split back per job. Each job's input is validated on its own
 * first (a bad one fails alone). The model's first stacked run is checked: each job is run alone too and the
 * stacked outputs must match those within `request.batchTolerance` (bytes equal without one); a model whose
 * check fails, whose outputs lose the batch axis, or whose stacked run throws runs its jobs alone from then on.
 */
async function runStacked(group: readonly Decoded[], session: CachedSession, request: RunRequest): Promise<[Decoded, Ran | Error][]> {
  const results: [Decoded, Ran | Error][] = [];
  const valid: Decoded[] = [];
  for (const job of group) {
    try {
      validateInputs({ tensors: job.inputs, inputMetadata: session.session.inputMetadata, allowNonFinite: request.allowNonFinite });
      valid.push(job);
    } catch (error) {
      results.push([job, error instanceof Error ? error : new Error(String(error))]);
    }
  }
  if (valid.length <= 1) return [...results, ...(await runEachAlone(valid, session, request))];
  const key = batchingKey(session);
  const sizes = valid.map((job) => batchSizeOf(job.inputs)!);
  const stackStart = performance.now();
  let split: Tensor[][] | undefined;
  let ms = 0;
  try {
    const stacked = stackInputs(valid.map((job) => job.inputs));
    // Each job's values were checked above (allowNonFinite as asked): the stacked tensor is only their concatenation.
    const run = await runModelSession({ session: session.session, inputs: stacked, modelHash: session.modelHash, ep: session.ep, allowNonFinite: true });
    ms = run.ms;
    split = splitOutputs(run.outputs, sizes);
    if (split === undefined) refuse(key, session, "an output does not carry the batch on its first axis");
  } catch (error) {
    refuse(key, session, `a stacked run failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (split === undefined) return [...results, ...(await runEachAlone(valid, session, request))];
  const overheadMs = (performance.now() - stackStart - ms) / valid.length;
  const ran: [Decoded, Ran | Error][] = valid.map((job, index) => [job, { outputs: split[index]!, ms, prepMs: job.decodeMs + overheadMs, batchSize: valid.length }]);
  if (batching.get(key)?.verified === true) return [...results, ...ran];
  // The model's first stacked run: its outputs must be what each job gets alone.
  const alone = await runEachAlone(valid, session, request);
  const policy = request.batchTolerance ?? { kind: "exact" as const };
  let maxAbsError = 0;
  for (const [index, [, single]] of alone.entries()) {
    if (single instanceof Error) {
      refuse(key, session, `a job that ran stacked failed alone: ${single.message}`);
      return [...results, ...alone];
    }
    const compared = compareOutputs({ expected: encodeTensorBlob(single.outputs), actual: encodeTensorBlob(split[index]!), policy, maxBytes: config.maxBlobBytes });
    for (const tensor of compared.tensors) maxAbsError = Math.max(maxAbsError, tensor.maxAbsError ?? 0);
    if (compared.verdict === "disagree") {
      refuse(key, session, `a stacked run's output differs from the job's run alone beyond the tolerance (${policy.kind}): ${compared.reason}`);
      return [...results, ...alone];
    }
  }
  batching.set(key, { verified: true, reason: `a stacked run of ${valid.length} matched each job's run alone (max abs error ${maxAbsError}, ${policy.kind})` });
  log.info({ msg: "batching verified", model_hash: session.modelHash, ep: session.ep, batch: valid.length, max_abs_error: maxAbsError, policy: policy.kind });
  return [...results, ...ran];
}

async function runEachAlone(jobs: readonly Decoded[], session: CachedSession, request: RunRequest): Promise<[Decoded, Ran | Error][]> {
  const results: [Decoded, Ran | Error][] = [];
  for (const job of jobs) results.push(...(await runAlone(job, session, request)));
  return results;
}

function refuse(key: string, session: CachedSession, reason: string): void {
  if (batching.get(key)?.verified === false) return;
  batching.set(key, { verified: false, reason });
  log.warn({ msg: "batching off for this model: its jobs run one at a time", model_hash: session.modelHash, ep: session.ep, reason });
}

function batchingKey(session: CachedSession): string {
  return `${session.modelHash}:${session.ep}`;
}

function answer(job: Decoded, { outputs, ms, prepMs, batchSize }: Ran, session: CachedSession): void {
  const encodeStart = performance.now();
  try {
    const output = encodeTensorBlob(outputs, { maxBytes: config.maxBlobBytes });
    const encodeMs = performance.now() - encodeStart;
    // A lent input goes back with the output, transferred: its tensors are no longer used once the run is done.
    const input = job.returnInput ? job.input : undefined;
    const transfer = [output.buffer as ArrayBuffer, ...(input && input.buffer !== output.buffer ? [input.buffer as ArrayBuffer] : [])];
    post({ type: "result", id: job.id, output, ...(input ? { input } : {}), ep: session.ep, epReason: session.reason, ms, prepMs, encodeMs, batchSize }, transfer);
  } catch (error) {
    fail(job.id, error);
  }
}

function fail(id: number, error: unknown): void {
  post({ type: "error", id, error: serializeError(error) });
}

/** Ends this thread (only between onnxruntime calls: see RetireRequest). */
function leave(): void {
  process.exit(0);
}

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}
