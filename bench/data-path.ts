/**
 * The floor under issue 16's overhead bar: the CPU a provider cannot avoid per PaddleOCR det job at 640x640,
 * whatever its code does around it, because the protocol makes it handle the job's bytes. Its 4.9 MB input is
 * read from the dApp's server, checked against its blob id and kept (the provider serves it until the job is
 * final, docs/PROTOCOL.md section 5); its 1.6 MB output is addressed by its output root and kept. No chain
 * work, no inference, no journal: only those bytes, through the same functions the worker calls.
 *
 *   npm run bench:data-path       -> prints a table, writes bench/results/data-path.json
 *   BENCH_INPUT=uint8 npm run bench:data-path   -> the same job with its image as uint8 (1.2 MB, the det model
 *                                 wrapped by withImageInput, offchain/inference/image-input.ts): data-path-uint8.json
 *   BENCH_INPUT=uint8 BENCH_OUTPUT=uint8 npm run bench:data-path   -> and its output as uint8 too (0.4 MB, wrapped by
 *                                 withByteOutput, offchain/inference/byte-output.ts): data-path-uint8-bytes-out.json
 *
 * A job's steps run in the worker's order, one job at a time, BENCH_RUNS jobs (default 30) after three
 * warm-ups; each step is measured as this process's CPU time (user + system, every thread: libuv's pool
 * writes and flushes the files) and its wall time, and the figures are each step's medians (the floor, their
 * sum). The dApp's blob server runs in a child process, so its
 * CPU is not counted. The blob store is a temporary directory on this machine's disk (BENCH_DIR to pick
 * another). `bar` is issue 16's 10 ms; `workerOutsideInference` is what bench:worker last measured outside
 * the inference threads (bench/results/worker.json), for the ratio of the two.
 *
 * It runs as `dinfer worker` runs (bin/dinfer.js): with glibc's malloc tunables, which keep freed memory in the
 * process (a fresh 4.9 MB buffer per read otherwise page-faults on every page), and V8's old generation started
 * at 256 MiB. Started without GLIBC_TUNABLES, it runs itself again with them.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { outputRoot } from "../offchain/codec/merkle.js";
import { blobId } from "../offchain/codec/tensor.js";
import { fetchBlob } from "../offchain/storage/fetch.js";
import { LocalBlobStore, writeStaged } from "../offchain/storage/local.js";
import { machineInfo } from "./machine.js";

// As bin/dinfer.js starts the daemons (its MALLOC_TUNABLES and V8_FLAGS).
if (process.env.GLIBC_TUNABLES === undefined && process.platform === "linux") {
  const again = spawnSync(process.execPath, ["--initial-old-space-size=256", ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456" },
  });
  process.exit(again.status ?? 1);
}

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS: expected a positive integer, got "${process.env.BENCH_RUNS}"`);
const INPUT = process.env.BENCH_INPUT ?? "float32";
if (INPUT !== "float32" && INPUT !== "uint8") throw new Error(`BENCH_INPUT: expected float32 or uint8, got "${INPUT}"`);
const OUTPUT = process.env.BENCH_OUTPUT ?? "float32";
if (OUTPUT !== "float32" && OUTPUT !== "uint8") throw new Error(`BENCH_OUTPUT: expected float32 or uint8, got "${OUTPUT}"`);
const OUT = path.resolve(
  process.env.BENCH_OUT ??
    (OUTPUT === "uint8" ? `bench/results/data-path-${INPUT === "uint8" ? "uint8-" : ""}bytes-out.json` : INPUT === "uint8" ? "bench/results/data-path-uint8.json" : "bench/results/data-path.json"),
);
const WORKER_RESULT = path.resolve(
  OUTPUT === "uint8" ? "bench/results/worker-uint8-bytes-out.json" : INPUT === "uint8" ? "bench/results/worker-uint8.json" : "bench/results/worker.json",
);
const BAR_MS = 10;
/**
 * The det job's blobs: a 1x3x640x640 input in its tensor blob (float32, or uint8 for the wrapped model), a
 * 1x1x640x640 output (float32, or uint8 for the model wrapped by withByteOutput).
 */
const SIZES = { input: INPUT === "uint8" ? 1_228_833 : 4_915_229, output: OUTPUT === "uint8" ? 409_649 : 1_638_443 } as const;

type Measured = { cpuMs: number; wallMs: number };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `step`, adding its CPU and wall time to `samples` (when given). */
async function timed<T>(samples: { cpu: number[]; wall: number[] } | undefined, step: () => Promise<T>): Promise<T> {
  const usage = process.cpuUsage();
  const started = performance.now();
  const value = await step();
  const { user, system } = process.cpuUsage(usage);
  samples?.wall.push(performance.now() - started);
  samples?.cpu.push((user + system) / 1000);
  return value;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** The dApp's blob server, in a process of its own: serves `bytes` at `/input`. */
async function startServer(file: string): Promise<{ url: string; stop: () => void }> {
  const script = `
    const bytes = require("node:fs").readFileSync(${JSON.stringify(file)});
    const server = require("node:http").createServer((req, res) => res.writeHead(200, { "content-length": bytes.length }).end(bytes));
    server.listen(0, "127.0.0.1", () => process.stdout.write(String(server.address().port) + "\\n"));`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once("exit", (code) => reject(new Error(`the blob server exited with code ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/input`, stop: () => child.kill() };
}

const dir = await mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), "dinfer-data-path-"));
const server = { stop: () => {} };
try {
  const input = new Uint8Array(randomBytes(SIZES.input));
  const output = new Uint8Array(randomBytes(SIZES.output));
  const inputId = blobId(input);
  const root = outputRoot(output);
  writeFileSync(path.join(dir, "input.bin"), input);
  const { url, stop } = await startServer(path.join(dir, "input.bin"));
  server.stop = stop;
  const store = new LocalBlobStore({ dir: path.join(dir, "blobs") });
  const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
  const staging = await store.openStaging();

  const names = [
    [`read the input over HTTP (${(SIZES.input / 1e6).toFixed(1)} MB, loopback)`, "a hashing thread"],
    ["its blob id (SHA-256), checked against inputHash", "a hashing thread"],
    ["stage it (write, not flushed)", "a hashing thread (libuv)"],
    ["keep it (flush, rename into place)", "libuv"],
    ["the output's root (SHA-256 Merkle tree, 4 KiB leaves)", "a hashing thread"],
    ["keep the output (write, flush, rename)", "libuv"],
  ] as const;
  const samples = names.map(() => ({ cpu: [] as number[], wall: [] as number[] }));
  for (let job = -3; job < RUNS; job++) {
    const at = (step: number) => (job < 0 ? undefined : samples[step]);
    const read = await timed(at(0), () => fetchBlob({ uri: url, expectedHash: inputId, maxBytes: SIZES.input, deferVerification: true }));
    await timed(at(1), async () => blobId(read));
    const file = await timed(at(2), () => writeStaged({ dir: staging, id: inputId, bytes: read }));
    await timed(at(3), () => store.adopt(file, inputId));
    await timed(at(4), async () => outputRoot(output));
    await timed(at(5), () => outputs.put(output, { knownId: root }));
  }
  const steps: { step: string; where: string; measured: Measured }[] = names.map(([step, where], i) => ({
    step,
    where,
    measured: { cpuMs: round(median(samples[i]!.cpu)), wallMs: round(median(samples[i]!.wall)) },
  }));

  const total = { cpuMs: round(steps.reduce((sum, s) => sum + s.measured.cpuMs, 0)), wallMs: round(steps.reduce((sum, s) => sum + s.measured.wallMs, 0)) };
  const worker = existsSync(WORKER_RESULT) ? (JSON.parse(readFileSync(WORKER_RESULT, "utf8")) as { outsideInferenceCpuMsPerJob?: number; overheadCpuMsPerJob?: number }) : {};
  const result = {
    runs: RUNS,
    input: INPUT,
    output: OUTPUT,
    sizes: SIZES,
    steps: steps.map(({ step: name, where, measured }) => ({ step: name, where, ...measured })),
    floorCpuMsPerJob: total.cpuMs,
    floorWallMsPerJob: total.wallMs,
    barCpuMsPerJob: BAR_MS,
    floorOverBar: round(total.cpuMs / BAR_MS),
    ...(worker.outsideInferenceCpuMsPerJob === undefined
      ? {}
      : { workerOutsideInferenceCpuMsPerJob: worker.outsideInferenceCpuMsPerJob, workerOverheadCpuMsPerJob: worker.overheadCpuMsPerJob, floorShareOfWorker: round(total.cpuMs / worker.outsideInferenceCpuMsPerJob) }),
    runtime: { glibcTunables: process.env.GLIBC_TUNABLES ?? null, v8Flags: process.execArgv.filter((flag) => flag.startsWith("--initial-old-space-size")) },
    machine: machineInfo(),
  };

  console.log(`\nA det job's bytes through the provider, median of ${RUNS} runs, one job at a time (CPU: this process, every thread)\n`);
  console.log("| step | where the worker does it | CPU ms | wall ms |\n|---|---|---:|---:|");
  for (const s of result.steps) console.log(`| ${s.step} | ${s.where} | ${s.cpuMs} | ${s.wallMs} |`);
  console.log(`| **the floor, per job** | | **${total.cpuMs}** | ${total.wallMs} |`);
  console.log(`\nissue 16's bar: ${BAR_MS} CPU ms per job outside inference; the floor is ${result.floorOverBar}x that.`);
  if (result.floorShareOfWorker !== undefined) {
    console.log(`bench:worker last measured ${result.workerOutsideInferenceCpuMsPerJob} CPU ms per job outside the inference threads: the floor is ${Math.round(result.floorShareOfWorker * 100)}% of it.`);
  }
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
} finally {
  server.stop();
  await rm(dir, { recursive: true, force: true });
}
