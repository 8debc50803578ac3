/**
 * Errors of the inference module. Each class is built from one serializable parameter object, so
 * a worker thread can send an error to the main thread and the main thread can rebuild the same
 * class (`serializeError` / `deserializeError`): callers decide on retries by class, wherever the
 * error happened.
 *
 * Non-retryable: the model or the input is wrong and stays wrong (hash mismatch, random or training-mode operators,
 * malformed model, invalid input, a run that the runtime refuses). Retryable: the failure may not
 * come back (a time limit, a worker that died, a model file that could not be read).
 */
import { CodecError, DinferError, NonRetryableError, RetryableError } from "../errors.js";
import { BlobHashMismatchError, PrivateHostRefusedError, type PrivateHostRefusedErrorParameters } from "../storage/errors.js";

export type ModelHashMismatchErrorParameters = { path: string; expected: string; actual: string };

/** The model file's sha256 is not the `modelHash` it was registered under. */
export class ModelHashMismatchError extends NonRetryableError {
  override name = "ModelHashMismatchError";
  readonly parameters: ModelHashMismatchErrorParameters;

  constructor(parameters: ModelHashMismatchErrorParameters) {
    super(`model hash mismatch: expected ${parameters.expected}, file has ${parameters.actual}`, {
      code: "MODEL_HASH_MISMATCH",
      details: { ...parameters },
    });
    this.parameters = parameters;
  }
}

export type UnverifiableModelErrorParameters = {
  path: string;
  operators: string[];
  /** Why each node makes the model unjudgeable, with where it is. */
  reasons?: string[];
};

/**
 * The model's graph has operators whose output is random, or that compute in training mode at
 * inference time (docs/PROTOCOL.md section 7, "Model admission").
 */
export class UnverifiableModelError extends NonRetryableError {
  override name = "UnverifiableModelError";
  readonly parameters: UnverifiableModelErrorParameters;

  constructor(parameters: UnverifiableModelErrorParameters) {
    const why = parameters.reasons === undefined ? "" : `: ${parameters.reasons.join("; ")}`;
    super(`model cannot be judged, it has random or training-mode operators ${parameters.operators.join(", ")}${why}`, {
      code: "MODEL_UNVERIFIABLE",
      details: { ...parameters },
    });
    this.parameters = parameters;
  }
}

export type ModelFormatErrorParameters = {
  /** Where in the protobuf the problem is, e.g. "graph.node[3].op_type". */
  field: string;
  /** Byte offset in the model file. */
  offset: number;
  problem: string;
};

/** The model bytes are not a well-formed ONNX protobuf. */
export class ModelFormatError extends NonRetryableError {
  override name = "ModelFormatError";
  readonly parameters: ModelFormatErrorParameters;

  constructor(parameters: ModelFormatErrorParameters) {
    super(`malformed ONNX model at ${parameters.field} (byte ${parameters.offset}): ${parameters.problem}`, {
      code: "MODEL_FORMAT",
      details: { ...parameters },
    });
    this.parameters = parameters;
  }
}

export type ModelReadErrorParameters = { path: string; problem: string; cause?: unknown };

/** The model file could not be read (missing, unreadable). Retryable: the file may appear. */
export class ModelReadError extends RetryableError {
  override name = "ModelReadError";
  readonly parameters: Omit<ModelReadErrorParameters, "cause">;

  constructor({ cause, ...parameters }: ModelReadErrorParameters) {
    super(`cannot read model ${parameters.path}: ${parameters.problem}`, {
      code: "MODEL_READ",
      details: { ...parameters },
      cause,
    });
    this.parameters = parameters;
  }
}

export type ModelSessionErrorParameters = { modelHash: string; problem: string; cause?: unknown };

/** onnxruntime refused to create a session for the model on CPU (the last resort). */
export class ModelSessionError extends NonRetryableError {
  override name = "ModelSessionError";
  readonly parameters: Omit<ModelSessionErrorParameters, "cause">;

  constructor({ cause, ...parameters }: ModelSessionErrorParameters) {
    super(`cannot create a session for model ${parameters.modelHash}: ${parameters.problem}`, {
      code: "MODEL_SESSION",
      details: { ...parameters },
      cause,
    });
    this.parameters = parameters;
  }
}

export type InputValidationErrorParameters = {
  /** The input tensor's name ("" when the problem is about the set of inputs). */
  tensor: string;
  /** The offending field: "name", "dtype", "rank", "dims[2]", "data[17]". */
  field: string;
  problem: string;
  details?: Record<string, unknown>;
};

/** An input tensor does not fit the model's own input metadata. */
export class InputValidationError extends NonRetryableError {
  override name = "InputValidationError";
  readonly tensor: string;
  readonly field: string;
  readonly parameters: InputValidationErrorParameters;

  constructor(parameters: InputValidationErrorParameters) {
    const { tensor, field, problem, details } = parameters;
    super(`input ${JSON.stringify(tensor)} ${field}: ${problem}`, {
      code: "INPUT_INVALID",
      details: { tensor, field, ...details },
    });
    this.tensor = tensor;
    this.field = field;
    this.parameters = parameters;
  }
}

export type InferenceRunErrorParameters = { modelHash: string; ep: string; problem: string; cause?: unknown };

/** onnxruntime threw while running valid input, or produced an output the blob format cannot carry. */
export class InferenceRunError extends NonRetryableError {
  override name = "InferenceRunError";
  readonly parameters: Omit<InferenceRunErrorParameters, "cause">;

  constructor({ cause, ...parameters }: InferenceRunErrorParameters) {
    super(`inference failed on ${parameters.ep}: ${parameters.problem}`, {
      code: "INFERENCE_RUN",
      details: { ...parameters },
      cause,
    });
    this.parameters = parameters;
  }
}

export type InferenceTimeoutErrorParameters = {
  /** "load": the session was not ready in time; "run": the run itself was too slow. */
  phase: "load" | "run";
  timeoutMs: number;
  modelHash: string;
  /** The jobs of the run that timed out (more than one: a stacked run, whose slow input is not known). */
  jobs?: number;
};

/** A load or run passed its time limit; its worker was terminated and replaced. */
export class InferenceTimeoutError extends RetryableError {
  override name = "InferenceTimeoutError";
  readonly parameters: InferenceTimeoutErrorParameters;

  constructor(parameters: InferenceTimeoutErrorParameters) {
    super(`inference ${parameters.phase} timed out after ${parameters.timeoutMs} ms`, {
      code: "INFERENCE_TIMEOUT",
      details: { ...parameters },
    });
    this.parameters = parameters;
  }
}

export type InferenceWorkerErrorParameters = { problem: string; cause?: unknown };

/** The worker thread died or the runner was closed with the run in flight. */
export class InferenceWorkerError extends RetryableError {
  override name = "InferenceWorkerError";
  readonly parameters: Omit<InferenceWorkerErrorParameters, "cause">;

  constructor({ cause, ...parameters }: InferenceWorkerErrorParameters) {
    super(`inference worker failed: ${parameters.problem}`, { code: "INFERENCE_WORKER", details: { ...parameters }, cause });
    this.parameters = parameters;
  }
}

/** An error as it crosses a thread boundary (structured-clone friendly). */
export type SerializedError = {
  name: string;
  message: string;
  /** For DinferErrors of other classes, rebuilt as a generic (Non)RetryableError. */
  code?: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
  parameters?: Record<string, unknown>;
  /** CodecError only. */
  field?: string;
  stack?: string;
  cause?: string;
};

type ErrorFactory = (parameters: never, cause: Error | undefined) => DinferError;

const FACTORIES: Record<string, ErrorFactory> = {
  ModelHashMismatchError: (p: ModelHashMismatchErrorParameters) => new ModelHashMismatchError(p),
  UnverifiableModelError: (p: UnverifiableModelErrorParameters) => new UnverifiableModelError(p),
  ModelFormatError: (p: ModelFormatErrorParameters) => new ModelFormatError(p),
  ModelReadError: (p: ModelReadErrorParameters, cause) => new ModelReadError({ ...p, cause }),
  ModelSessionError: (p: ModelSessionErrorParameters, cause) => new ModelSessionError({ ...p, cause }),
  InputValidationError: (p: InputValidationErrorParameters) => new InputValidationError(p),
  InferenceRunError: (p: InferenceRunErrorParameters, cause) => new InferenceRunError({ ...p, cause }),
  InferenceTimeoutError: (p: InferenceTimeoutErrorParameters) => new InferenceTimeoutError(p),
  InferenceWorkerError: (p: InferenceWorkerErrorParameters, cause) => new InferenceWorkerError({ ...p, cause }),
  // An input checked in the worker (RunParameters.verifyInput) that does not hash to its id.
  BlobHashMismatchError: (p: ConstructorParameters<typeof BlobHashMismatchError>[0], cause) => new BlobHashMismatchError({ ...p, cause }),
  // An input a hashing thread refused to read (BlobRead.allowPrivateHosts off).
  PrivateHostRefusedError: (p: PrivateHostRefusedErrorParameters) => new PrivateHostRefusedError(p),
};

/** Flattens an error for `postMessage`; the cause becomes its message. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const serialized: SerializedError = { name: error.name, message: error.message };
  if (error.stack !== undefined) serialized.stack = error.stack;
  if (error.cause !== undefined) serialized.cause = error.cause instanceof Error ? error.cause.message : String(error.cause);
  if ("parameters" in error && typeof error.parameters === "object" && error.parameters !== null) {
    serialized.parameters = { ...(error.parameters as Record<string, unknown>) };
  }
  if (error instanceof DinferError) {
    serialized.code = error.code;
    if (error.details !== undefined) serialized.details = toPlainDetails(error.details);
    serialized.retryable = error instanceof RetryableError;
  }
  if (error instanceof CodecError) {
    serialized.field = error.field;
    serialized.parameters = { details: error.details };
  }
  return serialized;
}

/** Rebuilds the error class that `serializeError` flattened; unknown errors become InferenceWorkerError. */
export function deserializeError(serialized: SerializedError): DinferError {
  const cause = serialized.cause === undefined ? undefined : new Error(serialized.cause);
  let error: DinferError;
  if (serialized.name === "CodecError" && serialized.field !== undefined) {
    const problem = serialized.message.slice(serialized.field.length + 2);
    const details = serialized.parameters?.details as Record<string, unknown> | undefined;
    error = new CodecError({ field: serialized.field, problem, details, cause });
  } else {
    const factory = FACTORIES[serialized.name];
    if (factory !== undefined && serialized.parameters !== undefined) {
      error = factory(serialized.parameters as never, cause);
    } else if (serialized.code !== undefined) {
      const Class = serialized.retryable === true ? RetryableError : NonRetryableError;
      error = new Class(serialized.message, { code: serialized.code, details: serialized.details, cause });
    } else {
      error = new InferenceWorkerError({ problem: `${serialized.name}: ${serialized.message}`, cause });
    }
  }
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}

/** Details as plain data: anything structured clone refuses (functions, class instances) becomes a string. */
function toPlainDetails(details: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(details);
  } catch {
    return Object.fromEntries(Object.entries(details).map(([key, value]) => [key, String(value)]));
  }
}
