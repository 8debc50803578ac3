/**
 * A `dinfer <command>` daemon (worker, verifier) as a child process in its own process group: its
 * config written to a file, its key and secret in the environment, its JSON log lines parsed as they
 * come. Used by the demo, `dinfer devnet` and the end-to-end tests.
 *
 *   const d = await startDaemon({ command: "worker", configFile, config, env, readyMsg: "worker ready" });
 *   ... d.ready.blob_url ...; await d.waitForLine((l) => l.msg === "job ended", "a job's end");
 *   await d.stop();   // SIGTERM, the daemon finishes its step and exits 0
 */
import { spawn } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { atProcessExit, signalGroup } from "./node.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin/dinfer.js");

export type DaemonLogLine = { msg?: string; level?: number; [key: string]: unknown };
export type DaemonExit = { code: number | null; signal: NodeJS.Signals | null };

export type StartDaemonParameters = {
  /** The dinfer subcommand, e.g. "worker" or "verifier". */
  command: string;
  /** Written as JSON to `configFile` and passed with --config. */
  config: Record<string, unknown>;
  configFile: string;
  /** DINFER_* variables for the child (keys, secrets); no other DINFER_* variable leaks in from ours. */
  env: Record<string, string>;
  /** The log message that says the daemon is up. */
  readyMsg: string;
  readyTimeoutMs?: number;
  /** Appends everything the daemon prints to this file. */
  logFile?: string;
  /** Keep only the last this many characters of output in memory (default 4 MB). */
  maxOutputChars?: number;
};

export type Daemon = {
  pid: number;
  /** The ready line (addresses, URLs the daemon serves). */
  ready: DaemonLogLine;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`); throws unless the exit code is 0. */
  stop: (options?: { graceMs?: number }) => Promise<DaemonExit>;
  /** SIGKILL to the whole group, then waits for the exit; safe to call at any time. */
  kill: () => Promise<DaemonExit>;
  /** What the process printed so far (stderr and stdout, interleaved; the tail when it is long). */
  logs: () => string;
  /** The JSON log lines so far. */
  lines: () => DaemonLogLine[];
  /** Waits for a log line matching `predicate` (searching the lines already seen first). */
  waitForLine: (predicate: (line: DaemonLogLine) => boolean, what: string, timeoutMs?: number) => Promise<DaemonLogLine>;
  /** Calls `listener` for every JSON log line from now on; returns the unsubscribe function. */
  onLine: (listener: (line: DaemonLogLine) => void) => () => void;
  exited: () => boolean;
};

export async function startDaemon({
  command,
  config,
  configFile,
  env: daemonEnv,
  readyMsg,
  readyTimeoutMs = 90_000,
  logFile,
  maxOutputChars = 4 * 1024 * 1024,
}: StartDaemonParameters): Promise<Daemon> {
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DINFER_")));
  Object.assign(env, { DINFER_LOG_LEVEL: "info", FORCE_COLOR: "0" }, daemonEnv);

  const child = spawn(process.execPath, [BIN, command, "--config", configFile], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`dinfer ${command} did not start`);

  let output = "";
  let partial = "";
  const parsed: DaemonLogLine[] = [];
  const wakers = new Set<() => void>();
  const lineListeners = new Set<(line: DaemonLogLine) => void>();
  const keep = (text: string) => {
    output = (output + text).slice(-maxOutputChars);
    if (logFile) appendFileSync(logFile, text);
  };
  child.stderr.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    keep(text);
    partial += text;
    const complete = partial.split("\n");
    partial = complete.pop()!;
    for (const line of complete) {
      if (!line.startsWith("{")) continue;
      try {
        const entry = JSON.parse(line) as DaemonLogLine;
        parsed.push(entry);
        for (const listener of lineListeners) listener(entry);
      } catch {
        // not a log line
      }
    }
    for (const wake of wakers) wake();
  });
  child.stdout.on("data", (chunk: Buffer) => keep(chunk.toString()));

  let exitInfo: DaemonExit | undefined;
  const exit = new Promise<DaemonExit>((resolve) =>
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      for (const wake of wakers) wake();
      resolve(exitInfo);
    }),
  );

  const killGroup = (signal: NodeJS.Signals) => signalGroup(pid, signal);
  const forgetAtExit = atProcessExit(() => killGroup("SIGKILL"));
  const tail = () => output.slice(-8_000);

  const waitForLine = (predicate: (line: DaemonLogLine) => boolean, what: string, timeoutMs = 60_000) =>
    new Promise<DaemonLogLine>((resolve, reject) => {
      let checked = 0;
      const check = () => {
        for (; checked < parsed.length; checked++) {
          if (predicate(parsed[checked]!)) return finish(() => resolve(parsed[checked]!));
        }
        if (exitInfo) finish(() => reject(new Error(`dinfer ${command} exited (${JSON.stringify(exitInfo)}) before ${what}:\n${tail()}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms:\n${tail()}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        wakers.delete(check);
        settle();
      };
      wakers.add(check);
      check();
    });

  const kill = async (): Promise<DaemonExit> => {
    forgetAtExit();
    if (!exitInfo) killGroup("SIGKILL");
    const info = await exit;
    killGroup("SIGKILL"); // anything the daemon left in its group
    return info;
  };

  const stop = async ({ graceMs = 40_000 }: { graceMs?: number } = {}): Promise<DaemonExit> => {
    forgetAtExit();
    if (!exitInfo) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    const settled = await Promise.race([exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), graceMs).unref())]);
    if (!settled) {
      await kill();
      throw new Error(`dinfer ${command} did not exit within ${graceMs} ms of SIGTERM:\n${tail()}`);
    }
    killGroup("SIGKILL");
    if (settled.code !== 0) throw new Error(`dinfer ${command} exited with ${JSON.stringify(settled)} after SIGTERM:\n${tail()}`);
    return settled;
  };

  let ready: DaemonLogLine;
  try {
    ready = await waitForLine((line) => line.msg === readyMsg, `"${readyMsg}" line`, readyTimeoutMs);
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    pid,
    ready,
    stop,
    kill,
    logs: () => output,
    lines: () => [...parsed],
    waitForLine,
    onLine: (listener) => {
      lineListeners.add(listener);
      return () => lineListeners.delete(listener);
    },
    exited: () => exitInfo !== undefined,
  };
}
