/**
 * Throughput of the whole provider pipeline against a raw onnxruntime-node loop, in one run on the
 * same machine and the same inputs: the PaddleOCR det model on CPU.
 *
 *   npm run bench:worker            -> prints a table, writes bench/results/worker.json
 *   BENCH_JOBS=40 npm run bench:worker
 *
 * raw:    `session.run` on each input in turn, in this process (after two warm-up runs), once before
 *         and once after the pipeline; the median run time of both passes gives `rawPerSec`.
 * worker: a real local chain (hardhat node), the contracts deployed with Ignition, `dinfer worker`
 *         as its own process. All jobs are posted first (inputs uploaded to the dApp's blob server),
 *         then the worker starts on the backlog; per job the worker fetches the input and checks its hash, decodes and validates
 *         it, claims, runs the model in its worker thread, stores the output, computes its root and
 *         commits, then reveals. `workerPerSec` is the pipeline's steady-state rate: jobs committed
 *         per second between the first and the last commit (the fixed latency of one job, including
 *         the seed-block wait before reveal, does not limit throughput); `endToEndPerSec` counts from
 *         the worker's start (model load included) to the last reveal.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import * as ort from "onnxruntime-node";

import { decodeTensorBlob, encodeTensorBlob } from "../offchain/codec/tensor.js";
import { DEFAULT_SESSION_OPTIONS } from "../offchain/inference/session.js";
import { tensorsToFeeds } from "../offchain/inference/validate.js";
import { imageToDetInput } from "../offchain/sdk/image.js";
import { postJob } from "../offchain/sdk/jobs.js";
import { uploadBlob } from "../offchain/storage/upload.js";
import { startLocalNetwork } from "../test/helpers/network.js";
import { startWorkerProcess } from "../test/helpers/worker-process.js";
import { machineInfo } from "./machine.js";

const JOBS = Number(process.env.BENCH_JOBS ?? 24);
const DET_SIZE = Number(process.env.BENCH_DET_SIZE ?? 640);
const IMAGES = ["doc", "blank", "line-1", "line-1-rot180", "line-2", "line-2-rot180", "line-3", "line-3-rot180"];
const imageDir = path.resolve("test/fixtures/images");

const inputs: Uint8Array[] = [];
for (let i = 0; i < JOBS; i++) {
  const { tensor } = await imageToDetInput(path.join(imageDir, `${IMAGES[i % IMAGES.length]}.png`), { size: DET_SIZE });
  inputs.push(encodeTensorBlob([tensor]));
}

// Enough stake that every job can be claimed at once (each locks the model's 100-token collateral).
const net = await startLocalNetwork({ providerStake: BigInt(JOBS + 2) * 100n * 10n ** 18n });
let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
try {
  // ---- raw loop, same inputs, same session options as the worker's threads. It runs before and
  // after the pipeline, and the median run time of both passes counts: this machine is noisy.
  const detPath = net.modelFiles.det;
  const session = await ort.InferenceSession.create(detPath, { ...DEFAULT_SESSION_OPTIONS, executionProviders: ["cpu"] });
  const feeds = inputs.map((bytes) => tensorsToFeeds(decodeTensorBlob(bytes)));
  const rawRunMs: number[] = [];
  const rawPass = async () => {
    for (const feed of feeds) {
      const t = performance.now();
      await session.run(feed);
      rawRunMs.push(performance.now() - t);
    }
  };
  for (let i = 0; i < 2; i++) await session.run(feeds[i % feeds.length]!);
  await rawPass();

  // ---- the worker pipeline: the jobs are posted first (the dApp is not the worker's cost), then
  // the worker starts on the backlog.
  const uris: string[] = [];
  for (const bytes of inputs) {
    uris.push((await uploadBlob({ serverUrl: net.blobServer.url, token: net.uploadToken, bytes })).url);
  }
  for (let i = 0; i < JOBS; i++) {
    await postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: net.modelIds.det,
      input: inputs[i]!,
      inputURI: uris[i],
      fee: 2n * 10n ** 18n,
    });
  }
  const started = Date.now();
  worker = await startWorkerProcess({
    url: net.url,
    deployment: net.deployment,
    models: [{ modelId: net.modelIds.det, path: detPath }],
    dataDir: net.tempDir("bench-worker-"),
    key: net.keys.provider,
    secret: "bench-worker-secret-0001",
    pollIntervalMs: 100,
    ep: "cpu",
  });
  const revealed = async () => worker!.lines().filter((l) => l.msg === "result revealed").length;
  const deadline = Date.now() + 300_000;
  while ((await revealed()) < JOBS) {
    if (Date.now() > deadline) throw new Error(`only ${await revealed()} of ${JOBS} jobs revealed in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await rawPass();
  await session.release();
  const rawSeconds = (median(rawRunMs) * JOBS) / 1000;
  const times = (msg: string) => worker!.lines().filter((l) => l.msg === msg).map((l) => Number(l.time)).sort((a, b) => a - b);
  const commits = times("commit confirmed");
  const reveals = times("result revealed");
  const inferenceMs = worker.lines().filter((l) => l.msg === "inference done").map((l) => Number(l.ms));
  const workerPerSec = (commits.length - 1) / ((commits.at(-1)! - commits[0]!) / 1000);
  const endToEndPerSec = JOBS / ((reveals.at(-1)! - started) / 1000);
  const rawPerSec = JOBS / rawSeconds;
  const ratio = workerPerSec / rawPerSec;

  const result = {
    model: "ch_PP-OCRv4_det_infer.onnx",
    ep: "cpu",
    input: `${DET_SIZE}x${DET_SIZE} float32 (${inputs[0]!.length} bytes)`,
    jobs: JOBS,
    rawPerSec: round(rawPerSec),
    workerPerSec: round(workerPerSec),
    ratio: round(ratio),
    endToEndPerSec: round(endToEndPerSec),
    rawMsPerRun: round(median(rawRunMs)),
    workerInferenceMsMedian: round(median(inferenceMs)),
    definition:
      "jobs posted first, then the worker started; workerPerSec: jobs committed per second between the first and last commit; endToEndPerSec: jobs / (last reveal - worker process start, model load included)",
    target: 0.8,
    machine: machineInfo(),
  };
  console.log(`\nWorker pipeline vs raw session.run, det ${DET_SIZE}x${DET_SIZE} on CPU, ${JOBS} jobs\n`);
  console.log("| measure | value |\n|---|---:|");
  console.log(`| raw session.run loop | ${result.rawPerSec} jobs/s (${result.rawMsPerRun} ms/run) |`);
  console.log(`| worker pipeline, steady state | ${result.workerPerSec} jobs/s (inference ${result.workerInferenceMsMedian} ms median) |`);
  console.log(`| ratio | ${result.ratio} (target >= ${result.target}) |`);
  console.log(`| end to end, worker start -> last reveal | ${result.endToEndPerSec} jobs/s |`);
  const out = path.resolve("bench/results/worker.json");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
} finally {
  await worker?.stop().catch(() => worker?.kill());
  await net.stop();
}

function round(x: number) {
  return Math.round(x * 1000) / 1000;
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}
