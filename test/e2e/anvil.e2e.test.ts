/**
 * The whole network on Anvil instead of Hardhat's node (offchain/devnet, `engine: "anvil"`): Anvil from
 * its npm package mining a block a second, the protocol deployed by the same `DinferLocal` Ignition
 * module, two `dinfer worker` processes (one honest, one making its outputs up: fault mode `random`),
 * two `dinfer verifier` processes (one audits, the other sits on the committee) and a dApp posting
 * jobs through the SDK's client (`connectDinfer`: text-line images for the honest provider, random
 * tensors for the cheater). Every job is sampled: the honest ones are audited, agreed, finalized and paid;
 * the cheater's are audited, disagreed, judged by the committee and slashed (and the explorer, started with the
 * chain, shows the same counts). Everything is asserted from
 * the chain's events and receipts, and no transaction of theirs may be mined reverted (a gas estimate
 * too low for the chain would show there).
 *
 * Run alone: `npx hardhat test mocha test/e2e/anvil.e2e.test.ts` (about a minute and a half on 2 cores).
 * DINFER_E2E_LOG_DIR=<dir> keeps every daemon's log.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { decodeEventLog, parseEther, type Abi, type Address, type Hex } from "viem";

import { jobMarketAbi, modelRegistryAbi, stakingAbi, verificationAbi } from "../../offchain/chain/abis.js";
import { parseDeployment } from "../../offchain/chain/deployment.js";
import { JobStatus, readJob, type JobRecord } from "../../offchain/chain/jobs.js";
import { tensorFromArray } from "../../offchain/codec/tensor.js";
import { anvilBinary } from "../../offchain/devnet/anvil.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { DEVNET_BLOCK_GAS_LIMIT, DEVNET_CHAIN_ID } from "../../offchain/devnet/chain-spec.js";
import { DEVNET_COLLATERAL, DEVNET_TOLERANCE, startDevnet, type DevAccount, type Devnet } from "../../offchain/devnet/devnet.js";
import { startDevnetExplorer } from "../../offchain/devnet/explorer.js";
import type { Explorer } from "../../offchain/explorer/explorer.js";
import { hashModel } from "../../offchain/inference/model.js";
import { connectDinfer } from "../../offchain/sdk/connect.js";
import type { DinferClient } from "../../offchain/sdk/client.js";
import { AuditState, DisputeReason } from "../../offchain/verifier/decide.js";
import { readAudit, readDispute } from "../../offchain/verifier/views.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const FEE = parseEther("2");
const HONEST_JOBS = 3;
const CHEAT_JOBS = 2;
const BPS = 10_000n;
/** Every job sampled; short windows; one committee seat (the verifier that did not audit). */
const MARKET_PARAMS = { samplingPpm: 1_000_000, seedDelay: 2, challengeWindow: 6, revealTimeout: 60, disputeDuration: 60, auditLevyBps: 2_000 };
const VERIFICATION_PARAMS = {
  challengeBond: parseEther("50").toString(),
  auditCommitTimeout: 15,
  voteCommitTimeout: 8,
  voteRevealTimeout: 8,
  committeeSize: 1,
  auditRewardBps: 1_000,
  voterRewardBps: 1_000,
  recheckPpm: 0,
};
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

type Decoded = { name: string; args: Record<string, unknown> };

describe("Anvil's binary from npm", function () {
  it("is found through @foundry-rs/anvil's platform package here, and a missing one is named with the command that installs it", () => {
    assert.match(anvilBinary(), /@foundry-rs[/\\]anvil-[a-z0-9]+-[a-z0-9]+[/\\]bin[/\\]anvil(\.exe)?$/);
    const other = process.arch === "arm64" ? "x64" : "arm64";
    assert.throws(() => anvilBinary({ platform: "linux", arch: other }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ANVIL_MISSING");
      assert.match(error.message, /^Anvil's binary for linux-\w+ is missing: its package @foundry-rs\/anvil-linux-\w+ .* run `npm install @foundry-rs\/anvil-linux-\w+@\d+\.\d+\.\d+`, or use --engine hardhat$/);
      return true;
    });
    assert.throws(() => anvilBinary({ platform: "aix", arch: "ppc64" }), /no binary for aix-ppc64: use --engine hardhat/);
  });
});

describe("dinfer on Anvil: Ignition deployment, worker and verifier processes, an SDK dApp, a cheater slashed by an audit", function () {
  let devnet: Devnet;
  let honest: DevAccount;
  let cheater: DevAccount;
  let cheatModel: number;
  let dinfer: DinferClient;
  let explorer: Explorer;
  const daemons = new Map<string, Daemon>();
  const logDir = process.env.DINFER_E2E_LOG_DIR;

  before(async function () {
    this.timeout(240_000);
    process.setMaxListeners(16); // each daemon (and the node) adds an exit hook that kills its process group
    devnet = await startDevnet({
      engine: "anvil",
      providers: 2,
      verifiers: 2,
      providerStake: parseEther("10000"),
      marketParams: MARKET_PARAMS,
      verificationParams: VERIFICATION_PARAMS,
    });
    [honest, cheater] = devnet.providers as [DevAccount, DevAccount];
    // Started with the chain, as `dinfer devnet --engine anvil` does: Anvil keeps the state of its last ~1,000
    // blocks only, and the indexer reads Staking at each event's block.
    explorer = await startDevnetExplorer(devnet, { port: 0 });
    if (logDir) mkdirSync(logDir, { recursive: true });

    // The cheater serves a registered copy of the cls model: each job goes to the worker it is meant for.
    const { receipt } = await devnet.deployerSender.send({
      address: devnet.deployment.registry,
      abi: modelRegistryAbi,
      functionName: "register",
      args: [
        {
          modelHash: hashModel(new Uint8Array(readFileSync(devnet.modelFiles.cls))),
          uri: "file:ch_ppocr_mobile_v2.0_cls_infer.onnx",
          runtime: "onnxruntime-node@1.30.0",
          tolerance: DEVNET_TOLERANCE,
          minCollateral: DEVNET_COLLATERAL,
          priceFloor: parseEther("1"),
          nonFiniteInputs: false,
        },
      ],
    });
    cheatModel = Number(decode(receipt.logs, modelRegistryAbi).find((e) => e.name === "ModelRegistered")!.args.modelId);

    ({ dinfer } = await connectDinfer({
      rpcUrl: devnet.url,
      privateKey: devnet.dapp.key,
      deployment: devnet.deployment,
      upload: { serverUrl: devnet.blobServer.url, token: devnet.uploadToken },
    }));
    await Promise.all([
      startWorker("honest", honest, devnet.modelIds.cls),
      startWorker("cheater", cheater, cheatModel, { mode: "random" }),
      ...devnet.verifiers.map((account, i) => startVerifier(account, i)),
    ]);
  });

  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    for (const [name, daemon] of daemons) console.log(`--- ${name} ---\n${daemon.logs().slice(-3_000)}`);
  });

  after(async function () {
    this.timeout(60_000);
    await devnet?.stop();
  });

  // ------------------------------------------------------------------ daemons

  const common = () => ({ rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, pollIntervalMs: 300, threads: 1, ep: "cpu" });

  async function startWorker(name: string, account: DevAccount, modelId: number, fault?: { mode: string }): Promise<void> {
    const dataDir = devnet.tempDir(`worker-${name}`);
    const daemon = await startDaemon({
      command: "worker",
      configFile: path.join(dataDir, "worker.config.json"),
      config: { ...common(), dataDir, metricsPort: -1, models: [{ modelId, path: devnet.modelFiles.cls }], ...(fault ? { fault } : {}) },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_WORKER_SECRET: `anvil-e2e-worker-secret-${name}-0123456789`, ...(fault ? { DINFER_ALLOW_FAULTS: "1" } : {}) },
      readyMsg: "worker ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `anvil-worker-${name}.log`),
    });
    devnet.onStop(() => daemon.kill());
    daemons.set(`worker ${name}`, daemon);
  }

  async function startVerifier(account: DevAccount, i: number): Promise<void> {
    const dataDir = devnet.tempDir(`verifier-${i}`);
    const daemon = await startDaemon({
      command: "verifier",
      configFile: path.join(dataDir, "verifier.config.json"),
      config: {
        ...common(),
        dataDir,
        metricsPort: -1,
        models: [devnet.modelIds.cls, cheatModel].map((modelId) => ({ modelId, path: devnet.modelFiles.cls })),
        outputReserveSeconds: 3,
        keeperGraceSeconds: 3,
      },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_VERIFIER_SECRET: `anvil-e2e-verifier-secret-${i}-0123456789` },
      readyMsg: "verifier ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `anvil-verifier-${i}.log`),
    });
    devnet.onStop(() => daemon.kill());
    daemons.set(`verifier ${i}`, daemon);
  }

  // ------------------------------------------------------------------ chain reads

  function decode(logs: readonly { data: Hex; topics: readonly Hex[] }[], abi: Abi): Decoded[] {
    return logs.flatMap((log) => {
      try {
        const { eventName, args } = decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
        return [{ name: String(eventName), args: (args ?? {}) as Record<string, unknown> }];
      } catch {
        return [];
      }
    });
  }

  /** The job's record; read again when its two reads straddled a block that moved it (JOB_STATE_MISMATCH). */
  async function record(jobId: bigint): Promise<JobRecord> {
    for (;;) {
      try {
        return await readJob({ client: devnet.publicClient, market: devnet.deployment.market, jobId });
      } catch (error) {
        if ((error as { code?: string }).code !== "JOB_STATE_MISMATCH") throw error;
      }
    }
  }

  /** The events of `abi` that `address` emitted about `jobId` (its first indexed topic), in chain order. */
  async function eventsOf(address: Address, abi: Abi, jobId: bigint): Promise<(Decoded & { txHash: Hex })[]> {
    const logs = await devnet.publicClient.getLogs({ address, fromBlock: 0n, toBlock: "latest" });
    const mine = logs.filter((log) => log.topics[1] !== undefined && BigInt(log.topics[1]) === jobId);
    return mine.flatMap((log) => decode([log], abi).map((e) => ({ ...e, txHash: log.transactionHash! })));
  }

  async function stakeOf(who: Address): Promise<bigint> {
    const account = await devnet.publicClient.readContract({ address: devnet.deployment.staking, abi: stakingAbi, functionName: "account", args: [who] });
    return account.stake;
  }

  /** A small random cls input ([1, 3, 8, 32] float32: inline), different per call. */
  let inputSeed = 1;
  function randomClsInput() {
    let state = inputSeed++ * 0x9e3779b1;
    const next = () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const values = Float32Array.from({ length: 3 * 8 * 32 }, () => next() * 2 - 1);
    return tensorFromArray({ name: "x", dtype: "float32", values, dims: [1, 3, 8, 32] });
  }

  /** Posts through the SDK client; the input is checked against the model's file (the cheater's copy has no fetchable URI). */
  const post = async (modelId: number, input: Parameters<DinferClient["postJob"]>[0]["input"]) =>
    (await dinfer.postJob({ modelId, input, fee: FEE, check: { modelFile: devnet.modelFiles.cls } })).jobId;

  // ------------------------------------------------------------------ tests

  it("serves the devnet chain from Anvil: chain id 31337, the block gas limit, a block a second stamped with the wall clock, and the Ignition record", async function () {
    this.timeout(30_000);
    const client = await devnet.publicClient.request({ method: "web3_clientVersion" } as never);
    assert.match(String(client), /^anvil\//, "the node is Anvil");
    assert.equal(devnet.engine, "anvil");
    assert.equal(devnet.chainId, DEVNET_CHAIN_ID);
    const first = await devnet.publicClient.getBlock({ blockTag: "latest" });
    await new Promise((r) => setTimeout(r, 3_200));
    const second = await devnet.publicClient.getBlock({ blockTag: "latest" });
    assert.equal(second.gasLimit, BigInt(DEVNET_BLOCK_GAS_LIMIT));
    const blocks = Number(second.number - first.number);
    assert.ok(blocks >= 2 && blocks <= 4, `${blocks} blocks in 3.2 s`);
    assert.ok(Math.abs(Number(second.timestamp) - Date.now() / 1000) <= 2, `the head's timestamp ${second.timestamp} is the wall clock's (${Date.now() / 1000})`);
    // The same Ignition module recorded the deployment, as on Hardhat's node.
    const recorded = path.join(ROOT, "ignition/deployments", devnet.deploymentId, "deployed_addresses.json");
    assert.ok(existsSync(recorded), `${recorded} exists`);
    assert.deepEqual(parseDeployment(JSON.parse(readFileSync(recorded, "utf8"))), devnet.deployment);
  });

  it("finalizes and pays the honest jobs after their audits agree; the cheater's jobs are disputed by their auditor and slashed by the committee", async function () {
    this.timeout(240_000);
    const startBlock = await devnet.publicClient.getBlockNumber({ cacheTime: 0 });
    const cheaterStake = await stakeOf(cheater.address);
    const honestStake = await stakeOf(honest.address);
    // The first post approves the market for the dApp's tokens; the others go out together.
    const cheatJobs = [await post(cheatModel, { tensors: [randomClsInput()] })];
    const posted = await Promise.all([
      ...Array.from({ length: CHEAT_JOBS - 1 }, () => post(cheatModel, { tensors: [randomClsInput()] })),
      ...Array.from({ length: HONEST_JOBS }, (_, i) => post(devnet.modelIds.cls, { image: path.join(IMAGES, `line-${i + 1}.png`), preprocess: "cls" })),
    ]);
    cheatJobs.push(...posted.slice(0, CHEAT_JOBS - 1));
    const honestJobs = posted.slice(CHEAT_JOBS - 1);

    // Every job ends: honest ones Finalized, the cheater's Slashed.
    const final = new Map<bigint, JobRecord>();
    const deadline = Date.now() + 200_000;
    while (final.size < CHEAT_JOBS + HONEST_JOBS) {
      for (const jobId of [...cheatJobs, ...honestJobs]) {
        if (final.has(jobId)) continue;
        const r = await record(jobId);
        if ([JobStatus.Finalized, JobStatus.Slashed, JobStatus.Expired].includes(r.job.status as never)) final.set(jobId, r);
      }
      if (Date.now() > deadline) {
        const open = await Promise.all([...cheatJobs, ...honestJobs].filter((id) => !final.has(id)).map(async (id) => `${id}: ${STATUS_NAMES[(await record(id)).job.status]}`));
        assert.fail(`jobs not final in time: ${open.join(", ")}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const v = { publicClient: devnet.publicClient, verification: devnet.deployment.verification };

    // Honest: audited and agreed, finalized, paid the fee less the protocol fee and the audit levy; the
    // SDK fetches the output and checks it against the committed root.
    const protocolFeeBps = BigInt(devnet.params.marketParams.protocolFeeBps!);
    const payout = FEE - (FEE * protocolFeeBps) / BPS - (FEE * BigInt(MARKET_PARAMS.auditLevyBps)) / BPS;
    for (const jobId of honestJobs) {
      const r = final.get(jobId)!;
      assert.equal(STATUS_NAMES[r.job.status], "Finalized", `honest job ${jobId}`);
      assert.equal(r.job.sampled, true, `job ${jobId} was sampled`);
      assert.equal((await readAudit({ ...v, jobId })).state, AuditState.Agreed, `job ${jobId}: its audit agreed`);
      const finalized = (await eventsOf(devnet.deployment.market, jobMarketAbi, jobId)).filter((e) => e.name === "JobFinalized");
      assert.equal(finalized.length, 1, `job ${jobId}: one JobFinalized`);
      assert.deepEqual([finalized[0]!.args.provider, finalized[0]!.args.payout], [honest.address, payout], `job ${jobId}: the honest provider paid`);
      const result = await dinfer.waitForResult(jobId, { timeoutMs: 10_000 });
      assert.equal(result.final, true);
      const [probabilities] = result.tensors();
      assert.deepEqual(probabilities?.dims, [1, 2], `job ${jobId}: the cls model's two orientation probabilities`);
    }
    assert.equal(await stakeOf(honest.address), honestStake, "the honest provider lost nothing");

    // Cheater: its auditor disagreed blind, opened the dispute, the committee faulted it, its collateral slashed.
    for (const jobId of cheatJobs) {
      const r = final.get(jobId)!;
      assert.equal(STATUS_NAMES[r.job.status], "Slashed", `cheat job ${jobId}`);
      const audit = await readAudit({ ...v, jobId });
      assert.equal(audit.state, AuditState.Disagreed, `cheat job ${jobId}: its audit disagreed`);
      const dispute = await readDispute({ ...v, jobId });
      assert.equal(dispute.reason, DisputeReason.AuditDisagreed);
      const resolved = (await eventsOf(devnet.deployment.verification, verificationAbi, jobId)).find((e) => e.name === "DisputeResolved");
      assert.ok(resolved, `cheat job ${jobId}: its dispute resolved`);
      assert.deepEqual([resolved.args.providerFaulted, resolved.args.slashed], [true, DEVNET_COLLATERAL], `cheat job ${jobId}: the provider faulted, its collateral slashed`);
      const settlement = await devnet.publicClient.getTransactionReceipt({ hash: resolved.txHash });
      const slashed = decode(settlement.logs, stakingAbi).filter((e) => e.name === "Slashed");
      assert.deepEqual(
        slashed.map((e) => [e.args.account, e.args.slashed]),
        [[cheater.address, DEVNET_COLLATERAL]],
        `cheat job ${jobId}: Staking's Slashed event in the settlement`,
      );
    }
    assert.equal(await stakeOf(cheater.address), cheaterStake - DEVNET_COLLATERAL * BigInt(CHEAT_JOBS), "the cheater lost its collateral per job");

    // No daemon's or the dApp's transaction was mined reverted: every estimate Anvil gave was enough, every
    // step in order. The one revert allowed is a keeper's race lost: two verifiers sent the same duty (the same
    // calldata to the same contract, a committee draw) at once, and the other's landed first (in that block or
    // one of the two before).
    const senders = new Set([...devnet.providers, ...devnet.verifiers, devnet.dapp].map((a) => a.address.toLowerCase()));
    const head = await devnet.publicClient.getBlockNumber({ cacheTime: 0 });
    let sent = 0;
    const reverted: string[] = [];
    for (let number = startBlock; number <= head; number++) {
      const block = await devnet.publicClient.getBlock({ blockNumber: number, includeTransactions: true });
      for (const tx of block.transactions) {
        if (!senders.has(tx.from.toLowerCase())) continue;
        sent++;
        const receipt = await devnet.publicClient.getTransactionReceipt({ hash: tx.hash });
        if (receipt.status === "success") continue;
        // The rival's may have landed a block or two before (both simulated against the state before it).
        const recent = [block, ...(await Promise.all([1n, 2n].filter((back) => number - back >= startBlock).map((back) => devnet.publicClient.getBlock({ blockNumber: number - back, includeTransactions: true }))))];
        const rivals = recent.flatMap((b) => b.transactions).filter((other) => other.hash !== tx.hash && other.from !== tx.from && other.to === tx.to && other.input === tx.input);
        const lostRace = (await Promise.all(rivals.map((other) => devnet.publicClient.getTransactionReceipt({ hash: other.hash })))).some((r) => r.status === "success");
        if (!lostRace) reverted.push(`${tx.hash} from ${tx.from} in block ${number} (gas ${tx.gas}, used ${receipt.gasUsed})`);
      }
    }
    assert.ok(sent >= 2 * (HONEST_JOBS + CHEAT_JOBS), `${sent} transactions sent`);
    assert.deepEqual(reverted, [], "no transaction mined reverted");
  });

  it("the explorer follows Anvil: its counts and the cheater's slashes are the chain's", async function () {
    this.timeout(60_000);
    const head = await devnet.publicClient.getBlockNumber({ cacheTime: 0 });
    type Network = { chain: { indexedBlock: string | null; indexerError: string | null }; jobs: { allTime: { posted: number; finalized: number; slashed: number } } };
    const get = async <T>(route: string) => (await (await fetch(`${explorer.url}/api/${route}`)).json()) as T;
    let network = await get<Network>("network");
    for (const deadline = Date.now() + 30_000; BigInt(network.chain.indexedBlock ?? -1) < head && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      network = await get<Network>("network");
    }
    assert.equal(network.chain.indexerError, null);
    assert.ok(BigInt(network.chain.indexedBlock ?? -1) >= head, `the explorer indexed up to block ${network.chain.indexedBlock}, the head was ${head}`);
    const { posted, finalized, slashed } = network.jobs.allTime;
    assert.deepEqual({ posted, finalized, slashed }, { posted: HONEST_JOBS + CHEAT_JOBS, finalized: HONEST_JOBS, slashed: CHEAT_JOBS });
    const { providers } = await get<{ providers: { address: string; slashes: { count: number } }[] }>("providers");
    const slashesOf = (a: DevAccount) => providers.find((p) => p.address.toLowerCase() === a.address.toLowerCase())?.slashes.count;
    assert.equal(slashesOf(cheater), CHEAT_JOBS, "the cheater's slashes");
    assert.equal(slashesOf(honest), 0, "the honest provider's slashes");
  });
});
