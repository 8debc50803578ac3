/**
 * The verification game end to end (docs/PROTOCOL.md, section 7) with real daemons: a `hardhat node`
 * process mining one block a second (automine off: chain time keeps with wall time, so every window lasts
 * what it says), the protocol deployed with Ignition (offchain/devnet), `dinfer worker` and `dinfer
 * verifier` daemons as separate processes, and the real PaddleOCR cls model. Workers serve one model id
 * each (registered copies of the cls model), so each job goes to the worker the scenario means:
 *
 *   P1 honest, with noise inside the tolerance     P2 random output     P3 truncated output
 *   P4 a wrong model (one weight tensor negated)   P5 withholds its output blob
 *
 * and one more copy is served by the verifiers only, for a provider played by the test that commits and
 * never reveals. Phases:
 *   A) every job sampled (recheck 30%): 30 honest jobs, two of each cheat, one false challenge, all at once;
 *   B) an absent auditor and an absent committee member (a staked verifier with no daemon), the keepers
 *      syncing its weight to its stake, and a withheld sampled reveal slashed in full;
 *   C) sampling off (a new terms version): a watchdog catches a withheld output (served nowhere), and
 *      self-challenges (a colluding challenger) gain the cheater nothing.
 *
 * Run alone: `npx hardhat test mocha test/e2e/verification.e2e.test.ts` (about 5 minutes on 2 cores).
 * DINFER_E2E_LOG_DIR=<dir> keeps every daemon's log.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";
import { decodeEventLog, getAddress, keccak256, numberToHex, parseEther, stringToHex, toHex, type Abi, type Address, type ContractFunctionReturnType, type Hex } from "viem";

import { dinferTestTokenAbi, jobMarketAbi, modelRegistryAbi, protocolTermsAbi, stakingAbi, verificationAbi } from "../../offchain/chain/abis.js";
import { abiOf } from "../../offchain/chain/artifacts.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { formatTokens } from "../../offchain/chain/format.js";
import { JobStatus, readJob, type Job, type JobRecord } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { commitment } from "../../offchain/codec/commitment.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { devAccount, DEVNET_COLLATERAL, DEVNET_TOLERANCE, startDevnet, type DevAccount, type Devnet } from "../../offchain/devnet/devnet.js";
import { hashModel } from "../../offchain/inference/model.js";
import { postJob } from "../../offchain/sdk/jobs.js";
import type { AuditReport } from "../../offchain/verifier/audit.js";
import { AuditState, DisputeReason, DisputeState, sameAddress, Vote, watchdogPicks, ZERO_ADDRESS } from "../../offchain/verifier/decide.js";
import { readAudit, readDispute } from "../../offchain/verifier/views.js";
import { listFloatInitializers, scaleInitializer } from "../helpers/onnx-tamper.js";

const DINFER_BIN = fileURLToPath(new URL("../../bin/dinfer.js", import.meta.url));
const FEE = parseEther("2");
const HONEST_JOBS = 30;
const CHEATS_PER_MODE = 2;
const ROLE_PROVIDER = 1;
const ROLE_VERIFIER = 2;
const BPS = 10_000n;

/**
 * Short windows: the seed 2 blocks after a commit, 15 s for the blind audit commit, 12 s to challenge,
 * 8 + 8 s to vote. Every job is sampled, and the levy (20%) covers an audit of each and its recheck.
 */
const MARKET_PARAMS = { samplingPpm: 1_000_000, seedDelay: 2, challengeWindow: 12, revealTimeout: 60, disputeDuration: 120, auditLevyBps: 2_000 };
const VERIFICATION_PARAMS = {
  challengeBond: parseEther("50").toString(),
  auditorPenalty: parseEther("5").toString(),
  voterPenalty: parseEther("2").toString(),
  auditCommitTimeout: 15,
  voteCommitTimeout: 8,
  voteRevealTimeout: 8,
  committeeSize: 3,
  challengerRewardBps: 4_000,
  providerRewardBps: 5_000,
  auditRewardBps: 1_000,
  voterRewardBps: 1_000,
  recheckPpm: 300_000,
};
const BOND = BigInt(VERIFICATION_PARAMS.challengeBond);
const AUDIT_REWARD = (FEE * BigInt(VERIFICATION_PARAMS.auditRewardBps)) / BPS;
/** A seat's pay in a dispute the protocol opened (an audit's Disagree, a recheck, a missed audit): from the audit pool. */
const VOTER_PAY = (FEE * BigInt(VERIFICATION_PARAMS.voterRewardBps)) / BPS;
/** A seat's pay in a challenge, out of the bond: the part of it that does not go to an upheld provider, split over the seats. */
const bondSeatPay = (seats: number) => (BOND * (BPS - BigInt(VERIFICATION_PARAMS.providerRewardBps))) / BPS / BigInt(seats);
/**
 * The finder's share of a slash: challengerRewardBps of the whole collateral, taken first; only the rest
 * repays what a challenger's bond paid the committee (docs/PROTOCOL.md section 7).
 */
const FINDER_SHARE = (DEVNET_COLLATERAL * BigInt(VERIFICATION_PARAMS.challengerRewardBps)) / BPS;
/** What a challenger gets back of its bond when the provider is faulted: the bond less the committee's pay, plus what the rest of the slash repays of it. */
const bondBackOf = (committeePay: bigint) => {
  const rest = DEVNET_COLLATERAL - FINDER_SHARE;
  return BOND - committeePay + (committeePay < rest ? committeePay : rest);
};
/** What an auditor that missed its blind commit loses: auditorPenalty, but at least the pay of the committee that replaces it. */
const MISSED_AUDIT_PENALTY = (() => {
  const committeePay = BigInt(VERIFICATION_PARAMS.committeeSize) * VOTER_PAY;
  const flat = BigInt(VERIFICATION_PARAMS.auditorPenalty);
  return committeePay > flat ? committeePay : flat;
})();
/** Verifier 0 re-runs this share of the unsampled results (all jobs are sampled until phase C). */
const WATCHDOG_SHARE = 0.5;
/** The verifiers count an output served nowhere as wrong this many seconds before their deadline. */
const OUTPUT_RESERVE_SECONDS = 3;
const verifierSecret = (i: number) => `e2e-verifier-secret-${i}-0123456789`;

type Mode = "noise" | "random" | "truncate" | "wrong-model" | "withhold";
const MODES: Mode[] = ["noise", "random", "truncate", "wrong-model", "withhold"];
/** The cheats an audit catches by comparing outputs. */
const WRONG_OUTPUTS: Mode[] = ["random", "truncate", "wrong-model"];
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

type Decoded = { contract: "market" | "verification" | "staking"; name: string; args: Record<string, unknown>; txHash: Hex; blockNumber: bigint };
type Row = { scenario: string; jobs: number; sampled: number; audits: string; disputes: string; outcome: string; seconds: number };
type Actor = { account: DevAccount; sender: TxSender };

/** ProtocolTerms' market parameters, as its typed ABI reads and writes them. */
type MarketParams = ContractFunctionReturnType<typeof protocolTermsAbi, "view", "params">;

describe("verification end to end: worker and verifier processes, sampled audits, disputes, slashing", function () {
  let devnet: Devnet;
  let owner: TxSender;
  const workers = new Map<Mode, Daemon>();
  const verifiers: Daemon[] = [];
  const modelOf = new Map<Mode | "quit", number>();
  let wrongModelPath: string;
  /** Phase A's jobs, for `dinfer audit`. */
  const phaseA = { honest: [] as bigint[], cheats: new Map<Mode, bigint[]>(), rechecked: new Set<bigint>(), falseChallenge: undefined as bigint | undefined };
  let challenger: Actor;
  let colluder: Actor;
  let absent: Actor;
  /** A provider played by the test: it commits and never reveals. */
  let quitter: Actor;
  const rows: Row[] = [];
  const logDir = process.env.DINFER_E2E_LOG_DIR;

  before(async function () {
    this.timeout(300_000);
    process.setMaxListeners(32); // each daemon (and the node) adds an exit hook that kills its process group
    devnet = await startDevnet({
      providers: MODES.length,
      verifiers: 4,
      providerStake: parseEther("10000"),
      verifierStake: parseEther("1000"),
      marketParams: MARKET_PARAMS,
      verificationParams: VERIFICATION_PARAMS,
    });
    owner = devnet.deployerSender;
    if (logDir) mkdirSync(logDir, { recursive: true });

    // The wrong model: the cls model with its classifier's weight matrix negated (a real, different model).
    const clsBytes = new Uint8Array(readFileSync(devnet.modelFiles.cls));
    const classifier = listFloatInitializers(clsBytes).filter((t) => t.dims.length === 2).at(-1)!;
    wrongModelPath = path.join(devnet.tempDir("models"), "cls-wrong.onnx");
    writeFileSync(wrongModelPath, scaleInitializer(clsBytes, classifier.name, -1));

    // One model id per worker: the cls model for P1, registered copies of it for the others and the quitter.
    modelOf.set("noise", devnet.modelIds.cls);
    const spec = {
      modelHash: hashModel(clsBytes),
      uri: "file:ch_ppocr_mobile_v2.0_cls_infer.onnx",
      runtime: "onnxruntime-node@1.30.0",
      tolerance: DEVNET_TOLERANCE,
      minCollateral: DEVNET_COLLATERAL,
      priceFloor: parseEther("1"),
      nonFiniteInputs: false,
    };
    for (const mode of [...MODES.slice(1), "quit"] as const) {
      const { receipt } = await owner.send({ address: devnet.deployment.registry, abi: modelRegistryAbi, functionName: "register", args: [spec] });
      const registered = receipt.logs.map((log) => decode(modelRegistryAbi, log)).find((e) => e?.name === "ModelRegistered");
      modelOf.set(mode, Number(registered!.args.modelId));
    }

    // A challenger, a colluder, a verifier that will never run a daemon and the quitter, with tokens
    // (the accounts after the dApp). The audit pool is funded so that every reward is paid in full.
    const [c, k, a, q] = [1, 2, 3, 4].map((i) => devAccount(devnet.dapp.index + i)) as [DevAccount, DevAccount, DevAccount, DevAccount];
    [challenger, colluder, absent, quitter] = await Promise.all([c, k, a, q].map(async (account) => ({ account, sender: await senderOf(account) })));
    const token = { address: devnet.deployment.token, abi: dinferTestTokenAbi };
    await Promise.all([
      ...[challenger, colluder, absent, quitter].map((who) => owner.send({ ...token, functionName: "mint", args: [who.account.address, parseEther("2000")] })),
      owner.send({ ...token, functionName: "mint", args: [devnet.deployer.address, parseEther("1000")] }),
    ]);
    await Promise.all([
      ...[challenger, colluder].map((who) => who.sender.send({ ...token, functionName: "approve", args: [devnet.deployment.verification, parseEther("2000")] })),
      ...[absent, quitter].map((who) => who.sender.send({ ...token, functionName: "approve", args: [devnet.deployment.staking, parseEther("2000")] })),
      devnet.dappSender.send({ ...token, functionName: "approve", args: [devnet.deployment.market, parseEther("1000000")] }),
      owner.send({ ...token, functionName: "approve", args: [devnet.deployment.market, parseEther("1000")] }),
    ]);
    await Promise.all([
      owner.send({ address: devnet.deployment.market, abi: jobMarketAbi, functionName: "fundAuditPool", args: [parseEther("1000")] }),
      quitter.sender.send({ address: devnet.deployment.staking, abi: stakingAbi, functionName: "stake", args: [parseEther("1000"), ROLE_PROVIDER] }),
    ]);

    const started = await Promise.all([...MODES.map((mode) => startWorker(mode)), ...devnet.verifiers.map((account, i) => startVerifier(account, i))]);
    assert.equal(started.length, MODES.length + devnet.verifiers.length);
  });

  afterEach(async function () {
    this.timeout(30_000);
    if (this.currentTest?.state === "failed") {
      for (const [mode, w] of workers) console.log(`--- worker ${mode} ---\n${w.logs().slice(-2_500)}`);
      for (const [i, v] of verifiers.entries()) console.log(`--- verifier ${i} ---\n${v.logs().slice(-2_500)}`);
    }
  });

  after(async function () {
    this.timeout(90_000);
    if (rows.length > 0) {
      console.log("      what happened (seconds are wall clock, post to the last job's end):");
      console.table(rows);
    }
    await devnet?.stop();
  });

  // ------------------------------------------------------------------ daemons

  async function senderOf(account: DevAccount): Promise<TxSender> {
    const { publicClient, walletClient } = await createChainClients({ rpcUrl: devnet.url, privateKey: account.key });
    return new TxSender({ publicClient, walletClient: walletClient!, receiptPollingIntervalMs: 100 });
  }

  const common = () => ({ rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, pollIntervalMs: 400, threads: 1, ep: "cpu" });

  async function startWorker(mode: Mode): Promise<Daemon> {
    const account = devnet.providers[MODES.indexOf(mode)]!;
    const dataDir = devnet.tempDir(`worker-${mode}`);
    const fault = mode === "noise" ? { mode, amplitude: 5e-5 } : mode === "wrong-model" ? { mode, modelPath: wrongModelPath } : { mode };
    const daemon = await startDaemon({
      command: "worker",
      configFile: path.join(dataDir, "worker.config.json"),
      config: { ...common(), dataDir, metricsPort: -1, models: [{ modelId: modelOf.get(mode)!, path: devnet.modelFiles.cls }], fault },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_WORKER_SECRET: `e2e-worker-secret-${mode}-0123456789`, DINFER_ALLOW_FAULTS: "1" },
      readyMsg: "worker ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `worker-${mode}.log`),
    });
    devnet.onStop(() => daemon.kill());
    workers.set(mode, daemon);
    return daemon;
  }

  async function startVerifier(account: DevAccount, i: number): Promise<Daemon> {
    const dataDir = devnet.tempDir(`verifier-${i}`);
    const daemon = await startDaemon({
      command: "verifier",
      configFile: path.join(dataDir, "verifier.config.json"),
      config: {
        ...common(),
        dataDir,
        metricsPort: 0,
        models: [...new Set(modelOf.values())].map((modelId) => ({ modelId, path: devnet.modelFiles.cls })),
        outputReserveSeconds: OUTPUT_RESERVE_SECONDS,
        keeperGraceSeconds: 4,
        ...(i === 0 ? { watchdog: { share: WATCHDOG_SHARE } } : {}),
      },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_VERIFIER_SECRET: verifierSecret(i) },
      readyMsg: "verifier ready",
      readyTimeoutMs: 180_000,
      logFile: logDir && path.join(logDir, `verifier-${i}.log`),
    });
    devnet.onStop(() => daemon.kill());
    verifiers[i] = daemon; // by index: verifier 0 is the watchdog
    return daemon;
  }

  // ------------------------------------------------------------------ chain reads

  function read(address: Address, contract: "ModelRegistry" | "JobMarket" | "Staking" | "Verification" | "DinferTestToken" | "ProtocolTerms", functionName: string, args: readonly unknown[] = []) {
    return devnet.publicClient.readContract({ address, abi: abiOf(contract), functionName, args }) as Promise<unknown>;
  }

  async function record(jobId: bigint): Promise<JobRecord> {
    for (;;) {
      try {
        return await readJob({ client: devnet.publicClient, market: devnet.deployment.market, jobId });
      } catch (error) {
        if ((error as { code?: string }).code !== "JOB_STATE_MISMATCH") throw error;
      }
    }
  }

  const statusOf = async (jobId: bigint) => (await record(jobId)).job.status;
  const v = () => ({ publicClient: devnet.publicClient, verification: devnet.deployment.verification });

  /** Polls until `done(record)` holds for every job. */
  async function waitFor(jobIds: readonly bigint[], done: (r: JobRecord) => boolean | Promise<boolean>, what: string, timeoutMs = 150_000): Promise<Map<bigint, JobRecord>> {
    const seen = new Map<bigint, JobRecord>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const jobId of jobIds) {
        if (seen.has(jobId)) continue;
        const r = await record(jobId);
        if (await done(r)) seen.set(jobId, r);
      }
      if (seen.size === jobIds.length) return seen;
      if (Date.now() > deadline) {
        const pending = await Promise.all(jobIds.filter((id) => !seen.has(id)).map(async (id) => `${id}: ${STATUS_NAMES[await statusOf(id)]}`));
        throw new Error(`not ${what} within ${timeoutMs} ms: ${pending.join(", ")}`);
      }
      await sleep(500);
    }
  }

  /** Polls `check` until it returns a value (not undefined). */
  async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
    for (const until = Date.now() + timeoutMs; ; await sleep(500)) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > until) assert.fail(`not ${what} within ${timeoutMs} ms`);
    }
  }

  const isFinal = (r: JobRecord) => r.job.status === JobStatus.Finalized || r.job.status === JobStatus.Slashed || r.job.status === JobStatus.Expired;

  /** Every event of the market and Verification about `jobId` (its topic), decoded, in chain order. */
  async function eventsOf(jobId: bigint): Promise<Decoded[]> {
    const contracts = [
      ["market", devnet.deployment.market, jobMarketAbi],
      ["verification", devnet.deployment.verification, verificationAbi],
    ] as const;
    const out: Decoded[] = [];
    for (const [contract, address, abi] of contracts) {
      const logs = await devnet.publicClient.request({
        method: "eth_getLogs",
        params: [{ address, fromBlock: "0x0", toBlock: "latest", topics: [null, numberToHex(jobId, { size: 32 })] }],
      });
      for (const log of logs) {
        const decoded = decode(abi, log as { data: Hex; topics: readonly Hex[] });
        if (decoded) out.push({ contract, ...decoded, txHash: log.transactionHash as Hex, blockNumber: BigInt(log.blockNumber ?? 0) });
      }
    }
    return out.sort((a, b) => Number(a.blockNumber - b.blockNumber));
  }

  /**
   * The events of one job's own finalize inside a transaction that may finalize several (the worker groups
   * its steps into one multicall): those after the previous job's JobFinalized, up to this job's.
   */
  function ownFinalize(events: Decoded[], jobId: bigint): Decoded[] {
    const end = events.findIndex((e) => e.name === "JobFinalized" && e.args.jobId === jobId);
    assert.ok(end >= 0, `job ${jobId}: its JobFinalized is in the transaction`);
    let start = end;
    while (start > 0 && events[start - 1]!.name !== "JobFinalized") start--;
    return events.slice(start, end + 1);
  }

  /** The decoded events of one transaction's receipt, from the three contracts, and who sent it. */
  async function receiptEvents(txHash: Hex): Promise<Decoded[] & { from?: Address }> {
    const receipt = await devnet.publicClient.getTransactionReceipt({ hash: txHash });
    const byAddress = new Map<string, ["market" | "verification" | "staking", Abi]>([
      [devnet.deployment.market.toLowerCase(), ["market", jobMarketAbi]],
      [devnet.deployment.verification.toLowerCase(), ["verification", verificationAbi]],
      [devnet.deployment.staking.toLowerCase(), ["staking", stakingAbi]],
    ]);
    const events = receipt.logs.flatMap((log) => {
      const known = byAddress.get(log.address.toLowerCase());
      const decoded = known && decode(known[1], log);
      return decoded ? [{ contract: known[0], ...decoded, txHash, blockNumber: receipt.blockNumber }] : [];
    });
    return Object.assign(events, { from: receipt.from });
  }

  function decode(abi: Abi, log: { data: Hex; topics: readonly Hex[] }) {
    try {
      const { eventName, args } = decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
      return { name: String(eventName), args: (args ?? {}) as Record<string, unknown> };
    } catch {
      return undefined;
    }
  }

  const account = async (who: Address) => (await read(devnet.deployment.staking, "Staking", "account", [who])) as { stake: bigint; verifierWeight: bigint; roles: number };
  const stakeOf = async (who: Address) => (await account(who)).stake;
  const balanceOf = async (who: Address) => (await read(devnet.deployment.token, "DinferTestToken", "balanceOf", [who])) as bigint;
  const marketCredits = async (who: Address) => (await read(devnet.deployment.market, "JobMarket", "credits", [who])) as bigint;
  const verificationCredits = async (who: Address) => (await read(devnet.deployment.verification, "Verification", "credits", [who])) as bigint;
  /** Everything an account holds in the protocol's token: wallet, stake, credits in both contracts. */
  const worth = async (who: Address) => (await balanceOf(who)) + (await stakeOf(who)) + (await marketCredits(who)) + (await verificationCredits(who));
  const providerOf = (mode: Mode) => devnet.providers[MODES.indexOf(mode)]!.address;

  /** What `events` credit `account` in one contract (Credited events), summed. */
  const credited = (events: readonly Decoded[], contract: Decoded["contract"], who: Address) =>
    events.filter((e) => e.contract === contract && e.name === "Credited" && sameAddress(e.args.account as string, who)).reduce((sum, e) => sum + (e.args.amount as bigint), 0n);
  const named = (events: readonly Decoded[], name: string) => events.filter((e) => e.name === name);

  // ------------------------------------------------------------------ jobs

  let inputSeed = 1;
  /** A small random cls input ([1, 3, 8, 32] float32: inline, under 4096 bytes), deterministic per call. */
  function clsInput(): Uint8Array {
    let state = inputSeed++ * 0x9e3779b1;
    const next = () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const values = Float32Array.from({ length: 3 * 8 * 32 }, () => next() * 2 - 1);
    return encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values, dims: [1, 3, 8, 32] })]);
  }

  async function post(mode: Mode | "quit"): Promise<bigint> {
    const { jobId } = await postJob({ sender: devnet.dappSender, publicClient: devnet.publicClient, deployment: devnet.deployment, modelId: modelOf.get(mode)!, input: clsInput(), fee: FEE });
    return jobId;
  }

  /**
   * Posts a job for `mode` whose input only a server of the dApp's serves, once (the provider's fetch: every
   * later request gets 404), and closes the server once the provider committed: the dApp hopes every
   * verifier finds the input "cannot be had".
   */
  async function postThenWithdrawInput(mode: Mode): Promise<bigint> {
    const input = clsInput();
    let served = 0;
    const server = createServer((_req, res) => {
      if (served++ > 0) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(input);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { jobId } = await postJob({
      sender: devnet.dappSender,
      publicClient: devnet.publicClient,
      deployment: devnet.deployment,
      modelId: modelOf.get(mode)!,
      input,
      inputURI: `http://127.0.0.1:${(server.address() as AddressInfo).port}/input`,
      fee: FEE,
    });
    await waitFor([jobId], (x) => x.job.status >= JobStatus.Committed, "committed");
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return jobId;
  }

  /** Posts `count` jobs for `mode`, up to `parallel` at a time (the sender keeps the nonces in order; one block holds them all). */
  async function postMany(mode: Mode, count: number, parallel = 10): Promise<bigint[]> {
    const ids: bigint[] = [];
    while (ids.length < count) {
      const batch = Math.min(parallel, count - ids.length);
      ids.push(...(await Promise.all(Array.from({ length: batch }, () => post(mode)))));
    }
    return ids;
  }

  async function challenge(by: Actor, jobId: bigint, job: Job): Promise<Hex> {
    const { hash } = await by.sender.send({ address: devnet.deployment.verification, abi: verificationAbi, functionName: "challenge", args: [jobId, job] });
    return hash;
  }

  /**
   * Waits for a job to be revealed and challenges it at once (inside its window). Returns false when the
   * job was disputed first (its auditor's recheck): one dispute per job.
   */
  async function challengeWhenRevealed(by: Actor, jobId: bigint): Promise<boolean> {
    const [r] = [...(await waitFor([jobId], (x) => x.job.status >= JobStatus.Revealed, "revealed")).values()];
    if (r!.job.status !== JobStatus.Revealed) return false;
    try {
      await challenge(by, jobId, r!.job);
      return true;
    } catch (error) {
      const moved = /DisputeExists|JobMismatch|WrongStatus/.test(String((error as { errorName?: string }).errorName));
      if (!moved) throw error;
      return false;
    }
  }

  /** A resolved dispute: its events, the resolution and the settlement transaction's events. */
  async function resolutionOf(jobId: bigint) {
    const events = await eventsOf(jobId);
    const resolved = events.find((e) => e.name === "DisputeResolved");
    assert.ok(resolved, `job ${jobId} has a DisputeResolved event: ${events.map((e) => e.name).join(", ")}`);
    const dispute = await readDispute({ ...v(), jobId });
    return { events, resolved, dispute, settlement: await receiptEvents(resolved.txHash) };
  }

  /**
   * Each seat revealed the outcome's vote and is paid, nobody penalized (a member may hold several seats): a
   * challenge's seats out of the bond (credited in Verification), any other dispute's VOTER_PAY from the
   * audit pool (paid by the market). Returns what the committee was paid.
   */
  function assertVotersPaid(settlement: readonly Decoded[], dispute: { committee: readonly Address[]; reason: DisputeReason }, jobId: bigint): bigint {
    const seats = dispute.committee.length;
    const fromBond = dispute.reason === DisputeReason.Challenge;
    const seatPay = fromBond ? bondSeatPay(seats) : VOTER_PAY;
    const paid = named(settlement, "VoterPaid");
    assert.equal(paid.length, seats, `job ${jobId}: one VoterPaid per seat`);
    for (const seat of paid) assert.equal(seat.args.amount, seatPay, `job ${jobId}: a seat of ${seat.args.voter} paid ${seat.args.amount}, expected ${seatPay}`);
    assert.equal(named(settlement, "VoterPenalized").length, 0, `job ${jobId}: nobody penalized`);
    const member = (who: unknown) => dispute.committee.some((m) => sameAddress(m, who as string));
    const byPool = named(settlement, "AuditRewardPaid").filter((e) => member(e.args.to));
    const byCredit = settlement.filter((e) => e.contract === "verification" && e.name === "Credited" && member(e.args.account));
    assert.deepEqual(
      [byPool.length, byCredit.length],
      fromBond ? [0, seats] : [seats, 0],
      `job ${jobId}: the seats of a ${fromBond ? "challenge are paid out of the bond" : "dispute the protocol opened are paid from the audit pool"}`,
    );
    return seatPay * BigInt(seats);
  }

  /** Sets a new terms version (for jobs posted from now on) with these market parameters changed. */
  async function setMarketTerms(changes: Partial<MarketParams>) {
    const terms = await devnet.publicClient.readContract({ address: devnet.deployment.market, abi: jobMarketAbi, functionName: "terms" });
    const current = await devnet.publicClient.readContract({ address: terms, abi: protocolTermsAbi, functionName: "params" });
    await owner.send({ address: terms, abi: protocolTermsAbi, functionName: "setParams", args: [{ ...current, ...changes }] });
  }

  // ------------------------------------------------------------------ tests

  it("the wrong model is a real model: it loads and its outputs differ from the registered one", async function () {
    this.timeout(30_000);
    const input = new Float32Array(3 * 8 * 32).map((_, i) => Math.sin(i));
    const run = async (file: string) => {
      const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"] });
      const out = await session.run({ x: new ort.Tensor("float32", input, [1, 3, 8, 32]) });
      await session.release();
      return Array.from(out[Object.keys(out)[0]!]!.data as Float32Array);
    };
    const [good, wrong] = [await run(devnet.modelFiles.cls), await run(wrongModelPath)];
    assert.notEqual(hashModel(new Uint8Array(readFileSync(wrongModelPath))), hashModel(new Uint8Array(readFileSync(devnet.modelFiles.cls))));
    assert.ok(Math.abs(good[0]! - wrong[0]!) > 0.05, `outputs differ well beyond the tolerance: ${good} vs ${wrong}`);
  });

  it("the verifiers warmed their model sessions before their first tick", () => {
    for (const [i, daemon] of verifiers.entries()) {
      const lines = daemon.lines();
      const warmed = lines.findIndex((l) => l.msg === "models warmed");
      assert.ok(warmed >= 0 && warmed < lines.findIndex((l) => l.msg === "verifier ready"), `verifier ${i} warmed its models before it was ready`);
      assert.ok(typeof lines[warmed]!.ms === "number", `verifier ${i} logged how long the warm-up took`);
    }
  });

  it("phase A: honest noise is never slashed over 30 sampled jobs (rechecks included); every cheat is caught and slashed; a false challenge loses its bond", async function () {
    this.timeout(300_000);
    const started = Date.now();
    const stakesBefore = new Map(await Promise.all(MODES.map(async (m) => [m, await stakeOf(providerOf(m))] as const)));
    const dappCreditsBefore = await marketCredits(devnet.dapp.address);
    const challengerBefore = await worth(challenger.account.address);

    // The cheats go first (few jobs), then the honest jobs; the first honest job is challenged falsely.
    const cheats = phaseA.cheats;
    for (const mode of MODES.slice(1)) cheats.set(mode, await postMany(mode, CHEATS_PER_MODE));
    const honest = await postMany("noise", HONEST_JOBS);
    phaseA.honest.push(...honest);
    // The first honest job still open to a challenge (a recheck may dispute one first).
    let falseJob: bigint | undefined;
    for (const jobId of honest) if (await challengeWhenRevealed(challenger, jobId)) {
      falseJob = jobId;
      break;
    }
    assert.ok(falseJob !== undefined, "an honest job was challenged");
    phaseA.falseChallenge = falseJob;

    const all = [...honest, ...[...cheats.values()].flat()];
    const final = await waitFor(all, isFinal, "final", 240_000);

    // 1. Honest noise: sampled, audited, agreed by tolerance (its root differs from the auditor's), never
    // slashed; the auditor paid when the job was paid. An Agree with another root is rechecked at 30%:
    // the committee judges both outputs and upholds both.
    let rootsDiffer = 0;
    for (const jobId of honest) {
      const r = final.get(jobId)!;
      assert.equal(STATUS_NAMES[r.job.status], "Finalized", `honest job ${jobId}`);
      assert.equal(r.job.sampled, true, `job ${jobId} was sampled`);
      const audit = await readAudit({ ...v(), jobId });
      assert.equal(audit.state, AuditState.Agreed, `job ${jobId}: the audit agreed (state ${audit.state})`);
      if (audit.outputRoot !== r.job.result) rootsDiffer++;
      const events = await eventsOf(jobId);
      const paidIn = ownFinalize(await receiptEvents(events.find((e) => e.name === "JobFinalized")!.txHash), jobId);
      const rewards = named(paidIn, "AuditRewardPaid").filter((e) => sameAddress(e.args.to as string, audit.auditor));
      assert.deepEqual(rewards.map((e) => e.args.amount), [AUDIT_REWARD], `job ${jobId}: the auditor paid ${AUDIT_REWARD} when the job was paid`);
      const opened = events.find((e) => e.name === "ChallengeOpened");
      if (opened?.args.reason !== DisputeReason.Recheck) continue;
      phaseA.rechecked.add(jobId);
      assert.equal(events.find((e) => e.name === "AuditRevealed")!.args.recheck, true);
      const { resolved, dispute, settlement } = await resolutionOf(jobId);
      assert.deepEqual([resolved.args.providerFaulted, resolved.args.outcome], [false, Vote.ProviderCorrect], `rechecked job ${jobId}: both outputs stand`);
      assert.equal(dispute.challenger, ZERO_ADDRESS, "the protocol opened it");
      assertVotersPaid(settlement, dispute, jobId);
    }
    assert.equal(rootsDiffer, honest.length, "the noise made every root differ: each agreement came from the tolerance, not the hash");
    assert.ok(phaseA.rechecked.size >= 1, `at 30%, some of the ${honest.length - 1} unchallenged Agrees with another root were rechecked`);
    assert.equal(await stakeOf(providerOf("noise")), stakesBefore.get("noise")!, "the honest provider lost nothing");

    // 2. The false challenge: upheld by the committee; the bond pays the provider its share and the committee
    // its pay (not the audit pool); the challenger loses exactly its bond.
    const falseChallenge = await resolutionOf(falseJob);
    assert.equal(falseChallenge.dispute.reason, DisputeReason.Challenge);
    assert.deepEqual([falseChallenge.resolved.args.providerFaulted, falseChallenge.resolved.args.votesWrong], [false, 0n]);
    assert.equal(credited(falseChallenge.settlement, "verification", providerOf("noise")), (BOND * 5000n) / BPS, "the upheld provider gets providerRewardBps of the bond");
    const falseCommitteePay = assertVotersPaid(falseChallenge.settlement, falseChallenge.dispute, falseJob);
    const treasury = named(falseChallenge.settlement, "TreasuryCredited").reduce((sum, e) => sum + (e.args.amount as bigint), 0n);
    assert.equal(treasury, BOND - (BOND * 5000n) / BPS - falseCommitteePay, "the treasury: the bond less the provider's share and the committee's pay");
    assert.equal(await worth(challenger.account.address), challengerBefore - BOND, "the false challenger lost exactly its bond");

    // 3. Wrong outputs: the auditor disagrees blind, a unanimous committee faults the provider; its whole
    // collateral is slashed, the auditor (the finder) gets its share, every seat is paid, the dApp refunded.
    let slashedJobs = 0;
    for (const mode of WRONG_OUTPUTS) {
      for (const jobId of cheats.get(mode)!) {
        assert.equal(STATUS_NAMES[final.get(jobId)!.job.status], "Slashed", `${mode} job ${jobId}`);
        const audit = await readAudit({ ...v(), jobId });
        assert.equal(audit.state, AuditState.Disagreed, `${mode} job ${jobId}: the audit's verdict`);
        const { resolved, dispute, settlement } = await resolutionOf(jobId);
        assert.deepEqual([dispute.reason, getAddress(dispute.challenger)], [DisputeReason.AuditDisagreed, getAddress(audit.auditor)], `${mode} job ${jobId}: its auditor's dispute`);
        assert.deepEqual(
          [resolved.args.providerFaulted, resolved.args.slashed, resolved.args.votesCorrect, resolved.args.votesWrong],
          [true, DEVNET_COLLATERAL, 0n, BigInt(dispute.committee.length)],
          `${mode} job ${jobId}: every seat voted ProviderWrong`,
        );
        assert.equal(credited(settlement, "verification", audit.auditor), FINDER_SHARE, "the auditor gets challengerRewardBps of the slash");
        assertVotersPaid(settlement, dispute, jobId);
        assert.equal(credited(settlement, "market", devnet.dapp.address), FEE, "the dApp gets its fee back");
        slashedJobs++;
      }
      assert.equal(await stakeOf(providerOf(mode)), stakesBefore.get(mode)! - DEVNET_COLLATERAL * BigInt(CHEATS_PER_MODE), `${mode}: the whole collateral slashed per job`);
    }
    assert.equal(await marketCredits(devnet.dapp.address), dappCreditsBefore + FEE * BigInt(slashedJobs), "the dApp refunded for every cheat");

    // 4. A withheld blob under audit: the auditor's root equals the provider's, so the auditor serves the
    // same bytes and the dApp has its output: paid, not slashed (docs/PROTOCOL.md, "Output availability").
    for (const jobId of cheats.get("withhold")!) {
      const r = final.get(jobId)!;
      assert.equal(STATUS_NAMES[r.job.status], "Finalized", `withheld job ${jobId}`);
      const revealed = (await eventsOf(jobId)).find((e) => e.name === "AuditRevealed")!;
      assert.equal(revealed.args.outputRoot, r.job.result, "the auditor's root is the provider's");
      assert.equal((await fetch(r.outputURI!)).status, 404, "the provider serves nothing");
      const copy = new Uint8Array(await (await fetch(String(revealed.args.outputURI))).arrayBuffer());
      assert.equal(outputRoot(copy), r.job.result, "the auditor's copy is the output the provider committed to");
    }
    assert.equal(await stakeOf(providerOf("withhold")), stakesBefore.get("withhold")!);

    // 5. A sampled job whose dApp withdrew its input before the blind audit: the auditor read the provider's
    // copy (its blob server known from its earlier reveals) and agreed; no dispute of the auditor's, and paid.
    const withdrawnJob = await postThenWithdrawInput("noise");
    const [withdrawn] = [...(await waitFor([withdrawnJob], isFinal, "final", 180_000)).values()];
    assert.equal(withdrawn!.job.sampled, true, "sampled, so audited blind before its reveal");
    assert.equal(STATUS_NAMES[withdrawn!.job.status], "Finalized", "the job whose input the dApp withdrew is paid");
    const withdrawnAudit = await readAudit({ ...v(), jobId: withdrawnJob });
    assert.equal(withdrawnAudit.state, AuditState.Agreed, `its blind auditor re-ran it on the provider's copy of the input (state ${withdrawnAudit.state})`);
    const withdrawnDispute = (await eventsOf(withdrawnJob)).find((e) => e.name === "ChallengeOpened");
    assert.notEqual(withdrawnDispute?.args.reason, DisputeReason.AuditDisagreed, "no disagreement over an input the dApp withdrew");

    const seconds = Math.round((Date.now() - started) / 100) / 10;
    rows.push({
      scenario: "1 honest + noise (5e-5)",
      jobs: honest.length,
      sampled: honest.length,
      audits: `${honest.length} agree, ${phaseA.rechecked.size} rechecked`,
      disputes: `${phaseA.rechecked.size} rechecks upheld; 1 false challenge upheld`,
      outcome: "all finalized, 0 slashed",
      seconds,
    });
    for (const mode of WRONG_OUTPUTS) {
      rows.push({ scenario: `2 cheat: ${mode}`, jobs: CHEATS_PER_MODE, sampled: CHEATS_PER_MODE, audits: `${CHEATS_PER_MODE} disagree`, disputes: `${CHEATS_PER_MODE} by auditor: faulted`, outcome: `${CHEATS_PER_MODE} slashed, dApp refunded`, seconds });
    }
    rows.push({ scenario: "2 withheld blob, audited", jobs: CHEATS_PER_MODE, sampled: CHEATS_PER_MODE, audits: `${CHEATS_PER_MODE} agree (roots equal)`, disputes: "-", outcome: "served by the auditor: finalized", seconds });
  });

  it("dinfer audit re-executes a job and reports per-tensor errors, the verdict, the audit and dispute, and what a challenge costs and pays", async function () {
    this.timeout(60_000);
    const dir = devnet.tempDir("audit-cli");
    const config = path.join(dir, "audit.config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: devnet.url, addresses: devnet.deployment }));
    const audit = (jobId: bigint, ...flags: string[]) => {
      const run = spawnSync(process.execPath, [DINFER_BIN, "--config", config, "audit", jobId.toString(), "--model", devnet.modelFiles.cls, ...flags], {
        encoding: "utf8",
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DINFER_"))),
      });
      assert.equal(run.status, 0, `dinfer audit ${jobId} failed:\n${run.stderr}`);
      return run.stdout;
    };
    const plain = phaseA.honest.find((jobId) => !phaseA.rechecked.has(jobId) && jobId !== phaseA.falseChallenge)!;
    const honest = JSON.parse(audit(plain, "--json")) as AuditReport;
    assert.equal(honest.verdict, "agree");
    assert.equal(honest.rootsEqual, false, "the provider's noise makes its root differ from ours");
    assert.ok(honest.tensors.length === 1 && honest.tensors[0]!.maxAbsError > 0 && honest.tensors[0]!.maxAbsError <= 5e-5 + 1e-7, JSON.stringify(honest.tensors));
    assert.equal(honest.tensors[0]!.mismatches, 0);
    assert.equal(honest.audit.state, "Agreed");
    assert.equal(honest.dispute, undefined);
    assert.deepEqual(
      [honest.challenge.open, honest.challenge.bond, honest.challenge.posterFinderShare, honest.challenge.toProviderIfUpheld],
      [false, BOND.toString(), FINDER_SHARE.toString(), ((BOND * 5000n) / BPS).toString()],
      "finalized: too late to challenge; the bond, the finder's share (to the dApp, taken first from the slash) and the provider's share of a lost bond",
    );
    const fullCommitteePay = bondSeatPay(VERIFICATION_PARAMS.committeeSize) * BigInt(VERIFICATION_PARAMS.committeeSize);
    assert.deepEqual(
      [honest.challenge.committeePay, honest.challenge.bondBackIfFaulted],
      [fullCommitteePay.toString(), bondBackOf(fullCommitteePay).toString()],
      "the committee's pay out of the bond, and what the rest of the slash gives back of it",
    );

    const rechecked = [...phaseA.rechecked][0]!;
    const recheck = JSON.parse(audit(rechecked, "--json")) as AuditReport;
    assert.deepEqual([recheck.audit.state, recheck.audit.ownOutput?.verdict], ["Agreed", "agree"], "the auditor's own output, judged by the recheck, agrees with ours");
    assert.deepEqual([recheck.dispute?.reason, recheck.dispute?.state, recheck.dispute?.outcome, recheck.dispute?.providerFaulted], ["Recheck", "Resolved", "ProviderCorrect", false]);

    const wrongModelJob = phaseA.cheats.get("wrong-model")![0]!;
    const text = audit(wrongModelJob);
    assert.match(text, /verdict\s+DISAGREE: tensor "softmax_0\.tmp_0": 2 of 2 elements outside allclose/);
    assert.match(text, /softmax_0\.tmp_0\s+float32\s+\[1, 2\]/);
    assert.match(text, /audit\s+Disagreed by 0x/);
    assert.match(text, /dispute\s+AuditDisagreed, Resolved \(challenger 0x[0-9a-fA-F]{40}\), outcome ProviderWrong \(provider slashed\)/);
    assert.match(text, /costs\s+a bond of 50 DINF/);
    assert.match(text, /pays\s+if the provider is found wrong: the finder's share of its 100 DINF collateral \(40%, 40 DINF\) first, to the dApp that posted the job, not to the challenger/);
    console.log(`      dinfer audit ${wrongModelJob} (the wrong-model cheat):\n${text.replace(/^/gm, "        ")}`);
  });

  it("phase B: an absent auditor's job goes to a committee and completes; an absent voter is penalized; keepers sync its weight; a withheld sampled reveal is slashed in full", async function () {
    this.timeout(300_000);
    const started = Date.now();
    const a = absent.account.address;
    const q = quitter.account.address;

    // The quitter commits to a job and never reveals: the job is sampled (every job is), its auditor one of
    // the four daemons (drawn from the set of the commit block, before the absent verifier joins).
    const quitJob = await post("quit");
    const posted = await record(quitJob);
    const quitCommitment = commitment({
      chainId: BigInt(devnet.chainId),
      jobMarket: devnet.deployment.market,
      jobId: quitJob,
      provider: q,
      outputRoot: keccak256(toHex("an output never revealed")),
      salt: keccak256(toHex("a salt")),
    });
    await quitter.sender.send({ address: devnet.deployment.market, abi: jobMarketAbi, functionName: "claimAndCommit", args: [quitJob, posted.job, quitCommitment] });
    const quitterStake = await stakeOf(q);

    await absent.sender.send({ address: devnet.deployment.staking, abi: stakingAbi, functionName: "stake", args: [parseEther("1000"), ROLE_VERIFIER] });
    let auditorJob: bigint | undefined;
    let voterJob: bigint | undefined;
    const jobs: bigint[] = [];
    for (let round = 0; round < 8 && (auditorJob === undefined || voterJob === undefined); round++) {
      const ids = await postMany("noise", 5);
      jobs.push(...ids);
      await Promise.all(
        ids.map(async (jobId) => {
          // Once the seed block is mined, auditorOf names the auditor of the committed job.
          const auditor = await eventually(async () => {
            const now = await record(jobId);
            if (now.job.status < JobStatus.Committed) return undefined;
            if (now.job.status > JobStatus.Committed) return (await readAudit({ ...v(), jobId })).auditor;
            const drawn = (await read(devnet.deployment.verification, "Verification", "auditorOf", [jobId, now.job])) as Address;
            return drawn === ZERO_ADDRESS ? undefined : drawn;
          }, `job ${jobId}'s auditor known`);
          if (sameAddress(auditor, a)) {
            auditorJob ??= jobId;
            return;
          }
          if (voterJob !== undefined) return;
          // Our challenge, or the recheck that disputed it first: either draws a committee.
          await challengeWhenRevealed(challenger, jobId);
          if ((await statusOf(jobId)) !== JobStatus.Disputed) return;
          const drawn = await eventually(async () => {
            const d = await readDispute({ ...v(), jobId });
            return d.state >= DisputeState.Voting ? d : undefined;
          }, `job ${jobId}'s committee drawn`);
          if (drawn.committee.some((m) => sameAddress(m, a))) voterJob ??= jobId;
        }),
      );
    }
    assert.ok(auditorJob !== undefined, `the absent verifier was never drawn as an auditor in ${jobs.length} jobs`);
    assert.ok(voterJob !== undefined, "the absent verifier never sat on a committee");
    const final = await waitFor(jobs, isFinal, "final", 150_000);

    // 1. The absent auditor: penalized at the provider's reveal, and a committee (without it) judged the job instead.
    const auditorEvents = await eventsOf(auditorJob);
    const missed = auditorEvents.find((e) => e.name === "AuditorPenalized")!;
    assert.deepEqual([getAddress(missed.args.auditor as string), missed.args.penalty, missed.args.state], [getAddress(a), MISSED_AUDIT_PENALTY, AuditState.Missed]);
    assert.equal((await readAudit({ ...v(), jobId: auditorJob })).state, AuditState.Missed);
    const byCommittee = await resolutionOf(auditorJob);
    assert.deepEqual([byCommittee.dispute.reason, byCommittee.dispute.challenger], [DisputeReason.AuditMissed, ZERO_ADDRESS], "a sampled job is always judged");
    assert.ok(!byCommittee.dispute.committee.some((m) => sameAddress(m, a)), "the absent auditor sits out");
    assert.deepEqual([byCommittee.resolved.args.providerFaulted, STATUS_NAMES[final.get(auditorJob)!.job.status]], [false, "Finalized"], "the job completes: the provider upheld and paid");

    // 2. The absent voter: each of its seats penalized; the job settled without it.
    const { dispute: voterDispute, settlement: voterSettlement } = await resolutionOf(voterJob);
    const seats = BigInt(voterDispute.committee.filter((m) => sameAddress(m, a)).length);
    const voterPenalties = named(voterSettlement, "VoterPenalized").filter((e) => sameAddress(e.args.voter as string, a));
    assert.equal(voterPenalties.length, Number(seats), "one penalty per seat");
    for (const p of voterPenalties) assert.equal(p.args.penalty, BigInt(VERIFICATION_PARAMS.voterPenalty));
    assert.equal(STATUS_NAMES[final.get(voterJob)!.job.status], "Finalized", "the dispute resolves without the absent vote (provider upheld)");

    // 3. Penalties leave the weight as it was; a keeper daemon syncs it to the stake that is left.
    const synced = await eventually(async () => {
      const now = await account(a);
      return now.verifierWeight === now.stake ? now : undefined;
    }, "the absent verifier's weight synced to its stake", 60_000);
    assert.ok(synced.stake < parseEther("1000"), `it lost ${parseEther("1000") - synced.stake} to penalties`);
    assert.ok(verifiers.some((d) => d.lines().some((l) => l.msg === "verifier weight synced to its stake" && sameAddress(l.account as string, a))), "a verifier daemon sent the sync");
    // It leaves the verifier set, so phase C draws only live verifiers.
    await absent.sender.send({ address: devnet.deployment.staking, abi: stakingAbi, functionName: "setRoles", args: [ROLE_PROVIDER] });

    // 4. The withheld sampled reveal: past its reveal deadline the blind auditor expires the job; the quitter
    // loses its whole collateral, as a fault would cost: the expiry share to the poster (with its fee back),
    // the finder's share to the auditor, the rest to the audit pool.
    const [expiredRecord] = [...(await waitFor([quitJob], isFinal, "expired", 120_000)).values()];
    assert.equal(STATUS_NAMES[expiredRecord!.job.status], "Expired");
    const expired = (await eventsOf(quitJob)).find((e) => e.name === "JobExpired")!;
    assert.deepEqual([expired.args.penalty, expired.args.sampled], [DEVNET_COLLATERAL, true]);
    const quitAudit = await readAudit({ ...v(), jobId: quitJob });
    assert.equal(quitAudit.state, AuditState.Committed, "its auditor had committed blind");
    const expiry = await receiptEvents(expired.txHash);
    assert.ok(sameAddress(expiry.from, quitAudit.auditor), "the blind auditor's daemon expired it");
    const expiryShare = (DEVNET_COLLATERAL * BigInt(devnet.params.marketParams.expiryPenaltyBps!)) / BPS;
    assert.equal(credited(expiry, "market", devnet.dapp.address), FEE + expiryShare, "the poster: its fee back and the expiry share");
    assert.equal(credited(expiry, "market", quitAudit.auditor), FINDER_SHARE, "the blind auditor: the finder's share");
    assert.equal(await stakeOf(q), quitterStake - DEVNET_COLLATERAL, "the quitter lost its whole collateral");

    rows.push(
      {
        scenario: "5 absent auditor + voter",
        jobs: jobs.length,
        sampled: jobs.length,
        audits: "1 missed (penalized at the reveal)",
        disputes: `AuditMissed -> upheld; ${seats} absent seat(s) penalized`,
        outcome: `all finalized; weight synced to ${Number(synced.stake) / 1e18} DINF`,
        seconds: Math.round((Date.now() - started) / 100) / 10,
      },
      { scenario: "6 withheld sampled reveal", jobs: 1, sampled: 1, audits: "1 blind commit", disputes: "-", outcome: `expired by its auditor; ${Number(DEVNET_COLLATERAL) / 1e18} DINF slashed`, seconds: Math.round((Date.now() - started) / 100) / 10 },
    );
  });

  it("phase C: unsampled, a watchdog catches a withheld output and earns only its bond back; self-challenges gain the cheater nothing", async function () {
    this.timeout(240_000);
    const started = Date.now();
    // A new terms version: jobs posted from now on are not sampled; jobs already posted keep theirs.
    await setMarketTerms({ samplingPpm: 0 });
    const worthOf = async (accounts: readonly Address[]) => (await Promise.all(accounts.map(worth))).reduce((x, y) => x + y, 0n);

    // Verifier 0 watches half the unsampled results, picked from its secret: the test knows the secret, so
    // it posts the withholding provider's job on a job id the watchdog picks and the others on ids it does not.
    const nextId = async () => ((await read(devnet.deployment.market, "JobMarket", "jobCount")) as bigint) + 1n;
    const watched = async (jobId: bigint) => watchdogPicks({ secret: stringToHex(verifierSecret(0)), jobId, share: WATCHDOG_SHARE });
    // Fillers skip ids: jobs of the model no worker serves, which stay posted.
    const skip = async (wanted: boolean) => {
      while ((await watched(await nextId())) !== wanted) await post("quit");
    };
    // The cheat is challenged by its accomplice, the honest result by another (each pair on its own).
    const cheatPair = [providerOf("random"), colluder.account.address];
    const honestPair = [providerOf("noise"), challenger.account.address];
    const [cheatBefore, honestBefore] = [await worthOf(cheatPair), await worthOf(honestPair)];
    await skip(true);
    const withheldJob = await post("withhold");
    await skip(false);
    const cheatJob = await post("random");
    await skip(false);
    const honestJob = await post("noise");
    // A dApp that withdraws its input once the provider fetched it (on a job the watchdog picks), hoping the
    // input "cannot be had", every verifier disagrees and the honest provider is slashed with the finder's
    // share paid to it: the worker serves the inputs of its jobs, and the watchdog reads it there.
    await skip(true);
    const withdrawnJob = await postThenWithdrawInput("noise");
    const challenged = await Promise.all([challengeWhenRevealed(colluder, cheatJob), challengeWhenRevealed(challenger, honestJob)]);
    assert.deepEqual(challenged, [true, true], "nothing else disputes an unsampled job");
    const final = await waitFor([withheldJob, cheatJob, honestJob, withdrawnJob], isFinal, "final", 150_000);
    for (const jobId of [withheldJob, cheatJob, honestJob, withdrawnJob]) assert.equal(final.get(jobId)!.job.sampled, false, `job ${jobId}: not sampled`);

    // 0. The withdrawn input: the watchdog re-ran the job on the provider's copy of the input and agreed; the
    // job was never challenged, the provider was paid, and the dApp got nothing back.
    assert.equal(STATUS_NAMES[final.get(withdrawnJob)!.job.status], "Finalized", "the job whose input the dApp withdrew is paid");
    assert.ok(!(await eventsOf(withdrawnJob)).some((e) => e.name === "ChallengeOpened"), "and never challenged");
    const watchedWithdrawn = verifiers[0]!.lines().find((l) => l.msg === "watchdog judged an unsampled result" && l.job_id === withdrawnJob.toString());
    assert.equal(watchedWithdrawn?.verdict, "agree", `the watchdog re-ran it on the provider's copy of the input: ${JSON.stringify(watchedWithdrawn)}`);
    const paidTo = (await eventsOf(withdrawnJob)).find((e) => e.name === "JobFinalized")?.args.provider;
    assert.ok(paidTo !== undefined && sameAddress(String(paidTo), providerOf("noise")), `the fee went to the provider (${String(paidTo)}), no refund or finder's share to the dApp`);

    // 1. The withheld output, served nowhere: the watchdog re-ran it (its root equals ours), found no location
    // serving it by the end of the window, and challenged; the committee, finding none either, faulted it.
    // The finder's share of the slash goes first, to the dApp; the committee is paid out of the bond and the
    // rest of the slash repays it: the watchdog gets its whole bond back, nothing more.
    const watchdog = getAddress(String(verifiers[0]!.ready.account));
    const caught = await resolutionOf(withheldJob);
    assert.deepEqual([caught.resolved.args.providerFaulted, getAddress(caught.dispute.challenger), caught.dispute.reason], [true, watchdog, DisputeReason.Challenge]);
    const caughtCommitteePay = assertVotersPaid(caught.settlement, caught.dispute, withheldJob);
    assert.equal(bondBackOf(caughtCommitteePay), BOND, "the rest of the slash covers the committee's pay");
    assert.equal(credited(caught.settlement, "verification", watchdog), BOND, "the watchdog gets its bond back and no share of the slash");
    const caughtFinderShare = credited(caught.settlement, "verification", devnet.dapp.address);
    assert.equal(caughtFinderShare, FINDER_SHARE, "the dApp, as the poster, gets the finder's share of the whole slash");
    assert.equal(credited(caught.settlement, "market", devnet.dapp.address), FEE, "and its fee back");
    const judged = verifiers[0]!.lines().find((l) => l.msg === "watchdog judged an unsampled result" && l.job_id === withheldJob.toString());
    assert.ok(judged && /served nowhere/.test(String(judged.reason)), `the watchdog found the output served nowhere: ${JSON.stringify(judged)}`);
    const economics = verifiers[0]!.lines().find((l) => l.msg === "challenge opened" && l.job_id === withheldJob.toString());
    const predicted = /our bond back \((.+?)\); the finder's share (.+?) to the poster/.exec(String(economics?.if_faulted));
    assert.deepEqual(predicted?.slice(1), [formatTokens(BOND), formatTokens(caughtFinderShare)], `the watchdog foresaw what it got: ${economics?.if_faulted}`);

    // 2. A cheat challenged by its accomplice: faulted, and the finder's share goes to the poster, not the
    // accomplice: the pair loses the whole collateral (an honest job would have earned the payout).
    const cheat = await resolutionOf(cheatJob);
    assert.equal(cheat.resolved.args.providerFaulted, true);
    const cheatCommitteePay = assertVotersPaid(cheat.settlement, cheat.dispute, cheatJob);
    assert.equal(bondBackOf(cheatCommitteePay), BOND, "the rest of the slash covers the committee's pay");
    assert.equal(credited(cheat.settlement, "verification", colluder.account.address), BOND, "the accomplice: its bond back only");
    assert.equal(credited(cheat.settlement, "verification", devnet.dapp.address), FINDER_SHARE, "the finder's share of the whole slash to the poster");
    const cheatNet = (await worthOf(cheatPair)) - cheatBefore;
    assert.equal(cheatNet, -DEVNET_COLLATERAL, `the pair nets ${cheatNet} (the whole collateral lost), against an honest job's payout`);

    // 3. An honest result challenged by the accomplice: upheld; the pair loses the bond less the provider's share.
    const upheld = await resolutionOf(honestJob);
    assert.equal(upheld.resolved.args.providerFaulted, false);
    assertVotersPaid(upheld.settlement, upheld.dispute, honestJob);
    const { protocolFeeBps, auditLevyBps } = devnet.params.marketParams;
    const payout = FEE - (FEE * BigInt(protocolFeeBps!)) / BPS - (FEE * BigInt(auditLevyBps!)) / BPS;
    // (The same provider was also paid for the job whose input its dApp withdrew: two payouts aside.)
    const honestNet = (await worthOf(honestPair)) - honestBefore - 2n * payout;
    assert.equal(honestNet, (BOND * 5000n) / BPS - BOND, `the pair nets ${honestNet} besides the payout: the challenge cost it`);

    const seconds = Math.round((Date.now() - started) / 100) / 10;
    rows.push(
      { scenario: "7 dApp withdraws its input", jobs: 1, sampled: 0, audits: "-", disputes: "-", outcome: "watchdog agrees on the provider's copy: paid", seconds },
      { scenario: "7 withheld blob, unsampled", jobs: 1, sampled: 0, audits: "-", disputes: "watchdog's bonded challenge: faulted", outcome: "slashed; watchdog: bond back only", seconds },
      { scenario: "8 self-challenge, cheat", jobs: 1, sampled: 0, audits: "-", disputes: "by accomplice: faulted", outcome: `pair net ${Number(cheatNet) / 1e18} DINF`, seconds },
      { scenario: "8 self-challenge, honest", jobs: 1, sampled: 0, audits: "-", disputes: "by accomplice: upheld", outcome: `pair net ${Number(honestNet) / 1e18} DINF (fee aside)`, seconds },
    );
  });

  it("the verifiers report their work in /metrics and stop cleanly on SIGTERM", async function () {
    this.timeout(120_000);
    let audits = 0;
    let keeper = 0;
    for (const daemon of verifiers) {
      const text = await (await fetch(String(daemon.ready.metrics_url))).text();
      for (const m of text.matchAll(/^dinfer_verifier_audits_total\{verdict="(agree|disagree)"\} (\d+)/gm)) audits += Number(m[2]);
      for (const m of text.matchAll(/^dinfer_verifier_keeper_actions_total\{action="(\w+)"\} (\d+)/gm)) keeper += Number(m[2]);
      assert.match(text, /dinfer_verifier_votes_total/);
    }
    assert.ok(audits >= HONEST_JOBS + CHEATS_PER_MODE * MODES.slice(1).length, `${audits} audits counted across the verifiers`);
    assert.ok(keeper > 0, `${keeper} keeper actions counted`);
    const exits = await Promise.all(verifiers.map((daemon) => daemon.stop()));
    assert.deepEqual(exits, verifiers.map(() => ({ code: 0, signal: null })));
    for (const daemon of verifiers) assert.equal(daemon.lines().at(-1)?.msg, "verifier stopped");
    // Refusals are caught in simulation, never sent. What can still revert on chain is a race inside one
    // block: keepers both doing a duty anyone may do, or a job that moved under a call that carried its
    // state (JobMismatch: e.g. a challenge in the same block as the audit's reveal, which then goes again).
    const reverted = verifiers.flatMap((daemon) =>
      daemon.lines().filter((l) => l.msg === "transaction reverted on chain").map((l) => `${String(l.function)}:${String(l.error_name)}`),
    );
    const keeperDuties = ["drawCommittee", "resolve", "expire", "syncVerifier", "withdraw"];
    const unexplained = reverted.filter((r) => !keeperDuties.includes(r.split(":")[0]!) && !r.endsWith(":JobMismatch"));
    assert.deepEqual(unexplained, [], "a verifier's own duty reverted on chain for another reason than a race");
    const sent = verifiers.reduce((n, daemon) => n + daemon.lines().filter((l) => l.msg === "transaction sent").length, 0);
    console.log(`      verifiers sent ${sent} transactions; ${reverted.length} lost a race inside a block (${reverted.join(", ") || "none"})`);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
