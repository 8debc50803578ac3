import type { Logger } from "../log.js";

/**
 * The signal a daemon command runs under: aborted by the first SIGINT or SIGTERM, after which the
 * daemon finishes its current step and exits. Idempotent (a second Ctrl-C waits for the same
 * shutdown); a process still alive `graceMs` later exits with code 1.
 */
export function daemonShutdownSignal(log: Logger, graceMs = 30_000): AbortSignal {
  const controller = new AbortController();
  const stop = (signal: string) => {
    if (controller.signal.aborted) return;
    log.info({ msg: "signal received: finishing the current step", signal });
    controller.abort();
    setTimeout(() => process.exit(1), graceMs).unref();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  return controller.signal;
}
