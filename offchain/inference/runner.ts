/**
 * Runs inference off the main thread: a pool of worker threads, each owning its onnxruntime
 * sessions, one request per worker at a time, the rest queued in order. With `maxBatch` above 1 a request
 * carries up to that many queued jobs of one model, run as one stacked batch where the model allows it
 * (dynamic batching: offchain/inference/batching.ts, checked per model in the thread, worker.ts). Hashing (the input against its
 * id, the output for its root) happens in a HashPool of its own, so it holds up neither the
 * caller's thread nor the inference threads.
 *
 * Time limits: a job has a load phase (read, hash check, session creation and provider
 * selection, on a cache miss) limited by `loadTimeoutMs`, then the run itself limited by the
 * job's `timeoutMs` (a batch of n jobs: 2n times its jobs' longest, for the stacked run and the check
 * of a model's first one). A job past either limit rejects with InferenceTimeoutError at once, and its
 * worker is retired and replaced by a fresh one (its cached sessions are lost with it).
 * onnxruntime's calls cannot be interrupted, and a worker must not be terminated during one (the
 * process would abort, see RetireRequest): a retired worker does no further work and exits when
 * the call in progress returns; until then it still uses its cores.
 *
 * Sessions are cached per worker by model hash and requested provider; the job that causes a load
 * is the probe its provider is tested (and, for "auto", timed) on: see session.ts. Worker logs
 * reach the runner's logger with `worker` (the slot index) added.
 *
 * Several GPUs (`devices`): one thread per listed device, its GPU sessions created on that device and its
 * providers chosen there (each thread probes on its own); a replaced thread keeps its slot's device.
 */
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";

import type * as ort from "onnxruntime-node";
import type { Hex } from "viem";

import { DEFAULT_MAX_BLOB_BYTES, decodeTensorBlob, type Tensor } from "../codec/tensor.js";
import type { TolerancePolicy } from "../codec/tolerance.js";
import { NonRetryableError } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { parseBlobId } from "../storage/blob-id.js";
import { BlobHashMismatchError } from "../storage/errors.js";
import type { BlobKeep, StagedAdoption } from "../storage/local.js";
import { HashPool, type BlobRead, type InputRead } from "../threads/hash-pool.js";
import { moduleWorker, spansWholeBuffer } from "../threads/module-worker.js";
import { deserializeError, InferenceTimeoutError, InferenceWorkerError } from "./errors.js";
import type { RetireRequest, RunRequest, WorkerConfig, WorkerMessage } from "./protocol.js";
import { DEFAULT_PROBE_DIM_SIZE, DEFAULT_SESSION_OPTIONS, type ExecutionProvider, type ExecutionProviderChoice } from "./session.js";

export type InferenceRunnerOptions = {
  /** Worker threads; each runs one job at a time. With `devices`: leave it out (or give `devices.length`). */
  size?: number;
  /**
   * GPU device indices (e.g. [0, 1]): one thread per device, thread i creating its GPU sessions on `devices[i]`
   * (CUDA's device id; WebGPU cannot be pinned, see session.ts `executionProvidersFor`). Left out: `size`
   * threads on onnxruntime's default device.
   */
  devices?: readonly number[];
  log?: Logger;
  /** Run time limit for jobs that give none. */
  defaultTimeoutMs?: number;
  /** Time limit for loading a model and choosing its provider (cache misses only). */
  loadTimeoutMs?: number;
  /**
   * onnxruntime session options; providers are chosen per job. Defaults: see `runnerSessionOptions`
   * (the cores shared out between the workers, no spinning).
   */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** Timed probe runs per provider when `ep` is "auto". */
  timedRuns?: number;
  /**
   * Size of dynamic dims in a probe built from metadata, used to test and time providers when the
   * job that loads the model does not fit the model's metadata (otherwise that job's input is the probe).
   */
  probeDimSize?: number;
  /** Cap on input and output blob sizes. */
  maxBlobBytes?: number;
  /** Hashing threads (offchain/threads/hash-pool.ts); default: one per core, at most 4. */
  hashThreads?: number;
  /**
   * Dynamic batching: up to this many queued jobs for one model go to a thread together and run as one
   * stacked batch where the model allows it (offchain/inference/batching.ts). 1 (the default): one job a run.
   */
  maxBatch?: number;
  /**
   * How long the first job of a batch that is not full may wait for more jobs of its model before it runs
   * (while a thread is free); 0 (the default): it runs with whatever is queued.
   */
  maxBatchWaitMs?: number;
};

export type RunParameters = {
  modelPath: string;
  /** The registered `modelHash` (sha256 of the file); a file that does not match is refused. */
  modelHash: string;
  ep?: ExecutionProviderChoice;
  /** The input tensor blob. */
  input: Uint8Array;
  /**
   * Check `input` against its blob id before anything else (in a hashing thread, off the caller's
   * thread): a mismatch rejects with BlobHashMismatchError naming `source`.
   */
  verifyInput?: { expected: Hex; source: string };
  /** Run time limit (after the model is loaded). */
  timeoutMs?: number;
  /** Accept NaN/Inf in float inputs (refused by default). */
  allowNonFinite?: boolean;
  /**
   * The model's tolerance: a stacked run's outputs may differ from each job's run alone this much for the
   * model to batch (checked on its first stacked run); byte equality when left out.
   */
  batchTolerance?: TolerancePolicy;
  /**
   * The caller gives `input` up: when it spans a whole ArrayBuffer, that buffer is transferred to
   * the worker (and detached here) instead of copied. Off by default: the caller keeps its bytes.
   */
  transferInput?: boolean;
  /**
   * The caller keeps `input` but lends it for the run: its buffer goes to the thread (transferred, detached
   * here, when it spans a whole ArrayBuffer) and comes back as the result's `input`, copied neither way (a det
   * input is 4.9 MB: a copy cost the worker's main thread several ms of CPU per job, mostly first-touched
   * memory). A run that fails does not give it back.
   */
  returnInput?: boolean;
  /**
   * Run this job by itself, never stacked with others nor held for a batch (`maxBatch`): a warm-up run
   * meant to reach one thread each.
   */
  alone?: boolean;
  /**
   * A store of outputs (LocalBlobStore `keeping()`, by output root): the hashing thread that hashes the output
   * for its root writes it there too, flushed and renamed into place as the store's `put` does (`outputKept`),
   * so that the main thread neither writes nor flushes it.
   */
  keepOutput?: BlobKeep;
};

export type RunReturnType = {
  /** The output tensor blob (canonical: outputs sorted by name). */
  output: Uint8Array;
  /**
   * Its output root (docs/PROTOCOL.md section 5), hashed in a hashing thread: outputs are addressed by their
   * root (stored, served and revealed under it), so nothing hashes them a second time for a blob id.
   */
  outputRoot: Hex;
  /** The decoded outputs; their data views `output`. */
  outputTensors: Tensor[];
  /** The output is in the `keepOutput` store under its root; absent: it was not written (not asked, or the write failed). */
  outputKept?: true;
  /** The input's bytes, given back (`returnInput`). */
  input?: Uint8Array;
  ep: ExecutionProvider;
  /** Why this provider serves the model (chosen once per model, when its session was created). */
  epReason: string;
  /** Milliseconds of `session.run`, measured in the worker (of the whole stacked run when batched). */
  ms: number;
  /** Jobs in the stacked run that gave this output (1: it ran alone). */
  batchSize: number;
  /** Where the rest of the job's time went, milliseconds. */
  timings: {
    /** Waiting for a free worker (and, on a cache miss, the model load and provider choice). */
    queuedMs: number;
    /** In the worker: decoding and validating the input, converting the outputs. */
    prepMs: number;
    /** In the worker: encoding the output blob. */
    encodeMs: number;
    /** In a hashing thread: checking the input's hash (`verifyInput`), hashing the output for its root (and storing it, `keepOutput`). */
    hashMs: number;
  };
};

export type InferenceRunnerStats = {
  workers: number;
  busy: number;
  queued: number;
  restarts: number;
  /** Threads of its HashPool. */
  hashThreads: number;
  /** The GPU device of each inference thread, in slot order (the `devices` option); absent without. */
  devices?: readonly number[];
};

/** A worker's answer, before the output is hashed. */
type Inferred = Omit<RunReturnType, "outputRoot" | "outputTensors" | "timings"> & { timings: Omit<RunReturnType["timings"], "hashMs"> };

type Job = {
  id: number;
  input: Uint8Array;
  returnInput: boolean;
  /** Jobs batch only with jobs of the same key (model, provider, options; a job run `alone` has a key of its own). */
  batchKey: string;
  /** Never held back for a batch (RunParameters.alone). */
  alone: boolean;
  request: Omit<RunRequest, "id" | "jobs">;
  timeoutMs: number;
  /** performance.now() when run() was called, then when the run started in the worker. */
  queuedAt: number;
  startedAt?: number;
  resolve: (value: Inferred) => void;
  reject: (error: Error) => void;
};

/** A thread's current request: its jobs still unanswered. */
type Assignment = { id: number; jobs: Job[]; timeoutMs: number; modelHash: string; session: string };
/**
 * `loaded`: the sessions (model hash and requested provider) its thread has answered a run of, so has cached (a
 * thread's cache keeps every session it loaded): a request for one of them starts on the run's time limit, and the
 * thread sends no `started` for it (a message that woke this thread once per job).
 */
type Slot = { index: number; worker: Worker; assignment?: Assignment; timer?: NodeJS.Timeout; loaded: Set<string> };

/** How long `close()` waits for retired workers to finish their onnxruntime call before terminating them. */
const RETIRE_GRACE_MS = 30_000;

const DEFAULTS = {
  size: 1,
  maxBatch: 1,
  maxBatchWaitMs: 0,
  defaultTimeoutMs: 30_000,
  loadTimeoutMs: 120_000,
  timedRuns: 3,
  probeDimSize: DEFAULT_PROBE_DIM_SIZE,
} as const;

/**
 * The session options a runner of `size` workers gives each of its sessions: DEFAULT_SESSION_OPTIONS,
 * then
 * - `intraOpNumThreads`: the machine's cores shared out between the workers (at least one each),
 *   where onnxruntime would give every session a thread per core and so run `size` times as many
 *   threads as cores;
 * - no spinning (`session.intra_op.allow_spinning = "0"`): a pool thread that waits for work
 *   sleeps rather than spins. A provider's cores also run its main thread (fetching and hashing
 *   blobs, the chain client) and often the chain node: spinning threads take their cores, and a
 *   preempted pool thread then stalls the whole run. On a 2-core machine running the worker
 *   pipeline, spinning cost the inference threads about twice the CPU per job.
 * then `sessionOptions`, which override any of these.
 */
export function runnerSessionOptions({
  size = DEFAULTS.size,
  sessionOptions = {},
  cores = availableParallelism(),
}: {
  size?: number;
  sessionOptions?: ort.InferenceSession.SessionOptions;
  cores?: number;
} = {}): ort.InferenceSession.SessionOptions {
  return {
    ...DEFAULT_SESSION_OPTIONS,
    intraOpNumThreads: Math.max(1, Math.floor(cores / size)),
    extra: { session: { intra_op: { allow_spinning: "0" } } },
    ...sessionOptions,
  };
}

/** Starts a pool of inference workers; `close()` it when done. */
export function createInferenceRunner(options: InferenceRunnerOptions = {}): InferenceRunner {
  return new InferenceRunner(options);
}

export class InferenceRunner {
  private readonly log: Logger;
  private readonly config: WorkerConfig;
  private readonly devices: readonly number[] | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly loadTimeoutMs: number;
  private readonly maxBlobBytes: number;
  private readonly maxBatch: number;
  private readonly maxBatchWaitMs: number;
  private batchWait: NodeJS.Timeout | undefined;
  private readonly slots: Slot[];
  private readonly hashes: HashPool;
  private readonly queue: Job[] = [];
  private readonly dying = new Map<Worker, Promise<void>>();
  private nextId = 1;
  private restarts = 0;
  private closed = false;

  constructor({
    size: sizeOption,
    devices,
    log = silentLogger(),
    defaultTimeoutMs = DEFAULTS.defaultTimeoutMs,
    loadTimeoutMs = DEFAULTS.loadTimeoutMs,
    sessionOptions = {},
    timedRuns = DEFAULTS.timedRuns,
    probeDimSize = DEFAULTS.probeDimSize,
    maxBlobBytes = DEFAULT_MAX_BLOB_BYTES,
    hashThreads = Math.min(availableParallelism(), 4),
    maxBatch = DEFAULTS.maxBatch,
    maxBatchWaitMs = DEFAULTS.maxBatchWaitMs,
  }: InferenceRunnerOptions = {}) {
    if (devices !== undefined) checkDevices(devices, sizeOption);
    const size = devices?.length ?? sizeOption ?? DEFAULTS.size;
    if (!Number.isInteger(size) || size < 1) throw invalidOption("size", `must be a positive integer, got ${size}`);
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw invalidOption("maxBatch", `must be a positive integer, got ${maxBatch}`);
    if (!Number.isFinite(maxBatchWaitMs) || maxBatchWaitMs < 0) throw invalidOption("maxBatchWaitMs", `must be zero or a positive number of milliseconds, got ${maxBatchWaitMs}`);
    this.maxBatch = maxBatch;
    this.maxBatchWaitMs = maxBatchWaitMs;
    checkTimeout("defaultTimeoutMs", defaultTimeoutMs);
    checkTimeout("loadTimeoutMs", loadTimeoutMs);
    this.log = log;
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.loadTimeoutMs = loadTimeoutMs;
    this.maxBlobBytes = maxBlobBytes;
    this.devices = devices === undefined ? undefined : [...devices];
    this.config = {
      logLevel: log.level,
      sessionOptions: runnerSessionOptions({ size, sessionOptions }),
      timedRuns,
      probeDimSize,
      maxBlobBytes,
    };
    this.hashes = new HashPool({ size: hashThreads });
    this.slots = Array.from({ length: size }, (_, index) => ({ index, worker: this.spawn(index), loaded: new Set<string>() }));
  }

  /** Runs one job on the next free worker; see the module doc for time limits and errors. */
  async run({
    modelPath,
    modelHash,
    ep = "auto",
    input,
    verifyInput,
    timeoutMs = this.defaultTimeoutMs,
    allowNonFinite = false,
    transferInput = false,
    returnInput = false,
    batchTolerance,
    alone = false,
    keepOutput,
  }: RunParameters): Promise<RunReturnType> {
    if (this.closed) throw new InferenceWorkerError({ problem: "the runner is closed" });
    checkTimeout("timeoutMs", timeoutMs);
    if (!(input instanceof Uint8Array)) throw invalidOption("input", "must be a tensor blob (Uint8Array)");
    const expected = verifyInput === undefined ? undefined : parseBlobId(verifyInput.expected, "verifyInput.expected");
    // The input goes to the threads in an ArrayBuffer of its own, transferred: the caller's when it
    // gives it up or lends it and it spans it whole, else a copy, so the caller keeps its bytes (a Buffer
    // may be a view into Node's shared pool).
    let owned = (transferInput || returnInput) && spansWholeBuffer(input) ? input : new Uint8Array(input);
    let hashMs = 0;
    if (expected !== undefined) {
      const digest = await this.hashes.digest(owned, "blobId");
      owned = digest.bytes;
      hashMs += digest.ms;
      if (digest.hash !== expected) throw new BlobHashMismatchError({ expected, actual: digest.hash, source: verifyInput!.source });
    }
    if (this.closed) throw new InferenceWorkerError({ problem: "the runner was closed" });
    const id = this.nextId++;
    const queuedAt = performance.now();
    const request = { type: "run" as const, modelPath, modelHash, ep, allowNonFinite, ...(batchTolerance === undefined ? {} : { batchTolerance }) };
    const batchKey = JSON.stringify([modelPath, modelHash.toLowerCase(), ep, allowNonFinite, batchTolerance ?? null, alone ? id : null]);
    const inferred = await new Promise<Inferred>((resolve, reject) => {
      this.queue.push({ id, input: owned, returnInput, batchKey, alone, request, timeoutMs, queuedAt, resolve, reject });
      this.dispatch();
    });
    const digest = await this.hashes.digest(inferred.output, "outputRoot", keepOutput);
    const outputTensors = decodeTensorBlob(digest.bytes, { maxBytes: this.maxBlobBytes });
    return {
      ...inferred,
      output: digest.bytes,
      outputRoot: digest.hash,
      outputTensors,
      ...(digest.kept ? { outputKept: true as const } : {}),
      timings: { ...inferred.timings, hashMs: hashMs + digest.ms },
    };
  }

  /**
   * An http(s) input read and checked against its blob id in a hashing thread (HashPool.read), so the main
   * thread never handles its bytes before they are checked (nor writes them, when the read stages them); it
   * fails as `fetchBlob` does, by class. `signal` aborts it.
   */
  async readInput(read: BlobRead, signal?: AbortSignal): Promise<InputRead> {
    if (this.closed) throw new InferenceWorkerError({ problem: "the runner is closed" });
    const { bytes, staged } = await this.hashes.read(read, signal);
    return staged === undefined ? { bytes } : { bytes, staged };
  }

  /** A staged input moved into its store in a hashing thread (LocalBlobStore.adopt's `via`), off the main thread. */
  adoptStaged(adopt: StagedAdoption): Promise<void> {
    return this.hashes.adopt(adopt);
  }

  stats(): InferenceRunnerStats {
    return {
      workers: this.slots.length,
      busy: this.slots.filter((slot) => slot.assignment !== undefined).length,
      queued: this.queue.length,
      restarts: this.restarts,
      hashThreads: this.hashes.size,
      ...(this.devices === undefined ? {} : { devices: this.devices }),
    };
  }

  /**
   * Rejects queued and running jobs, retires the workers and waits for their threads to end; one
   * still inside an onnxruntime call after RETIRE_GRACE_MS is terminated.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new InferenceWorkerError({ problem: "the runner was closed" });
    clearTimeout(this.batchWait);
    for (const job of this.queue.splice(0)) job.reject(error);
    for (const slot of this.slots) {
      for (const job of this.release(slot)?.jobs ?? []) job.reject(error);
      // Even an idle worker is told to leave rather than terminated: one still loading onnxruntime's
      // native addon (a worker closed just after it started) aborts the whole process when terminated
      // (`terminate called after throwing an instance of 'Napi::Error'`, SIGABRT). The message is
      // read once its modules are loaded, between onnxruntime calls.
      this.retire(slot.worker);
    }
    await this.hashes.close();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, RETIRE_GRACE_MS)));
    await Promise.race([Promise.allSettled([...this.dying.values()]), grace]);
    clearTimeout(timer);
    await Promise.allSettled([...this.dying.keys()].map((worker) => worker.terminate()));
  }

  /**
   * Gives each free thread the head of the queue and, with `maxBatch` above 1, the queued jobs of the same
   * model behind it (in order, up to `maxBatch`). A batch short of `maxBatch` waits for more of its model
   * until its first job has queued `maxBatchWaitMs`.
   */
  private dispatch(): void {
    clearTimeout(this.batchWait);
    this.batchWait = undefined;
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.assignment !== undefined) continue;
      const head = this.queue[0]!;
      const jobs = this.queue.filter((job) => job.batchKey === head.batchKey).slice(0, this.maxBatch);
      const waitedMs = performance.now() - head.queuedAt;
      if (!head.alone && jobs.length < this.maxBatch && waitedMs < this.maxBatchWaitMs) {
        this.batchWait = setTimeout(() => this.dispatch(), Math.ceil(this.maxBatchWaitMs - waitedMs));
        return;
      }
      for (const job of jobs) this.queue.splice(this.queue.indexOf(job), 1);
      // A stacked run of n jobs takes up to n runs' time, and a model's first one is checked against each job run
      // alone (n more): the request's limit is 2n of its jobs' longest limit.
      const timeoutMs = Math.max(...jobs.map((job) => job.timeoutMs)) * (jobs.length > 1 ? 2 * jobs.length : 1);
      const session = `${head.request.modelHash.toLowerCase()}:${head.request.ep}`;
      const assignment: Assignment = { id: this.nextId++, jobs, timeoutMs, modelHash: head.request.modelHash, session };
      slot.assignment = assignment;
      // A session the thread has cached: its runs start now (the thread decodes the inputs first, in microseconds).
      const loaded = slot.loaded.has(session);
      if (loaded) this.startRun(slot, assignment);
      else this.startLoad(slot, assignment);
      const request: RunRequest = {
        ...head.request,
        id: assignment.id,
        jobs: jobs.map((job) => ({ id: job.id, input: job.input, ...(job.returnInput ? { returnInput: true } : {}) })),
        ...(loaded ? {} : { announce: true }),
      };
      // Distinct buffers only: a buffer listed twice makes postMessage throw (DataCloneError).
      slot.worker.postMessage(request, [...new Set(jobs.map((job) => job.input.buffer as ArrayBuffer))]);
    }
  }

  /** Starts the slot's thread; on a `devices` runner, on the slot's device (a replacement keeps it). */
  private spawn(index: number): Worker {
    const deviceId = this.devices?.[index];
    const workerData: WorkerConfig = deviceId === undefined ? this.config : { ...this.config, deviceId };
    const name = deviceId === undefined ? `inference-${index}` : `inference-${index}-gpu${deviceId}`;
    const worker = moduleWorker(import.meta.url, "worker", { workerData, name });
    worker.on("message", (message: WorkerMessage) => this.onMessage(index, worker, message));
    worker.on("error", (error) => this.onWorkerDeath(index, worker, `uncaught error: ${error.message}`, error));
    worker.on("exit", (code) => this.onWorkerDeath(index, worker, `exited with code ${code}`));
    return worker;
  }

  private onMessage(index: number, worker: Worker, message: WorkerMessage): void {
    const slot = this.slots[index];
    if (slot === undefined || slot.worker !== worker) return; // a replaced worker's late message
    if (message.type === "log") return this.forwardLog(index, message.line);
    const assignment = slot.assignment;
    if (assignment === undefined) return;
    if (message.type === "started" || message.type === "loading") {
      if (message.id !== assignment.id) return;
      if (message.type === "started") this.startRun(slot, assignment);
      else this.startLoad(slot, assignment);
      return;
    }
    const job = assignment.jobs.find((candidate) => candidate.id === message.id);
    if (job === undefined) return;
    assignment.jobs.splice(assignment.jobs.indexOf(job), 1);
    if (message.type === "error") job.reject(deserializeError(message.error));
    else {
      slot.loaded.add(assignment.session);
      const queuedMs = (job.startedAt ?? performance.now()) - job.queuedAt;
      const { output, input, ep, epReason, ms, prepMs, encodeMs, batchSize } = message;
      job.resolve({ output, ...(input ? { input } : {}), ep, epReason, ms, batchSize, timings: { queuedMs, prepMs, encodeMs } });
    }
    if (assignment.jobs.length > 0) return;
    this.release(slot);
    this.dispatch();
  }

  /** The assignment's load phase (its session loading in the thread): its time limit is `loadTimeoutMs`, from now. */
  private startLoad(slot: Slot, assignment: Assignment): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.timeOut(slot, assignment, "load", this.loadTimeoutMs), this.loadTimeoutMs);
  }

  /** The assignment's runs start now: their time limit starts, and their wait in the queue ends. */
  private startRun(slot: Slot, assignment: Assignment): void {
    const now = performance.now();
    for (const job of assignment.jobs) job.startedAt = now;
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.timeOut(slot, assignment, "run", assignment.timeoutMs), assignment.timeoutMs);
  }

  private timeOut(slot: Slot, assignment: Assignment, phase: "load" | "run", timeoutMs: number): void {
    if (slot.assignment !== assignment) return;
    this.log.warn({ msg: "inference timed out; replacing worker", phase, timeout_ms: timeoutMs, worker: slot.index, model_hash: assignment.modelHash, jobs: assignment.jobs.length });
    this.release(slot);
    for (const job of assignment.jobs) job.reject(new InferenceTimeoutError({ phase, timeoutMs, modelHash: assignment.modelHash, jobs: assignment.jobs.length }));
    this.replace(slot);
  }

  private onWorkerDeath(index: number, worker: Worker, problem: string, cause?: unknown): void {
    const slot = this.slots[index];
    if (this.closed || slot === undefined || slot.worker !== worker) return;
    this.log.error({ msg: "inference worker died; replacing it", worker: index, problem });
    for (const job of this.release(slot)?.jobs ?? []) job.reject(new InferenceWorkerError({ problem, cause }));
    this.replace(slot);
  }

  /** Retires the slot's worker (without waiting for its thread) and starts a fresh one. */
  private replace(slot: Slot): void {
    this.retire(slot.worker);
    this.restarts++;
    slot.worker = this.spawn(slot.index);
    slot.loaded.clear(); // a fresh thread has cached nothing
    this.dispatch();
  }

  /**
   * Detaches a worker and tells it to leave once its onnxruntime call in progress, if any, has
   * returned (see RetireRequest); `close()` waits for the threads still ending. A worker that
   * already exited is simply forgotten.
   */
  private retire(worker: Worker): void {
    worker.removeAllListeners();
    worker.on("error", () => undefined);
    if (worker.threadId === -1) return; // already exited
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    this.dying.set(worker, exited);
    void exited.finally(() => this.dying.delete(worker));
    worker.postMessage({ type: "retire" } satisfies RetireRequest);
  }

  private release(slot: Slot): Assignment | undefined {
    const assignment = slot.assignment;
    clearTimeout(slot.timer);
    slot.assignment = undefined;
    slot.timer = undefined;
    return assignment;
  }

  private forwardLog(index: number, line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, ...rest } = record;
    const label = typeof level === "number" ? this.log.levels.labels[level] : undefined;
    const method = label !== undefined && label in this.log ? (label as "info") : "info";
    this.log[method]({ ...rest, worker: index });
  }
}

/** `devices`: a non-empty list of distinct GPU indices, and `size` left out or equal to its length. */
function checkDevices(devices: readonly number[], size: number | undefined): void {
  if (!Array.isArray(devices) || devices.length === 0) {
    throw invalidOption("devices", "must list at least one GPU device index (e.g. [0, 1]); leave it out to run `size` threads on the default device");
  }
  const bad = devices.find((device) => !Number.isInteger(device) || device < 0);
  if (bad !== undefined) throw invalidOption("devices", `must be GPU device indices (non-negative integers), got ${bad}`);
  const repeated = devices.find((device, index) => devices.indexOf(device) !== index);
  if (repeated !== undefined) {
    throw invalidOption("devices", `lists device ${repeated} twice: each device gets one inference thread; list each once`);
  }
  if (size !== undefined && size !== devices.length) {
    throw invalidOption("size", `must be left out or equal devices.length (${devices.length}) when devices is given (one inference thread per device), got ${size}`);
  }
}

function checkTimeout(name: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(name, `must be a positive number of milliseconds, got ${value}`);
  }
}

function invalidOption(name: string, problem: string): NonRetryableError {
  return new NonRetryableError(`${name} ${problem}`, { code: "INVALID_ARGUMENT", details: { option: name } });
}
