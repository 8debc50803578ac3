/**
 * How a daemon reports a failure that repeats (the RPC endpoint down, a blob server answering 500):
 * the first failure is a WARN line, the ones after it are WARN lines spaced exponentially
 * (`minGapMs`, doubling up to `maxGapMs`) with the count so far, and debug lines in between; the
 * first success after failures is one INFO line saying how long it lasted. A daemon whose endpoint
 * is down for an hour writes about a dozen lines, not thousands.
 */
import type { Logger } from "../log.js";

export type OutageLogParameters = {
  log: Logger;
  /** What fails, for the messages: "chain", "poll", "head read". */
  what: string;
  /** Fields added to every line (e.g. `{ poller: "market" }`). */
  fields?: Record<string, unknown>;
  minGapMs?: number;
  maxGapMs?: number;
  now?: () => number;
};

export class OutageLog {
  readonly #log: Logger;
  readonly #what: string;
  readonly #fields: Record<string, unknown>;
  readonly #minGapMs: number;
  readonly #maxGapMs: number;
  readonly #now: () => number;
  #failures = 0;
  #since = 0;
  #gapMs: number;
  #nextWarnAt = 0;

  constructor({ log, what, fields = {}, minGapMs = 2_000, maxGapMs = 300_000, now = Date.now }: OutageLogParameters) {
    this.#log = log;
    this.#what = what;
    this.#fields = fields;
    this.#minGapMs = minGapMs;
    this.#maxGapMs = maxGapMs;
    this.#gapMs = minGapMs;
    this.#now = now;
  }

  /** Failures in a row so far (0: healthy). */
  get failures(): number {
    return this.#failures;
  }

  /** One more failure: a WARN line when one is due, else a debug line. */
  failed(err: unknown, details: Record<string, unknown> = {}): void {
    const now = this.#now();
    this.#failures++;
    const fields = { ...this.#fields, ...details, err: describeError(err), failures: this.#failures };
    if (this.#failures === 1) {
      this.#since = now;
      this.#gapMs = this.#minGapMs;
      this.#nextWarnAt = now + this.#gapMs;
      this.#log.warn({ msg: `${this.#what} failed`, ...fields });
      return;
    }
    if (now >= this.#nextWarnAt) {
      this.#gapMs = Math.min(this.#gapMs * 2, this.#maxGapMs);
      this.#nextWarnAt = now + this.#gapMs;
      this.#log.warn({ msg: `${this.#what} still failing`, ...fields, for_s: Math.round((now - this.#since) / 1000), next_report_s: Math.round(this.#gapMs / 1000) });
      return;
    }
    this.#log.debug({ msg: `${this.#what} failed`, ...fields });
  }

  /** A success: after failures, one INFO line with how many and how long. */
  ok(): void {
    if (this.#failures === 0) return;
    this.#log.info({ msg: `${this.#what} recovered`, ...this.#fields, failures: this.#failures, down_s: Math.round((this.#now() - this.#since) / 1000) });
    this.#failures = 0;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
