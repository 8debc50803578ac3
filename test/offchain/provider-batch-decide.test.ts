/**
 * The provider worker's batch decisions (offchain/provider/decide.ts, `decideBatchStep`): taking a posted
 * batch or skipping it with its reason (model, fee, maxBatch, deadline), ending a lost race, splitting the
 * sampled jobs out before anything else, holding the batch's reveal until every split sampled job is revealed
 * in the JobMarket, revealing within the seed's reach and the deadline, finalizing after the window, expiring
 * an abandoned batch, and the keeper duty for batches not taken.
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";
import { parseEther, type Address } from "viem";

import { BatchStatus, type Batch } from "../../offchain/chain/batches.js";
import { JobStatus } from "../../offchain/chain/jobs.js";
import { BATCH_REVEAL_MARGIN_SECONDS, decideBatchStep, keeperTime, SPLIT_RECHECK_SECONDS, type ProviderBatchSnapshot } from "../../offchain/provider/decide.js";

const ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;
const OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as Address;
const ZERO = "0x0000000000000000000000000000000000000000" as Address;
const NOW = 1_000n;
const HEAD = 500n;

function batch(overrides: Partial<Batch> = {}): Batch {
  return {
    poster: OTHER,
    modelId: 1,
    terms: 1,
    feePerJob: parseEther("1"),
    collateralPerJob: parseEther("10"),
    count: 8,
    firstJobId: 20n,
    status: BatchStatus.Posted,
    deadline: Number(NOW + 100n),
    provider: ZERO,
    commitBlock: 0n,
    result: `0x${"00".repeat(32)}`,
    ...overrides,
  };
}

function snap(overrides: Partial<ProviderBatchSnapshot> = {}): ProviderBatchSnapshot {
  return {
    batchId: 3n,
    local: "candidate",
    batch: batch(),
    me: ME,
    minFee: parseEther("1"),
    maxBatch: 64,
    head: { number: HEAD, timestamp: NOW },
    split: new Map(),
    data: {},
    keeperGraceSeconds: 30,
    ...overrides,
  };
}

const committed = (overrides: Partial<ProviderBatchSnapshot> = {}) =>
  snap({
    local: "active",
    batch: batch({ status: BatchStatus.Committed, provider: ME, commitBlock: HEAD - 5n, deadline: Number(NOW + 60n) }),
    revealWindow: { seedBlock: HEAD - 3n, lastRevealBlock: HEAD + 253n },
    sampled: [],
    data: { outputs: true },
    ...overrides,
  });

describe("provider/decide: batches", () => {
  describe("a posted batch", () => {
    it("is taken when we serve its model at its fee, it fits maxBatch and it can still be claimed", () => {
      assert.deepEqual(decideBatchStep(snap()), { kind: "take" });
      assert.deepEqual(decideBatchStep(snap({ maxBatch: 8 })), { kind: "take" }, "exactly maxBatch jobs");
    });

    it("is skipped, with the reason, for a model not served, a fee below our price, over maxBatch, or a passed claim deadline", () => {
      assert.deepEqual(decideBatchStep(snap({ minFee: undefined })), { kind: "skip", reason: "model not served" });
      const cheap = decideBatchStep(snap({ minFee: parseEther("2") }));
      assert.equal(cheap.kind, "skip");
      assert.match((cheap as { reason: string }).reason, /fee per job 1 DINF below our price 2 DINF/);
      assert.deepEqual(decideBatchStep(snap({ maxBatch: 7 })), { kind: "skip", reason: "8 jobs, over maxBatch 7" });
      assert.deepEqual(decideBatchStep(snap({ head: { number: HEAD, timestamp: NOW + 101n } })), { kind: "skip", reason: "claim deadline passed" });
    });

    it("is read first when its state is not known", () => {
      assert.deepEqual(decideBatchStep(snap({ batch: undefined })), { kind: "read" });
    });
  });

  describe("our batch", () => {
    it("ends as a lost race when another provider committed it", () => {
      const step = decideBatchStep(snap({ local: "active", batch: batch({ status: BatchStatus.Committed, provider: OTHER }) }));
      assert.equal(step.kind, "end");
      assert.equal((step as { outcome: string }).outcome, "lost_race");
    });

    it("waits for the seed block, then splits out every sampled job not yet split, before anything else", () => {
      const early = committed({ revealWindow: { seedBlock: HEAD + 2n, lastRevealBlock: HEAD + 258n } });
      assert.deepEqual(decideBatchStep(early), { kind: "wait", block: HEAD + 3n, reason: "the seed block is not mined yet" });
      assert.deepEqual(decideBatchStep(committed({ sampled: [1, 5, 6], split: new Map([[5, JobStatus.Committed]]) })), { kind: "splitSampled", indices: [1, 6] });
    });

    it("holds the batch's reveal until every split sampled job is revealed in the JobMarket, then reveals", () => {
      const split = new Map([[1, JobStatus.Committed], [6, JobStatus.Committed], [3, JobStatus.Revealed]]);
      const waiting = decideBatchStep(committed({ sampled: [1, 6], split, splitStatus: new Map([[1, JobStatus.Revealed], [6, JobStatus.Committed], [3, JobStatus.Disputed]]) }));
      assert.deepEqual(waiting, { kind: "wait", time: NOW + SPLIT_RECHECK_SECONDS, reason: "sampled job(s) at 6 not revealed in the JobMarket yet" });
      assert.equal(decideBatchStep(committed({ sampled: [1, 6], split })).kind, "wait", "an unread split job counts as not revealed");
      const revealed = new Map([[1, JobStatus.Revealed], [6, JobStatus.Expired], [3, JobStatus.Revealed]]);
      assert.deepEqual(decideBatchStep(committed({ sampled: [1, 6], split, splitStatus: revealed })), { kind: "revealBatch" });
      assert.deepEqual(decideBatchStep(committed()), { kind: "revealBatch" }, "nothing sampled: revealed at once");
    });

    it("reveals the batch all the same in its last BATCH_REVEAL_MARGIN_SECONDS, a split sampled job's audit still open, rather than let every job expire", () => {
      // The batch's revealBy is NOW + 60; an auditor may commit as late as its own auditCommitBy, after that.
      const split = new Map([[1, JobStatus.Committed], [6, JobStatus.Committed]]);
      const splitStatus = new Map([[1, JobStatus.Revealed], [6, JobStatus.Committed]]);
      const at = (timestamp: bigint) => decideBatchStep(committed({ sampled: [1, 6], split, splitStatus, head: { number: HEAD, timestamp } }));
      const lastCall = NOW + 60n - BATCH_REVEAL_MARGIN_SECONDS;
      assert.deepEqual(at(lastCall - 1n), { kind: "wait", time: lastCall, reason: "sampled job(s) at 6 not revealed in the JobMarket yet" }, "the next look is at the last call, not after it");
      assert.deepEqual(at(lastCall), { kind: "revealBatch", unrevealedSampled: [6] });
      assert.deepEqual(at(NOW + 60n), { kind: "revealBatch", unrevealedSampled: [6] }, "at revealBy itself the reveal is still taken");
    });

    it("gives up a reveal the seed no longer reaches or the deadline passed, and reports outputs it cannot reveal", () => {
      // At the last reveal block itself a reveal would land a block past it; the block before is the last to send in.
      for (const number of [HEAD + 253n, HEAD + 254n]) {
        const far = decideBatchStep(committed({ head: { number, timestamp: NOW } }));
        assert.deepEqual(far, { kind: "revealTooLate", reason: "SeedOutOfReach", details: { seed_block: HEAD - 3n, last_reveal_block: HEAD + 253n } });
      }
      assert.notEqual(decideBatchStep(committed({ head: { number: HEAD + 252n, timestamp: NOW } })).kind, "revealTooLate");
      const late = decideBatchStep(committed({ head: { number: HEAD, timestamp: NOW + 61n } }));
      assert.equal((late as { reason: string }).reason, "DeadlinePassed");
      assert.deepEqual(decideBatchStep(committed({ data: {} })), { kind: "outputLost" });
    });

    it("finalizes after the challenge window, and ends when finalized or expired", () => {
      const revealed = (timestamp: bigint) =>
        decideBatchStep(snap({ local: "active", head: { number: HEAD, timestamp }, batch: batch({ status: BatchStatus.Revealed, provider: ME, deadline: Number(NOW) }) }));
      assert.deepEqual(revealed(NOW), { kind: "wait", time: NOW + 1n, reason: "inside the challenge window" });
      assert.deepEqual(revealed(NOW + 1n), { kind: "finalizeBatch" });
      assert.deepEqual(decideBatchStep(snap({ local: "active", batch: batch({ status: BatchStatus.Finalized, provider: ME }) })), { kind: "end", outcome: "finalized" });
      assert.deepEqual(decideBatchStep(snap({ local: "active", batch: batch({ status: BatchStatus.Expired, provider: ME }) })), { kind: "end", outcome: "expired" });
    });

    it("runs and commits a batch claimed without a commit", () => {
      assert.deepEqual(decideBatchStep(snap({ local: "active", batch: batch({ status: BatchStatus.Claimed, provider: ME }) })), { kind: "runAndCommit" });
    });

    it("expires an abandoned batch once the market allows it: past its deadline, or at once when its seed is out of reach", () => {
      const abandoned = committed({ data: { outputs: true, abandoned: "run failed" } });
      assert.deepEqual(decideBatchStep(abandoned), { kind: "wait", time: NOW + 61n, reason: "an abandoned batch expires after its deadline" });
      assert.deepEqual(decideBatchStep({ ...abandoned, head: { number: HEAD + 254n, timestamp: NOW } }), { kind: "expire", duty: "abandoned" });
      assert.deepEqual(decideBatchStep({ ...abandoned, head: { number: HEAD, timestamp: NOW + 61n } }), { kind: "expire", duty: "abandoned" });
    });
  });

  describe("keeper duty", () => {
    it("expires a skipped batch still posted after its claim deadline and our grace, and passes one someone took", () => {
      const at = keeperTime({ me: ME, jobId: 3n + (1n << 128n), claimBy: NOW + 100n, graceSeconds: 30 });
      assert.ok(at > NOW + 130n);
      const skipped = (timestamp: bigint, b = batch()) => decideBatchStep(snap({ local: "skipped", head: { number: HEAD, timestamp }, batch: b }));
      assert.deepEqual(skipped(at - 1n), { kind: "wait", time: at, reason: "keeper: the claim deadline is ahead" });
      assert.deepEqual(skipped(at), { kind: "expire", duty: "keeper" });
      assert.deepEqual(skipped(at, batch({ status: BatchStatus.Committed, provider: OTHER })), { kind: "pass" });
    });
  });
});
