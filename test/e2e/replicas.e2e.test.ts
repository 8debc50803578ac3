/**
 * Redundant jobs end to end (contracts/ReplicaMarket.sol, docs/PROTOCOL.md "Redundant jobs") with real daemons:
 * a node mining one block a second, four `dinfer worker` processes serving the PaddleOCR cls model (the third
 * makes its outputs up: fault `random`; a fourth is honest), three `dinfer verifier` processes, and a dApp posting through the
 * ReplicaMarket, four providers in all (the fourth honest, declaring the region eu-west, as the first does):
 *   1. a k = 3 job allowlisted to the first two and the cheater: the cheater's root differs, so every seat goes to
 *      a committee at settle with no sampling at all (samplingPpm is 0); the verifiers' committees slash the
 *      cheater and pay the two honest seats;
 *   2. a k = 2 job whose allowlist names two honest workers only: the cheater never takes a seat, the two agree
 *      and are paid by the ReplicaMarket at settle;
 *   3. a k = 2 job for the region eu-west: only the two providers whose profile declares it take a seat;
 *   4. a k = 2 job asking for a reputation of at least 0.45: the cheater, slashed in 1, skips it saying why;
 *   5. a fifth, slow provider (every run 30 s longer: fault `slow`) measures its run time on a seat it can serve,
 *      then leaves a seat it would commit after the job's claimBy (15 s away) to the faster providers.
 * Every figure asserted is read from the chain's events.
 *
 * Run alone: `npx hardhat test mocha test/e2e/replicas.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { decodeEventLog, erc20Abi, getAddress, parseEther, zeroHash, type Address, type Hex } from "viem";

import { jobMarketAbi, providerProfilesAbi, replicaMarketAbi } from "../../offchain/chain/abis.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { encodeRegion } from "../../offchain/chain/profiles.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { ReplicaStatus } from "../../offchain/chain/replicas.js";
import { blobId, encodeTensorBlob } from "../../offchain/codec/tensor.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";
import { imageToClsInput } from "../../offchain/sdk/image.js";
import { uploadBlob } from "../../offchain/storage/upload.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const FEE = parseEther("2");

describe("redundant jobs with real workers and verifiers: a cheater caught without sampling, an allowlist honoured", function () {
  let devnet: Devnet;
  let workers: Daemon[] = [];
  let verifiers: Daemon[] = [];

  before(async function () {
    this.timeout(600_000);
    devnet = await startDevnet({
      providers: 5,
      verifiers: 3,
      marketParams: { samplingPpm: 0, seedDelay: 2, revealTimeout: 60, challengeWindow: 15, disputeDuration: 120 },
      verificationParams: { auditCommitTimeout: 20, voteCommitTimeout: 10, voteRevealTimeout: 10 },
    });
    const model = { modelId: devnet.modelIds.cls, path: devnet.modelFiles.cls, minFee: "0" };
    const common = { rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, metricsPort: 0, pollIntervalMs: 250 };
    const logDir = devnet.tempDir("logs");
    workers = await Promise.all(
      devnet.providers.map(async (account, i) => {
        const dataDir = devnet.tempDir(`worker-${i + 1}`);
        const cheat = i === 2;
        // The fifth is honest and slow: every run takes 30 s longer.
        const slow = i === 4;
        const daemon = await startDaemon({
          command: "worker",
          configFile: path.join(dataDir, "worker.config.json"),
          config: { ...common, dataDir, models: [model], ep: "cpu", threads: 1, ...(cheat ? { fault: { mode: "random" } } : slow ? { fault: { mode: "slow", delayMs: 30_000 } } : {}) },
          env: { DINFER_PRIVATE_KEY: account.key, DINFER_WORKER_SECRET: `replica-worker-secret-${i}-0123456789abcdef`, ...(cheat || slow ? { DINFER_ALLOW_FAULTS: "1" } : {}) },
          readyMsg: "worker ready",
          readyTimeoutMs: 180_000,
          logFile: path.join(logDir, `worker-${i + 1}.log`),
        });
        devnet.onStop(() => daemon.stop().catch(() => daemon.kill()));
        return daemon;
      }),
    );
    // The first and the fourth declare a region (ProviderProfiles, self-declared).
    for (const account of [devnet.providers[0]!, devnet.providers[3]!]) {
      const { publicClient, walletClient } = await createChainClients({ rpcUrl: devnet.url, privateKey: account.key });
      const sender = new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 100 });
      await sender.send({ address: devnet.deployment.profiles, abi: providerProfilesAbi, functionName: "setProfile", args: [encodeRegion("eu-west"), 1, 2, [devnet.modelIds.cls], "", zeroHash] });
    }
    verifiers = await Promise.all(
      devnet.verifiers.map(async (account, i) => {
        const dataDir = devnet.tempDir(`verifier-${i + 1}`);
        const daemon = await startDaemon({
          command: "verifier",
          configFile: path.join(dataDir, "verifier.config.json"),
          config: { ...common, dataDir, models: [model], ep: "cpu" },
          env: { DINFER_PRIVATE_KEY: account.key, DINFER_VERIFIER_SECRET: `replica-verifier-secret-${i}-0123456789abcdef` },
          readyMsg: "verifier ready",
          readyTimeoutMs: 300_000,
          logFile: path.join(logDir, `verifier-${i + 1}.log`),
        });
        devnet.onStop(() => daemon.stop().catch(() => daemon.kill()));
        return daemon;
      }),
    );
  });

  after(async function () {
    this.timeout(120_000);
    await devnet?.stop();
  });

  const tail = () => [...workers, ...verifiers].map((d) => d.logs().slice(-2_000)).join("\n---\n");

  /** Posts a redundant cls job on a text line's image; returns its id. */
  async function post(replicas: number, allowlist: Address[] = [], { region = "0x0000000000000000" as Hex, minReputationPpm = 0, claimWithin = 120n } = {}): Promise<bigint> {
    const blob = encodeTensorBlob([await imageToClsInput(`${IMAGES}line-1-rot180.png`)]);
    const { url } = await uploadBlob({ serverUrl: devnet.blobServer.url, token: devnet.uploadToken, bytes: blob });
    const { replicaMarket, token } = devnet.deployment;
    // The fee and a committee reserve per seat (the reserves of seats no committee judges come back at settle).
    const [total] = await devnet.publicClient.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "quote", args: [FEE, BigInt(replicas)] });
    await devnet.dappSender.send({ address: token, abi: erc20Abi, functionName: "approve", args: [replicaMarket, total] });
    const now = (await devnet.publicClient.getBlock()).timestamp;
    const { receipt } = await devnet.dappSender.send({
      address: replicaMarket,
      abi: replicaMarketAbi,
      functionName: "post",
      args: [
        {
          modelId: BigInt(devnet.modelIds.cls),
          feePerReplica: FEE,
          claimBy: now + claimWithin,
          replicas,
          inputHash: blobId(blob),
          inputURI: url,
          constraints: { allowlist, region, executionProviders: 0, minReputationPpm },
        },
      ],
    });
    return replicaEvents(receipt.logs).find((e) => e.eventName === "ReplicaJobPosted")!.args.replicaJobId as bigint;
  }

  function replicaEvents(logs: readonly { address: Address; data: Hex; topics: readonly Hex[] }[]) {
    return logs
      .filter((l) => getAddress(l.address) === getAddress(devnet.deployment.replicaMarket))
      .map((l) => decodeEventLog({ abi: replicaMarketAbi, data: l.data, topics: l.topics as [Hex, ...Hex[]] }));
  }

  async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  it("k = 3 with a cheater: every seat goes to a committee without sampling; the cheater is slashed, the honest paid", async function () {
    this.timeout(420_000);
    const id = await post(3, [0, 1, 2].map((i) => getAddress(devnet.providers[i]!.address)));
    const { replicaMarket, market } = devnet.deployment;
    const job = await until("the redundant job's settlement", async () => {
      const j = await devnet.publicClient.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "replicaJob", args: [id] });
      return j.status === ReplicaStatus.Open ? undefined : j;
    }, 240_000);
    assert.equal(job.status, ReplicaStatus.Disputed, tail());
    assert.equal(job.committed, 3);
    const seats = await Promise.all([0n, 1n, 2n].map((i) => devnet.publicClient.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "seat", args: [id, i] })));
    const cheater = getAddress(devnet.providers[2]!.address);
    assert.deepEqual(new Set(seats.map((s) => getAddress(s.provider))), new Set(devnet.providers.slice(0, 3).map((p) => getAddress(p.address))));
    for (const s of seats) assert.notEqual(s.jobId, 0n, "every revealed seat went to a committee");
    const honestRoots = new Set(seats.filter((s) => getAddress(s.provider) !== cheater).map((s) => s.outputRoot));
    assert.equal(honestRoots.size, 1, "the honest seats agree");

    // Each committee settles its seat: the cheater's faulted, the honest ones upheld.
    const settled = await until("the three disputes' settlement", async () => {
      const logs = await devnet.publicClient.getContractEvents({ address: market, abi: jobMarketAbi, eventName: "DisputeSettled", fromBlock: 0n });
      const mine = logs.filter((l) => seats.some((s) => s.jobId === l.args.jobId));
      return mine.length === 3 ? mine : undefined;
    }, 300_000);
    for (const s of seats) {
      const outcome = settled.find((l) => l.args.jobId === s.jobId)!.args;
      const isCheater = getAddress(s.provider) === cheater;
      assert.equal(outcome.providerFaulted, isCheater, `seat of ${s.provider}\n${tail()}`);
      if (isCheater) assert.ok(outcome.slashed! > 0n, "the cheater's collateral was slashed");
    }
    const finalized = await devnet.publicClient.getContractEvents({ address: market, abi: jobMarketAbi, eventName: "JobFinalized", fromBlock: 0n });
    for (const s of seats.filter((s) => getAddress(s.provider) !== cheater)) {
      assert.ok(finalized.some((l) => l.args.jobId === s.jobId && l.args.payout! > 0n), `the honest seat ${s.provider} was paid`);
    }
  });

  it("k = 2 with an allowlist of the honest workers: the cheater takes no seat, the two agree and are paid", async function () {
    this.timeout(300_000);
    const honest = devnet.providers.slice(0, 2).map((p) => getAddress(p.address));
    const id = await post(2, honest);
    const { replicaMarket } = devnet.deployment;
    const job = await until("the redundant job's settlement", async () => {
      const j = await devnet.publicClient.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "replicaJob", args: [id] });
      return j.status === ReplicaStatus.Open ? undefined : j;
    }, 240_000);
    assert.equal(job.status, ReplicaStatus.Agreed, tail());
    const settledLogs = await devnet.publicClient.getContractEvents({ address: replicaMarket, abi: replicaMarketAbi, eventName: "ReplicaJobSettled", args: { replicaJobId: id }, fromBlock: 0n });
    assert.notEqual(settledLogs[0]!.args.outputRoot, zeroHash);
    const paid = await devnet.publicClient.getContractEvents({ address: replicaMarket, abi: replicaMarketAbi, eventName: "ReplicaPaid", args: { replicaJobId: id }, fromBlock: 0n });
    assert.deepEqual(new Set(paid.map((l) => getAddress(l.args.provider!))), new Set(honest));
    // The cheater saw the job and left it: its constraints do not admit it.
    await workers[2]!.waitForLine((l) => l.msg === "redundant job ended" && l.replica_job_id === id.toString() && l.outcome === "skipped", "the cheater's skip", 30_000);
  });

  /** Waits for the job's settlement; returns its seats' providers. */
  async function settledSeats(id: bigint, status: number): Promise<Address[]> {
    const { replicaMarket } = devnet.deployment;
    const job = await until("the redundant job's settlement", async () => {
      const j = await devnet.publicClient.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "replicaJob", args: [id] });
      return j.status === ReplicaStatus.Open ? undefined : j;
    }, 240_000);
    assert.equal(job.status, status, tail());
    const seats = await Promise.all(Array.from({ length: job.committed }, (_, i) => devnet.publicClient.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "seat", args: [id, BigInt(i)] })));
    return seats.map((s) => getAddress(s.provider));
  }

  it("a region constraint: only the providers whose profile declares the region take a seat", async function () {
    this.timeout(300_000);
    const id = await post(2, [], { region: encodeRegion("eu-west") });
    const seated = await settledSeats(id, ReplicaStatus.Agreed);
    assert.deepEqual(new Set(seated), new Set([devnet.providers[0]!, devnet.providers[3]!].map((p) => getAddress(p.address))));
    for (const i of [1, 2]) {
      await workers[i]!.waitForLine((l) => l.msg === "redundant job ended" && l.replica_job_id === id.toString() && /constraints do not admit us/.test(String(l.reason)), `worker ${i + 1}'s skip`, 30_000);
    }
  });

  it("a minimum reputation: the cheater, slashed before, skips the job saying why; honest providers serve it", async function () {
    this.timeout(300_000);
    const id = await post(2, [], { minReputationPpm: 450_000 });
    const seated = await settledSeats(id, ReplicaStatus.Agreed);
    assert.ok(!seated.includes(getAddress(devnet.providers[2]!.address)), "the cheater took no seat");
    await workers[2]!.waitForLine((l) => l.msg === "redundant job ended" && l.replica_job_id === id.toString() && /reputation of at least 0.45/.test(String(l.reason)), "the cheater's skip", 30_000);
  });

  it("a slow provider measures itself and leaves a seat it would commit after claimBy to the faster ones", async function () {
    this.timeout(300_000);
    const slow = getAddress(devnet.providers[4]!.address);
    // It measures its run time on a seat it can take (allowlisted beside an honest one, claimBy two minutes away).
    const first = await post(2, [getAddress(devnet.providers[0]!.address), slow]);
    assert.ok((await settledSeats(first, ReplicaStatus.Agreed)).includes(slow));
    // Then a job whose seats close in 15 s (the cheater kept out by a minimum reputation): the slow one skips it.
    const id = await post(2, [], { minReputationPpm: 450_000, claimWithin: 15n });
    const seated = await settledSeats(id, ReplicaStatus.Agreed);
    assert.ok(!seated.includes(slow), "the slow provider took no seat");
    const skip = await workers[4]!.waitForLine((l) => l.msg === "redundant job ended" && l.replica_job_id === id.toString(), "the slow provider's decision", 30_000);
    assert.match(String(skip.reason), /after its claim deadline/, JSON.stringify(skip));
  });
});
