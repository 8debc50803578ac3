/**
 * One blob from any of several locations, read all at once within one time budget: the first location whose
 * bytes the caller accepts (they match the hash or root the chain holds) wins and the other reads are
 * cancelled. A verifier must judge before its deadline whatever the locations do: read one after the other,
 * a dozen locations that never answer, each given its own time limit, would carry it past the deadline (and
 * an unjudged cheat is a paid one). Read together under one budget, the read ends in time however many
 * locations there are and however slowly each answers; at most `MAX_LOCATIONS` are read, the first listed
 * (callers list the chain's own locations first: a reveal's URI before the provider's later announcements).
 */
import { NonRetryableError } from "../errors.js";
import { BlobUnavailableError } from "./errors.js";

/** The most locations read for one blob. */
export const MAX_LOCATIONS = 8;

/**
 * How long after a failed read a location is read again while another read of the same blob is still under way
 * (`retryEveryMs`). A read is given the whole budget (up to the time a blob server has to send the largest blob):
 * a location that answered 503 once (its server busy, maybe filled on purpose by whoever controls another
 * location that answers at a crawl) is read again within the attempt, not after it.
 */
export const RETRY_EVERY_MS = 1_000;

/** One location that did not serve the blob, and why. */
export type LocationFailure = { source: string; error: unknown };

export type FirstServed<T> = { ok: true; value: T; source: string } | { ok: false; failures: LocationFailure[] };

export type FirstServedParameters<T> = {
  /** Where the blob may be, most trusted first; empty and repeated entries are dropped. */
  uris: readonly (string | undefined)[];
  /** Reads one location and returns what the caller wants of it, or throws (not served, wrong bytes). */
  read: (uri: string, signal: AbortSignal) => Promise<T>;
  /** Time for the whole read, every location together; unbounded (each read's own limit) when left out. */
  budgetMs?: number;
  /** Cancels every read (shutdown). */
  signal?: AbortSignal;
  /** Locations read at most; the rest are reported as not read. */
  maxLocations?: number;
  /**
   * A location whose read failed (anything but a NonRetryableError: wrong bytes, too large) is read again this long
   * after, while another location's read is still under way; once none is, the attempt ends with every failure.
   */
  retryEveryMs?: number;
};

/**
 * The first location to serve, or every location's failure in the order listed (a location cut off by the
 * budget says so). Never throws for a location's fault.
 */
export async function firstServed<T>({
  uris,
  read,
  budgetMs,
  signal,
  maxLocations = MAX_LOCATIONS,
  retryEveryMs = RETRY_EVERY_MS,
}: FirstServedParameters<T>): Promise<FirstServed<T>> {
  const distinct = [...new Set(uris.filter((uri): uri is string => uri !== undefined && uri !== ""))];
  const tried = distinct.slice(0, maxLocations);
  const skipped = distinct.length - tried.length;
  const notRead: LocationFailure[] =
    skipped > 0
      ? [
          {
            source: `${skipped} more location${skipped === 1 ? "" : "s"}`,
            error: new NonRetryableError(`not read: at most ${maxLocations} locations are read for one blob, the first listed`, { code: "TOO_MANY_LOCATIONS" }),
          },
        ]
      : [];
  if (tried.length === 0) return { ok: false, failures: notRead };

  const done = new AbortController();
  const budget = budgetMs === undefined ? undefined : AbortSignal.timeout(budgetMs);
  const combined = AbortSignal.any([done.signal, ...(signal ? [signal] : []), ...(budget ? [budget] : [])]);
  // Reads under way now (a location waiting to be read again is not one); the last to fail with none left ends
  // the waits of the others (`noneLeft`), so that the attempt ends with every location's failure.
  let reading = 0;
  const noneLeft = new AbortController();
  const waits = AbortSignal.any([combined, noneLeft.signal]);
  try {
    const winner = await Promise.any(
      tried.map(async (source) => {
        for (;;) {
          reading++;
          try {
            return { source, value: await untilAborted(read(source, combined), combined) };
          } catch (error) {
            reading--;
            const failure =
              budget?.aborted === true && signal?.aborted !== true
                ? new BlobUnavailableError({ source, problem: `no answer within the ${budgetMs} ms given to all of the blob's locations`, cause: error })
                : error;
            if (combined.aborted || error instanceof NonRetryableError || reading === 0) {
              if (reading === 0) noneLeft.abort();
              throw failure;
            }
            // Another location is still being read: this one is read again in a moment, within the same attempt.
            if (!(await pause(retryEveryMs, waits))) throw failure;
          }
        }
      }),
    );
    return { ok: true, ...winner };
  } catch (error) {
    // Promise.any rejects only when every read did, with their errors in the order the reads were listed.
    const errors = (error as AggregateError).errors;
    return { ok: false, failures: [...tried.map((source, index) => ({ source, error: errors[index] })), ...notRead] };
  } finally {
    done.abort();
  }
}

/** Waits `ms`; false at once if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** `promise`, or a rejection as soon as `signal` aborts (a read that ignores its signal cannot outlast the budget). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
