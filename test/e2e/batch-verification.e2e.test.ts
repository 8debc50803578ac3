/**
 * Verification of batch jobs end to end (docs/PROTOCOL.md, "Batches" and section 7), with real daemons: a
 * `hardhat node` process mining one block a second, the protocol deployed with Ignition (offchain/devnet), two
 * `dinfer worker` processes and four `dinfer verifier` processes, and the real PaddleOCR cls model. A dApp posts
 * one batch to each worker (one model id each: the cls model, and a registered copy of it):
 *
 *   - the cheater (fault `random`: every output made up) serves one batch. Its sampled jobs are split out and
 *     audited blind like posted jobs; verifier 0's watchdog (share 1) re-runs every unsampled job of the revealed
 *     batch, splits each one out (`splitRevealed`) inside the challenge window and challenges it. Every faked job
 *     is slashed and none is paid;
 *   - the honest worker serves the other: the watchdog re-runs its jobs too, agrees, splits and challenges
 *     nothing, and the batch finalizes with its unsampled jobs.
 *
 * Every figure is read from the chain's events. Run alone: `npx hardhat test mocha test/e2e/batch-verification.e2e.test.ts`.
 * DINFER_E2E_LOG_DIR=<dir> keeps every daemon's log.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { decodeEventLog, parseEther, type Abi, type Hex } from "viem";

import { batchMarketAbi, jobMarketAbi, modelRegistryAbi, verificationAbi } from "../../offchain/chain/abis.js";
import { BatchStatus, readBatch, type BatchRecord } from "../../offchain/chain/batches.js";
import { JobStatus } from "../../offchain/chain/jobs.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { DEVNET_COLLATERAL, DEVNET_TOLERANCE, startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";
import { hashModel } from "../../offchain/inference/model.js";
import { createDinferClient } from "../../offchain/sdk/client.js";
import { sameAddress } from "../../offchain/verifier/decide.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
/** Jobs per batch: with half of them sampled, the chance that a batch has none sampled, or all, is 0.02% each. */
const JOBS = 12;
/**
 * Half the jobs sampled (the levy covers an audit of each), no recheck; the seed 2 blocks after a commit, 15 s for
 * the blind audit commit, a 40 s challenge window (the watchdog re-runs, splits and challenges inside it), 8 + 8 s
 * to vote.
 */
const MARKET_PARAMS = { samplingPpm: 500_000, seedDelay: 2, challengeWindow: 40, revealTimeout: 60, disputeDuration: 120, auditLevyBps: 2_000 };
const VERIFICATION_PARAMS = {
  challengeBond: parseEther("50").toString(),
  auditCommitTimeout: 15,
  voteCommitTimeout: 8,
  voteRevealTimeout: 8,
  committeeSize: 3,
  auditRewardBps: 1_000,
  voterRewardBps: 1_000,
  recheckPpm: 0,
};

type Decoded = { contract: "market" | "batches" | "verification"; name: string; args: Record<string, unknown>; txHash: Hex; blockNumber: bigint };

describe("batch verification end to end: a cheating worker's batch audited, watched, split, challenged and slashed; an honest one untouched", function () {
  let devnet: Devnet;
  const workers: Record<"honest" | "cheater", Daemon | undefined> = { honest: undefined, cheater: undefined };
  const verifiers: Daemon[] = [];
  const logDir = process.env.DINFER_E2E_LOG_DIR;

  before(async function () {
    this.timeout(300_000);
    process.setMaxListeners(32);
    devnet = await startDevnet({
      providers: 2,
      verifiers: 4,
      providerStake: parseEther("10000"),
      verifierStake: parseEther("1000"),
      verifierFunds: parseEther("2000"),
      marketParams: MARKET_PARAMS,
      verificationParams: VERIFICATION_PARAMS,
    });
    if (logDir) mkdirSync(logDir, { recursive: true });
  });

  after(async function () {
    this.timeout(60_000);
    await devnet?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    for (const [name, w] of Object.entries(workers)) console.log(`--- worker ${name} ---\n${w?.logs().slice(-3_000)}`);
    for (const [i, v] of verifiers.entries()) console.log(`--- verifier ${i} ---\n${v.logs().slice(-3_000)}`);
  });

  const common = () => ({ rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, pollIntervalMs: 400, threads: 1, ep: "cpu" });

  async function startWorker(name: "honest" | "cheater", modelId: number): Promise<Daemon> {
    const account = devnet.providers[name === "honest" ? 0 : 1]!;
    const dataDir = devnet.tempDir(`worker-${name}`);
    const daemon = await startDaemon({
      command: "worker",
      configFile: path.join(dataDir, "worker.config.json"),
      config: { ...common(), dataDir, metricsPort: -1, models: [{ modelId, path: devnet.modelFiles.cls }], ...(name === "cheater" ? { fault: { mode: "random" } } : {}) },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_WORKER_SECRET: `e2e-batch-worker-secret-${name}-0123456789`, DINFER_ALLOW_FAULTS: "1" },
      readyMsg: "worker ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `worker-${name}.log`),
    });
    devnet.onStop(() => daemon.kill());
    workers[name] = daemon;
    return daemon;
  }

  async function startVerifier(i: number, modelIds: number[]): Promise<Daemon> {
    const dataDir = devnet.tempDir(`verifier-${i}`);
    const daemon = await startDaemon({
      command: "verifier",
      configFile: path.join(dataDir, "verifier.config.json"),
      config: {
        ...common(),
        dataDir,
        metricsPort: -1,
        models: modelIds.map((modelId) => ({ modelId, path: devnet.modelFiles.cls })),
        outputReserveSeconds: 3,
        keeperGraceSeconds: 4,
        ...(i === 0 ? { watchdog: { share: 1 } } : {}),
      },
      env: { DINFER_PRIVATE_KEY: devnet.verifiers[i]!.key, DINFER_VERIFIER_SECRET: `e2e-batch-verifier-secret-${i}-0123456789` },
      readyMsg: "verifier ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `verifier-${i}.log`),
    });
    devnet.onStop(() => daemon.kill());
    verifiers[i] = daemon;
    return daemon;
  }

  function decode(abi: Abi, log: { data: Hex; topics: readonly Hex[] }) {
    try {
      const { eventName, args } = decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
      return { name: String(eventName), args: (args ?? {}) as Record<string, unknown> };
    } catch {
      return undefined;
    }
  }

  /** Every event of the market, the BatchMarket and Verification since `fromBlock`, in chain order. */
  async function events(fromBlock: bigint): Promise<Decoded[]> {
    const { market, batchMarket, verification } = devnet.deployment;
    const logs = await devnet.publicClient.getLogs({ address: [market, batchMarket, verification], fromBlock, toBlock: "latest" });
    const out: Decoded[] = [];
    for (const log of logs) {
      const [contract, abi] = sameAddress(log.address, market)
        ? (["market", jobMarketAbi] as const)
        : sameAddress(log.address, batchMarket)
          ? (["batches", batchMarketAbi] as const)
          : (["verification", verificationAbi] as const);
      const event = decode(abi as Abi, log);
      if (event) out.push({ contract, ...event, txHash: log.transactionHash!, blockNumber: log.blockNumber! });
    }
    return out;
  }

  it("slashes every faked job of a batch (sampled ones audited, unsampled ones split and challenged by the watchdog) and pays none, while an honest batch finalizes untouched", async function () {
    this.timeout(300_000);
    const started = Date.now();
    // The cheater's model: a registered copy of the cls model, so that each batch goes to the worker meant for it.
    const clsBytes = new Uint8Array(readFileSync(devnet.modelFiles.cls));
    const { receipt } = await devnet.deployerSender.send({
      address: devnet.deployment.registry,
      abi: modelRegistryAbi,
      functionName: "register",
      args: [
        {
          modelHash: hashModel(clsBytes),
          uri: pathToFileURL(devnet.modelFiles.cls).href,
          runtime: "onnxruntime-node@1.30.0",
          tolerance: DEVNET_TOLERANCE,
          minCollateral: DEVNET_COLLATERAL,
          priceFloor: parseEther("1"),
          nonFiniteInputs: false,
        },
      ],
    });
    const cheaterModel = Number(receipt.logs.map((log) => decode(modelRegistryAbi as Abi, log)).find((e) => e?.name === "ModelRegistered")!.args.modelId);
    const honestModel = devnet.modelIds.cls;
    const models = [honestModel, cheaterModel];
    await Promise.all([startWorker("honest", honestModel), startWorker("cheater", cheaterModel), ...[0, 1, 2, 3].map((i) => startVerifier(i, models))]);
    const watchdog = devnet.verifiers[0]!.address;

    const client = createDinferClient({
      publicClient: devnet.publicClient,
      sender: devnet.dappSender,
      deployment: devnet.deployment,
      upload: { serverUrl: devnet.blobServer.url, token: devnet.uploadToken },
    });
    const lines = ["line-1", "line-1-rot180", "line-2", "line-2-rot180"];
    const inputs = Array.from({ length: JOBS }, (_, i) => ({ image: `${IMAGES}${lines[i % lines.length]}.png`, preprocess: "cls" as const }));
    const posted = await client.postJobs([...inputs.map((input) => ({ modelId: honestModel, input })), ...inputs.map((input) => ({ modelId: cheaterModel, input }))]);
    assert.equal(posted.batchIds.length, 2, "one batch per model");
    const read = (batchId: bigint) => readBatch({ client: devnet.publicClient, batchMarket: devnet.deployment.batchMarket, batchId });
    const [honestBatch, cheaterBatch] = (await Promise.all(posted.batchIds.map(read))).sort((a, b) => (a.batch.modelId === honestModel ? -1 : b.batch.modelId === honestModel ? 1 : 0));
    assert.equal(cheaterBatch!.batch.modelId, cheaterModel);
    const jobsOf = (r: BatchRecord) => Array.from({ length: r.batch.count }, (_, i) => r.batch.firstJobId + BigInt(i));
    const cheaterJobs = jobsOf(cheaterBatch!);

    // Until both batches are over and every faked job is settled (slashed or, were the code wrong, paid).
    const settled = (e: Decoded[]) => {
      const ended = new Set(e.filter((x) => x.name === "DisputeSettled" || x.name === "JobFinalized" || x.name === "JobExpired").map((x) => x.args.jobId as bigint));
      const batchesOver = e.filter((x) => x.name === "BatchFinalized" || x.name === "BatchExpired").length === 2;
      const split = new Set(e.filter((x) => x.name === "JobSplit" && x.args.batchId === cheaterBatch!.batchId).map((x) => x.args.jobId as bigint));
      return batchesOver && [...split].every((id) => ended.has(id));
    };
    let all: Decoded[] = [];
    for (const until = Date.now() + 240_000; Date.now() < until; ) {
      all = await events(posted.blockNumber);
      if (settled(all)) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    assert.ok(settled(all), `both batches over and every split job settled within 4 minutes: ${all.filter((e) => e.contract === "batches").map((e) => e.name).join(", ")}`);

    const of = (name: string, jobs: readonly bigint[]) => all.filter((e) => e.name === name && jobs.includes(e.args.jobId as bigint));
    const splits = (r: BatchRecord, status: number) => all.filter((e) => e.name === "JobSplit" && e.args.batchId === r.batchId && Number(e.args.status) === status).map((e) => e.args.jobId as bigint);

    // The cheater's batch: every job split out, the sampled ones before the reveal, every other one by the watchdog.
    const sampled = splits(cheaterBatch!, JobStatus.Committed);
    const watched = splits(cheaterBatch!, JobStatus.Revealed);
    assert.ok(sampled.length > 0 && watched.length > 0, `half sampled: ${sampled.length} sampled, ${watched.length} split by the watchdog`);
    assert.deepEqual([...sampled, ...watched].sort(), [...cheaterJobs].sort(), "every faked job left the batch");
    for (const e of all.filter((x) => x.name === "JobSplit" && watched.includes(x.args.jobId as bigint))) {
      const tx = await devnet.publicClient.getTransaction({ hash: e.txHash });
      assert.ok(sameAddress(tx.from, watchdog), `job ${e.args.jobId} split by ${tx.from}, not the watchdog`);
    }
    // Sampled ones: audited blind and found wrong (a disagreeing audit opens their dispute), no challenge needed.
    const audits = of("AuditRevealed", sampled);
    assert.equal(audits.length, sampled.length, "each sampled job was audited");
    // Unsampled ones: challenged by the watchdog inside the batch's window.
    const challenges = of("ChallengeOpened", watched).filter((e) => Number(e.args.reason) === 0);
    assert.deepEqual(challenges.map((e) => e.args.jobId).sort(), [...watched].sort(), "the watchdog challenged each job it split out");
    assert.ok(challenges.every((e) => sameAddress(e.args.challenger as string, watchdog)));
    const revealed = await read(cheaterBatch!.batchId);
    const challengeEnd = BigInt(revealed.batch.deadline);
    for (const e of [...challenges, ...all.filter((x) => x.name === "JobSplit" && watched.includes(x.args.jobId as bigint))]) {
      const block = await devnet.publicClient.getBlock({ blockNumber: e.blockNumber });
      assert.ok(block.timestamp <= challengeEnd, `${e.name} of job ${e.args.jobId} at ${block.timestamp}, inside the window ending ${challengeEnd}`);
    }
    // Every faked job slashed; none paid, alone or with its batch.
    const slashed = of("DisputeSettled", cheaterJobs).filter((e) => e.args.providerFaulted === true).map((e) => e.args.jobId as bigint);
    assert.deepEqual(slashed.sort(), [...cheaterJobs].sort(), `every faked job slashed: ${slashed.length} of ${cheaterJobs.length}`);
    assert.deepEqual(of("JobFinalized", cheaterJobs), [], "no faked job finalized (paid)");
    const cheaterPaid = all.filter((e) => e.name === "BatchFinalized" && e.args.batchId === cheaterBatch!.batchId).reduce((sum, e) => sum + (e.args.payout as bigint), 0n);
    assert.equal(cheaterPaid, 0n, "the cheater's batch paid nothing");
    const slashedStake = of("DisputeSettled", cheaterJobs).reduce((sum, e) => sum + (e.args.slashed as bigint), 0n);
    assert.ok(slashedStake >= BigInt(cheaterJobs.length) * DEVNET_COLLATERAL, `each faked job cost the cheater its collateral: ${slashedStake} wei`);

    // The honest batch: watched too (the watchdog's own log), never split to challenge, finalized with its unsampled jobs.
    const honestJobs = jobsOf(honestBatch!);
    assert.deepEqual(splits(honestBatch!, JobStatus.Revealed), [], "the watchdog split none of the honest jobs");
    assert.deepEqual(of("ChallengeOpened", honestJobs), [], "nor challenged any");
    const honestSampled = splits(honestBatch!, JobStatus.Committed);
    const finalized = all.find((e) => e.name === "BatchFinalized" && e.args.batchId === honestBatch!.batchId);
    assert.ok(finalized, "the honest batch finalized");
    assert.equal(finalized.args.jobs, BigInt(JOBS - honestSampled.length), "with every job not sampled");
    assert.ok((finalized.args.payout as bigint) > 0n);
    assert.equal(of("JobFinalized", honestSampled).length, honestSampled.length, "its sampled jobs finalized on their own");
    assert.equal((await read(honestBatch!.batchId)).batch.status, BatchStatus.Finalized);
    const agreed = verifiers[0]!.logs().split("\n").filter((line) => line.includes('"watchdog judged a batch job"') && line.includes(`"batch_id":"${honestBatch!.batchId}"`));
    assert.equal(agreed.length, JOBS - honestSampled.length, `the watchdog re-ran every unsampled honest job:\n${agreed.join("\n")}`);
    assert.ok(agreed.every((line) => line.includes('"verdict":"agree"')));

    console.log(
      `      batch verification: cheater batch ${cheaterJobs.length} jobs (${sampled.length} sampled and audited, ${watched.length} split and challenged by the watchdog), ` +
        `${slashed.length} slashed (${slashedStake} wei of stake), 0 paid; honest batch paid ${finalized.args.payout} wei for ${finalized.args.jobs} jobs; ${Math.round((Date.now() - started) / 1000)} s`,
    );
  });
});
