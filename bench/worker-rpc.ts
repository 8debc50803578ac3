/**
 * What an idle provider worker costs its RPC endpoint, and how soon it still picks a job up: a real
 * local chain (hardhat node, one block a second), `dinfer worker` as its own process pointed at a
 * counting HTTP JSON-RPC proxy (test/helpers/rpc-proxy.ts; each call of a batch counts, as endpoints
 * bill them).
 *
 *   npm run bench:worker-rpc                       -> prints a table, writes bench/results/worker-rpc.json
 *   BENCH_LABEL=before npm run bench:worker-rpc    -> the figures go under "before" in the same file
 *
 * idle:    JSON-RPC calls per second over BENCH_IDLE_S seconds (default 60) after a warm-up, with no
 *          job open, by method.
 * pick-up: BENCH_PICKUPS cls jobs (default 4), each posted BENCH_GAP_S seconds after the last
 *          (default 25: past the previous job's finalization, so an idle worker picks each up):
 *          seconds from the block the job was posted in to the block of its commit (claimAndCommit),
 *          in chain time, and in blocks.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";

import { encodeTensorBlob } from "../offchain/codec/tensor.js";
import { imageToClsInput } from "../offchain/sdk/image.js";
import { postJob } from "../offchain/sdk/jobs.js";
import { jobEvents } from "../test/helpers/job-events.js";
import { startLocalNetwork } from "../test/helpers/network.js";
import { startRpcProxy } from "../test/helpers/rpc-proxy.js";
import { startWorkerProcess } from "../test/helpers/worker-process.js";
import { machineInfo } from "./machine.js";

const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const PICKUPS = Number(process.env.BENCH_PICKUPS ?? 4);
const GAP_S = Number(process.env.BENCH_GAP_S ?? 25);
const LABEL = process.env.BENCH_LABEL ?? "after";
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/worker-rpc.json");
const FEE = 2n * 10n ** 18n;

const net = await startLocalNetwork();
const proxy = await startRpcProxy({ target: net.url });
let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
try {
  await net.publicClient.request({ method: "hardhat_setLoggingEnabled", params: [false] } as never);
  worker = await startWorkerProcess({
    url: proxy.url,
    deployment: net.deployment,
    models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
    dataDir: net.tempDir("bench-rpc"),
    key: net.keys.provider,
    secret: randomBytes(32).toString("hex"),
    // The worker's own defaults, not the tests' faster polling.
    pollIntervalMs: 500,
  });
  await sleep(10_000); // warm-up: the first catch-up, the first credits read
  const before = { calls: proxy.calls(), byMethod: proxy.byMethod(), at: Date.now() };
  await sleep(IDLE_S * 1000);
  const after = { calls: proxy.calls(), byMethod: proxy.byMethod(), at: Date.now() };
  const idleSeconds = (after.at - before.at) / 1000;
  const idlePerSec = (after.calls - before.calls) / idleSeconds;
  const idleByMethod = Object.fromEntries(
    Object.entries(after.byMethod)
      .map(([method, n]) => [method, round((n - (before.byMethod[method] ?? 0)) / idleSeconds, 3)] as const)
      .filter(([, rate]) => rate > 0)
      .sort((a, b) => b[1] - a[1]),
  );

  const blob = encodeTensorBlob([await imageToClsInput(path.resolve("test/fixtures/images/line-1.png"))]);
  const pickups: { job: string; seconds: number; blocks: number }[] = [];
  for (let i = 0; i < PICKUPS; i++) {
    await sleep(GAP_S * 1000);
    const { jobId } = await postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: net.modelIds.cls,
      input: blob,
      fee: FEE,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(200)) {
      const events = await jobEvents({ client: net.publicClient, market: net.deployment.market, jobId });
      const posted = events.find((e) => e.eventName === "JobPosted");
      const committed = events.find((e) => e.eventName === "ResultCommitted");
      if (posted && committed) {
        const blockOf = async (hash: `0x${string}`) => {
          const { blockNumber } = await net.publicClient.getTransactionReceipt({ hash });
          return net.publicClient.getBlock({ blockNumber });
        };
        const [a, b] = await Promise.all([blockOf(posted.txHash), blockOf(committed.txHash)]);
        pickups.push({ job: jobId.toString(), seconds: Number(b.timestamp - a.timestamp), blocks: Number(b.number - a.number) });
        break;
      }
    }
  }

  const figures = {
    idleSeconds: round(idleSeconds, 1),
    idleCallsPerSec: round(idlePerSec, 3),
    idleCallsPerDay: Math.round(idlePerSec * 86_400),
    idleByMethod,
    pickups,
    pickupMedianSeconds: median(pickups.map((p) => p.seconds)),
    pickupMaxSeconds: Math.max(...pickups.map((p) => p.seconds)),
  };
  console.log(`\nidle worker, ${figures.idleSeconds} s at one block a second (${LABEL}):`);
  console.table([{ "calls/s": figures.idleCallsPerSec, "calls/day": figures.idleCallsPerDay, "pick-up median s": figures.pickupMedianSeconds, "pick-up max s": figures.pickupMaxSeconds }]);
  console.table(Object.entries(idleByMethod).map(([method, rate]) => ({ method, "calls/s": rate })));
  console.table(pickups);

  const previous = existsSync(OUT) ? JSON.parse(readFileSync(OUT, "utf8")) : {};
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    JSON.stringify({ ...previous, [LABEL]: { ...figures, commit: process.env.BENCH_COMMIT, machine: machineInfo() } }, null, 2) + "\n",
  );
  console.log(`written to ${path.relative(process.cwd(), OUT)} under "${LABEL}"`);
} finally {
  await worker?.stop().catch(() => worker?.kill());
  await proxy.close();
  await net.stop();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}
