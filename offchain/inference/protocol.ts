/**
 * Messages between the runner (main thread) and its inference workers. Everything here crosses a
 * `postMessage`: plain data, byte arrays transferred rather than copied.
 */
import type * as ort from "onnxruntime-node";

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
};

/** Main thread -> worker: one inference job. */
export type RunRequest = {
  type: "run";
  id: number;
  modelPath: string;
  modelHash: string;
  ep: ExecutionProviderChoice;
  /** A tensor blob. */
  input: Uint8Array;
  allowNonFinite: boolean;
};

/**
 * Main thread -> worker: leave once no job is in progress. A worker must never be terminated while
 * an onnxruntime call of its is in flight: the call's completion then throws into a torn-down
 * environment, and the whole process aborts (seen with onnxruntime-node 1.30).
 */
export type RetireRequest = { type: "retire" };

/** Worker -> main thread. */
export type WorkerMessage =
  /** The session is ready and the run starts now: the run's time limit starts here. */
  | { type: "started"; id: number; ep: ExecutionProvider }
  | {
      type: "result";
      id: number;
      output: Uint8Array;
      ep: ExecutionProvider;
      epReason: string;
      /** `session.run` itself. */
      ms: number;
      /** Decoding and validating the input, making the feeds; converting the outputs (around `ms`). */
      prepMs: number;
      /** Encoding the output blob. */
      encodeMs: number;
    }
  | { type: "error"; id: number; error: SerializedError }
  /** One pino record, as JSON, for the runner's logger. */
  | { type: "log"; line: string };
