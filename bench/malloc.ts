/**
 * Why `dinfer worker` and `dinfer verifier` re-execute themselves with glibc's malloc tunables (bin/dinfer.js):
 * what a det input's buffer (4.9 MB) costs the thread that fills it, when it then goes to another thread and
 * back as the worker's inputs do, under glibc's default, under a trim threshold alone, and under the tunables
 * bin/dinfer.js sets. Each setting runs in a process of its own (glibc reads GLIBC_TUNABLES at start).
 *
 *   npm run bench:malloc      -> prints a table, writes bench/results/malloc.json
 *
 * Figures per buffer (mean and median of BENCH_RUNS, default 40, after 5 warm-ups): minor page faults while it
 * is allocated and filled (first touches of fresh pages), the milliseconds that took, and the process's CPU.
 * Linux with glibc only: elsewhere GLIBC_TUNABLES means nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

import { machineInfo } from "./machine.js";

const SIZE = 4_915_229;
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/malloc.json");
const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), "..");

type Sample = { faults: number; fillMs: number; cpuMs: number };
type Measured = Sample & { faultsMedian: number };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** In a child: fill a fresh buffer, lend it to a thread, take it back, drop it; RUNS times. */
async function measure(): Promise<void> {
  const thread = new Worker(`require("node:worker_threads").parentPort.on("message", function (b) { this.postMessage(b, [b.buffer]); });`, { eval: true });
  const source = new Uint8Array(65_536).fill(7);
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const faults = process.resourceUsage().minorPageFault;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const buffer = new Uint8Array(SIZE);
    for (let offset = 0; offset < SIZE; offset += source.length) buffer.set(source.subarray(0, Math.min(source.length, SIZE - offset)), offset);
    const fillMs = performance.now() - started;
    const filledFaults = process.resourceUsage().minorPageFault - faults;
    await new Promise((resolve) => {
      thread.once("message", resolve);
      thread.postMessage(buffer, [buffer.buffer]);
    });
    const used = process.cpuUsage(cpu);
    if (i >= 5) samples.push({ faults: filledFaults, fillMs, cpuMs: (used.user + used.system) / 1000 });
  }
  await thread.terminate();
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const result = {
    faults: mean(samples.map((s) => s.faults)),
    faultsMedian: median(samples.map((s) => s.faults)),
    fillMs: mean(samples.map((s) => s.fillMs)),
    cpuMs: mean(samples.map((s) => s.cpuMs)),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.env.BENCH_MALLOC_CHILD === "1") {
  await measure();
} else {
  const dinferTunables = /const MALLOC_TUNABLES = "([^"]+)"/.exec(readFileSync(path.join(ROOT, "bin/dinfer.js"), "utf8"))?.[1];
  if (dinferTunables === undefined) throw new Error("bin/dinfer.js names no MALLOC_TUNABLES");
  const settings: { setting: string; tunables?: string }[] = [
    { setting: "glibc's default (adaptive mmap threshold)" },
    { setting: "a trim threshold alone", tunables: "glibc.malloc.trim_threshold=268435456" },
    { setting: "bin/dinfer.js's tunables", tunables: dinferTunables },
  ];
  const rows = settings.map(({ setting, tunables }) => {
    const env: NodeJS.ProcessEnv = { ...process.env, BENCH_MALLOC_CHILD: "1", BENCH_RUNS: String(RUNS) };
    if (tunables === undefined) delete env.GLIBC_TUNABLES;
    else env.GLIBC_TUNABLES = tunables;
    const child = spawnSync(process.execPath, [...process.execArgv, SELF], { env, encoding: "utf8" });
    if (child.status !== 0) throw new Error(`the ${setting} run failed: ${child.stderr}`);
    const measured = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Measured;
    const round = (value: number) => Math.round(value * 100) / 100;
    return { setting, tunables: tunables ?? "", faults: round(measured.faults), faultsMedian: measured.faultsMedian, fillMs: round(measured.fillMs), cpuMs: round(measured.cpuMs) };
  });
  console.log(`\nA ${(SIZE / 1e6).toFixed(1)} MB buffer filled, lent to a thread and taken back; mean of ${RUNS} (faults: median too)\n`);
  console.log("| malloc | page faults while filled (median) | fill ms | CPU ms per buffer |\n|---|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.setting} | ${r.faults} (${r.faultsMedian}) | ${r.fillMs} | ${r.cpuMs} |`);
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ bytes: SIZE, runs: RUNS, rows, machine: machineInfo() }, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
}
