/**
 * The provider worker end to end: a real `hardhat node` process, the protocol deployed with
 * Ignition, `dinfer worker` as a separate process, and real PaddleOCR ONNX models (cls, det) run
 * on real images. Jobs go from post to final with nothing faked; each output is checked against a
 * direct onnxruntime run in this process, and a crash between commit and reveal is resumed.
 *
 * Run alone: `npx hardhat test mocha test/e2e/worker.e2e.test.ts` (under a minute on 2 cores).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";
import type { Hex } from "viem";

import { modelRegistryAbi } from "../../offchain/chain/abis.js";
import { abiOf } from "../../offchain/chain/artifacts.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray, type Tensor } from "../../offchain/codec/tensor.js";
import { imageToClsInput, imageToDetInput, readClsOutput, readDetOutput } from "../../offchain/sdk/image.js";
import { postJob, waitForResult } from "../../offchain/sdk/jobs.js";
import { Journal } from "../../offchain/state/journal.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { jobEvents as readJobEvents, jobsInReceipt } from "../helpers/job-events.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const FEE = 2_000_000_000_000_000_000n; // 2 tokens, above the 1-token price floor
/** The events of a job's lifecycle by claim mode: run-first claims and commits in one transaction. */
const LIFECYCLE_EVENTS = {
  "run-first": ["JobPosted", "ResultCommitted", "ResultRevealed", "JobFinalized"],
  "claim-first": ["JobPosted", "JobClaimed", "ResultCommitted", "ResultRevealed", "JobFinalized"],
} as const;
type ClaimMode = keyof typeof LIFECYCLE_EVENTS;
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name]));

type Kind = "cls" | "det";
type PostedJob = { jobId: bigint; kind: Kind; label: string; input: Tensor<"float32">; postedAt: number; region?: { width: number; height: number } };
type JobTimes = { revealedAt?: number; finalizedAt?: number };

describe("dinfer worker end to end: node process, Ignition deployment, worker process, PaddleOCR models", function () {
  let net: LocalNetwork;
  const sessions = new Map<Kind, ort.InferenceSession>();
  const started: WorkerProcess[] = [];
  /** Times readJob saw a job's events and its stored hash disagree (the state moved between its two reads). */
  let readJobRaces = 0;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
    for (const kind of ["cls", "det"] as const) {
      sessions.set(kind, await ort.InferenceSession.create(net.modelFiles[kind], { executionProviders: ["cpu"], intraOpNumThreads: 1 }));
    }
  });

  // A failed test must not leave its worker running into the next one (same key, same market).
  afterEach(async function () {
    this.timeout(30_000);
    for (const worker of started) if (!worker.exited()) await worker.kill();
  });

  after(async function () {
    this.timeout(60_000);
    if (readJobRaces > 0) console.log(`      readJob raced a state change ${readJobRaces} time(s) (JOB_STATE_MISMATCH, read again)`);
    for (const worker of started) await worker.kill();
    for (const session of sessions.values()) await session.release();
    await net?.stop();
  });

  // ------------------------------------------------------------------ helpers

  const modelsServed = () => [
    { modelId: net.modelIds.cls, path: net.modelFiles.cls },
    { modelId: net.modelIds.det, path: net.modelFiles.det },
  ];

  async function startWorker({
    dataDir,
    secret,
    claimMode = "run-first",
    withdrawMin,
  }: {
    dataDir: string;
    secret: string;
    claimMode?: ClaimMode;
    withdrawMin?: bigint;
  }): Promise<WorkerProcess> {
    const worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: modelsServed(),
      dataDir,
      key: net.keys.provider,
      secret,
      extra: { claimMode, ...(withdrawMin === undefined ? {} : { withdrawMin: withdrawMin.toString() }) },
    });
    started.push(worker);
    return worker;
  }

  async function post(
    kind: Kind,
    label: string,
    input: Tensor<"float32">,
    extra: { inputURI?: string; blob?: Uint8Array; inlineOutput?: boolean } = {},
  ): Promise<PostedJob> {
    const blob = extra.blob ?? encodeTensorBlob([input]);
    const { jobId } = await postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: net.modelIds[kind],
      input: blob,
      fee: FEE,
      inputURI: extra.inputURI,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
      inlineOutput: extra.inlineOutput,
    });
    return { jobId, kind, label, input, postedAt: Date.now() };
  }

  /** Polls the chain until every job is final, noting when each was first seen revealed and final. */
  async function watchUntilFinal(jobs: readonly PostedJob[], workers: readonly WorkerProcess[], timeoutMs = 180_000): Promise<Map<bigint, JobTimes>> {
    const times = new Map<bigint, JobTimes>(jobs.map((job) => [job.jobId, {}]));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pending = jobs.filter((job) => times.get(job.jobId)!.finalizedAt === undefined);
      if (pending.length === 0) return times;
      for (const job of pending) {
        const status = await readJobStatus(job.jobId);
        if (status === undefined) continue;
        const seen = times.get(job.jobId)!;
        if (status === JobStatus.Expired || status === JobStatus.Slashed || status === JobStatus.Disputed) {
          throw new Error(`job ${job.jobId} (${job.label}) ended ${STATUS_NAMES[status]}:\n${workerTails(workers)}`);
        }
        if (status >= JobStatus.Revealed) seen.revealedAt ??= Date.now();
        if (status === JobStatus.Finalized) seen.finalizedAt = Date.now();
      }
      if (Date.now() > deadline) {
        const states = await Promise.all(
          pending.map(async (job) => `${job.jobId} ${job.label}: ${STATUS_NAMES[(await readJobStatus(job.jobId)) ?? -1]}`),
        );
        throw new Error(`jobs not final within ${timeoutMs} ms (${states.join("; ")}):\n${workerTails(workers)}`);
      }
      await sleep(250);
    }
  }

  /**
   * The job's status, or undefined when readJob's two reads (events, then the stored hash, each at
   * "latest") straddled a block that moved the job: readJob then throws JOB_STATE_MISMATCH. That
   * is a bug in offchain/chain/jobs.ts (the reads are not pinned to one block); it is counted and
   * read again here, and reported, rather than failing the test at random.
   */
  async function readJobStatus(jobId: bigint): Promise<JobStatus | undefined> {
    try {
      return (await readJob({ client: net.publicClient, market: net.deployment.market, jobId })).job.status;
    } catch (error) {
      if ((error as { code?: string }).code !== "JOB_STATE_MISMATCH") throw error;
      readJobRaces++;
      return undefined;
    }
  }

  const jobEvents = (jobId: bigint) => readJobEvents({ client: net.publicClient, market: net.deployment.market, jobId });

  async function assertOneOfEachEvent(job: PostedJob, claimMode: ClaimMode = "run-first") {
    const events = await jobEvents(job.jobId);
    assert.deepEqual(
      events.map((e) => e.eventName),
      [...LIFECYCLE_EVENTS[claimMode]],
      `job ${job.jobId} (${job.label}): exactly one event of each lifecycle step, in order`,
    );
    return events;
  }

  /** The model's tolerance as registered on-chain. */
  async function toleranceOf(kind: Kind): Promise<{ abs: number; rel: number }> {
    const model = (await net.publicClient.readContract({
      address: net.deployment.registry,
      abi: modelRegistryAbi,
      functionName: "model",
      args: [BigInt(net.modelIds[kind])],
    })) as { tolerance: { kind: number; absTolE12: bigint; relTolE12: bigint } };
    assert.equal(model.tolerance.kind, 0, "the e2e models are registered with allclose");
    return { abs: Number(model.tolerance.absTolE12) / 1e12, rel: Number(model.tolerance.relTolE12) / 1e12 };
  }

  /** Runs the model here, on the CPU, on the same input the job carried. */
  async function directRun(kind: Kind, input: Tensor<"float32">): Promise<Map<string, { dims: number[]; values: Float32Array }>> {
    const session = sessions.get(kind)!;
    const results = await session.run({ [input.name]: new ort.Tensor("float32", tensorToArray(input).slice(), input.dims) });
    return new Map(
      session.outputNames.map((name) => {
        const value = results[name] as ort.Tensor;
        assert.equal(value.type, "float32", `${kind} output ${name} dtype`);
        return [name, { dims: [...value.dims], values: value.data as Float32Array }];
      }),
    );
  }

  /** The job's verified output (root checked by the SDK) against a direct run, under the model's tolerance. */
  async function checkOutput(job: PostedJob): Promise<Tensor[]> {
    const result = await waitForResult({ publicClient: net.publicClient, market: net.deployment.market, jobId: job.jobId, timeoutMs: 10_000 });
    assert.equal(result.final, true);
    const outputs = decodeTensorBlob(result.output);
    const reference = await directRun(job.kind, job.input);
    const { abs, rel } = await toleranceOf(job.kind);
    assert.deepEqual(outputs.map((t) => t.name).sort(), [...reference.keys()].sort(), `job ${job.jobId} (${job.label}): output names`);
    for (const tensor of outputs) {
      const expected = reference.get(tensor.name)!;
      assert.equal(tensor.dtype, "float32", `job ${job.jobId} ${tensor.name} dtype`);
      assert.deepEqual(tensor.dims, expected.dims, `job ${job.jobId} ${tensor.name} dims`);
      const actual = tensorToArray(tensor as Tensor<"float32">);
      let worst = 0;
      let worstAt = -1;
      for (let i = 0; i < actual.length; i++) {
        const excess = Math.abs(actual[i]! - expected.values[i]!) - (abs + rel * Math.abs(expected.values[i]!));
        if (!(excess <= worst)) [worst, worstAt] = [excess, i]; // NaN lands here too
      }
      assert.ok(worstAt === -1, `job ${job.jobId} (${job.label}) ${tensor.name}[${worstAt}]: ${actual[worstAt]} vs ${expected.values[worstAt]} is outside allclose(${abs}, ${rel})`);
    }
    return outputs;
  }

  /** The provider's tokens plus its unwithdrawn credits, read at one block (a withdraw in between cannot skew it). */
  async function providerFunds() {
    const blockNumber = await net.publicClient.getBlockNumber({ cacheTime: 0 });
    const read = (address: Hex, contract: "DinferTestToken" | "JobMarket" | "Staking", functionName: string) =>
      net.publicClient.readContract({ address, abi: abiOf(contract), functionName, args: [net.addresses.provider], blockNumber }) as Promise<bigint>;
    const [balance, credits, available] = await Promise.all([
      read(net.deployment.token, "DinferTestToken", "balanceOf"),
      read(net.deployment.market, "JobMarket", "credits"),
      read(net.deployment.staking, "Staking", "availableStake"),
    ]);
    return { balance, credits, total: balance + credits, available };
  }

  /** Every transaction the provider account got mined from `fromBlock` on, with its receipt status and call. */
  async function providerTransactions(fromBlock: bigint) {
    const latest = await net.publicClient.getBlockNumber({ cacheTime: 0 });
    const sent: { hash: Hex; nonce: number; call: string; status: string; jobs: number }[] = [];
    for (let number = fromBlock; number <= latest; number++) {
      const block = await net.publicClient.getBlock({ blockNumber: number, includeTransactions: true });
      for (const tx of block.transactions) {
        if (tx.from.toLowerCase() !== net.addresses.provider.toLowerCase()) continue;
        const receipt = await net.publicClient.getTransactionReceipt({ hash: tx.hash });
        sent.push({ hash: tx.hash, nonce: tx.nonce, call: tx.input.slice(0, 10), status: receipt.status, jobs: jobsInReceipt({ logs: receipt.logs, market: net.deployment.market }).length });
      }
    }
    return sent;
  }

  function expectedPayout(fee: bigint) {
    const { protocolFeeBps, auditLevyBps } = net.marketParams;
    return fee - (fee * BigInt(protocolFeeBps)) / 10_000n - (fee * BigInt(auditLevyBps)) / 10_000n;
  }

  // ------------------------------------------------------------------ tests

  it("finalizes real inference jobs and their outputs match a direct onnxruntime run", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("worker-a");
    // Six jobs: the worker's withdraw threshold is what the six pay, so it withdraws once, after the last.
    const fundsBefore = await providerFunds();
    const withdrawMin = fundsBefore.credits + 6n * expectedPayout(FEE);
    const worker = await startWorker({ dataDir, secret: randomBytes(32).toString("hex"), withdrawMin });
    const firstBlock = await net.publicClient.getBlockNumber({ cacheTime: 0 });

    const jobs: PostedJob[] = [];
    for (const name of ["line-1", "line-1-rot180", "line-2", "line-2-rot180"]) {
      jobs.push(await post("cls", name, await imageToClsInput(`${IMAGES}${name}.png`)));
    }
    for (const name of ["doc", "blank"]) {
      const det = await imageToDetInput(`${IMAGES}${name}.png`, { size: 640 });
      const job = await post("det", name, det.tensor);
      jobs.push({ ...job, region: { width: det.resizedWidth, height: det.resizedHeight } });
    }

    const times = await watchUntilFinal(jobs, [worker]);

    let paid = 0n;
    for (const job of jobs) {
      const outputs = await checkOutput(job);
      if (job.kind === "cls") {
        const [prediction] = readClsOutput(outputs[0]!);
        assert.equal(prediction!.label, job.label.endsWith("rot180") ? 180 : 0, `${job.label} classified ${JSON.stringify(prediction)}`);
      } else {
        const [stats] = readDetOutput(outputs[0]!, { region: job.region });
        if (job.label === "doc") assert.ok(stats!.max > 0.9 && stats!.textFraction > 0.01, `doc.png has text: ${JSON.stringify(stats)}`);
        else assert.ok(stats!.max < 0.3 && stats!.textFraction === 0, `blank.png has none: ${JSON.stringify(stats)}`);
      }
      const events = await assertOneOfEachEvent(job);
      // The worker keeps the input of a job it committed to and serves it beside the output: a dApp that
      // stops serving its input cannot make the work unverifiable (verifiers read it here too).
      const { inputHash } = await readJob({ client: net.publicClient, market: net.deployment.market, jobId: job.jobId });
      const kept = await fetch(`${worker.blobUrl}/blobs/${inputHash}`);
      assert.equal(kept.status, 200, `job ${job.jobId}: its input is served by the worker`);
      assert.equal(blobId(new Uint8Array(await kept.arrayBuffer())), inputHash.toLowerCase(), `job ${job.jobId}: the worker serves the input's own bytes`);
      const finalized = events.find((e) => e.eventName === "JobFinalized")!;
      assert.equal(finalized.args.provider, worker.account);
      assert.equal(finalized.args.payout, expectedPayout(FEE), `job ${job.jobId}: payout is the fee less the protocol fee and the audit levy`);
      paid += expectedPayout(FEE);
    }

    // The worker withdraws its credits on its own: they end at zero and the tokens arrive, exactly.
    let funds = await providerFunds();
    for (const until = Date.now() + 20_000; funds.credits !== 0n && Date.now() < until; funds = await providerFunds()) await sleep(250);
    assert.equal(funds.credits, 0n, `the worker withdrew its earnings:\n${worker.logs().slice(-4_000)}`);
    // The log line follows the receipt the chain already shows: wait for it.
    await worker.waitForLine((l) => l.msg === "earnings withdrawn", "the withdraw's log line", 10_000);
    const withdrawals = worker.lines().filter((l) => l.msg === "earnings withdrawn");
    assert.deepEqual(
      withdrawals.map((l) => l.amount),
      [withdrawMin.toString()],
      `in one withdraw, once the credits reached the threshold: not after every job: ${JSON.stringify(withdrawals)}`,
    );
    assert.equal(funds.total - fundsBefore.total, paid, "the provider earned exactly the payouts");
    assert.equal(funds.balance - fundsBefore.balance, paid + fundsBefore.credits, "and all of it reached its wallet");
    assert.equal(funds.available, fundsBefore.available, "every job's collateral is unlocked again");

    const rows = jobs.map((job) => {
      const t = times.get(job.jobId)!;
      return { job: job.jobId.toString(), input: `${job.kind} ${job.label}`, "post->reveal s": seconds(t.revealedAt! - job.postedAt), "post->final s": seconds(t.finalizedAt! - job.postedAt) };
    });
    console.log("      per-job latency (polled every 250 ms; seedDelay %d blocks, challenge window %d s):", net.marketParams.seedDelay, net.marketParams.challengeWindow);
    console.table(rows);
    await worker.stop();

    // Nothing sent twice and nothing wasted: one confirmed journal row per action, no reverted transaction.
    for (const job of jobs) {
      const actions = readActions(dataDir, job.jobId);
      assert.deepEqual(
        [...actions.values()].map((a) => `${a.action}:${a.state}:${a.attempts}`).sort(),
        ["claimAndCommit:confirmed:1", "finalize:confirmed:1", "reveal:confirmed:1"],
        `job ${job.jobId} (${job.label}) journal`,
      );
    }
    const sent = await providerTransactions(firstBlock);
    // A transaction may carry several jobs' steps (the worker groups them into a multicall): count the steps.
    const steps = sent.reduce((n, tx) => n + tx.jobs, 0);
    const grouped = sent.filter((tx) => tx.jobs > 1);
    console.log(`      ${sent.length} provider transactions for ${steps} job steps (${grouped.length} grouped: ${grouped.map((tx) => tx.jobs).join(", ") || "none"})`);
    assert.ok(steps >= jobs.length * 3, `${steps} job steps in ${sent.length} provider transactions`);
    const reverted = sent.filter((tx) => tx.status !== "success");
    assert.deepEqual(reverted, [], "the worker sent no transaction that reverted");
  });

  it("stops cleanly on SIGTERM: exit code 0, its blob and metrics ports released", async function () {
    this.timeout(90_000);
    const worker = await startWorker({ dataDir: net.tempDir("worker-c"), secret: randomBytes(32).toString("hex") });
    const ports = [worker.blobUrl, worker.metricsUrl].filter((u): u is string => u !== undefined).map((u) => Number(new URL(u).port));
    assert.equal(ports.length, 2, "the worker serves blobs and metrics");
    const metrics = await fetch(worker.metricsUrl!);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /dinfer_jobs_active/);

    const exit = await worker.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    const messages = worker.lines().map((l) => l.msg);
    assert.ok(messages.includes("signal received: finishing the current step"), "the SIGTERM handler ran");
    assert.equal(messages.at(-1), "worker stopped", "the last word is the orderly shutdown");
    for (const port of ports) assert.equal(await canListen(port), true, `port ${port} is free again`);
  });

  // In claim-first mode, so that this path (claim, run, commit) runs end to end too.
  it("resumes after being killed right after a commit, without a double action (claim-first mode)", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("worker-b");
    const secret = randomBytes(32).toString("hex");
    const first = await startWorker({ dataDir, secret, claimMode: "claim-first" });
    const job = await post("cls", "line-3-rot180", await imageToClsInput(`${IMAGES}line-3-rot180.png`));

    // Kill the worker the moment its commit is on-chain.
    let status: number = JobStatus.Posted;
    for (const until = Date.now() + 120_000; status < JobStatus.Committed; ) {
      if (Date.now() > until) throw new Error(`job ${job.jobId} never committed:\n${first.logs().slice(-4_000)}`);
      await sleep(100);
      status = (await readJobStatus(job.jobId)) ?? status;
    }
    await first.kill();
    assert.equal(STATUS_NAMES[(await readJobStatus(job.jobId)) ?? -1], "Committed", "killed after the commit, before the reveal");
    const atKill = readActions(dataDir, job.jobId);
    assert.equal(atKill.get("claim")?.state, "confirmed");
    assert.equal(atKill.has("reveal"), false, "nothing revealed before the kill");

    const second = await startWorker({ dataDir, secret, claimMode: "claim-first" });
    const times = await watchUntilFinal([job], [first, second]);
    const outputs = await checkOutput(job);
    assert.equal(readClsOutput(outputs[0]!)[0]!.label, 180);
    const events = await assertOneOfEachEvent(job, "claim-first");
    await second.stop();

    // The restarted worker revealed what the first one committed: no new claim, inference or commit.
    const secondSteps = second.lines().filter((l) => l.job_id === job.jobId.toString()).map((l) => l.msg);
    for (const msg of ["claim confirmed", "inference done", "commit confirmed"]) {
      assert.ok(!secondSteps.includes(msg), `the restarted worker logged "${msg}" for the job: ${JSON.stringify(secondSteps)}`);
    }
    assert.ok(secondSteps.includes("reveal confirmed") && secondSteps.includes("finalize confirmed"), JSON.stringify(secondSteps));

    // The journal recorded each action once, confirmed, with the hash of the transaction that did it.
    const actions = readActions(dataDir, job.jobId);
    const txOf = (eventName: string) => events.find((e) => e.eventName === eventName)!.txHash.toLowerCase();
    const expectedTx = { claim: txOf("JobClaimed"), commit: txOf("ResultCommitted"), reveal: txOf("ResultRevealed"), finalize: txOf("JobFinalized") };
    assert.deepEqual([...actions.keys()].sort(), Object.keys(expectedTx).sort(), "one journal row per action");
    for (const [action, txHash] of Object.entries(expectedTx)) {
      const row = actions.get(action)!;
      assert.deepEqual(
        { state: row.state, attempts: row.attempts, txHash: row.txHash?.toLowerCase() },
        { state: "confirmed", attempts: 1, txHash },
        `journal row for ${action} (state at the kill: ${atKill.get(action)?.state ?? "none"})`,
      );
    }
    const t = times.get(job.jobId)!;
    console.log(`      killed after commit and resumed: post->reveal ${seconds(t.revealedAt! - job.postedAt)} s, post->final ${seconds(t.finalizedAt! - job.postedAt)} s`);
  });

  it("skips a job whose input does not hash to its inputHash, or does not fit the model, and never claims it", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("worker-d");
    const worker = await startWorker({ dataDir, secret: randomBytes(32).toString("hex") });

    // 1. The URI serves a real cls input, but not the one whose hash the job names.
    const served = encodeTensorBlob([await imageToClsInput(`${IMAGES}line-1.png`)]);
    const { url: servedUrl } = await uploadBlob({ serverUrl: net.blobServer.url, token: net.uploadToken, bytes: served });
    const claimedInput = await imageToClsInput(`${IMAGES}line-2.png`);
    const mismatched = await post("cls", "hash mismatch", claimedInput, { inputURI: servedUrl });
    const mismatchedEvents = await jobEvents(mismatched.jobId);
    assert.equal(mismatchedEvents[0]!.args.inputHash, blobId(encodeTensorBlob([claimedInput])));
    assert.notEqual(blobId(served), mismatchedEvents[0]!.args.inputHash);

    // 2. Inline bytes that are no tensor blob at all.
    const garbage = await post("cls", "not a tensor blob", tensorFromArray({ name: "x", dtype: "float32", values: [0], dims: [1] }), {
      blob: new TextEncoder().encode("definitely not DTN1"),
    });
    // 3. An inline tensor blob that decodes, but with one channel: the cls model takes 3 (its H and W are dynamic).
    const gray = tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(4 * 16), dims: [1, 1, 4, 16] });
    const misfit = await post("cls", "one channel", gray);
    for (const job of [garbage, misfit]) assert.equal((await jobEvents(job.jobId))[0]!.args.inputURI, "", `${job.label}: posted inline`);

    // 4. A good job posted after them: once it is final, the worker has long looked at the others.
    const good = await post("cls", "line-3", await imageToClsInput(`${IMAGES}line-3.png`));
    await watchUntilFinal([good], [worker]);
    await checkOutput(good);

    const skipped = (job: PostedJob) =>
      worker.lines().filter((l) => l.msg === "job skipped" && l.job_id === job.jobId.toString()).map((l) => String(l.reason));
    const reasons: [PostedJob, RegExp][] = [
      [mismatched, /^bad input: BlobHashMismatchError: blob hash mismatch/],
      [garbage, /^bad input: CodecError/],
      [misfit, /^bad input: InputValidationError: input "x" dims\[1\]/],
    ];
    for (const [job, reason] of reasons) {
      const logged = skipped(job);
      assert.equal(logged.length, 1, `${job.label}: one "job skipped" line, got ${JSON.stringify(logged)}\n${worker.logs().slice(-4_000)}`);
      assert.match(logged[0]!, reason);
      assert.equal(STATUS_NAMES[(await readJobStatus(job.jobId)) ?? -1], "Posted", `${job.label}: never claimed`);
      assert.deepEqual((await jobEvents(job.jobId)).map((e) => e.eventName), ["JobPosted"], `${job.label}: no step after the post`);
    }
    await worker.stop();

    const journal = new Journal({ path: path.join(dataDir, "journal.sqlite") });
    try {
      for (const [job] of reasons) {
        assert.equal(journal.getJob(job.jobId)?.status, "skipped");
        assert.deepEqual(journal.listActions(job.jobId), [], `${job.label}: no action begun`);
      }
    } finally {
      journal.close();
    }
  });
  it("serves a job that requires an inline output by revealing it inline, and skips, unclaimed, one whose output cannot fit (claim-first mode runs both first)", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("worker-e");
    const worker = await startWorker({ dataDir, secret: randomBytes(32).toString("hex"), claimMode: "claim-first" });
    // det at 640 x 640: a 1.6 MB output, which no reveal can carry inline.
    const det = await post("det", "doc, inline required", (await imageToDetInput(`${IMAGES}doc.png`, { size: 640 })).tensor, { inlineOutput: true });
    const cls = await post("cls", "line-2, inline required", await imageToClsInput(`${IMAGES}line-2.png`), { inlineOutput: true });
    await watchUntilFinal([cls], [worker]);
    await checkOutput(cls);

    // The cls job: run before its claim (only the run tells the output's size), so claimed and committed
    // in one transaction, and revealed inline.
    const events = await assertOneOfEachEvent(cls, "run-first");
    assert.equal((events[0]!.args as { inlineOutput: boolean }).inlineOutput, true, "posted with inlineOutput");
    const revealed = events.find((e) => e.eventName === "ResultRevealed")!;
    assert.notEqual(revealed.args.inlineOutput, "0x", "the output was revealed inline");
    const record = await readJob({ client: net.publicClient, market: net.deployment.market, jobId: cls.jobId });
    assert.equal(record.job.inlineOutput, true);

    // The det job: skipped with the reason, never claimed.
    let reasons: string[] = [];
    for (const until = Date.now() + 60_000; reasons.length === 0 && Date.now() < until; await sleep(250)) {
      reasons = worker.lines().filter((l) => l.msg === "job skipped" && l.job_id === det.jobId.toString()).map((l) => String(l.reason));
    }
    assert.equal(reasons.length, 1, `one "job skipped" line for the det job:\n${worker.logs().slice(-4_000)}`);
    assert.match(reasons[0]!, /^the job requires an inline output and ours is \d+ bytes \(at most 4096 fit in a reveal\)$/);
    assert.deepEqual((await jobEvents(det.jobId)).map((e) => e.eventName), ["JobPosted"], "the det job was never claimed");
    await worker.stop();
    assert.deepEqual(readActions(dataDir, det.jobId), new Map(), "no action begun for the det job");
  });

  // Last: it moves the chain 300 blocks and 300 seconds ahead.
  it("reports SeedOutOfReach when restarted after its seed went out of reach, and expires the job at once (the poster refunded)", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("worker-f");
    const secret = randomBytes(32).toString("hex");
    const first = await startWorker({ dataDir, secret });
    const job = await post("cls", "line-1, revealed too late", await imageToClsInput(`${IMAGES}line-1.png`));
    let status: number = JobStatus.Posted;
    for (const until = Date.now() + 120_000; status < JobStatus.Committed; ) {
      if (Date.now() > until) throw new Error(`job ${job.jobId} never committed:\n${first.logs().slice(-4_000)}`);
      await sleep(100);
      status = (await readJobStatus(job.jobId)) ?? status;
    }
    await first.kill();
    // 300 blocks a second apart: the seed block (commit + seedDelay) is now over 256 blocks old.
    await net.publicClient.request({ method: "hardhat_mine", params: ["0x12c", "0x1"] } as never);
    const fundsBefore = await providerFunds();

    const second = await startWorker({ dataDir, secret });
    const line = await second.waitForLine((l) => l.msg === "reveal impossible: the job can only expire" && l.job_id === job.jobId.toString(), "the SeedOutOfReach report", 60_000);
    assert.match(String(line.reason), /^SeedOutOfReach: /);
    assert.equal(line.level, 50, "logged as an error");
    await second.waitForLine((l) => l.msg === "expire confirmed" && l.job_id === job.jobId.toString(), "the expiry", 60_000);
    await second.waitForLine((l) => l.msg === "job ended" && l.job_id === job.jobId.toString(), "the job's end", 30_000);
    await second.stop();

    const events = await jobEvents(job.jobId);
    assert.deepEqual(events.map((e) => e.eventName), ["JobPosted", "ResultCommitted", "JobExpired"], "never revealed");
    const expired = events.at(-1)!.args as { from: number; refund: bigint; penalty: bigint; sampled: boolean };
    const collateral = (events[0]!.args as { collateral: bigint }).collateral;
    // A seed out of reach counts as sampled (the whole collateral) where anything is sampled; this
    // network samples nothing (samplingPpm 0), so the missed reveal costs the expiry penalty.
    assert.equal(net.marketParams.samplingPpm, 0);
    assert.deepEqual(
      { from: Number(expired.from), refund: expired.refund, penalty: expired.penalty, sampled: expired.sampled },
      { from: JobStatus.Committed, refund: FEE, penalty: (collateral * BigInt(net.marketParams.expiryPenaltyBps)) / 10_000n, sampled: false },
      "the poster is refunded and the provider pays the expiry penalty",
    );
    const fundsAfter = await providerFunds();
    assert.equal(fundsAfter.available - fundsBefore.available, collateral - expired.penalty, "the rest of the collateral is free again");
    const actions = readActions(dataDir, job.jobId);
    assert.equal(actions.has("reveal"), false, "no reveal was sent");
    assert.equal(actions.get("expire")?.state, "confirmed");
  });
});

/** A job's journal rows by action name (opened after the worker is gone, read only). */
function readActions(dataDir: string, jobId: bigint) {
  const journal = new Journal({ path: path.join(dataDir, "journal.sqlite") });
  try {
    const actions = journal.listActions(jobId);
    assert.equal(new Set(actions.map((a) => a.action)).size, actions.length, "one row per action");
    return new Map(actions.map((a) => [a.action, a]));
  } finally {
    journal.close();
  }
}

function workerTails(workers: readonly WorkerProcess[]): string {
  return workers.map((w, i) => `--- worker ${i} ---\n${w.logs().slice(-3_000)}`).join("\n");
}

/** Whether a listener can bind 127.0.0.1:port right now (the port is released). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
