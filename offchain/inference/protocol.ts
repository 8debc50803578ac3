/**
 * Messages between the runner (main thread) and its inference workers. Everything here crosses a
 * `postMessage`: plain data, byte arrays transferred rather than copied.
 */
import type * as ort from "onnxruntime-node";

import type { TolerancePolicy } from "../codec/tolerance.js";
import type { SerializedError } from "./errors.js";
import type { ExecutionProvider, ExecutionProviderChoice } from "./session.js";

/** Given to each worker at start. */
export type WorkerConfig = {
  /** pino level for the worker's logs, which it forwards to the runner's logger. */
  logLevel: string;
  sessionOptions: ort.InferenceSession.SessionOptions;
  timedRuns: number;
  probeDimSize: number;
  maxBlobBytes: number;
  /**
   * The GPU device this thread's GPU providers are pinned to (the runner's `devices`, one thread per device;
   * session.ts `executionProvidersFor`); left out: onnxruntime's default device.
   */
  deviceId?: number;
};

/** One job of a run request. */
export type RunJob = {
  id: number;
  /** A tensor blob. */
  input: Uint8Array;
  /** Send the input back with the result (transferred): the caller only lent it. */
  returnInput?: boolean;
};

/**
 * Main thread -> worker: jobs for one model, run as one stacked batch where the model allows it and the
 * stacked run gives each job what it gets alone (offchain/inference/batching.ts), else one after the other.
 */
export type RunRequest = {
  type: "run";
  /** The request's id (its `started` message); each job answers under its own id. */
  id: number;
  jobs: RunJob[];
  modelPath: string;
  modelHash: string;
  ep: ExecutionProviderChoice;
  allowNonFinite: boolean;
  /**
   * How far a stacked run's output may differ from a job's run alone for the model to batch (the model's
   * registered tolerance); byte equality when left out.
   */
  batchTolerance?: TolerancePolicy;
  /**
   * Send `started` once the session is ready, cached or not: the runner has the request on its load time limit (it
   * does not know the thread has the session). Left out, the runner has it on the run's limit already: the thread
   * sends `loading` and `started` around a load only (a session it does not have after all).
   */
  announce?: true;
};

/**
 * Main thread -> worker: leave once no job is in progress. A worker must never be terminated while
 * an onnxruntime call of its is in flight: the call's completion then throws into a torn-down
 * environment, and the whole process aborts (seen with onnxruntime-node 1.30).
 */
export type RetireRequest = { type: "retire" };

/** Worker -> main thread. */
export type WorkerMessage =
  /** The session is ready and the request's runs start now: the run's time limit starts here (`id`: the request's). */
  | { type: "started"; id: number; ep: ExecutionProvider }
  /** A request without `announce` needs its session loaded: its load time limit starts here (`started` follows). */
  | { type: "loading"; id: number }
  | {
      type: "result";
      id: number;
      output: Uint8Array;
      /** The job's input, given back when its request asked (`returnInput`). */
      input?: Uint8Array;
      ep: ExecutionProvider;
      epReason: string;
      /** `session.run` itself. */
      ms: number;
      /** Decoding and validating the input, making the feeds; converting the outputs (around `ms`). */
      prepMs: number;
      /** Encoding the output blob. */
      encodeMs: number;
      /** Jobs in the stacked run that produced this output (1: run alone); `ms` is that whole run's. */
      batchSize: number;
    }
  | { type: "error"; id: number; error: SerializedError }
  /** One pino record, as JSON, for the runner's logger. */
  | { type: "log"; line: string };
