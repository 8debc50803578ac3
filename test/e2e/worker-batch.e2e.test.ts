/**
 * Batches end to end: a real `dinfer worker` process serves batches of real PaddleOCR jobs (ONNX, CPU)
 * posted by a dApp in one transaction through the SDK (`postJobs`), to finalized, and the dApp gets every
 * output through `waitForResults`, checked against the roots the batch revealed; then, with 30% of the jobs
 * sampled, the sampled ones split out of their batch and revealed in the JobMarket (no verifier is staked,
 * so nobody is drawn to audit and the reveal is not held) while their batch-mates finalize with the batch.
 *
 * Run alone: `npx hardhat test mocha test/e2e/worker-batch.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";

import { parseEther } from "viem";

import { batchMarketAbi, stakingAbi } from "../../offchain/chain/abis.js";
import { BatchStatus, readBatch } from "../../offchain/chain/batches.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { createDinferClient } from "../../offchain/sdk/client.js";
import { readClsOutput, readDetOutput } from "../../offchain/sdk/image.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));

describe("dinfer worker serves batches: worker process, PaddleOCR models, the SDK's postJobs and waitForResults", function () {
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

  it("runs, commits, reveals and finalizes two batches posted in one transaction, and the dApp gets every output verified", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("worker-batch");
    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [
        { modelId: net.modelIds.cls, path: net.modelFiles.cls },
        { modelId: net.modelIds.det, path: net.modelFiles.det },
      ],
      dataDir,
      key: net.keys.provider,
      secret: randomBytes(32).toString("hex"),
      // Past 1 wei: the batches' payouts are withdrawn as soon as they are credited.
      extra: { withdrawMin: "1" },
    });
    const client = createDinferClient({
      publicClient: net.publicClient,
      sender: net.dappSender,
      deployment: net.deployment,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    const lines = ["line-1", "line-1-rot180", "line-2", "line-2-rot180"];
    const posted = await client.postJobs([
      ...lines.map((name) => ({ modelId: net.modelIds.cls, input: { image: `${IMAGES}${name}.png`, preprocess: "cls" as const } })),
      { modelId: net.modelIds.det, input: { image: `${IMAGES}doc.png`, preprocess: "det" as const } },
    ]);
    assert.equal(posted.batchIds.length, 2, "one batch per model");

    const results = await client.waitForResults(posted.jobs, { fromBlock: posted.blockNumber, timeoutMs: 240_000 });
    for (const [i, result] of results.entries()) {
      assert.ok(result.ok, `job ${result.jobId}: ${result.ok ? "" : result.error.message}\n${worker.logs().slice(-3_000)}`);
      const [tensor] = result.tensors();
      if (i < lines.length) {
        const [prediction] = readClsOutput(tensor!);
        assert.equal(prediction!.label, lines[i]!.endsWith("rot180") ? 180 : 0, `${lines[i]} classified ${JSON.stringify(prediction)}`);
      } else {
        const [stats] = readDetOutput(tensor!);
        assert.ok(stats!.max > 0.9, `doc.png has text: ${JSON.stringify(stats)}`);
      }
    }
    let payouts = 0n;
    const inputs: string[] = [];
    for (const batchId of posted.batchIds) {
      const record = await readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId });
      inputs.push(...record.inputHashes.slice(0, record.batch.count).map((h) => h.toLowerCase()));
      assert.equal(record.batch.status, BatchStatus.Finalized);
      assert.equal(record.batch.provider.toLowerCase(), worker.account.toLowerCase());
      payouts += record.payout!;
    }
    assert.ok(payouts > 0n);
    // Each batch's journal entry names the inputs it kept beside its outputs: the blob pruner keeps them while it is open.
    const journal = new DatabaseSync(path.join(dataDir, "journal.sqlite"));
    const named = journal.prepare("SELECT json_extract(data, '$.inputs') AS inputs FROM jobs WHERE json_extract(data, '$.outputs') IS NOT NULL").all();
    journal.close();
    assert.deepEqual(named.flatMap((row) => (JSON.parse(String(row.inputs)) as string[]).map((h) => h.toLowerCase())).sort(), inputs.sort());
    // The worker withdraws its BatchMarket credits on its own: they end at zero, all of them in one or more withdrawals.
    const credits = () => net.publicClient.readContract({ address: net.deployment.batchMarket, abi: batchMarketAbi, functionName: "credits", args: [worker!.account] });
    for (const until = Date.now() + 30_000; (await credits()) !== 0n && Date.now() < until; ) await new Promise((r) => setTimeout(r, 250));
    assert.equal(await credits(), 0n, `the worker withdrew its batch earnings:\n${worker.logs().slice(-3_000)}`);
    const withdrawn = await net.publicClient.getContractEvents({ address: net.deployment.batchMarket, abi: batchMarketAbi, eventName: "Withdrawal", args: { account: worker.account }, fromBlock: posted.blockNumber });
    assert.equal(withdrawn.reduce((sum, e) => sum + e.args.amount!, 0n), payouts, "exactly the batches' payouts reached its wallet");
  });
});

describe("dinfer worker serves batches with sampling on: sampled jobs split out and revealed in the JobMarket", function () {
  let net: LocalNetwork;
  let worker: WorkerProcess | undefined;

  before(async function () {
    this.timeout(240_000);
    // 30% of the jobs sampled; the audit levy raised to what that rate pays auditors (ProtocolTerms checks it).
    // A stake that backs a batch of 16 jobs' collateral at once.
    net = await startLocalNetwork({ marketParams: { samplingPpm: 300_000, auditLevyBps: 3900 }, providerStake: parseEther("5000") });
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.kill();
    await net?.stop();
  });

  it("splits each sampled job out, reveals it on its own, reveals and finalizes the batch, and every output reaches the dApp", async function () {
    this.timeout(300_000);
    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
      dataDir: net.tempDir("worker-batch-sampled"),
      key: net.keys.provider,
      secret: randomBytes(32).toString("hex"),
    });
    const client = createDinferClient({
      publicClient: net.publicClient,
      sender: net.dappSender,
      deployment: net.deployment,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    // 16 jobs: the chance that a 30% draw samples none of them is 0.3%.
    const lines = ["line-1", "line-1-rot180", "line-2", "line-2-rot180"].flatMap((name) => [name, name, name, name]);
    const posted = await client.postJobs(lines.map((name) => ({ modelId: net.modelIds.cls, input: { image: `${IMAGES}${name}.png`, preprocess: "cls" as const } })));
    const results = await client.waitForResults(posted.jobs, { fromBlock: posted.blockNumber, timeoutMs: 240_000 });
    for (const [i, result] of results.entries()) {
      assert.ok(result.ok, `job ${result.jobId}: ${result.ok ? "" : result.error.message}\n${worker.logs().slice(-3_000)}`);
      const [prediction] = readClsOutput(result.tensors()[0]!);
      assert.equal(prediction!.label, lines[i]!.endsWith("rot180") ? 180 : 0);
    }
    const record = await readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId: posted.batchIds[0]! });
    assert.equal(record.batch.status, BatchStatus.Finalized);
    const split = results.filter((r) => r.ok && r.split).map((r) => Number(r.jobId - record.batch.firstJobId));
    assert.deepEqual(split.sort(), [...record.split.keys()].sort(), "the results split out are the batch's split jobs");
    assert.ok(split.length > 0 && split.length < lines.length, `a 30% draw over 16 jobs split ${split.length}`);
    assert.equal(record.payout! > 0n, true);
  });
});

describe("dinfer worker commits a batch it claimed before a restart, whose collateral its claim already locked", function () {
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

  it("commits it with no free stake left: commitBatch locks nothing more than the claim did", async function () {
    this.timeout(300_000);
    const client = createDinferClient({ publicClient: net.publicClient, sender: net.dappSender, deployment: net.deployment, upload: { serverUrl: net.blobServer.url, token: net.uploadToken } });
    const posted = await client.postJobs(["line-1", "line-2"].map((name) => ({ modelId: net.modelIds.cls, input: { image: `${IMAGES}${name}.png`, preprocess: "cls" as const } })));
    const batchId = posted.batchIds[0]!;
    // The provider claimed it (a worker that died before its commit), then unbonded every token its claim left free.
    const { walletClient, publicClient } = await createChainClients({ rpcUrl: net.url, privateKey: net.keys.provider, chainId: net.chainId });
    const provider = new TxSender({ publicClient, walletClient: walletClient! });
    const { batch } = await readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId });
    await provider.send({ address: net.deployment.batchMarket, abi: batchMarketAbi, functionName: "claimBatch", args: [batchId, batch] });
    const available = () => net.publicClient.readContract({ address: net.deployment.staking, abi: stakingAbi, functionName: "availableStake", args: [net.addresses.provider] });
    await provider.send({ address: net.deployment.staking, abi: stakingAbi, functionName: "requestUnbond", args: [await available()] });
    assert.equal(await available(), 0n, "no free stake");
    assert.equal((await readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId })).batch.status, BatchStatus.Claimed);

    worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
      dataDir: net.tempDir("worker-batch-claimed"),
      key: net.keys.provider,
      secret: randomBytes(32).toString("hex"),
      // Its stake waits are logged at debug level.
      env: { DINFER_LOG_LEVEL: "debug" },
    });
    const results = await client.waitForResults(posted.jobs, { fromBlock: posted.blockNumber, timeoutMs: 180_000 });
    for (const result of results) assert.ok(result.ok, `job ${result.jobId}: ${result.ok ? "" : result.error.message}\n${worker.logs().slice(-3_000)}`);
    assert.equal((await readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId })).batch.status, BatchStatus.Finalized);
    assert.deepEqual(worker.lines().filter((l) => l.msg === "waiting for free stake"), [], "it never waited for stake its claim had locked");
  });
});
