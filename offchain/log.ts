import pino, { type Logger } from "pino";

export type { Logger };

export type CreateLoggerParameters = {
  /** Component name, logged as `component` on every line (e.g. "worker", "poller"). */
  name: string;
  /** pino level; defaults to $DINFER_LOG_LEVEL or "info". */
  level?: string;
};

/**
 * A structured JSON logger (pino) writing to stderr, each line naming its process (`name`);
 * children add their `component`, so stdout stays free for command output.
 * Log with an object: `log.info({ msg: "job claimed", job_id, tx_hash })`.
 */
export function createLogger({ name, level = process.env.DINFER_LOG_LEVEL ?? "info" }: CreateLoggerParameters): Logger {
  return pino({ name, level, base: { name } }, pino.destination(2));
}

/** A logger that drops everything: for unit tests of code that takes a logger. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
