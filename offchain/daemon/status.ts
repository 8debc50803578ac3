/**
 * The idle daemon's heartbeat: every `intervalMs` (a minute) while no step runs, one INFO line saying
 * what it has seen and done, so an idle daemon is visibly alive. Each daemon says what its line holds
 * (offchain/provider/status.ts, offchain/verifier/status.ts); the timer is this one.
 */
import type { Logger } from "../log.js";

export type StartStatusLineParameters = {
  /** Steps in progress: no line while any runs. */
  busy: () => number;
  /** Reads what the line says (`msg` and its fields), given the seconds since the start. */
  read: (uptimeS: number) => Promise<{ msg: string } & Record<string, unknown>>;
  intervalMs: number;
  log: Logger;
  now?: () => number;
};

/** Logs the daemon's status line every `intervalMs` while it runs no step (one read at a time); returns the stop function. */
export function startStatusLine({ busy, read, intervalMs, log, now = Date.now }: StartStatusLineParameters): () => void {
  const started = now();
  let running = false;
  const timer = setInterval(() => {
    if (running || busy() > 0) return;
    running = true;
    read((now() - started) / 1000)
      .then((line) => log.info(line))
      .catch((error) => log.debug({ msg: "status read failed", err: error instanceof Error ? error.message : String(error) }))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
