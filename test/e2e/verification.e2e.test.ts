/**
 * Verification end to end (DESIGN section 5): a real `hardhat node` process, the protocol deployed
 * with Ignition (offchain/devnet), `dinfer worker` and `dinfer verifier` daemons as separate
 * processes, and the real PaddleOCR cls model. Every job is sampled (1,000,000 ppm) until the last
 * phase. Workers serve one model id each (copies of the cls model), so each job goes to the worker
 * the scenario means:
 *
 *   P1 honest, with noise inside the tolerance     P2 random output     P3 truncated output
 *   P4 a wrong model (one weight tensor negated)   P5 withholds its output blob
 *
 * Phases: A) 50+ honest jobs, two of each cheat, one false challenge, all at once; B) an absent
 * auditor and an absent committee member (a staked verifier with no daemon); C) sampling at 1 ppm
 * (practically off): a watchdog catch, self-challenges (a colluding challenger) and a seed older than
 * 256 blocks.
 *
 * Run alone: `npx hardhat test mocha test/e2e/verification.e2e.test.ts` (about 3 minutes on 2 cores).
 * DINFER_E2E_LOG_DIR=<dir> keeps every daemon's log.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";
import { decodeEventLog, getAddress, numberToHex, parseEther, stringToHex, type Abi, type Address, type Hex } from "viem";

import { abiOf } from "../../offchain/chain/artifacts.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { JobStatus, readJob, type Job, type JobRecord } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { devAccount, DEVNET_COLLATERAL, DEVNET_TOLERANCE, startDevnet, type DevAccount, type Devnet } from "../../offchain/devnet/devnet.js";
import { hashModel } from "../../offchain/inference/model.js";
import { postJob } from "../../offchain/sdk/jobs.js";
import type { AuditReport } from "../../offchain/verifier/audit.js";
import { AuditState, DisputeState, sameAddress, watchdogPicks } from "../../offchain/verifier/decide.js";
import { readAudit, readDispute } from "../../offchain/verifier/views.js";
import { listFloatInitializers, scaleInitializer } from "../helpers/onnx-tamper.js";

const DINFER_BIN = fileURLToPath(new URL("../../bin/dinfer.js", import.meta.url));
const FEE = parseEther("2");
const HONEST_JOBS = 50;
const CHEATS_PER_MODE = 2;
const ROLE_PROVIDER = 1;
const ROLE_VERIFIER = 2;
const BPS = 10_000n;

/**
 * Short windows: the seed 2 blocks after a commit, 15 s for the blind audit commit, 12 s to challenge.
 * (The audit commit is the tight one: with 60 jobs in flight, 9 daemons and the node share 2 cores.)
 */
const MARKET_PARAMS = { samplingPpm: 1_000_000, seedDelay: 2, challengeWindow: 12, revealTimeout: 900, disputeDuration: 600 };
const VERIFICATION_PARAMS = {
  challengeBond: parseEther("50").toString(),
  auditReward: parseEther("0.05").toString(),
  auditorPenalty: parseEther("5").toString(),
  voterPenalty: parseEther("2").toString(),
  auditCommitTimeout: 15,
  voteCommitTimeout: 8,
  voteRevealTimeout: 8,
  committeeSize: 3,
  challengerRewardBps: 4000,
  voterRewardBps: 3000,
  providerRewardBps: 5000,
};
const BOND = BigInt(VERIFICATION_PARAMS.challengeBond);
/** Verifier 0 re-runs this share of the unsampled results (all jobs are sampled until phase C). */
const WATCHDOG_SHARE = 0.5;
const verifierSecret = (i: number) => `e2e-verifier-secret-${i}-0123456789`;

type Mode = "noise" | "random" | "truncate" | "wrong-model" | "withhold";
const MODES: Mode[] = ["noise", "random", "truncate", "wrong-model", "withhold"];
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

type Decoded = { contract: "market" | "verification" | "staking"; name: string; args: Record<string, unknown>; txHash: Hex; blockNumber: bigint };
type Row = { scenario: string; jobs: number; sampled: number; audits: string; disputes: string; outcome: string; "seconds": number };

describe("verification end to end: worker and verifier processes, sampled audits, disputes, slashing", function () {
  let devnet: Devnet;
  let owner: TxSender;
  const workers = new Map<Mode, Daemon>();
  const verifiers: Daemon[] = [];
  const modelOf = new Map<Mode, number>();
  const workerDirs = new Map<Mode, string>();
  let wrongModelPath: string;
  /** Phase A's jobs, for `dinfer audit`. */
  const phaseA = { honest: [] as bigint[], cheats: new Map<Mode, bigint[]>() };
  let challenger: { account: DevAccount; sender: TxSender };
  let colluder: { account: DevAccount; sender: TxSender };
  let absent: { account: DevAccount; sender: TxSender };
  const rows: Row[] = [];
  const logDir = process.env.DINFER_E2E_LOG_DIR;

  before(async function () {
    this.timeout(240_000);
    process.setMaxListeners(32); // each daemon (and the node) adds an exit hook that kills its process group
    devnet = await startDevnet({
      providers: MODES.length,
      verifiers: 4,
      providerStake: parseEther("10000"),
      verifierStake: parseEther("1000"),
      marketParams: MARKET_PARAMS,
      verificationParams: VERIFICATION_PARAMS,
    });
    owner = await senderOf(devnet.deployer);
    if (logDir) mkdirSync(logDir, { recursive: true });

    // The wrong model: the cls model with its classifier's weight matrix negated (a real, different model).
    const clsBytes = new Uint8Array(readFileSync(devnet.modelFiles.cls));
    const classifier = listFloatInitializers(clsBytes).filter((t) => t.dims.length === 2).at(-1)!;
    wrongModelPath = path.join(devnet.tempDir("models"), "cls-wrong.onnx");
    writeFileSync(wrongModelPath, scaleInitializer(clsBytes, classifier.name, -1));

    // One model id per worker: the cls model for P1, registered copies of it for the others.
    modelOf.set("noise", devnet.modelIds.cls);
    for (const mode of MODES.slice(1)) {
      const spec = {
        modelHash: hashModel(clsBytes),
        uri: "file:ch_ppocr_mobile_v2.0_cls_infer.onnx",
        runtime: "onnxruntime-node@1.30.0",
        tolerance: DEVNET_TOLERANCE,
        minCollateral: DEVNET_COLLATERAL,
        priceFloor: parseEther("1"),
      };
      await owner.send({ address: devnet.deployment.registry, abi: abiOf("ModelRegistry"), functionName: "register", args: [spec] });
      modelOf.set(mode, Number(await read(devnet.deployment.registry, "ModelRegistry", "modelCount")));
    }

    // A challenger, a colluder and a verifier that will never run a daemon, with tokens (accounts after the dApp).
    const [c, k, a] = [devnet.dapp.index + 1, devnet.dapp.index + 2, devnet.dapp.index + 3].map(devAccount) as [DevAccount, DevAccount, DevAccount];
    challenger = { account: c, sender: await senderOf(c) };
    colluder = { account: k, sender: await senderOf(k) };
    absent = { account: a, sender: await senderOf(a) };
    for (const who of [challenger, colluder, absent]) {
      await owner.send({ address: devnet.deployment.token, abi: abiOf("DinferTestToken"), functionName: "mint", args: [who.account.address, parseEther("2000")] });
    }
    for (const who of [challenger, colluder]) {
      await who.sender.send({ address: devnet.deployment.token, abi: abiOf("DinferTestToken"), functionName: "approve", args: [devnet.deployment.verification, parseEther("2000")] });
    }

    await devnet.dappSender.send({ address: devnet.deployment.token, abi: abiOf("DinferTestToken"), functionName: "approve", args: [devnet.deployment.market, parseEther("1000000")] });

    // From here on blocks come once a second only, each with every transaction sent meanwhile, as on a
    // real chain. With a block per transaction (automine) a burst of jobs would push the chain's clock
    // ahead of the wall clock, one second per block, and every deadline with it.
    await devnet.publicClient.request({ method: "evm_setAutomine" as never, params: [false] as never });

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
    const index = MODES.indexOf(mode);
    const account = devnet.providers[index]!;
    const dataDir = workerDirs.get(mode) ?? devnet.tempDir(`worker-${mode}`);
    workerDirs.set(mode, dataDir);
    const fault =
      mode === "noise" ? { mode, amplitude: 5e-5 } : mode === "wrong-model" ? { mode, modelPath: wrongModelPath } : { mode };
    const daemon = await startDaemon({
      command: "worker",
      configFile: path.join(dataDir, "worker.config.json"),
      config: { ...common(), dataDir, metricsPort: -1, models: [{ modelId: modelOf.get(mode)!, path: devnet.modelFiles.cls }], fault },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_WORKER_SECRET: `e2e-worker-secret-${mode}-0123456789`, DINFER_ALLOW_FAULTS: "1" },
      readyMsg: "worker ready",
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
        outputGraceSeconds: 3,
        keeperGraceSeconds: 8,
        ...(i === 0 ? { watchdog: { share: WATCHDOG_SHARE } } : {}),
      },
      env: { DINFER_PRIVATE_KEY: account.key, DINFER_VERIFIER_SECRET: verifierSecret(i) },
      readyMsg: "verifier ready",
      logFile: logDir && path.join(logDir, `verifier-${i}.log`),
    });
    devnet.onStop(() => daemon.kill());
    verifiers[i] = daemon; // by index: verifier 0 is the watchdog
    return daemon;
  }

  // ------------------------------------------------------------------ chain reads

  function read(address: Address, contract: "ModelRegistry" | "JobMarket" | "Staking" | "Verification" | "DinferTestToken", functionName: string, args: readonly unknown[] = []) {
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
      await sleep(300);
    }
  }

  const isFinal = (r: JobRecord) => r.job.status === JobStatus.Finalized || r.job.status === JobStatus.Slashed || r.job.status === JobStatus.Expired;

  /** Every event of the three contracts about `jobId` (its topic), decoded, in chain order. */
  async function eventsOf(jobId: bigint): Promise<Decoded[]> {
    const contracts = [
      ["market", devnet.deployment.market, abiOf("JobMarket")],
      ["verification", devnet.deployment.verification, abiOf("Verification")],
    ] as const;
    const out: Decoded[] = [];
    for (const [contract, address, abi] of contracts) {
      const logs = await devnet.publicClient.request({
        method: "eth_getLogs",
        params: [{ address, fromBlock: "0x0", toBlock: "latest", topics: [null, numberToHex(jobId, { size: 32 })] }],
      });
      for (const log of logs) {
        const decoded = decode(abi, log);
        if (decoded) out.push({ contract, ...decoded, txHash: log.transactionHash as Hex, blockNumber: BigInt(log.blockNumber ?? 0) });
      }
    }
    return out.sort((a, b) => Number(a.blockNumber - b.blockNumber));
  }

  /** The decoded events of one transaction's receipt, from the three contracts. */
  async function receiptEvents(txHash: Hex): Promise<Decoded[]> {
    const receipt = await devnet.publicClient.getTransactionReceipt({ hash: txHash });
    const byAddress = new Map<string, ["market" | "verification" | "staking", Abi]>([
      [devnet.deployment.market.toLowerCase(), ["market", abiOf("JobMarket")]],
      [devnet.deployment.verification.toLowerCase(), ["verification", abiOf("Verification")]],
      [devnet.deployment.staking.toLowerCase(), ["staking", abiOf("Staking")]],
    ]);
    return receipt.logs.flatMap((log) => {
      const known = byAddress.get(log.address.toLowerCase());
      const decoded = known && decode(known[1], log);
      return decoded ? [{ contract: known[0], ...decoded, txHash, blockNumber: receipt.blockNumber }] : [];
    });
  }

  function decode(abi: Abi, log: { data: Hex; topics: readonly Hex[] }) {
    try {
      const { eventName, args } = decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
      return { name: String(eventName), args: (args ?? {}) as Record<string, unknown> };
    } catch {
      return undefined;
    }
  }

  const stakeOf = async (who: Address) => ((await read(devnet.deployment.staking, "Staking", "account", [who])) as { stake: bigint }).stake;
  const balanceOf = async (who: Address) => (await read(devnet.deployment.token, "DinferTestToken", "balanceOf", [who])) as bigint;
  const marketCredits = async (who: Address) => (await read(devnet.deployment.market, "JobMarket", "credits", [who])) as bigint;
  const verificationCredits = async (who: Address) => (await read(devnet.deployment.verification, "Verification", "credits", [who])) as bigint;
  /** Everything an account holds in the protocol's token: wallet, stake, credits in both contracts. */
  const worth = async (who: Address) => (await balanceOf(who)) + (await stakeOf(who)) + (await marketCredits(who)) + (await verificationCredits(who));
  const providerOf = (mode: Mode) => devnet.providers[MODES.indexOf(mode)]!.address;

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

  async function post(mode: Mode): Promise<bigint> {
    const { jobId } = await postJob({ sender: devnet.dappSender, publicClient: devnet.publicClient, deployment: devnet.deployment, modelId: modelOf.get(mode)!, input: clsInput(), fee: FEE });
    return jobId;
  }

  /** Posts `count` jobs for `mode`, up to `parallel` at a time (the sender keeps the nonces in order). */
  async function postMany(mode: Mode, count: number, parallel = 8): Promise<bigint[]> {
    const ids: bigint[] = [];
    while (ids.length < count) {
      const batch = Math.min(parallel, count - ids.length);
      ids.push(...(await Promise.all(Array.from({ length: batch }, () => post(mode)))));
    }
    return ids;
  }

  async function challenge(by: { sender: TxSender }, jobId: bigint, job: Job): Promise<Hex> {
    const { hash } = await by.sender.send({ address: devnet.deployment.verification, abi: abiOf("Verification"), functionName: "challenge", args: [jobId, job] });
    return hash;
  }

  /** Waits for a job to be revealed and challenges it at once (inside its window). */
  async function challengeWhenRevealed(by: { sender: TxSender }, jobId: bigint): Promise<Hex> {
    const [r] = [...(await waitFor([jobId], (x) => x.job.status >= JobStatus.Revealed, "revealed")).values()];
    assert.equal(r!.job.status, JobStatus.Revealed, `job ${jobId} is still open to a challenge`);
    return challenge(by, jobId, r!.job);
  }

  async function resolutionOf(jobId: bigint) {
    const events = await eventsOf(jobId);
    const resolved = events.find((e) => e.name === "DisputeResolved");
    assert.ok(resolved, `job ${jobId} has a DisputeResolved event: ${events.map((e) => e.name).join(", ")}`);
    return { events, resolved, settlement: await receiptEvents(resolved.txHash) };
  }

  const credited = (events: readonly Decoded[], contract: Decoded["contract"], account: Address) =>
    events.filter((e) => e.contract === contract && e.name === "Credited" && sameAddress(e.args.account as string, account)).reduce((sum, e) => sum + (e.args.amount as bigint), 0n);

  async function setMarketParams(changes: Record<string, number>) {
    const current = (await read(devnet.deployment.market, "JobMarket", "params")) as Record<string, number>;
    await owner.send({ address: devnet.deployment.market, abi: abiOf("JobMarket"), functionName: "setParams", args: [{ ...current, ...changes }] });
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

  it("phase A: honest noise is never slashed over 50+ sampled jobs; every cheat is caught and slashed; a false challenge loses its bond", async function () {
    this.timeout(240_000);
    const started = Date.now();
    const stakesBefore = new Map(await Promise.all(MODES.map(async (m) => [m, await stakeOf(providerOf(m))] as const)));
    const dappCreditsBefore = await marketCredits(devnet.dapp.address);
    const challengerBefore = await worth(challenger.account.address);

    // The cheats go first (few jobs), then the honest jobs; the first honest job is challenged falsely.
    const cheats = phaseA.cheats;
    for (const mode of MODES.slice(1)) cheats.set(mode, await postMany(mode, CHEATS_PER_MODE));
    const honest = await postMany("noise", HONEST_JOBS);
    phaseA.honest.push(...honest);
    const falseChallenge = await challengeWhenRevealed(challenger, honest[0]!);

    const all = [...honest, ...[...cheats.values()].flat()];
    const final = await waitFor(all, isFinal, "final", 200_000);

    // 1. Honest noise: every job sampled, audited, agreed by tolerance (its root differs from the auditor's), never slashed.
    let rootsDiffer = 0;
    for (const jobId of honest) {
      const r = final.get(jobId)!;
      assert.equal(STATUS_NAMES[r.job.status], "Finalized", `honest job ${jobId}`);
      assert.equal(r.job.sampled, true, `job ${jobId} was sampled`);
      const audit = await readAudit({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId });
      assert.equal(audit.state, AuditState.Agreed, `job ${jobId}: the audit agreed (state ${audit.state})`);
      if (audit.outputRoot !== r.job.result) rootsDiffer++;
    }
    assert.equal(rootsDiffer, honest.length, "the noise made every root differ: each agreement came from the tolerance, not the hash");
    assert.equal(await stakeOf(providerOf("noise")), stakesBefore.get("noise")!, "the honest provider lost nothing");

    // 3. The false challenge: upheld by the committee, the bond paid to the provider and the voters.
    const { resolved, settlement } = await resolutionOf(honest[0]!);
    assert.equal(resolved.args.providerFaulted, false);
    assert.ok((resolved.args.votesCorrect as bigint) >= 2n && resolved.args.votesWrong === 0n, `votes ${resolved.args.votesCorrect}/${resolved.args.votesWrong}`);
    const toProvider = (BOND * 5000n) / BPS;
    const perVoter = (BOND * 3000n) / BPS / (resolved.args.votesCorrect as bigint);
    assert.equal(credited(settlement, "verification", providerOf("noise")), toProvider, "the upheld provider gets providerRewardBps of the bond");
    const dispute = await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId: honest[0]! });
    for (const member of dispute.committee) assert.equal(credited(settlement, "verification", member), perVoter, `voter ${member} paid`);
    assert.equal(await worth(challenger.account.address), challengerBefore - BOND, "the false challenger lost exactly its bond");
    assert.ok(falseChallenge);

    // 2. Every cheat: audited, disputed by its auditor, slashed by a unanimous committee, the dApp refunded.
    // A withheld output has the right root, so the audit cannot disagree (equal roots are an agreement):
    // its auditor challenges with a bond instead, and the committee, unable to fetch it, finds it wrong.
    let slashedJobs = 0;
    for (const [mode, ids] of cheats) {
      for (const jobId of ids) {
        const r = final.get(jobId)!;
        assert.equal(STATUS_NAMES[r.job.status], "Slashed", `${mode} job ${jobId}`);
        const audit = await readAudit({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId });
        const withheld = mode === "withhold";
        assert.equal(audit.state, withheld ? AuditState.Agreed : AuditState.Disagreed, `${mode} job ${jobId}: the audit's verdict`);
        const d = await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId });
        assert.deepEqual([d.byAuditor, sameAddress(d.challenger, audit.auditor), d.state], [!withheld, true, DisputeState.Resolved], `${mode} job ${jobId}: disputed by its auditor`);
        const { resolved: res, settlement: paid } = await resolutionOf(jobId);
        assert.deepEqual([res.args.providerFaulted, res.args.slashed, res.args.votesCorrect], [true, DEVNET_COLLATERAL, 0n], `${mode} job ${jobId}`);
        const wrong = res.args.votesWrong as bigint;
        assert.ok(wrong >= 2n, `${mode} job ${jobId}: ${wrong} ProviderWrong votes`);
        const bondBack = withheld ? BOND : 0n;
        assert.equal(credited(paid, "verification", audit.auditor), (DEVNET_COLLATERAL * 4000n) / BPS + bondBack, "the auditor gets challengerRewardBps of the slash (and its bond back)");
        for (const member of d.committee) assert.equal(credited(paid, "verification", member), (DEVNET_COLLATERAL * 3000n) / BPS / wrong, `voter ${member}`);
        assert.equal(credited(paid, "market", devnet.dapp.address), FEE, "the dApp gets its fee back");
        slashedJobs++;
      }
      assert.equal(await stakeOf(providerOf(mode)), stakesBefore.get(mode)! - DEVNET_COLLATERAL * BigInt(ids.length), `${mode}: collateral slashed per job`);
    }
    assert.equal(await marketCredits(devnet.dapp.address), dappCreditsBefore + FEE * BigInt(slashedJobs), "the dApp refunded for every cheat");

    const seconds = Math.round((Date.now() - started) / 100) / 10;
    rows.push({ scenario: "1 honest + noise (5e-5)", jobs: honest.length, sampled: honest.length, audits: `${honest.length} agree`, disputes: "1 false challenge: upheld", outcome: "all finalized, 0 slashed", seconds });
    for (const [mode, ids] of cheats) {
      const withheld = mode === "withhold";
      rows.push({
        scenario: `2 cheat: ${mode}`,
        jobs: ids.length,
        sampled: ids.length,
        audits: withheld ? `${ids.length} agree (roots equal)` : `${ids.length} disagree`,
        disputes: withheld ? `${ids.length} auditor's bonded challenge: faulted` : `${ids.length} by auditor: faulted`,
        outcome: `${ids.length} slashed, dApp refunded`,
        seconds,
      });
    }
  });

  it("dinfer audit re-executes a job and reports per-tensor errors, the verdict and what a challenge costs and pays", async function () {
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
    const honest = JSON.parse(audit(phaseA.honest[1]!, "--json")) as AuditReport;
    assert.equal(honest.verdict, "agree");
    assert.equal(honest.rootsEqual, false, "the provider's noise makes its root differ from ours");
    assert.ok(honest.tensors.length === 1 && honest.tensors[0]!.maxAbsError > 0 && honest.tensors[0]!.maxAbsError <= 5e-5 + 1e-7, JSON.stringify(honest.tensors));
    assert.equal(honest.tensors[0]!.mismatches, 0);
    assert.deepEqual(
      [honest.challenge.open, honest.challenge.bond, honest.challenge.reward],
      [false, BOND.toString(), ((DEVNET_COLLATERAL * 4000n) / BPS).toString()],
      "finalized: too late to challenge; the bond and the challenger's share of the collateral",
    );

    const wrongModelJob = phaseA.cheats.get("wrong-model")![0]!;
    const text = audit(wrongModelJob);
    assert.match(text, /verdict\s+DISAGREE: tensor "softmax_0\.tmp_0": 2 of 2 elements outside allclose/);
    assert.match(text, /softmax_0\.tmp_0\s+float32\s+\[1, 2\]/);
    assert.match(text, /costs\s+a bond of 50 DINF/);
    console.log(`      dinfer audit ${wrongModelJob} (the wrong-model cheat):\n${text.replace(/^/gm, "        ")}`);
  });

  it("phase B: an absent auditor and an absent committee member are penalized, and their jobs still complete", async function () {
    this.timeout(240_000);
    const started = Date.now();
    const a = absent.account.address;
    await absent.sender.send({ address: devnet.deployment.token, abi: abiOf("DinferTestToken"), functionName: "approve", args: [devnet.deployment.staking, parseEther("1000")] });
    await absent.sender.send({ address: devnet.deployment.staking, abi: abiOf("Staking"), functionName: "stake", args: [parseEther("1000"), ROLE_VERIFIER] });
    const stakeBefore = await stakeOf(a);

    let auditorJob: bigint | undefined;
    let voterJob: bigint | undefined;
    const posted: bigint[] = [];
    for (let round = 0; round < 10 && (auditorJob === undefined || voterJob === undefined); round++) {
      const ids = await postMany("noise", 5, 5);
      posted.push(...ids);
      await Promise.all(
        ids.map(async (jobId) => {
          // Once the seed block is mined, auditorOf names the auditor of the committed job.
          const [r] = [...(await waitFor([jobId], (x) => x.job.status >= JobStatus.Committed, "committed")).values()];
          let auditor: Address = "0x0000000000000000000000000000000000000000";
          for (let i = 0; i < 40 && /^0x0+$/.test(auditor); i++) {
            const now = await record(jobId);
            if (now.job.status !== JobStatus.Committed) break;
            auditor = (await read(devnet.deployment.verification, "Verification", "auditorOf", [jobId, now.job])) as Address;
            if (/^0x0+$/.test(auditor)) await sleep(300);
          }
          assert.ok(r);
          if (sameAddress(auditor, a)) {
            auditorJob ??= jobId;
            return;
          }
          if (voterJob !== undefined) return;
          await challengeWhenRevealed(challenger, jobId);
          const [drawn] = [...(await waitFor([jobId], async () => (await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId })).state >= DisputeState.Voting, "committee drawn")).keys()];
          const d = await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId: drawn! });
          if (d.committee.some((m) => sameAddress(m, a))) voterJob ??= jobId;
        }),
      );
    }
    assert.ok(auditorJob !== undefined, `the absent verifier was never drawn as an auditor in ${posted.length} jobs`);
    assert.ok(voterJob !== undefined, "the absent verifier never sat on a committee");
    const final = await waitFor(posted, isFinal, "final", 150_000);
    // Penalties come from keepers after their grace: give them the time.
    const penaltyOf = async (jobId: bigint, name: string) => {
      for (const until = Date.now() + 30_000; Date.now() < until; await sleep(500)) {
        const hit = (await eventsOf(jobId)).find((e) => e.name === name && sameAddress((e.args.auditor ?? e.args.voter) as string, a));
        if (hit) return hit;
      }
      assert.fail(`no ${name} for the absent verifier on job ${jobId}`);
    };

    const missed = await penaltyOf(auditorJob, "AuditorPenalized");
    assert.equal(missed.args.penalty, BigInt(VERIFICATION_PARAMS.auditorPenalty));
    assert.equal(STATUS_NAMES[final.get(auditorJob)!.job.status], "Finalized", "the job without its audit still completes");
    const audit = await readAudit({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId: auditorJob });
    assert.equal(audit.state, AuditState.Penalized);

    const silent = await penaltyOf(voterJob, "VoterPenalized");
    assert.equal(silent.args.penalty, BigInt(VERIFICATION_PARAMS.voterPenalty));
    assert.equal(STATUS_NAMES[final.get(voterJob)!.job.status], "Finalized", "the dispute resolves without the absent vote (provider upheld)");
    const { resolved } = await resolutionOf(voterJob);
    assert.equal(resolved.args.providerFaulted, false);

    const penalties = (await eventsOf(auditorJob)).concat(await eventsOf(voterJob)).length;
    assert.ok(penalties > 0);
    const lost = stakeBefore - (await stakeOf(a));
    assert.ok(lost >= BigInt(VERIFICATION_PARAMS.auditorPenalty) + BigInt(VERIFICATION_PARAMS.voterPenalty), `the absent verifier lost ${lost}`);
    // It leaves the verifier set, so phase C draws only live verifiers.
    await absent.sender.send({ address: devnet.deployment.staking, abi: abiOf("Staking"), functionName: "setRoles", args: [ROLE_PROVIDER] });
    rows.push({
      scenario: "5 absent auditor + voter",
      jobs: posted.length,
      sampled: posted.length,
      audits: "1 missed (penalized)",
      disputes: "false challenges; 1 vote missing (penalized)",
      outcome: `all finalized; absent verifier lost ${Number(lost) / 1e18} DINF`,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    });
  });

  it("phase C: the watchdog catches an unsampled cheat; a self-challenge is a net loss for provider and colluder, right or wrong", async function () {
    this.timeout(180_000);
    const started = Date.now();
    // One in a million: a fresh seed practically never samples, a stale one always does (0 would turn both off).
    await setMarketParams({ samplingPpm: 1, seedDelay: 5 });
    const pair = (mode: Mode) => [providerOf(mode), colluder.account.address] as const;
    const worthOf = async (accounts: readonly Address[]) => (await Promise.all(accounts.map(worth))).reduce((x, y) => x + y, 0n);

    // Verifier 0 watches half the unsampled results, picked from its secret: the test knows the secret, so
    // it posts the truncating cheat on a job id the watchdog picks and the accomplice's job on one it does not.
    const nextId = async () => ((await read(devnet.deployment.market, "JobMarket", "jobCount")) as bigint) + 1n;
    const watched = async (jobId: bigint) => watchdogPicks({ secret: stringToHex(verifierSecret(0)), jobId, share: WATCHDOG_SHARE });
    const fillers: bigint[] = [];
    while (!(await watched(await nextId()))) fillers.push(await post("noise"));
    const watchedJob = await post("truncate");
    while (await watched(await nextId())) fillers.push(await post("noise"));

    // A cheat challenged by its accomplice (to pocket the challenger's reward), and an honest result likewise.
    const cheatBefore = await worthOf(pair("random"));
    const cheatJob = await post("random");
    await challengeWhenRevealed(colluder, cheatJob);
    await waitFor([cheatJob, watchedJob, ...fillers], isFinal, "final");
    const cheat = await resolutionOf(cheatJob);
    assert.equal(cheat.resolved.args.providerFaulted, true);
    const cheatNet = (await worthOf(pair("random"))) - cheatBefore;
    const toChallenger = (DEVNET_COLLATERAL * 4000n) / BPS;
    assert.equal(cheatNet, toChallenger - DEVNET_COLLATERAL, "the pair loses the collateral less the challenger's share");
    assert.ok(cheatNet < 0n);

    // The watchdog's catch: its own bonded challenge, a committee without it, the slash's challenger share.
    const watchdog = getAddress(String(verifiers[0]!.ready.account));
    const caught = await resolutionOf(watchedJob);
    const caughtDispute = await readDispute({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId: watchedJob });
    assert.deepEqual([caught.resolved.args.providerFaulted, getAddress(caughtDispute.challenger), caughtDispute.byAuditor], [true, watchdog, false]);
    assert.equal((await record(watchedJob)).job.sampled, false, "no audit: only the watchdog saw it");
    assert.equal(credited(caught.settlement, "verification", watchdog), toChallenger + BOND, "the watchdog gets the challenger's share and its bond back");
    assert.ok(verifiers[0]!.lines().some((l) => l.msg === "watchdog judged an unsampled result" && l.job_id === watchedJob.toString()));

    const cheatSeconds = Math.round((Date.now() - started) / 100) / 10;
    const honestStarted = Date.now();
    const honestBefore = await worthOf(pair("noise"));
    const honestJob = await post("noise");
    await challengeWhenRevealed(colluder, honestJob);
    await waitFor([honestJob], isFinal, "final");
    const upheld = await resolutionOf(honestJob);
    assert.equal(upheld.resolved.args.providerFaulted, false);
    const { protocolFeeBps, auditLevyBps } = devnet.params.marketParams;
    const payout = FEE - (FEE * BigInt(protocolFeeBps!)) / BPS - (FEE * BigInt(auditLevyBps!)) / BPS;
    const honestNet = (await worthOf(pair("noise"))) - honestBefore - payout;
    assert.equal(honestNet, (BOND * 5000n) / BPS - BOND, "the pair loses the bond less the provider's share (the fee aside)");
    for (const jobId of [cheatJob, honestJob]) assert.equal((await record(jobId)).job.sampled, false, "sampling is (practically) off in this phase");

    rows.push(
      { scenario: "watchdog (1 verifier, 50%)", jobs: 1, sampled: 0, audits: "-", disputes: "watchdog's bonded challenge: faulted", outcome: "truncating cheat slashed", seconds: cheatSeconds },
      { scenario: "4 self-challenge, cheat", jobs: 1, sampled: 0, audits: "-", disputes: "by accomplice: faulted", outcome: `pair net ${Number(cheatNet) / 1e18} DINF`, seconds: cheatSeconds },
      {
        scenario: "4 self-challenge, honest",
        jobs: 1,
        sampled: 0,
        audits: "-",
        disputes: "by accomplice: upheld",
        outcome: `pair net ${Number(honestNet) / 1e18} DINF (fee aside)`,
        seconds: Math.round((Date.now() - honestStarted) / 100) / 10,
      },
    );
  });

  it("phase C: a seed older than 256 blocks makes the job sampled, with a late audit in the challenge window", async function () {
    this.timeout(180_000);
    const started = Date.now();
    const jobId = await post("noise");
    // Kill the worker the moment it has committed, before its reveal (the seed is 5 blocks later).
    await waitFor([jobId], (r) => r.job.status >= JobStatus.Committed, "committed", 60_000);
    await workers.get("noise")!.kill();
    const committed = await record(jobId);
    assert.equal(STATUS_NAMES[committed.job.status], "Committed", "killed before the reveal");
    const [, sampledNow] = (await read(devnet.deployment.market, "JobMarket", "samplingOf", [jobId, committed.job.commitBlock])) as [Hex, boolean];

    await devnet.publicClient.request({ method: "hardhat_mine" as never, params: [numberToHex(300)] as never });
    const [seed, sampledLater] = (await read(devnet.deployment.market, "JobMarket", "samplingOf", [jobId, committed.job.commitBlock])) as [Hex, boolean];
    assert.deepEqual([/^0x0+$/.test(seed), sampledLater], [true, true], "the seed is out of reach: the job counts as sampled");

    await startWorker("noise"); // the same journal and secret: it reveals what it committed
    const [revealed] = [...(await waitFor([jobId], (r) => r.job.status >= JobStatus.Revealed, "revealed", 60_000)).values()];
    assert.equal(revealed!.job.sampled, true);
    const final = await waitFor([jobId], isFinal, "final", 90_000);
    assert.equal(STATUS_NAMES[final.get(jobId)!.job.status], "Finalized");
    const events = await eventsOf(jobId);
    const drawn = events.find((e) => e.name === "AuditorDrawn");
    assert.equal(drawn?.args.late, true, "drawn late, at the reveal");
    const audit = await readAudit({ publicClient: devnet.publicClient, verification: devnet.deployment.verification, jobId });
    assert.equal(audit.state, AuditState.Agreed, "the late auditor committed and revealed inside the window");
    assert.ok(sameAddress(audit.auditor, drawn!.args.auditor as string));
    rows.push({
      scenario: "6 seed > 256 blocks old",
      jobs: 1,
      sampled: 1,
      audits: "1 late, agree",
      disputes: "-",
      outcome: `sampled (before: ${sampledNow}), finalized`,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    });
  });

  it("the verifiers report their work in /metrics and stop cleanly on SIGTERM", async function () {
    this.timeout(120_000);
    let audits = 0;
    for (const v of verifiers) {
      const text = await (await fetch(String(v.ready.metrics_url))).text();
      for (const m of text.matchAll(/^dinfer_verifier_audits_total\{verdict="(agree|disagree)"\} (\d+)/gm)) audits += Number(m[2]);
      assert.match(text, /dinfer_verifier_votes_total/);
    }
    assert.ok(audits >= HONEST_JOBS + CHEATS_PER_MODE * 4, `${audits} audits counted across the verifiers`);
    const exits = await Promise.all(verifiers.map((v) => v.stop()));
    assert.deepEqual(exits, verifiers.map(() => ({ code: 0, signal: null })));
    for (const v of verifiers) assert.equal(v.lines().at(-1)?.msg, "verifier stopped");
    // Refusals are caught in simulation, never sent. What can still revert on chain is a race inside one
    // block: keepers both doing a duty anyone may do, or a job that moved under a call that carried its
    // state (JobMismatch: e.g. a challenge in the same block as the audit's reveal, which then goes again).
    const reverted = verifiers.flatMap((v) =>
      v.lines().filter((l) => l.msg === "transaction reverted on chain").map((l) => `${String(l.function)}:${String(l.error_name)}`),
    );
    const keeper = ["drawCommittee", "resolve", "penalizeAuditor", "withdraw"];
    const unexplained = reverted.filter((r) => !keeper.includes(r.split(":")[0]!) && !r.endsWith(":JobMismatch"));
    assert.deepEqual(unexplained, [], "a verifier's own duty reverted on chain for another reason than a race");
    const sent = verifiers.reduce((n, v) => n + v.lines().filter((l) => l.msg === "transaction sent").length, 0);
    console.log(`      verifiers sent ${sent} transactions; ${reverted.length} lost a race inside a block (${reverted.join(", ") || "none"})`);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
