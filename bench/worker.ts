/**
 * Throughput of the whole provider pipeline against a raw onnxruntime-node loop, in one run on the
 * same machine and the same inputs: the PaddleOCR det model on CPU.
 *
 *   npm run bench:worker            -> prints a table, writes bench/results/worker.json
 *   BENCH_JOBS=96 BENCH_THREADS=1 npm run bench:worker
 *   BENCH_EP=webgpu BENCH_THREADS=4 BENCH_OUT=bench/results/worker-webgpu.json npm run bench:worker   (a GPU host)
 *   BENCH_INPUT=uint8 npm run bench:worker   (det with its normalization inside, withImageInput: inputs of 1.2 MB, not 4.9;
 *                                             writes bench/results/worker-uint8.json)
 *   BENCH_INPUT=uint8 BENCH_OUTPUT=uint8 npm run bench:worker   (and its output quantized inside, withByteOutput: results of
 *                                             0.4 MB, not 1.6; writes bench/results/worker-uint8-bytes-out.json)
 *
 * raw:    `session.run` on each job's input in turn, in this process (after two warm-up runs), once
 *         before the pipeline and once after it (the worker stopped), in two variants: the session
 *         options the worker's runner gives a one-thread pool (`runnerSessionOptions`: every core, no
 *         spinning) and onnxruntime's own defaults (every core, spinning). The median run time of
 *         the fastest pass of the faster variant gives `rawPerSec`: the baseline is the best plain
 *         loop on this machine, and a pass slowed by other load on the host does not flatter the
 *         pipeline.
 * worker: a real local chain (hardhat node), the contracts deployed with Ignition, `dinfer worker`
 *         as its own process. All jobs are posted first (inputs uploaded to the dApp's blob server,
 *         which runs in this process), then the worker starts on the backlog. Per job the worker
 *         fetches the input and checks its hash, decodes and validates it, runs the model in an
 *         inference thread, stores the output and computes its root, claims and commits in one
 *         transaction, reveals after the seed block, finalizes after the challenge window. It takes
 *         up a few jobs at a time (its prefetch), so every stage of every job falls inside the
 *         measured steady state. `workerPerSec`: jobs committed per second between the first and the
 *         last commit (the fixed latency of one job, the seed-block wait included, does not limit
 *         throughput); `endToEndPerSec` counts from the worker's start (model load included) to the
 *         last reveal. BENCH_THREADS sets the worker's inference threads (default: one per core,
 *         each then given one intra-op thread). The node's per-request console logging is switched
 *         off (BENCH_NODE_LOGGING=1 keeps it): it is no part of a chain's work, and it cost the node
 *         about a third of its CPU per request.
 *
 * rawParallel (CPU only): the same layout as the worker's inference threads (BENCH_THREADS sessions
 *         with the runner's options, each in its own thread), raw `session.run` loops side by side with
 *         no pipeline around them. Where the worker beats the single raw loop by running sessions in
 *         parallel, `workerPerSec / rawParallelPerSec` says what the pipeline itself costs. `ratio` is
 *         the worker over the best raw loop at batch 1 (single or parallel).
 *
 * BENCH_BATCH=<b> (dynamic batching, issue 16): the worker runs with `inferenceBatch: b`, and the raw
 *         parallel loops are run again with `b` inputs stacked into each `session.run`: `ratioBatched` is
 *         the worker over that loop, the best raw loop at the worker's batch size.
 *
 * overheadCpuMsPerJob: the worker process's CPU per job (the sum of its threads', by the scheduler's count where Linux keeps
 *         it, see outsideInferenceCpuMsPerJob) less onnxruntime's, which the raw parallel loop
 *         at the worker's batch size measures (the bench process's CPU per job over that loop, nothing
 *         else running in it): the main thread, hashing, decoding and encoding, the chain client. Never
 *         less than outsideInferenceCpuMsPerJob: where the raw loop's onnxruntime took more CPU than the
 *         worker's inference threads did altogether (a baseline the host slowed), the difference would
 *         subtract the worker's own work (one run gave 4.3 ms so, with 20.0 outside its inference threads).
 *
 * outsideInferenceCpuMsPerJob: the CPU per job of the worker's threads but its inference threads (threads name
 *         themselves, offchain/threads/thread-name.ts), each by the scheduler's own count where Linux keeps it
 *         (/proc/<pid>/task/<tid>/schedstat; the results before worker-uint8-1thread-schedstat.json read the clock ticks
 *         of `stat`, sampled 100 times a second, within about ±15% a thread over 96 jobs): measured in the same process at once, so it does
 *         not move with the raw loop's baseline as overheadCpuMsPerJob does; it leaves out the decoding and
 *         encoding the inference threads do (a few ms), so it is the smaller of the two.
 *
 * workerRunsPerJobByRole: the times the worker's threads were put on a CPU per job, by role (schedstat's count): a
 *         thread that sleeps between tasks runs once per wake-up, and on a virtual machine waking a sleeping thread
 *         costs its waker a fraction of a millisecond (npm run bench:thread-wake), so it counts the hand-offs.
 *
 * BENCH_WARMUP=<n>: the window opens at the n+1-th commit rather than the first: the worker's first jobs pay for its
 *         JIT compiling the hot paths (V8's helper threads compile, the main thread runs unoptimized code meanwhile),
 *         which a worker that runs for hours pays once. Default 0 (every job counts, as in the results before it).
 *
 * BENCH_SEGMENT=<n>: the window is also cut into runs of n commits (default 96), each with its own CPU per job outside the
 *         inference threads, by role (`segments`): whether the figure still falls as the worker runs on (V8 compiling the
 *         functions that a job calls once or twice as they reach its tier-up thresholds, one after another), read in
 *         one run rather than across runs on a noisy host.
 *
 * BENCH_POLL_MS=<ms>: the worker's pollIntervalMs, 100 by default (a provider's default is 500): each tick reads the
 *         chain head, so a shorter interval costs chain requests, and starts the steps due, so a longer one may cost
 *         throughput.
 *
 * BENCH_WORKER_LOG=<file>: writes the worker's log there (its JSON lines), to see what a long gap between commits was;
 * BENCH_WORKER_LOG_LEVEL=debug logs its waits too (a job waiting for free stake, say).
 *
 * BENCH_WORKER_NODE_OPTIONS: NODE_OPTIONS for the worker process alone, to profile it where it runs; e.g.
 *         "--perf-basic-prof" names its JavaScript frames for `perf record -g -p <worker pid>` (Linux perf
 *         samples CPU time per thread, which V8's own profiler on a machine without a spare core does not).
 *
 * Also reported, to say where the time goes: the worker's per-stage medians (its "inference done"
 * and "... confirmed" log lines), the chain requests it made per job (its metrics), the CPU each
 * process (worker and its busiest threads, hardhat node, this bench with the dApp's blob server)
 * spent per job committed in the steady-state window, and the share of the machine other people's
 * processes took meanwhile (from /proc): this machine is shared, and a run they disturbed shows.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";

import * as ort from "onnxruntime-node";

import { decodeTensorBlob, encodeTensorBlob, tensorToArray, type Tensor } from "../offchain/codec/tensor.js";
import { runnerSessionOptions } from "../offchain/inference/runner.js";
import { DEFAULT_SESSION_OPTIONS } from "../offchain/inference/session.js";
import { tensorsToFeeds } from "../offchain/inference/validate.js";
import { imageToDetInput } from "../offchain/sdk/image.js";
import { postJob } from "../offchain/sdk/jobs.js";
import { uploadBlob } from "../offchain/storage/upload.js";
import { registerImageInputDet } from "../test/helpers/image-input-model.js";
import { startLocalNetwork } from "../test/helpers/network.js";
import { startWorkerProcess } from "../test/helpers/worker-process.js";
import { machineInfo } from "./machine.js";

const JOBS = Number(process.env.BENCH_JOBS ?? 96);
const EP = process.env.BENCH_EP ?? "cpu";
if (EP !== "cpu" && EP !== "webgpu") throw new Error(`BENCH_EP: expected cpu or webgpu, got "${EP}"`);
const INPUT = process.env.BENCH_INPUT ?? "float32";
if (INPUT !== "float32" && INPUT !== "uint8") throw new Error(`BENCH_INPUT: expected float32 or uint8, got "${INPUT}"`);
const OUTPUT = process.env.BENCH_OUTPUT ?? "float32";
if (OUTPUT !== "float32" && OUTPUT !== "uint8") throw new Error(`BENCH_OUTPUT: expected float32 or uint8, got "${OUTPUT}"`);
if (OUTPUT === "uint8" && INPUT !== "uint8") throw new Error("BENCH_OUTPUT=uint8 takes BENCH_INPUT=uint8 too (det wrapped both ways)");
const OUT = path.resolve(
  process.env.BENCH_OUT ?? (OUTPUT === "uint8" ? "bench/results/worker-uint8-bytes-out.json" : INPUT === "uint8" ? "bench/results/worker-uint8.json" : "bench/results/worker.json"),
);
const DET_SIZE = Number(process.env.BENCH_DET_SIZE ?? 640);
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const BATCH = Number(process.env.BENCH_BATCH ?? 1);
/** The worker's chain poll interval (its pollIntervalMs; a provider's default is 500). */
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 100);
if (!Number.isInteger(POLL_MS) || POLL_MS < 1) throw new Error(`BENCH_POLL_MS must be a positive integer (milliseconds), got ${process.env.BENCH_POLL_MS}`);
/** Commits before the measured window opens: the worker's first jobs pay for its JIT's warm-up, which a worker that runs for hours pays once. */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 0);
const SEGMENT = Number(process.env.BENCH_SEGMENT ?? 96);
if (!Number.isInteger(SEGMENT) || SEGMENT < 2) throw new Error(`BENCH_SEGMENT must be an integer of at least 2 (commits per segment), got ${process.env.BENCH_SEGMENT}`);
if (!Number.isInteger(WARMUP) || WARMUP < 0 || WARMUP > JOBS - 2) {
  throw new Error(`BENCH_WARMUP must be an integer from 0 to BENCH_JOBS - 2 (${JOBS - 2}), got ${process.env.BENCH_WARMUP}: the window needs two commits after it`);
}
if (!Number.isInteger(BATCH) || BATCH < 1) throw new Error(`BENCH_BATCH: expected a positive integer, got "${process.env.BENCH_BATCH}"`);
const IMAGES = ["doc", "blank", "line-1", "line-1-rot180", "line-2", "line-2-rot180", "line-3", "line-3-rot180"];
const imageDir = path.resolve("test/fixtures/images");

// Job i's input is image i % 8: the bench holds one blob (and one raw-loop feed) per image, not per job, so that its
// own heap (and garbage collections) stay small while it serves the inputs. The worker so writes each input and output
// over the file it wrote 8 jobs before, and ext4 frees the old file's pages inside the rename (18% of libuv's pool in a
// perf profile, about 0.4 ms per job), pages the next write takes again. Inputs of their own per job were tried: libuv's
// pool then rose from 2-3 to 6-7 CPU ms per job as the runs went on, 84% of it copying into the page cache
// (copy_folio_from_iter_atomic), with the cycled inputs back at 1.9 in the next run. Most likely the page cache grew
// into memory this VM's kernel had handed back to the host (free page reporting, /sys/module/page_reporting), and each
// first write to such a page waits for the host to supply it again: a cost of a fresh VM's memory, which a worker that
// has run for hours, writing into pages its machine recycles, does not pay.
const images: Uint8Array[] = [];
for (const name of IMAGES.slice(0, JOBS)) {
  const { tensor } = await imageToDetInput(path.join(imageDir, `${name}.png`), { size: DET_SIZE, dtype: INPUT });
  images.push(encodeTensorBlob([tensor]));
}
const inputs = Array.from({ length: JOBS }, (_, i) => images[i % images.length]!);

// Enough stake that every job can be claimed at once (each locks the model's 100-token collateral).
const net = await startLocalNetwork({ providerStake: BigInt(JOBS + 2) * 100n * 10n ** 18n });
let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
try {
  if (process.env.BENCH_NODE_LOGGING !== "1") {
    await net.publicClient.request({ method: "hardhat_setLoggingEnabled", params: [false] } as never);
  }
  // ---- raw loops, same inputs. They run before and after the pipeline, and the median run time
  // of both passes counts: this machine is noisy.
  // BENCH_INPUT=uint8: the det model with its normalization inside (withImageInput), registered here; BENCH_OUTPUT=uint8:
  // its output quantized inside too (withByteOutput).
  const det = INPUT === "uint8" ? await registerImageInputDet(net, { byteOutput: OUTPUT === "uint8" }) : { path: net.modelFiles.det, modelId: net.modelIds.det };
  const detPath = det.path;
  const nodePid = findListeningNode(new URL(net.url).port);
  const imageFeeds = images.map((bytes) => tensorsToFeeds(decodeTensorBlob(bytes)));
  const feeds = inputs.map((_, i) => imageFeeds[i % imageFeeds.length]!);
  const variants =
    EP === "cpu"
      ? [
          { name: "runner options (no spinning)", options: runnerSessionOptions({ size: 1 }) },
          { name: "onnxruntime defaults (spinning)", options: DEFAULT_SESSION_OPTIONS },
        ]
      : [{ name: "onnxruntime defaults", options: DEFAULT_SESSION_OPTIONS }];
  const raw = await Promise.all(
    variants.map(async ({ name, options }) => ({
      name,
      session: await ort.InferenceSession.create(detPath, { ...options, executionProviders: [EP] }),
      /** Run times of each pass. */
      passes: [] as number[][],
    })),
  );
  // Other people's CPU use while the raw loops ran, as a share of the machine: a noisy baseline shows.
  const rawOthers: number[] = [];
  const rawPass = async () => {
    for (const { session, passes } of raw) {
      const runMs: number[] = [];
      passes.push(runMs);
      for (let i = 0; i < 2; i++) await session.run(feeds[i % feeds.length]!);
      const [t0, machine0, bench0, node0] = [Date.now(), machineCpuMs(), benchCpuMs(), processCpuMs(nodePid)];
      for (const feed of feeds) {
        const t = performance.now();
        await session.run(feed);
        runMs.push(performance.now() - t);
      }
      const busy = (machineCpuMs() ?? NaN) - (machine0 ?? NaN) - (benchCpuMs() - bench0) - ((processCpuMs(nodePid) ?? 0) - (node0 ?? 0));
      rawOthers.push(busy / ((Date.now() - t0) * availableParallelism()));
    }
  };
  await rawPass();
  const rawParallel = EP === "cpu" ? await rawParallelLoops({ modelPath: detPath, blobs: images, threads: THREADS, runsPerThread: Math.ceil(JOBS / THREADS), batch: 1 }) : undefined;
  const rawBatched =
    EP === "cpu" && BATCH > 1
      ? await rawParallelLoops({ modelPath: detPath, blobs: images, threads: THREADS, runsPerThread: Math.max(2, Math.ceil(JOBS / THREADS / BATCH)), batch: BATCH })
      : undefined;

  // ---- the worker pipeline: the jobs are posted first (the dApp is not the worker's cost), then
  // the worker starts on the backlog.
  const imageUris: string[] = [];
  for (const bytes of images) {
    imageUris.push((await uploadBlob({ serverUrl: net.blobServer.url, token: net.uploadToken, bytes })).url);
  }
  const uris = inputs.map((_, i) => imageUris[i % imageUris.length]!);
  // The local chain mines a block a second, so the jobs go 32 at a time (the first alone: it approves the fee), and
  // each may wait to be claimed for the local terms' longest (maxClaimDelay, an hour): a backlog of hundreds waits
  // minutes for the worker, longer than the SDK's default of ten.
  const post = (i: number) =>
    postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: det.modelId,
      input: inputs[i]!,
      inputURI: uris[i],
      fee: 2n * 10n ** 18n,
      claimWithin: 3_600,
    });
  await post(0);
  for (let i = 1; i < JOBS; i += 32) {
    await Promise.all(Array.from({ length: Math.min(32, JOBS - i) }, (_, k) => post(i + k)));
  }
  const started = Date.now();
  worker = await startWorkerProcess({
    url: net.url,
    deployment: net.deployment,
    models: [{ modelId: det.modelId, path: detPath }],
    dataDir: net.tempDir("bench-worker-"),
    key: net.keys.provider,
    secret: "bench-worker-secret-0001",
    pollIntervalMs: POLL_MS,
    ep: EP,
    extra: { threads: THREADS, inferenceBatch: BATCH, inferenceBatchWaitMs: BATCH > 1 ? 20 : 0 },
    env: {
      ...(process.env.BENCH_WORKER_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS }),
      ...(process.env.BENCH_WORKER_LOG_LEVEL && { DINFER_LOG_LEVEL: process.env.BENCH_WORKER_LOG_LEVEL }),
    },
  });
  // CPU time of each process of the pipeline, sampled as it runs (Linux /proc; empty elsewhere).
  const cpuSamples: CpuSample[] = [];
  const sampleCpu = () => {
    const { cpuMs: threads, runs: threadRuns } = threadSchedule(worker!.pid);
    cpuSamples.push({
      time: Date.now(),
      worker: processCpuMs(worker!.pid),
      threads,
      threadRuns,
      benchThreads: threadSchedule(process.pid).cpuMs,
      node: processCpuMs(nodePid),
      bench: benchCpuMs(),
      machine: machineCpuMs(),
    });
  };
  const revealed = () => worker!.lines().filter((l) => l.msg === "result revealed").length;
  const deadline = Date.now() + Number(process.env.BENCH_DEADLINE_S ?? 300) * 1000;
  sampleCpu();
  while (revealed() < JOBS) {
    if (Date.now() > deadline || worker.exited()) {
      // What the worker said last is what explains it.
      console.error(worker.logs().slice(-6_000));
      throw new Error(`only ${revealed()} of ${JOBS} jobs revealed in time${worker.exited() ? " (the worker exited)" : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    sampleCpu();
  }
  const metricsText = worker.metricsUrl ? await (await fetch(worker.metricsUrl)).text() : "";
  const lines = worker.lines();
  if (process.env.BENCH_WORKER_LOG) writeFileSync(process.env.BENCH_WORKER_LOG, worker.logs());
  // The worker would go on finalizing and withdrawing: stopped, it leaves the second raw pass alone.
  await worker.stop().catch(() => worker?.kill());
  await rawPass();
  for (const { session } of raw) await session.release();
  // The best pass of the best variant: a pass that other load on the host slowed (it happens here
  // with nothing else visible on the machine) does not flatter the pipeline.
  const passMs = (passes: number[][]) => Math.min(...passes.map((runs) => median(runs)));
  const best = raw.reduce((a, b) => (passMs(b.passes) < passMs(a.passes) ? b : a));
  const rawRunMs = best.passes.reduce((a, b) => (median(b) < median(a) ? b : a));
  const rawSeconds = (median(rawRunMs) * JOBS) / 1000;
  const times = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => Number(l.time)).sort((a, b) => a - b);
  // run-first commits with claimAndCommit, claim-first with commit
  // The window opens at the commit after the warm-up (BENCH_WARMUP), and closes at the last.
  const commits = [...times("commit confirmed"), ...times("claimAndCommit confirmed")].sort((a, b) => a - b).slice(WARMUP);
  const reveals = times("result revealed");
  const inferenceMs = lines.filter((l) => l.msg === "inference done").map((l) => Number(l.ms));
  const windowMs = commits.at(-1)! - commits[0]!;
  const workerPerSec = (commits.length - 1) / (windowMs / 1000);
  const commitGaps = commits.slice(1).map((time, i) => time - commits[i]!);

  // Where each job's time goes: the worker's per-stage timings (medians), the chain requests it made
  // per job, and the CPU each process spent per job committed inside the steady-state window.
  const stageMs: Record<string, number> = {};
  const stageLines = lines.filter((l) => l.msg === "inference done" && typeof l.stages_ms === "object");
  for (const stage of ["fetch", "check", "wait", "prep", "hash", "run", "output"]) {
    stageMs[stage] = round(median(stageLines.map((l) => (l.stages_ms as Record<string, number>)[stage]).filter((v) => v !== undefined)));
  }
  for (const action of ["claimAndCommit", "commit", "reveal", "finalize"]) {
    const sends = lines.filter((l) => l.msg === `${action} confirmed` && l.ms !== undefined).map((l) => Number(l.ms));
    if (sends.length > 0) stageMs[`${action} send`] = round(median(sends));
  }
  const rpcPerJob: Record<string, number> = {};
  for (const [, method, count] of metricsText.matchAll(/^dinfer_rpc_requests_total\{method="([^"]+)"\} (\d+)/gm)) {
    rpcPerJob[method!] = round(Number(count) / JOBS);
  }
  const rpcTotalPerJob = round(Object.values(rpcPerJob).reduce((a, b) => a + b, 0));
  const cpuAt = (time: number) => cpuSamples.reduce((best, s) => (Math.abs(s.time - time) < Math.abs(best.time - time) ? s : best));
  const [from, to] = [cpuAt(commits[0]!), cpuAt(commits.at(-1)!)];
  const perJob = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : round((b - a) / (commits.length - 1));
  const cpuMsPerJob = {
    worker: perJob(from.worker, to.worker),
    node: perJob(from.node, to.node),
    bench: perJob(from.bench, to.bench),
    others: perJob(othersCpuMs(from), othersCpuMs(to)),
    machine: perJob(from.machine, to.machine),
    wallMs: round(windowMs / (commits.length - 1)),
  };
  const othersShareDuringRaw = round(median(rawOthers));
  const othersShareDuringWorker = round((cpuMsPerJob.others ?? NaN) / (cpuMsPerJob.wallMs * availableParallelism()));
  const busiestThreads = (at: Record<string, number>, since: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(at)
        .map(([name, ms]) => [name, (ms - (since[name] ?? 0)) / (commits.length - 1)] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([name, ms]) => [name, round(ms)]),
    );
  const workerThreadShare = busiestThreads(to.threads, from.threads);
  // By role: the worker's own threads are named (inference-N, hash-N; offchain/threads/thread-name.ts), libuv's
  // pool is libuv-worker, and the rest ("node") are V8's platform threads (garbage collection, compilation).
  const perJobByRole = (at: Record<string, number>, since: Record<string, number>, jobs = commits.length - 1) => {
    const byRole: Record<string, number> = {};
    for (const [name, value] of Object.entries(at)) {
      const role = name === "main" ? "main" : name.replace(/:\d+$/, "").replace(/-\d+(-gpu\d*)?$/, "");
      byRole[role] = (byRole[role] ?? 0) + (value - (since[name] ?? 0)) / jobs;
    }
    return Object.fromEntries(Object.entries(byRole).map(([role, value]) => [role, round(value)]));
  };
  const outsideInference = (byRole: Record<string, number>) =>
    byRole.inference === undefined ? undefined : round(Object.entries(byRole).reduce((sum, [role, ms]) => (role === "inference" ? sum : sum + ms), 0));
  // The window in runs of SEGMENT commits (the last run takes the remainder when it is at least half a segment).
  const segments: { commits: string; outsideInferenceCpuMsPerJob?: number; byRole: Record<string, number>; jobsPerSec: number }[] = [];
  for (let first = 0; first + 1 < commits.length; first += SEGMENT) {
    const last = Math.min(first + SEGMENT, commits.length - 1);
    if (last - first < SEGMENT / 2 && segments.length > 0) break;
    const [a, b] = [cpuAt(commits[first]!), cpuAt(commits[last]!)];
    const byRole = perJobByRole(b.threads, a.threads, last - first);
    segments.push({
      commits: `${WARMUP + first + 2}-${WARMUP + last + 1}`,
      outsideInferenceCpuMsPerJob: outsideInference(byRole),
      byRole,
      jobsPerSec: round((last - first) / ((commits[last]! - commits[first]!) / 1000)),
    });
  }
  const workerCpuMsPerJobByRole = perJobByRole(to.threads, from.threads);
  // Wake-ups: on a virtual machine a thread woken from sleep costs its waker a fraction of a millisecond (npm run bench:thread-wake).
  const workerRunsPerJobByRole = perJobByRole(to.threadRuns, from.threadRuns);
  const benchThreadShare = busiestThreads(to.benchThreads, from.benchThreads);
  const endToEndPerSec = JOBS / ((reveals.at(-1)! - started) / 1000);
  const rawPerSec = JOBS / rawSeconds;
  const rawBestPerSec = Math.max(rawPerSec, rawParallel?.perSec ?? 0);
  const ratio = workerPerSec / rawBestPerSec;
  const rawAtBatch = rawBatched ?? rawParallel;
  const batchSizes = lines.filter((l) => l.msg === "inference done" && l.batch !== undefined).map((l) => Number(l.batch));
  const ortCpuMsPerJob = rawAtBatch?.cpuMsPerJob;
  // The worker's threads but its inference threads, each by the scheduler's count (threadSchedule).
  const outsideInferenceCpuMsPerJob = outsideInference(workerCpuMsPerJobByRole);
  // Never below what ran outside the inference threads: a raw loop slowed by the host (its onnxruntime CPU above
  // what the worker's own inference threads spent) would otherwise take the worker's work off its overhead.
  // The worker's whole CPU, by the scheduler's count where it has one: the sum of its threads' (its process's `stat`
  // ticks otherwise, and in the results before worker-uint8-1thread-wakes.json).
  if (Object.keys(to.threadRuns).length > 0) cpuMsPerJob.worker = round(Object.values(workerCpuMsPerJobByRole).reduce((a, b) => a + b, 0));
  const lessOrt = cpuMsPerJob.worker === undefined || ortCpuMsPerJob === undefined ? undefined : round(cpuMsPerJob.worker - ortCpuMsPerJob);
  const overheadCpuMsPerJob = lessOrt === undefined ? undefined : Math.max(lessOrt, outsideInferenceCpuMsPerJob ?? lessOrt);

  const result = {
    model:
      INPUT === "float32"
        ? "ch_PP-OCRv4_det_infer.onnx"
        : `ch_PP-OCRv4_det_infer.onnx with a uint8 image input (withImageInput)${OUTPUT === "uint8" ? " and a uint8 output (withByteOutput)" : ""}`,
    ep: EP,
    input: `${DET_SIZE}x${DET_SIZE} ${INPUT} (${inputs[0]!.length} bytes)`,
    output: OUTPUT,
    jobs: JOBS,
    warmupJobs: WARMUP,
    pollIntervalMs: POLL_MS,
    rawPerSec: round(rawPerSec),
    workerPerSec: round(workerPerSec),
    rawBestPerSec: round(rawBestPerSec),
    ratio: round(ratio),
    batch: BATCH,
    ...(rawAtBatch && { rawBatchedPerSec: round(rawAtBatch.perSec), ratioBatched: round(workerPerSec / rawAtBatch.perSec) }),
    workerBatchSizeMedian: batchSizes.length > 0 ? median(batchSizes) : 1,
    overheadCpuMsPerJob,
    workerLessOrtCpuMsPerJob: lessOrt,
    outsideInferenceCpuMsPerJob,
    ortCpuMsPerJob: ortCpuMsPerJob === undefined ? undefined : round(ortCpuMsPerJob),
    endToEndPerSec: round(endToEndPerSec),
    rawMsPerRun: round(median(rawRunMs)),
    ...(rawParallel && {
      rawParallelPerSec: round(rawParallel.perSec),
      ratioToRawParallel: round(workerPerSec / rawParallel.perSec),
      rawParallelLayout: `${THREADS} threads x 1 session (${rawParallel.intraOpThreads} intra-op threads each, no spinning)`,
    }),
    rawVariantsMsPerRunByPass: Object.fromEntries(raw.map(({ name, passes }) => [name, passes.map((runs) => round(median(runs)))])),
    workerThreads: THREADS,
    workerInferenceMsMedian: round(median(inferenceMs)),
    // Gaps between consecutive commits: a run slowed by one stall (a long gap) differs from one slowed throughout.
    commitGapMs: { median: round(median(commitGaps)), max: round(Math.max(...commitGaps)), over1s: commitGaps.filter((gap) => gap > 1_000).length },
    stageMsMedian: stageMs,
    rpcPerJob: { total: rpcTotalPerJob, ...rpcPerJob },
    cpuMsPerJob,
    othersCpuShare: { duringRaw: othersShareDuringRaw, duringWorker: othersShareDuringWorker },
    workerThreadCpuMsPerJob: workerThreadShare,
    workerCpuMsPerJobByRole,
    workerRunsPerJobByRole,
    segments,
    benchThreadCpuMsPerJob: benchThreadShare,
    definition:
      "jobs posted first, then the worker started; workerPerSec: jobs committed per second between the first (after warmupJobs commits) and last commit, the window CPU per job is measured in too; endToEndPerSec: jobs / (last reveal - worker process start, model load included)",
    target: 0.8,
    machine: machineInfo(),
  };
  console.log(`\nWorker pipeline vs raw session.run, det ${DET_SIZE}x${DET_SIZE} on ${EP}, ${JOBS} jobs\n`);
  console.log("| measure | value |\n|---|---:|");
  console.log(
    `| raw session.run loop | ${result.rawPerSec} jobs/s (${result.rawMsPerRun} ms/run, ${best.name}; ` +
      `${raw.map(({ name, passes }) => `${name} ${passes.map((runs) => round(median(runs))).join(" / ")} ms`).join(", ")}; before / after) |`,
  );
  console.log(
    `| worker pipeline, steady state | ${result.workerPerSec} jobs/s (${THREADS} inference threads, inference ${result.workerInferenceMsMedian} ms median) |`,
  );
  console.log(`| gaps between commits | median ${result.commitGapMs.median} ms, longest ${result.commitGapMs.max} ms, ${result.commitGapMs.over1s} over 1 s |`);
  console.log(`| ratio (over the best raw loop at batch 1, ${result.rawBestPerSec} jobs/s) | ${result.ratio} (target >= ${result.target}) |`);
  if (rawAtBatch) {
    console.log(`| raw loops at batch ${BATCH} (worker's layout) | ${result.rawBatchedPerSec} jobs/s; ratioBatched ${result.ratioBatched} (worker's median stacked run ${result.workerBatchSizeMedian} jobs) |`);
  }
  console.log(
    `| overhead CPU ms per job (worker less onnxruntime, at least outside inference) | ${result.overheadCpuMsPerJob} (worker ${cpuMsPerJob.worker}, onnxruntime ${result.ortCpuMsPerJob}, ` +
      `difference ${lessOrt}; bar <= 10) |`,
  );
  console.log(`| worker CPU ms per job outside its inference threads | ${result.outsideInferenceCpuMsPerJob} |`);
  if (rawParallel) {
    console.log(`| raw loops in the worker's layout | ${result.rawParallelPerSec} jobs/s (${result.rawParallelLayout}); worker / that ${result.ratioToRawParallel} |`);
  }
  console.log(`| end to end, worker start -> last reveal | ${result.endToEndPerSec} jobs/s |`);
  console.log(`| stages, median ms | ${Object.entries(stageMs).map(([k, v]) => `${k} ${v}`).join(", ")} |`);
  console.log(`| chain requests per job | ${rpcTotalPerJob} (${Object.entries(rpcPerJob).map(([k, v]) => `${k} ${v}`).join(", ")}) |`);
  console.log(
    `| CPU ms per job (steady state) | worker ${cpuMsPerJob.worker}, hardhat node ${cpuMsPerJob.node}, bench ${cpuMsPerJob.bench}, ` +
      `other processes ${cpuMsPerJob.others}; whole machine ${cpuMsPerJob.machine} of ${round(cpuMsPerJob.wallMs * result.machine.cores)} ` +
      `(${cpuMsPerJob.wallMs} ms wall per job) |`,
  );
  console.log(`| other processes' share of the machine | ${othersShareDuringRaw} during the raw loops, ${othersShareDuringWorker} during the pipeline (0: a quiet machine) |`);
  console.log(`| worker's busiest threads, CPU ms per job (steady state) | ${Object.entries(workerThreadShare).map(([k, v]) => `${k} ${v}`).join(", ")} |`);
  console.log(`| worker's CPU ms per job by thread role | ${Object.entries(workerCpuMsPerJobByRole).map(([k, v]) => `${k} ${v}`).join(", ")} |`);
  console.log(`| worker's threads put on a CPU per job (wake-ups), by role | ${Object.entries(workerRunsPerJobByRole).map(([k, v]) => `${k} ${v}`).join(", ")} |`);
  for (const segment of segments) {
    console.log(
      `| commits ${segment.commits}: CPU ms per job outside the inference threads | ${segment.outsideInferenceCpuMsPerJob} ` +
        `(${Object.entries(segment.byRole).filter(([role]) => role !== "inference").map(([k, v]) => `${k} ${v}`).join(", ")}; ${segment.jobsPerSec} jobs/s) |`,
    );
  }
  console.log(`| this bench's busiest threads (the dApp's blob server, the samplers) | ${Object.entries(benchThreadShare).map(([k, v]) => `${k} ${v}`).join(", ")} |`);
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
} finally {
  await worker?.stop().catch(() => worker?.kill());
  await net.stop();
}

/**
 * `threads` raw `session.run` loops side by side, each in a thread of its own with a session made
 * with the options the worker's runner gives a pool of that size, over the same blobs: the
 * inference the worker does, without the pipeline. Jobs per second over the slowest thread's time.
 */
async function rawParallelLoops({ modelPath, blobs, threads, runsPerThread, batch }: { modelPath: string; blobs: Uint8Array[]; threads: number; runsPerThread: number; batch: number }) {
  const options = runnerSessionOptions({ size: threads });
  // Plain CommonJS in an eval'd thread: onnxruntime-node and the decoded inputs are all it needs.
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const ort = require(workerData.ort);
    (async () => {
      const session = await ort.InferenceSession.create(workerData.modelPath, workerData.options);
      // Each run stacks workerData.batch inputs along the first axis (1: the inputs as they are).
      const b = workerData.batch;
      const feeds = workerData.inputs.map((_, i) => {
        const group = Array.from({ length: b }, (_, k) => workerData.inputs[(i + k) % workerData.inputs.length]);
        return Object.fromEntries(group[0].map((t, j) => {
          const parts = group.map((tensors) => tensors[j].data);
          const data = new parts[0].constructor(parts.reduce((n, part) => n + part.length, 0));
          let offset = 0;
          for (const part of parts) { data.set(part, offset); offset += part.length; }
          return [t.name, new ort.Tensor(t.dtype, data, [t.dims[0] * b, ...t.dims.slice(1)])];
        }));
      });
      for (let i = 0; i < 2; i++) await session.run(feeds[i % feeds.length]);
      parentPort.postMessage("ready");
      await new Promise((resolve) => parentPort.once("message", resolve));
      const start = performance.now();
      for (let i = 0; i < workerData.runs; i++) await session.run(feeds[i % feeds.length]);
      const ms = performance.now() - start;
      await session.release();
      parentPort.postMessage(ms);
    })();`;
  const inputs = blobs.map((bytes) =>
    decodeTensorBlob(bytes).map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims, data: tensorToArray(t as Tensor<"float32" | "uint8">).slice() })),
  );
  const workers = Array.from(
    { length: threads },
    () => new Worker(code, { eval: true, workerData: { ort: createRequire(import.meta.url).resolve("onnxruntime-node"), modelPath, options: { ...options, executionProviders: ["cpu"] }, inputs, runs: runsPerThread, batch } }),
  );
  // No thread is ever terminated: one inside an onnxruntime call must not be (the process would
  // abort). Each ends by itself once its session is released; a failing one rejects here.
  const next = (worker: Worker) =>
    new Promise<unknown>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  await Promise.all(workers.map(next));
  const done = workers.map(next);
  const cpu0 = benchCpuMs();
  for (const worker of workers) worker.postMessage("go");
  const exited = workers.map((worker) => new Promise((resolve) => worker.once("exit", resolve)));
  const ms = (await Promise.all(done)) as number[];
  const cpuMs = benchCpuMs() - cpu0;
  await Promise.all(exited);
  const jobs = threads * runsPerThread * batch;
  return { perSec: jobs / (Math.max(...ms) / 1000), intraOpThreads: options.intraOpNumThreads, cpuMsPerJob: cpuMs / jobs };
}

/** /proc counts CPU time in clock ticks, USER_HZ = 100 a second on Linux. */
function ticksToMs(ticks: number): number {
  return ticks * 10;
}

type CpuSample = {
  time: number;
  worker?: number;
  threads: Record<string, number>;
  /** Times each thread was put on a CPU (its wake-ups). */
  threadRuns: Record<string, number>;
  benchThreads: Record<string, number>;
  node?: number;
  bench: number;
  machine?: number;
};

/** utime + stime of a process (all its threads), ms; undefined where /proc is missing. */
function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ticksToMs(Number(fields[11]) + Number(fields[12]));
  } catch {
    return undefined;
  }
}

/**
 * CPU ms of each thread of a process (`cpuMs`), and the times each was put on a CPU (`runs`, where schedstat is kept),
 * by name and thread id: the main thread (its id is the pid),
 * the inference worker threads, onnxruntime's pool threads (named after the process), libuv's pool...
 * From the scheduler's own count (`schedstat`, nanoseconds) where the kernel keeps it: the clock-tick count of
 * `stat` is sampled 100 times a second, so a thread's 5 ms a job over 95 jobs (about 50 ticks) read within ±15%.
 */
function threadSchedule(pid: number): { cpuMs: Record<string, number>; runs: Record<string, number> } {
  const cpuMs: [string, number][] = [];
  const runs: [string, number][] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = tid === String(pid) ? "main" : `${stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))}:${tid}`;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const scheduled = schedstat(pid, tid);
      cpuMs.push([name, scheduled?.ms ?? ticksToMs(Number(fields[11]) + Number(fields[12]))]);
      if (scheduled !== undefined) runs.push([name, scheduled.runs]);
    }
  } catch {
    // not Linux, or gone
  }
  return { cpuMs: Object.fromEntries(cpuMs), runs: Object.fromEntries(runs) };
}

/**
 * A thread's time on a CPU by the scheduler's count, ms, and the times it was put on one (`runs`: a thread that
 * sleeps between tasks runs once per wake-up), from /proc/<pid>/task/<tid>/schedstat; undefined without it.
 */
function schedstat(pid: number, tid: string): { ms: number; runs: number } | undefined {
  try {
    const [ns, , runs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(" ").map(Number);
    return Number.isFinite(ns) && Number.isFinite(runs) ? { ms: ns! / 1e6, runs: runs! } : undefined;
  } catch {
    return undefined;
  }
}

/** The machine's busy CPU time not spent by the pipeline's processes: other people's work. */
function othersCpuMs(sample: CpuSample): number | undefined {
  return sample.machine === undefined ? undefined : sample.machine - (sample.worker ?? 0) - (sample.node ?? 0) - sample.bench;
}

function benchCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Busy CPU time of the whole machine (all processes, ours and others'), ms. */
function machineCpuMs(): number | undefined {
  try {
    const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks.map(Number);
    void idle;
    void iowait;
    return ticksToMs(user! + nice! + system! + irq! + softirq! + steal!);
  } catch {
    return undefined;
  }
}

/** The pid of the `hardhat node` process serving this port (its command line names it). */
function findListeningNode(port: string): number | undefined {
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
        if (args.includes("node") && args[args.indexOf("--port") + 1] === port) return Number(entry);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

function round(x: number) {
  return Math.round(x * 1000) / 1000;
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}
