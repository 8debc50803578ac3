/**
 * What an idle provider costs its machine: a `dinfer worker` with its model loaded and nothing to do, on a real local
 * chain (hardhat node) that mines a block a second, measured from outside by the scheduler's own count of each of
 * its threads (/proc/<pid>/task/<tid>/schedstat, Linux only): CPU ms per second and wake-ups per second, by role
 * (the main thread, V8's helper threads `node`, libuv's pool, the hashing and inference threads).
 *
 *   npm run bench:idle            -> prints a table, writes bench/results/idle.json
 *
 * Most providers' GPUs wait for work most of the time, and a worker's cost while it waits is paid all day. Two poll
 * intervals are measured in one run, each in its own worker: the bench's 100 ms (bench/worker.ts) and a provider's
 * default of 500 (`pollIntervalMs`). Idle, a worker ticks every `idlePollIntervalMs` (4 s) whatever its poll
 * interval, so the two should cost the same: the ratio says whether they do.
 *
 * BENCH_IDLE_AFTER_S (default 60): seconds after the worker is ready before the window opens (a worker that has
 * just loaded its model collects the garbage of loading it for a while); BENCH_IDLE_S (default 60): the window.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { registerImageInputDet } from "../test/helpers/image-input-model.js";
import { startLocalNetwork } from "../test/helpers/network.js";
import { startWorkerProcess } from "../test/helpers/worker-process.js";
import { machineInfo } from "./machine.js";

const AFTER_S = Number(process.env.BENCH_IDLE_AFTER_S ?? 60);
const WINDOW_S = Number(process.env.BENCH_IDLE_S ?? 60);
if (!(AFTER_S >= 0) || !(WINDOW_S > 0)) throw new Error(`BENCH_IDLE_AFTER_S must be >= 0 and BENCH_IDLE_S > 0 (seconds), got ${AFTER_S} and ${WINDOW_S}`);
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/idle.json");
const POLLS_MS = [100, 500];

/** A thread's role: "main" for the process's own thread, else its name less a trailing index (hash-0 -> hash). */
type Counts = Record<string, { cpuMs: number; runs: number }>;

function threadCounts(pid: number): Counts {
  const counts: Counts = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const role = tid === String(pid) ? "main" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/-\d+$/, "");
      const [ns, , runs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(" ").map(Number);
      const role_ = (counts[role] ??= { cpuMs: 0, runs: 0 });
      role_.cpuMs += ns! / 1e6;
      role_.runs += runs!;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return counts;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const net = await startLocalNetwork({});
const rows: { pollIntervalMs: number; cpuMsPerSecond: number; runsPerSecond: number; byRole: Record<string, { cpuMsPerSecond: number; runsPerSecond: number }> }[] = [];
try {
  await net.publicClient.request({ method: "hardhat_setLoggingEnabled", params: [false] } as never);
  const det = await registerImageInputDet(net, { byteOutput: true });
  for (const pollIntervalMs of POLLS_MS) {
    const worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: det.modelId, path: det.path }],
      dataDir: net.tempDir("bench-idle-"),
      key: net.keys.provider,
      secret: "bench-worker-secret-0001",
      pollIntervalMs,
      ep: "cpu",
      extra: { threads: 1 },
    });
    try {
      await sleep(AFTER_S * 1000);
      const before = threadCounts(worker.pid);
      const started = performance.now();
      await sleep(WINDOW_S * 1000);
      const after = threadCounts(worker.pid);
      const seconds = (performance.now() - started) / 1000;
      if (worker.exited()) throw new Error(`the worker exited during the window:\n${worker.logs().slice(-3_000)}`);
      const byRole = Object.fromEntries(
        Object.entries(after).map(([role, { cpuMs, runs }]) => [
          role,
          { cpuMsPerSecond: round((cpuMs - (before[role]?.cpuMs ?? 0)) / seconds), runsPerSecond: round((runs - (before[role]?.runs ?? 0)) / seconds, 1) },
        ]),
      );
      const sum = (key: "cpuMsPerSecond" | "runsPerSecond") => round(Object.values(byRole).reduce((total, role) => total + role[key], 0));
      rows.push({ pollIntervalMs, cpuMsPerSecond: sum("cpuMsPerSecond"), runsPerSecond: sum("runsPerSecond"), byRole });
    } finally {
      await worker.stop().catch(() => worker.kill());
    }
  }
} finally {
  await net.stop();
}

const result = {
  definition:
    "an idle `dinfer worker` (the det model loaded, no job posted, a local hardhat node mining a block a second): CPU ms and wake-ups (times put on a CPU) per second of its threads, by role, from /proc/<pid>/task/<tid>/schedstat, in a window of BENCH_IDLE_S seconds opened BENCH_IDLE_AFTER_S seconds after the worker was ready; one worker per poll interval, in one run",
  afterSeconds: AFTER_S,
  windowSeconds: WINDOW_S,
  rows,
  cpuRatio500Over100: round(rows[1]!.cpuMsPerSecond / rows[0]!.cpuMsPerSecond, 3),
  machine: machineInfo(),
};
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);

const roles = [...new Set(rows.flatMap((row) => Object.keys(row.byRole)))];
console.log(`| poll interval | CPU ms/s | wake-ups/s | ${roles.map((role) => `${role} ms/s (wake-ups/s)`).join(" | ")} |`);
console.log(`|---:|---:|---:|${roles.map(() => "---:").join("|")}|`);
for (const row of rows) {
  const cells = roles.map((role) => (row.byRole[role] ? `${row.byRole[role].cpuMsPerSecond} (${row.byRole[role].runsPerSecond})` : "-"));
  console.log(`| ${row.pollIntervalMs} ms | ${row.cpuMsPerSecond} | ${row.runsPerSecond} | ${cells.join(" | ")} |`);
}
console.log(`CPU ratio, poll 500 ms over 100 ms: ${result.cpuRatio500Over100}`);
console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
