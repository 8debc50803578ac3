/**
 * A time limit for one piece of work (a JSON-RPC request, a blob read) as an AbortSignal that costs nothing
 * once the work is done. `AbortSignal.timeout` cannot be cleared: a request answered in 2 ms still fires its
 * timer at its limit, and the abort builds a DOMException with a stack trace. A worker sends a dozen requests
 * per job, each with a 10 s limit, and those late timers took about 6% of its main thread in a profile
 * (`node:internal/abort_controller` and `DOMException` under `processTimers`). Here the timer is cleared as
 * the work ends (`clear`), and a caller's own signal is followed without `AbortSignal.any`.
 *
 *   const limit = deadline(10_000, callerSignal);
 *   try { await work(limit.signal); } catch (error) { if (limit.expired) ...timed out... } finally { limit.clear(); }
 */
export type Deadline = {
  /** Aborts when the limit passes (reason: a DOMException named "TimeoutError", as AbortSignal.timeout's) or when the caller's signal does (its reason). */
  readonly signal: AbortSignal;
  /** The limit passed (not the caller's abort). */
  readonly expired: boolean;
  /** Ends the limit: its timer and its listener on the caller's signal are removed. Call it as the work ends, however it ends. */
  clear(): void;
};

/** A limit of `ms` milliseconds (a positive number), which `signal` (the caller's) may also abort. */
export function deadline(ms: number, signal?: AbortSignal): Deadline {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`deadline: ms must be a positive number, got ${ms}`);
  const controller = new AbortController();
  let expired = false;
  // Unreferenced, as AbortSignal.timeout's: a limit alone does not keep the process alive.
  const timer = setTimeout(() => {
    if (controller.signal.aborted) return; // the caller's abort came first: that is why the work ended
    expired = true;
    controller.abort(new DOMException(`The operation was aborted due to timeout (${ms} ms)`, "TimeoutError"));
  }, ms).unref();
  const follow = () => controller.abort(signal!.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener("abort", follow, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", follow);
    },
  };
}
