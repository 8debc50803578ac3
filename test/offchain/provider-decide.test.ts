/**
 * The provider worker's decisions (offchain/provider/decide.ts): the one step each chain state and
 * journal record calls for, as a pure function: taking a posted job or skipping it with its reason,
 * ending a lost race, running and committing a claimed job, revealing within the seed's reach and the
 * deadline, finalizing after the challenge window, expiring an abandoned job, and the keeper duty for
 * skipped jobs. Also the faulty runner (offchain/provider/fault.ts `withFault`) that a cheating worker
 * runs its jobs through.
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";
import { parseEther, type Address, type Hex } from "viem";

import { JobStatus, type Job } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { keeperJitter } from "../../offchain/daemon/keeper.js";
import { silentLogger } from "../../offchain/log.js";
import { decideProviderStep, DISPUTE_RECHECK_SECONDS, estimateFinish, keeperTime, type ProviderJobSnapshot } from "../../offchain/provider/decide.js";
import { FaultSchema, withFault } from "../../offchain/provider/fault.js";
import type { JobRunner, JobRunResult, LoadedModel } from "../../offchain/provider/job-runner.js";
import { BlobHashMismatchError } from "../../offchain/storage/errors.js";

const ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;
const OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as Address;
const ZERO = "0x0000000000000000000000000000000000000000" as Address;
const ROOT = `0x${"22".repeat(32)}` as Hex;
const NOW = 1_000n;
const HEAD = 500n;

function job(overrides: Partial<Job> = {}): Job {
  return {
    poster: OTHER,
    modelId: 1,
    terms: 1,
    fee: parseEther("1"),
    collateral: parseEther("10"),
    callbackGasLimit: 0,
    status: JobStatus.Posted,
    deadline: Number(NOW + 60n),
    provider: ZERO,
    commitBlock: 0n,
    result: `0x${"00".repeat(32)}`,
    inlineOutput: false,
    sampled: false,
    ...overrides,
  };
}

function snapshot(overrides: Partial<ProviderJobSnapshot> = {}): ProviderJobSnapshot {
  return {
    jobId: 7n,
    local: "candidate",
    job: job(),
    me: ME,
    minFee: parseEther("0.5"),
    head: { number: HEAD, timestamp: NOW },
    data: {},
    keeperGraceSeconds: 10,
    ...overrides,
  };
}

/** Our job in `status`, with its output journaled. */
function ours(status: JobStatus, overrides: Partial<Job> = {}, data: ProviderJobSnapshot["data"] = { outputRoot: ROOT }): Partial<ProviderJobSnapshot> {
  return { local: "active", job: job({ status, provider: ME, commitBlock: HEAD - 10n, ...overrides }), data };
}

describe("provider decisions (decideProviderStep)", () => {
  describe("a posted job", () => {
    it("is taken when the model is served, the fee meets our price and the claim deadline is ahead", () => {
      assert.deepEqual(decideProviderStep(snapshot()), { kind: "take" });
      assert.deepEqual(decideProviderStep(snapshot({ minFee: parseEther("1") })), { kind: "take" }, "a fee equal to our price is enough");
    });

    it("is skipped, with the reason, when its model is not served", () => {
      assert.deepEqual(decideProviderStep(snapshot({ minFee: undefined })), { kind: "skip", reason: "model not served" });
    });

    it("is skipped when its fee is below our price, the reason in tokens and in wei", () => {
      const step = decideProviderStep(snapshot({ minFee: parseEther("2") }));
      assert.equal(step.kind, "skip");
      assert.match((step as { reason: string }).reason, /^fee 1 DINF below our price 2 DINF \(1000000000000000000 < 2000000000000000000 wei\)$/);
    });

    it("is skipped once its claim deadline passed (the keeper may expire it later), not at the deadline itself", () => {
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline: Number(NOW - 1n) }) })), { kind: "skip", reason: "claim deadline passed" });
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline: Number(NOW) }) })), { kind: "take" });
    });

    it("is skipped when its consumer callback asks for more gas than our maxCallbackGas (our finalize would pay for it), taken up to it", () => {
      const asking = (callbackGasLimit: number, maxCallbackGas?: number) => decideProviderStep(snapshot({ job: job({ callbackGasLimit }), maxCallbackGas }));
      const skipped = asking(2_000_000, 100_000);
      assert.equal(skipped.kind, "skip");
      assert.match((skipped as { reason: string }).reason, /callback asks for 2000000 gas, over our maxCallbackGas 100000/);
      assert.deepEqual(asking(100_000, 100_000), { kind: "take" });
      assert.deepEqual(asking(0, 0), { kind: "take" }, "no callback, nothing to pay");
      assert.deepEqual(asking(2_000_000), { kind: "take" }, "no cap given: any the market allows");
    });

    it("is skipped when our measured run time and the runs ahead would finish it after its claim deadline (a slow provider leaves it to faster ones)", () => {
      // 4 s a run measured, 5 runs ahead on 2 threads: 3 rounds of 4 s, then 2 s to send: done at NOW + 14.
      const finishAt = estimateFinish({ now: NOW, runMs: 4_000, ahead: 5, threads: 2 });
      assert.equal(finishAt.at, NOW + 14n);
      const late = decideProviderStep(snapshot({ job: job({ deadline: Number(NOW + 13n) }), finishAt }));
      assert.equal(late.kind, "skip");
      assert.match((late as { reason: string }).reason, /^we would finish it at 1014, after its claim deadline 1013 \(4000 ms a run measured, 5 runs ahead on 2 threads\)$/);
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline: Number(NOW + 14n) }), finishAt })), { kind: "take" }, "finished at the deadline itself: taken");
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline: Number(NOW + 13n) }) })), { kind: "take" }, "no measure yet: taken");
      // A fast model with nothing ahead: 30 ms, one round, then the send.
      assert.equal(estimateFinish({ now: NOW, runMs: 30, ahead: 0, threads: 1 }).at, NOW + 3n);
    });

    it("claimed first, is skipped when we would finish it after the commit deadline a claim now would set (its expiry would cost the penalty)", () => {
      const finishAt = estimateFinish({ now: NOW, runMs: 4_000, ahead: 5, threads: 2 }); // NOW + 14
      const deadline = Number(NOW + 600n); // the claim deadline is far: only the commit deadline binds
      const late = decideProviderStep(snapshot({ job: job({ deadline }), finishAt, claimCommitBy: NOW + 13n }));
      assert.equal(late.kind, "skip");
      assert.match((late as { reason: string }).reason, /^we would finish it at 1014, after the commit deadline 1013 a claim now would set/);
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline }), finishAt, claimCommitBy: NOW + 14n })), { kind: "take" }, "finished at the commit deadline itself");
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline }), finishAt })), { kind: "take" }, "run first: no commit deadline from a claim");
      // Claimed first, only the claim must land by the claim deadline: a run after it is fine within the commit deadline.
      const soon = Number(NOW + 5n);
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ deadline: soon }), finishAt, claimCommitBy: NOW + 600n })), { kind: "take" });
      assert.equal(decideProviderStep(snapshot({ job: job({ deadline: soon }), finishAt })).kind, "skip", "run first, the same job is left to faster providers");
    });

    it("is skipped when it requires an inline output and the worker withholds its outputs", () => {
      const step = decideProviderStep(snapshot({ job: job({ inlineOutput: true }), withholdsOutputs: true }));
      assert.equal(step.kind, "skip");
      assert.deepEqual(decideProviderStep(snapshot({ job: job({ inlineOutput: true }) })), { kind: "take" }, "an honest worker takes it");
      assert.deepEqual(decideProviderStep(snapshot({ withholdsOutputs: true })), { kind: "take" }, "a withholder takes one without the inline requirement");
    });

    it("needs the job read first when it is not given", () => {
      assert.deepEqual(decideProviderStep(snapshot({ job: undefined })), { kind: "read" });
    });
  });

  describe("a claimed job", () => {
    it("ends as a lost race when another provider holds it, whatever its status", () => {
      for (const status of [JobStatus.Claimed, JobStatus.Committed, JobStatus.Revealed, JobStatus.Finalized]) {
        const step = decideProviderStep(snapshot({ job: job({ status, provider: OTHER }) }));
        assert.deepEqual(step, { kind: "end", outcome: "lost_race", reason: "another provider claimed the job" }, `status ${status}`);
      }
    });

    it("is run and committed when it is ours and only claimed (claim-first), the address compared in any case", () => {
      assert.deepEqual(decideProviderStep(snapshot(ours(JobStatus.Claimed))), { kind: "runAndCommit" });
      assert.deepEqual(decideProviderStep(snapshot(ours(JobStatus.Claimed, { deadline: Number(NOW) }))), { kind: "runAndCommit" }, "at its commit deadline itself");
      const lower = { ...ours(JobStatus.Claimed), me: ME.toLowerCase() as Address };
      assert.deepEqual(decideProviderStep(snapshot(lower)), { kind: "runAndCommit" });
    });
  });

  describe("our claimed job past its commit deadline", () => {
    it("is expired, not run: no commit can land any more (the poster is refunded, the rest of our stake freed)", () => {
      assert.deepEqual(decideProviderStep(snapshot(ours(JobStatus.Claimed, { deadline: Number(NOW - 1n) }))), { kind: "expire", duty: "abandoned" });
    });
  });

  describe("our committed job", () => {
    const window = { seedBlock: HEAD, lastRevealBlock: HEAD + 256n };

    it("waits for the block after the seed block before revealing", () => {
      const step = decideProviderStep(snapshot({ ...ours(JobStatus.Committed), revealWindow: window }));
      assert.deepEqual([step.kind, (step as { block?: bigint }).block], ["wait", HEAD + 1n]);
    });

    it("is revealed once the seed block is mined, while the next block (the earliest a reveal lands in) still reaches the seed", () => {
      for (const number of [HEAD + 1n, HEAD + 255n]) {
        assert.deepEqual(decideProviderStep(snapshot({ ...ours(JobStatus.Committed), revealWindow: window, head: { number, timestamp: NOW } })), { kind: "reveal" });
      }
    });

    it("is given up as too late when the seed went out of reach, or the reveal deadline passed", () => {
      // At the last reveal block itself a reveal would land a block past it, refused (or, simulated in the head's own
      // block as geth does, mined reverted).
      for (const number of [HEAD + 256n, HEAD + 257n]) {
        const outOfReach = decideProviderStep(snapshot({ ...ours(JobStatus.Committed), revealWindow: window, head: { number, timestamp: NOW } }));
        assert.deepEqual(outOfReach, { kind: "revealTooLate", reason: "SeedOutOfReach", details: { seed_block: HEAD, last_reveal_block: HEAD + 256n } });
      }
      const late = decideProviderStep(snapshot({ ...ours(JobStatus.Committed, { deadline: Number(NOW - 1n) }), revealWindow: window, head: { number: HEAD + 1n, timestamp: NOW } }));
      assert.deepEqual([late.kind, (late as { reason?: string }).reason], ["revealTooLate", "DeadlinePassed"]);
    });

    it("reports its output lost when no output was journaled, rather than revealing nothing", () => {
      const step = decideProviderStep(snapshot({ ...ours(JobStatus.Committed, {}, {}), revealWindow: window, head: { number: HEAD + 1n, timestamp: NOW } }));
      assert.deepEqual(step, { kind: "outputLost" });
    });

    it("cannot be decided without its reveal window (a programming error, named)", () => {
      assert.throws(() => decideProviderStep(snapshot(ours(JobStatus.Committed))), /reveal window/);
    });
  });

  describe("our revealed job", () => {
    it("waits out the challenge window, then is finalized", () => {
      const deadline = Number(NOW);
      assert.deepEqual(decideProviderStep(snapshot(ours(JobStatus.Revealed, { deadline }))), { kind: "wait", time: NOW + 1n, reason: "inside the challenge window" });
      const after = { number: HEAD, timestamp: NOW + 1n };
      assert.deepEqual(decideProviderStep(snapshot({ ...ours(JobStatus.Revealed, { deadline }), head: after })), { kind: "finalize", withOutput: false });
    });

    it("is finalized with its output only for a callback job revealed inline", () => {
      const after = { number: HEAD, timestamp: NOW + 100n };
      const withCallback = (inlineOutput: boolean) => decideProviderStep(snapshot({ ...ours(JobStatus.Revealed, { callbackGasLimit: 100_000, inlineOutput }), head: after }));
      assert.deepEqual(withCallback(true), { kind: "finalize", withOutput: true });
      assert.deepEqual(withCallback(false), { kind: "finalize", withOutput: false });
    });

    it("waits a few seconds at a time while disputed", () => {
      assert.deepEqual(decideProviderStep(snapshot(ours(JobStatus.Disputed))), { kind: "wait", time: NOW + DISPUTE_RECHECK_SECONDS, reason: "disputed: the dispute settles it" });
    });
  });

  it("ends our job with the outcome its final status names", () => {
    const outcomes = [
      [JobStatus.Finalized, "finalized"],
      [JobStatus.Expired, "expired"],
      [JobStatus.Slashed, "slashed"],
    ] as const;
    for (const [status, outcome] of outcomes) assert.deepEqual(decideProviderStep(snapshot(ours(status))), { kind: "end", outcome });
  });

  describe("our abandoned job", () => {
    const abandoned = { outputRoot: ROOT, abandoned: "the run failed" };

    it("claimed: waits for its deadline, then is expired", () => {
      const claimed = ours(JobStatus.Claimed, { deadline: Number(NOW) }, abandoned);
      assert.deepEqual(decideProviderStep(snapshot(claimed)), { kind: "wait", time: NOW + 1n, reason: "an abandoned job expires after its deadline" });
      assert.deepEqual(decideProviderStep(snapshot({ ...claimed, head: { number: HEAD, timestamp: NOW + 1n } })), { kind: "expire", duty: "abandoned" });
    });

    it("committed: is expired as soon as its seed is out of reach, even before its deadline", () => {
      const committed = ours(JobStatus.Committed, { deadline: Number(NOW + 600n) }, abandoned);
      const window = { seedBlock: HEAD - 300n, lastRevealBlock: HEAD - 1n };
      assert.deepEqual(decideProviderStep(snapshot({ ...committed, revealWindow: window })), { kind: "expire", duty: "abandoned" });
      // At the last reveal block the expiry lands a block past it, where the market takes it.
      const lastBlock = { seedBlock: HEAD - 256n, lastRevealBlock: HEAD };
      assert.deepEqual(decideProviderStep(snapshot({ ...committed, revealWindow: lastBlock })), { kind: "expire", duty: "abandoned" });
      const inReach = { seedBlock: HEAD - 10n, lastRevealBlock: HEAD + 200n };
      assert.equal(decideProviderStep(snapshot({ ...committed, revealWindow: inReach })).kind, "wait", "still revealable: it waits for the deadline");
    });

    it("revealed: is finalized as usual (abandoning only stops a job before its reveal)", () => {
      const revealed = ours(JobStatus.Revealed, { deadline: Number(NOW - 1n) }, abandoned);
      assert.deepEqual(decideProviderStep(snapshot(revealed)), { kind: "finalize", withOutput: false });
    });
  });

  describe("a skipped job (keeper duty)", () => {
    const at = (claimBy: bigint) => keeperTime({ me: ME, jobId: 7n, claimBy, graceSeconds: 10 });

    it("waits past its claim deadline, the grace and our own delay, without reading the chain", () => {
      const claimBy = NOW;
      assert.equal(at(claimBy), claimBy + 1n + 10n + keeperJitter({ me: ME, key: 7n, graceSeconds: 10 }));
      const step = decideProviderStep(snapshot({ local: "skipped", job: undefined, data: { claimBy } }));
      assert.deepEqual(step, { kind: "wait", time: at(claimBy), reason: "keeper: the claim deadline is ahead" });
    });

    it("reads the job once its keeper time came, and expires it when it is still posted", () => {
      const claimBy = NOW - 100n;
      assert.deepEqual(decideProviderStep(snapshot({ local: "skipped", job: undefined, data: { claimBy } })), { kind: "read" });
      const posted = job({ deadline: Number(claimBy) });
      assert.deepEqual(decideProviderStep(snapshot({ local: "skipped", job: posted, data: { claimBy } })), { kind: "expire", duty: "keeper" });
    });

    it("forgets the job when someone claimed it or it ended", () => {
      const claimed = job({ status: JobStatus.Claimed, provider: OTHER, deadline: Number(NOW + 30n) });
      assert.deepEqual(decideProviderStep(snapshot({ local: "skipped", job: claimed, data: { claimBy: NOW - 100n } })), { kind: "pass", claimBy: NOW + 30n });
    });

    it("goes by the job's own deadline when the journal has none (an older worker's record)", () => {
      const posted = job({ deadline: Number(NOW - 5n) });
      const step = decideProviderStep(snapshot({ local: "skipped", job: posted, data: {} }));
      assert.deepEqual(step, { kind: "wait", time: at(NOW - 5n), reason: "keeper: the claim deadline is ahead" });
    });
  });
});

describe("faulty runner (withFault): a cheating worker's runs, the worker unaware", () => {
  const output = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", dims: [1, 4], values: [0.1, 0.2, 0.3, 0.4] })]);
  const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", dims: [2, 3], values: [1, 2, 3, 4, 5, 6] })]);
  const model: LoadedModel = {
    modelId: 1,
    path: "honest.onnx",
    modelHash: `0x${"ab".repeat(32)}`,
    minFee: 0n,
    nonFiniteInputs: false,
    inputMetadata: [{ name: "x", isTensor: true, type: "float32", shape: ["batch", 3] }] as never,
    outputMetadata: [{ name: "y", isTensor: true, type: "float32", shape: ["batch", 4] }] as never,
  };

  /** An honest runner that returns `output` and counts its runs. */
  function honest() {
    const runs: { modelPath: string; keepOutput?: unknown }[] = [];
    const runner: JobRunner = {
      stats: () => ({ workers: 1, busy: 0, queued: 0, restarts: 0, hashThreads: 1 }) as never,
      async run(parameters): Promise<JobRunResult> {
        runs.push({ modelPath: parameters.modelPath, keepOutput: parameters.keepOutput });
        // As the inference runner says when its hashing thread stored the output (keepOutput).
        const kept = parameters.keepOutput === undefined ? {} : { outputKept: true as const };
        return { output, outputRoot: outputRoot(output), ...kept, ep: "cpu", ms: 5, timings: { queuedMs: 0, prepMs: 0, encodeMs: 0, hashMs: 0 } };
      },
    };
    return { runner, runs };
  }
  const run = { jobId: 3n, modelPath: model.path, modelHash: model.modelHash, input };

  it("noise and truncate change the honest output, with the root of what is committed, which the worker stores itself (the honest one is never stored)", async () => {
    for (const fault of [{ mode: "noise", amplitude: 0.5 }, { mode: "truncate" }]) {
      const { runner, runs } = honest();
      const faulty = withFault({ runner, fault: FaultSchema.parse(fault), models: [model], maxInputBytes: 1 << 20, log: silentLogger() });
      const result = await faulty.run({ ...run, keepOutput: { dir: "/nonexistent/outputs", maxBytes: 1 << 20 } });
      assert.equal(result.outputKept, undefined, `${fault.mode}: not in the store: the worker stores it`);
      assert.equal(runs[0]!.keepOutput, undefined, `${fault.mode}: the honest output is not stored (nor served) either`);
      assert.equal(runs.length, 1, `${fault.mode}: the model runs`);
      assert.notDeepEqual(result.output, output, `${fault.mode}: the output changed`);
      assert.equal(result.outputRoot, outputRoot(result.output), `${fault.mode}: the root of the changed output`);
      assert.equal(faulty.withholdsOutputs, false);
    }
  });

  it("random never runs the model: its output has the model's output shape, dims from the input, and repeats per job", async () => {
    const { runner, runs } = honest();
    const faulty = withFault({ runner, fault: FaultSchema.parse({ mode: "random" }), models: [model], maxInputBytes: 1 << 20, log: silentLogger() });
    const first = await faulty.run(run);
    assert.equal(runs.length, 0, "no run");
    const [y] = decodeTensorBlob(first.output);
    assert.deepEqual([y!.name, y!.dims], ["y", [2, 4]]);
    assert.deepEqual((await faulty.run(run)).output, first.output, "a restart commits the same bytes");
    assert.equal(first.outputRoot, outputRoot(first.output));
  });

  it("random still refuses an input that does not hash to the job's input hash", async () => {
    const { runner } = honest();
    const faulty = withFault({ runner, fault: FaultSchema.parse({ mode: "random" }), models: [model], maxInputBytes: 1 << 20, log: silentLogger() });
    const wrong = `0x${"cd".repeat(32)}` as Hex;
    await assert.rejects(faulty.run({ ...run, verifyInput: { expected: wrong, source: "http://poster/x" } }), BlobHashMismatchError);
    await faulty.run({ ...run, verifyInput: { expected: blobId(input), source: "http://poster/x" } });
  });

  it("slow runs honestly but takes delayMs longer, and says so in its measured run time", async () => {
    const { runner, runs } = honest();
    const faulty = withFault({ runner, fault: FaultSchema.parse({ mode: "slow", delayMs: 50 }), models: [model], maxInputBytes: 1 << 20, log: silentLogger() });
    const started = performance.now();
    const result = await faulty.run(run);
    assert.ok(performance.now() - started >= 45, "waited out the delay");
    assert.equal(runs.length, 1);
    assert.deepEqual(result.output, output, "the honest output");
    assert.equal(result.ms, 5 + 50, "the measured time includes the delay");
    assert.throws(() => FaultSchema.parse({ mode: "slow" }), /delayMs > 0/);
  });

  it("withhold leaves the output alone and says its outputs are not to be served", async () => {
    const { runner } = honest();
    const faulty = withFault({ runner, fault: FaultSchema.parse({ mode: "withhold" }), models: [model], maxInputBytes: 1 << 20, log: silentLogger() });
    assert.equal(faulty.withholdsOutputs, true);
    assert.deepEqual((await faulty.run(run)).output, output);
  });
});
