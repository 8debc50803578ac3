/**
 * What handing work to another thread costs the thread that hands it, by how long the other one has slept. The
 * worker hands each job's input read and output hash to a hashing thread (offchain/threads/hash-pool.ts) and its
 * file writes to libuv's pool; timed inside the worker, a HashPool post cost its main thread 0.07-0.40 ms of CPU,
 * against 0.004 ms for the same posts back to back in a loop. This says why: the cost grows with the target's sleep.
 *
 *   npm run bench:thread-wake      -> prints a table, writes bench/results/thread-wake.json
 *
 * For each gap (how long the other side sleeps between requests), BENCH_RUNS requests (default 100) of three kinds:
 *   - a message to a worker thread that answers at once (what a HashPool request is);
 *   - an fs call on libuv's pool (`fs.promises.stat` of a file), what every pooled file call is;
 *   - the same call blocking (`fs.statSync`), which wakes nobody.
 * Figures: the CPU the calling thread spent per request (`process.threadCpuUsage`, user + system), in the call
 * alone ("send") and over the whole request, its answer's arrival included ("round trip").
 *
 * On a VM a wake-up of a sleeping thread on an idle virtual CPU is an inter-processor interrupt the hypervisor
 * handles on the sender's time. In the worker bench (bench/worker.ts) onnxruntime keeps the cores busy most of the
 * time, and making the hashing thread's file calls blocking (no pool) did not lower the worker's CPU per job: the
 * file work itself (flushes above all) is what costs there, wherever it runs.
 */
import { mkdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";

import { machineInfo } from "./machine.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const GAPS_MS = [0, 1, 5, 20];
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/thread-wake.json");

type Row = { kind: string; gapMs: number; sendCpuUs: number; roundTripCpuUs: number };

const cpuUs = (since: NodeJS.CpuUsage) => {
  const used = process.threadCpuUsage(since);
  return used.user + used.system;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Mean CPU of the calling thread per request: in `send` alone, and until `send`'s answer arrived. */
async function measure(kind: string, gapMs: number, send: () => Promise<unknown>): Promise<Row> {
  let sendUs = 0;
  let roundTripUs = 0;
  for (let i = 0; i < RUNS + 5; i++) {
    if (gapMs > 0) await sleep(gapMs);
    else await new Promise(setImmediate);
    const before = process.threadCpuUsage();
    const answer = send();
    const sent = cpuUs(before);
    await answer;
    if (i < 5) continue; // warm-up
    sendUs += sent;
    roundTripUs += cpuUs(before);
  }
  return { kind, gapMs, sendCpuUs: round(sendUs / RUNS), roundTripCpuUs: round(roundTripUs / RUNS) };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

const thread = new Worker(`require("node:worker_threads").parentPort.on("message", function (m) { this.postMessage(m); });`, { eval: true });
await new Promise((resolve) => thread.once("online", resolve));
const file = path.join(tmpdir(), `dinfer-thread-wake-${process.pid}`);
writeFileSync(file, "x");

const rows: Row[] = [];
try {
  for (const gapMs of GAPS_MS) {
    rows.push(
      await measure("message to a worker thread", gapMs, () => {
        const answered = new Promise((resolve) => thread.once("message", resolve));
        thread.postMessage({ task: 1 });
        return answered;
      }),
    );
    rows.push(await measure("fs call on libuv's pool (fs.promises.stat)", gapMs, () => stat(file)));
    rows.push(await measure("the same call blocking (fs.statSync)", gapMs, async () => statSync(file)));
  }
} finally {
  await thread.terminate();
  unlinkSync(file);
}

const result = { runs: RUNS, rows, machine: machineInfo() };
console.log(`\nCPU the calling thread spends per request, microseconds (mean of ${RUNS}), by how long the other side slept\n`);
console.log("| request | gap ms | send | round trip |");
console.log("|---|---:|---:|---:|");
for (const row of rows) console.log(`| ${row.kind} | ${row.gapMs} | ${row.sendCpuUs} | ${row.roundTripCpuUs} |`);
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${path.relative(process.cwd(), OUT)}`);
