import { writeSync } from "node:fs";

import pino, { type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

import { ConfigError } from "./config/options.js";

export type { Logger };

/** `json`: one pino JSON record a line (for files, pipes, log shippers); `pretty`: one readable line a record (a terminal). */
export type LogFormat = "json" | "pretty";

export const LOG_FORMATS = ["auto", "json", "pretty"] as const;

/**
 * The log format: $DINFER_LOG_FORMAT when it is `json` or `pretty`, else (`auto`, unset) readable
 * lines when stderr is a terminal and JSON when it is piped or redirected.
 */
export function chooseLogFormat({ env = process.env, isTTY = process.stderr.isTTY === true }: { env?: NodeJS.ProcessEnv; isTTY?: boolean } = {}): LogFormat {
  const chosen = env.DINFER_LOG_FORMAT?.trim().toLowerCase() || "auto";
  if (!(LOG_FORMATS as readonly string[]).includes(chosen)) {
    throw new ConfigError(`DINFER_LOG_FORMAT must be one of ${LOG_FORMATS.join(", ")}, got "${env.DINFER_LOG_FORMAT}"`, {
      code: "LOG_FORMAT_INVALID",
      details: { value: env.DINFER_LOG_FORMAT },
    });
  }
  if (chosen === "auto") return isTTY ? "pretty" : "json";
  return chosen as LogFormat;
}

export type CreateLoggerParameters = {
  /** Component name, logged as `component` on every line (e.g. "worker", "poller"). */
  name: string;
  /** pino level; defaults to $DINFER_LOG_LEVEL or "info". */
  level?: string;
  /** Defaults to `chooseLogFormat()` (readable in a terminal, JSON when piped). */
  format?: LogFormat;
  /** Where the lines go; stderr (fd 2) by default. */
  destination?: DestinationStream | NodeJS.WritableStream;
  /** Colors in `pretty` lines; by default when the destination is stderr, a color terminal, and NO_COLOR is unset. */
  colorize?: boolean;
};

/**
 * A structured logger (pino) writing to stderr, each line naming its process (`name`); children add
 * their `component`, so stdout stays free for command output. Piped, every line is a JSON record (written
 * asynchronously, the rest flushed at exit); in
 * a terminal, one readable line a record: `14:05:09 INFO (worker/sender): job claimed {"job_id":"7",...}`.
 * The readable lines are written synchronously (no worker thread), so none is lost at exit.
 * Log with an object: `log.info({ msg: "job claimed", job_id, tx_hash })`.
 */
export function createLogger({ name, level = process.env.DINFER_LOG_LEVEL ?? "info", format = chooseLogFormat(), destination, colorize }: CreateLoggerParameters): Logger {
  const options = { name, level, base: { name } };
  // JSON lines (a daemon piped to a collector) are written asynchronously: the write leaves the event loop, and
  // pino flushes what is left when the process exits.
  if (format === "json") return pino(options, destination ?? pino.destination({ dest: 2, sync: false }));
  const color = colorize ?? (destination === undefined && process.stderr.hasColors?.() === true && !process.env.NO_COLOR);
  return pino(options, prettyStream({ destination: destination ?? 2, colorize: color }));
}

/**
 * pino-pretty's formatter behind a synchronous destination: time, level, name (and component), the
 * message, then the other fields as JSON on the same line. Its own stream is not used: it would
 * print `err` as a block of lines below the record.
 */
function prettyStream({ destination, colorize }: { destination: number | DestinationStream | NodeJS.WritableStream; colorize: boolean }): DestinationStream {
  const format = prettyLine({ colorize });
  const write = typeof destination === "number" ? (text: string) => writeSync(destination, text) : (text: string) => void destination.write(text);
  return { write: (line: string) => write(format(line)) };
}

/** One pino JSON record (a line) as one readable line. */
export function prettyLine({ colorize = false }: { colorize?: boolean } = {}): (record: string | object) => string {
  return pretty.prettyFactory({
    colorize,
    singleLine: true,
    errorLikeObjectKeys: [],
    translateTime: "SYS:HH:MM:ss",
    ignore: "pid,hostname,name,component",
    messageFormat: (record, messageKey) => {
      const source = [record.name, record.component].filter((part) => typeof part === "string" && part !== "").join("/");
      return `${source === "" ? "" : `(${source}) `}${String(record[messageKey] ?? "")}`;
    },
  });
}

/** A logger that drops everything: for unit tests of code that takes a logger. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
