/**
 * A job split out of a worker's revealed batch by anyone else (`splitRevealed` is open to all: a watchdog that
 * judged it wrong, or a griefer) leaves the batch's settlement: `finalizeBatch` pays only the jobs still in it,
 * and the split job, Revealed in the JobMarket, is paid by its own `finalize`. The worker must finalize it after
 * the window, or its fee and collateral stay in the market for nobody (verifiers wait for the provider to do it).
 *
 * Run alone: `npx hardhat test mocha test/e2e/worker-batch-split.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

import { batchMarketAbi } from "../../offchain/chain/abis.js";
import { batchLeaf, batchTreeProof, BatchStatus, readBatch } from "../../offchain/chain/batches.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { createDinferClient } from "../../offchain/sdk/client.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("dinfer worker finalizes a job split out of its revealed batch by someone else", function () {
  let net: LocalNetwork;
  let worker: WorkerProcess | undefined;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.kill();
    await net?.stop();
  });

  /** A worker of the provider's account on `dataDir`, its secret `secret`. */
  const startWorker = (dataDir: string, secret: string) =>
    startWorkerProcess({ url: net.url, deployment: net.deployment, models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }], dataDir, key: net.keys.provider, secret });

  /** Posts a batch of four cls jobs and waits until `served` (the running worker) revealed it; its reader with it. */
  async function revealedBatch(served: WorkerProcess) {
    const client = createDinferClient({
      publicClient: net.publicClient,
      sender: net.dappSender,
      deployment: net.deployment,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    const lines = ["line-1", "line-1-rot180", "line-2", "line-2-rot180"];
    const posted = await client.postJobs(lines.map((name) => ({ modelId: net.modelIds.cls, input: { image: `${IMAGES}${name}.png`, preprocess: "cls" as const } })));
    const batchId = posted.batchIds[0]!;
    const read = () => readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId, fromBlock: posted.blockNumber });
    let batch = await read();
    for (const until = Date.now() + 120_000; batch.batch.status !== BatchStatus.Revealed && Date.now() < until; batch = await read()) await sleep(200);
    assert.equal(batch.batch.status, BatchStatus.Revealed, served.logs().slice(-3_000));
    return { posted, batchId, read, batch };
  }

  /** Splits job `index` out of the revealed batch, as a watchdog does before its challenge; its job id. */
  async function splitOut({ batchId, batch }: Awaited<ReturnType<typeof revealedBatch>>, index: number): Promise<bigint> {
    const leaves = batch.outputRoots!.map((root, i) => batchLeaf(batch.batch.firstJobId + BigInt(i), root));
    await net.dappSender.send({ address: net.deployment.batchMarket, abi: batchMarketAbi, functionName: "splitRevealed", args: [batchId, batch.batch, BigInt(index), batch.outputRoots![index]!, batchTreeProof(leaves, index)] });
    return batch.batch.firstJobId + BigInt(index);
  }

  it("finalizes the split job after its window (Finalized in the JobMarket, the worker its provider) beside the batch, which pays the rest", async function () {
    this.timeout(300_000);
    worker = await startWorker(net.tempDir("worker-batch-split"), randomBytes(32).toString("hex"));
    const revealed = await revealedBatch(worker);
    const { posted, read } = revealed;
    const { market } = net.deployment;

    // Someone else splits job 0 out inside the window, as a watchdog does before its challenge.
    const jobId = await splitOut(revealed, 0);
    assert.equal((await readJob({ client: net.publicClient, market, jobId, fromBlock: posted.blockNumber })).job.status, JobStatus.Revealed);

    for (const until = Date.now() + 60_000; (await read()).batch.status !== BatchStatus.Finalized && Date.now() < until; ) await sleep(250);
    assert.equal((await read()).batch.status, BatchStatus.Finalized, worker.logs().slice(-3_000));
    let job = await readJob({ client: net.publicClient, market, jobId, fromBlock: posted.blockNumber });
    for (const until = Date.now() + 30_000; job.job.status !== JobStatus.Finalized && Date.now() < until; ) {
      await sleep(250);
      job = await readJob({ client: net.publicClient, market, jobId, fromBlock: posted.blockNumber });
    }
    assert.equal(job.job.status, JobStatus.Finalized, `the split job, 30 s after its batch finalized, is in status ${job.job.status} (Revealed: 4, Finalized: 6):\n${worker.logs().slice(-3_000)}`);
    assert.equal(job.job.provider.toLowerCase(), worker.account.toLowerCase());
  });

  it("finalizes a job split out while it was down, though the first read after its restart shows the batch finalized by someone else", async function () {
    this.timeout(300_000);
    // The first test's worker (the same account) is gone: nothing but the restarted worker may see the split.
    await worker?.stop();
    worker = undefined;
    const dataDir = net.tempDir("worker-batch-split-restart");
    const secret = randomBytes(32).toString("hex");
    worker = await startWorker(dataDir, secret);
    const revealed = await revealedBatch(worker);
    const { posted, batchId, read } = revealed;
    const { batchMarket, market } = net.deployment;
    await worker.stop();
    worker = undefined;

    // While the worker is down: job 1 is split out, and once the window closed the dApp finalizes the batch.
    const jobId = await splitOut(revealed, 1);
    const deadline = BigInt(revealed.batch.batch.deadline);
    for (const until = Date.now() + 120_000; (await net.publicClient.getBlock()).timestamp <= deadline && Date.now() < until; ) await sleep(500);
    const { batch } = await read();
    await net.dappSender.send({ address: batchMarket, abi: batchMarketAbi, functionName: "finalizeBatch", args: [batchId, batch] });
    assert.equal((await read()).batch.status, BatchStatus.Finalized);
    assert.equal((await readJob({ client: net.publicClient, market, jobId, fromBlock: posted.blockNumber })).job.status, JobStatus.Revealed, "the split job waits for its own finalize");

    worker = await startWorker(dataDir, secret);
    let job = await readJob({ client: net.publicClient, market, jobId, fromBlock: posted.blockNumber });
    for (const until = Date.now() + 90_000; job.job.status !== JobStatus.Finalized && Date.now() < until; ) {
      await sleep(250);
      job = await readJob({ client: net.publicClient, market, jobId, fromBlock: posted.blockNumber });
    }
    assert.equal(job.job.status, JobStatus.Finalized, `the split job, 90 s after the worker's restart, is in status ${job.job.status} (Revealed: 4, Finalized: 6):\n${worker.logs().slice(-3_000)}`);
    assert.equal(job.job.provider.toLowerCase(), worker.account.toLowerCase());
  });
});
