/**
 * Journal errors. Misuse (bad input, an impossible action transition, a schema from newer code)
 * is non-retryable; a database held locked by another process past the busy timeout is
 * retryable.
 */
import { NonRetryableError, RetryableError } from "../errors.js";

/** A bad argument; the message starts with the field. */
export class JournalInputError extends NonRetryableError {
  override name = "JournalInputError";
  readonly field: string;

  constructor({ field, problem }: { field: string; problem: string }) {
    super(`${field}: ${problem}`, { code: "JOURNAL_INPUT", details: { field, problem } });
    this.field = field;
  }
}

/** A mark on an action that was never begun. */
export class ActionNotFoundError extends NonRetryableError {
  override name = "ActionNotFoundError";

  constructor({ jobId, action }: { jobId: bigint; action: string }) {
    super(`no action "${action}" recorded for job ${jobId}`, { code: "ACTION_NOT_FOUND", details: { jobId: String(jobId), action } });
  }
}

/** A transition the action's lifecycle forbids, e.g. confirmed -> sent. */
export class ActionStateError extends NonRetryableError {
  override name = "ActionStateError";

  constructor({ jobId, action, from, to }: { jobId: bigint; action: string; from: string; to: string }) {
    super(`action "${action}" of job ${jobId} is ${from}, it cannot become ${to}`, {
      code: "ACTION_STATE",
      details: { jobId: String(jobId), action, from, to },
    });
  }
}

/** The file's schema is newer than this code, or a migration failed (and was rolled back). */
export class JournalSchemaError extends NonRetryableError {
  override name = "JournalSchemaError";

  constructor(shortMessage: string, { details, cause }: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(shortMessage, { code: "JOURNAL_SCHEMA", details, cause });
  }
}

/** Another connection held the database locked for longer than the busy timeout. */
export class JournalBusyError extends RetryableError {
  override name = "JournalBusyError";

  constructor({ path, cause }: { path: string; cause: unknown }) {
    super(`journal is locked by another connection: ${path}`, { code: "JOURNAL_BUSY", details: { path }, cause });
  }
}
