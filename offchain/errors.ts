/**
 * The project's error classes. Every error thrown on purpose extends `DinferError`, and says
 * whether trying again may help: `RetryableError` (a timeout, a dropped connection) or
 * `NonRetryableError` (bad input, a revert). Callers decide on retries by class, never by message.
 */

export type DinferErrorParameters = {
  /** A short, stable identifier for the kind of failure, e.g. "CODEC". */
  code: string;
  /** Structured context for logs; keep it serializable. */
  details?: Record<string, unknown>;
  /** The error that led to this one, if any. */
  cause?: unknown;
};

/** Base of all project errors: a short message, a code, optional details and cause. */
export class DinferError extends Error {
  override name = "DinferError";
  readonly code: string;
  readonly details?: Record<string, unknown>;

  constructor(shortMessage: string, { code, details, cause }: DinferErrorParameters) {
    super(shortMessage, cause === undefined ? undefined : { cause });
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** A failure that may go away on its own: the same action can be tried again later. */
export class RetryableError extends DinferError {
  override name = "RetryableError";
}

/** A failure that the same action will hit again: fix the input, do not retry. */
export class NonRetryableError extends DinferError {
  override name = "NonRetryableError";
}

export type CodecErrorParameters = {
  /** The offending field, e.g. "magic", "tensors[2].name", "tensors[0].dims[1]", "trailing". */
  field: string;
  /** What is wrong with it, e.g. "names are not sorted". */
  problem: string;
  details?: Record<string, unknown>;
  cause?: unknown;
};

/** Malformed encoded data (a tensor blob, a proof, a hash input); the message starts with the field. */
export class CodecError extends NonRetryableError {
  override name = "CodecError";
  readonly field: string;

  constructor({ field, problem, details, cause }: CodecErrorParameters) {
    super(`${field}: ${problem}`, { code: "CODEC", details, cause });
    this.field = field;
  }
}
