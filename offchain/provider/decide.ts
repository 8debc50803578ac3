/**
 * The provider worker's decisions, as one pure function of what the chain shows and what the worker
 * journaled (docs/PROTOCOL.md, sections 3 and 4): which step a job calls for next (take it, run and
 * commit, reveal, finalize, expire, skip it, end it) or when to look at it again. The worker
 * (worker.ts) reads the chain, calls `decideProviderStep`, and carries out the one step it returns;
 * what a step needs beyond this (free stake, the input, the run) is the worker's to find out.
 * Like the verifier's `decideStep` (offchain/verifier/decide.ts).
 */
import type { Address, Hex } from "viem";

import { BatchStatus, type Batch } from "../chain/batches.js";
import { formatTokens } from "../chain/format.js";
import { JobStatus, type Job } from "../chain/jobs.js";
import { keeperJitter } from "../daemon/keeper.js";
import { DinferError } from "../errors.js";

/** How the worker follows a job: posted and not decided yet, ours and not ended, or skipped and kept for the keeper duty. */
export type LocalJobStatus = "candidate" | "active" | "skipped";

export type ProviderJobSnapshot = {
  jobId: bigint;
  local: LocalJobStatus;
  /** The job as the chain shows it at the head; left out when not read yet (a skipped job before its keeper time). */
  job?: Job;
  /** The worker's account. */
  me: Address;
  /** The served model's lowest fee; left out when the worker does not serve the job's model. */
  minFee?: bigint;
  /**
   * The most gas a job's consumer callback may ask for (option `maxCallbackGas`): the finalize we send pays for
   * that gas, out of a fee in tokens the market does not scale by it. Left out: any the market allows.
   */
  maxCallbackGas?: number;
  /** The chain head the step is decided at. */
  head: { number: bigint; timestamp: bigint };
  /** A committed job's reveal window, from its terms (`revealWindowBlocks`); needed only while it is committed. */
  revealWindow?: { seedBlock: bigint; lastRevealBlock: bigint };
  /** What the worker journaled about the job. */
  data: {
    /** The claim deadline, from JobPosted (absent in older journals). */
    claimBy?: bigint;
    /** Why our job was given up (a run that can never succeed, a reveal too late): it only expires. */
    abandoned?: string;
    outputRoot?: Hex;
  };
  /** The worker's outputs are never served (a withholding runner, offchain/provider/fault.ts). */
  withholdsOutputs?: boolean;
  /**
   * Run first: when a job taken now would be run and its claimAndCommit sent, by the worker's measured run
   * time of the model and the runs ahead of it (`estimateFinish`); left out before the model's first run.
   */
  finishAt?: { at: bigint; why: string };
  /**
   * Claim first (option `claimMode`): the commit deadline a claim at the head would set (the head's time plus the
   * terms' commitTimeout); left out when the job would be run before its claim.
   */
  claimCommitBy?: bigint;
  /** The keeper's grace after a claim deadline (plus a delay of our own per job, `keeperJitter`). */
  keeperGraceSeconds: number;
};

export type ProviderStep =
  /** The job's state on chain is needed first (a skipped job whose keeper time came). */
  | { kind: "read" }
  /** Nothing to do before this block or this chain time. */
  | { kind: "wait"; block?: bigint; time?: bigint; reason: string }
  /** Not for us (its model, fee, deadline): never claimed; kept for the keeper duty. */
  | { kind: "skip"; reason: string }
  /** A posted job we take, if our free stake backs it and its input is good (run-first or claim-first). */
  | { kind: "take" }
  /** Our claimed job (claim-first): run the model, then commit. */
  | { kind: "runAndCommit" }
  | { kind: "reveal" }
  /** Our committed result can no longer be revealed: the job is given up, and expires. */
  | { kind: "revealTooLate"; reason: "SeedOutOfReach" | "DeadlinePassed"; details: Record<string, bigint | number> }
  /** After the challenge window; `withOutput`: a callback job revealed inline passes its output along. */
  | { kind: "finalize"; withOutput: boolean }
  /** `abandoned`: our own job we gave up; `keeper`: a posted job nobody claimed by its deadline. */
  | { kind: "expire"; duty: "abandoned" | "keeper" }
  /** The job is over for us. */
  | { kind: "end"; outcome: "lost_race" | "finalized" | "expired" | "slashed"; reason?: string }
  /** A skipped job someone claimed (or that ended): nothing for the keeper, forgotten. */
  | { kind: "pass"; claimBy: bigint }
  /** Committed with no output journaled: it cannot be revealed (a lost data dir). */
  | { kind: "outputLost" };

/** A disputed job is looked at again this often: the dispute settles it, we keep serving the output meanwhile. */
export const DISPUTE_RECHECK_SECONDS = 5n;

/** When a keeper expires a job nobody claimed by `claimBy`: past it, plus the grace and our own delay for this job. */
export function keeperTime({ me, jobId, claimBy, graceSeconds }: { me: Address; jobId: bigint; claimBy: bigint; graceSeconds: number }): bigint {
  return claimBy + 1n + BigInt(graceSeconds) + keeperJitter({ me, key: jobId, graceSeconds });
}

/** The one step a job calls for now, or when to look again. */
export function decideProviderStep(s: ProviderJobSnapshot): ProviderStep {
  return s.local === "skipped" ? keeperStep(s) : ownStep(s);
}

/** A job we follow to take it or serve it (a candidate, or ours). */
function ownStep(s: ProviderJobSnapshot): ProviderStep {
  const { job, head } = s;
  if (job === undefined) return { kind: "read" };
  const now = head.timestamp;
  const deadline = BigInt(job.deadline);
  if (job.status === JobStatus.Posted) return claimStep(s, job);
  if (job.provider.toLowerCase() !== s.me.toLowerCase()) return { kind: "end", outcome: "lost_race", reason: "another provider claimed the job" };
  if (s.data.abandoned && (job.status === JobStatus.Claimed || job.status === JobStatus.Committed)) {
    // Expired as soon as the market allows it: its deadline passed, or, committed, its seed went out of reach.
    const unrevealable = job.status === JobStatus.Committed && !inReach(head.number, window(s).lastRevealBlock);
    if (!unrevealable && now <= deadline) return { kind: "wait", time: deadline + 1n, reason: "an abandoned job expires after its deadline" };
    return { kind: "expire", duty: "abandoned" };
  }
  switch (job.status) {
    case JobStatus.Claimed:
      // Claimed first and not committed by its commit deadline (a backlog, a run that took too long): no commit can
      // land any more, so it is not run; expired now, the poster is refunded and the rest of our stake freed.
      if (now > deadline) return { kind: "expire", duty: "abandoned" };
      return { kind: "runAndCommit" };
    case JobStatus.Committed:
      return revealStep(s, job);
    case JobStatus.Revealed:
      if (now <= deadline) return { kind: "wait", time: deadline + 1n, reason: "inside the challenge window" };
      return { kind: "finalize", withOutput: job.callbackGasLimit !== 0 && job.inlineOutput };
    case JobStatus.Disputed:
      return { kind: "wait", time: now + DISPUTE_RECHECK_SECONDS, reason: "disputed: the dispute settles it" };
    case JobStatus.Finalized:
      return { kind: "end", outcome: "finalized" };
    case JobStatus.Expired:
      return { kind: "end", outcome: "expired" };
    case JobStatus.Slashed:
      return { kind: "end", outcome: "slashed" };
  }
  return { kind: "wait", time: now + DISPUTE_RECHECK_SECONDS, reason: `unknown job status ${String(job.status)}` };
}

/** A posted job: taken only if we serve its model at its fee, its claim deadline is ahead, and we can serve its output. */
function claimStep(s: ProviderJobSnapshot, job: Job): ProviderStep {
  if (s.minFee === undefined) return { kind: "skip", reason: "model not served" };
  if (job.fee < s.minFee) {
    return { kind: "skip", reason: `fee ${formatTokens(job.fee)} below our price ${formatTokens(s.minFee)} (${job.fee} < ${s.minFee} wei)` };
  }
  if (s.head.timestamp > BigInt(job.deadline)) return { kind: "skip", reason: "claim deadline passed" };
  if (s.maxCallbackGas !== undefined && job.callbackGasLimit > s.maxCallbackGas) {
    return { kind: "skip", reason: `its callback asks for ${job.callbackGasLimit} gas, over our maxCallbackGas ${s.maxCallbackGas}: our finalize would pay for it` };
  }
  // Run first, a job we could only run after its claim deadline is left to faster providers: never fetched, never run.
  // (Claimed first, the claim goes out before the run, and the commit deadline it sets is what the run must meet.)
  if (s.finishAt !== undefined && s.claimCommitBy === undefined && s.finishAt.at > BigInt(job.deadline)) {
    return { kind: "skip", reason: `we would finish it at ${s.finishAt.at}, after its claim deadline ${job.deadline} (${s.finishAt.why})` };
  }
  // Claimed first, its commit is due by the commit deadline the claim sets: one we would run later is never claimed
  // (its expiry would cost the collateral's penalty).
  if (s.finishAt !== undefined && s.claimCommitBy !== undefined && s.finishAt.at > s.claimCommitBy) {
    return { kind: "skip", reason: `we would finish it at ${s.finishAt.at}, after the commit deadline ${s.claimCommitBy} a claim now would set (${s.finishAt.why})` };
  }
  if (job.inlineOutput && s.withholdsOutputs) {
    return { kind: "skip", reason: "fault withhold: the job requires an inline output, which cannot be withheld" };
  }
  return { kind: "take" };
}

/** Our committed job: revealed once the seed block is mined, while the seed is in reach and before the reveal deadline. */
function revealStep(s: ProviderJobSnapshot, job: Job): ProviderStep {
  const { seedBlock, lastRevealBlock } = window(s);
  if (s.head.number <= seedBlock) return { kind: "wait", block: seedBlock + 1n, reason: "the seed block is not mined yet" };
  if (!inReach(s.head.number, lastRevealBlock)) {
    return { kind: "revealTooLate", reason: "SeedOutOfReach", details: { seed_block: seedBlock, last_reveal_block: lastRevealBlock } };
  }
  if (s.head.timestamp > BigInt(job.deadline)) return { kind: "revealTooLate", reason: "DeadlinePassed", details: { reveal_by: job.deadline } };
  if (!s.data.outputRoot) return { kind: "outputLost" };
  return { kind: "reveal" };
}

/**
 * Keeper duty for a job we did not take: once its claim deadline (and our grace) passed, expire it if
 * it is still posted (the poster is refunded); if someone claimed it, or it ended, forget it.
 */
function keeperStep(s: ProviderJobSnapshot): ProviderStep {
  const now = s.head.timestamp;
  const at = (claimBy: bigint) => keeperTime({ me: s.me, jobId: s.jobId, claimBy, graceSeconds: s.keeperGraceSeconds });
  if (s.data.claimBy !== undefined && now < at(s.data.claimBy)) return { kind: "wait", time: at(s.data.claimBy), reason: "keeper: the claim deadline is ahead" };
  const { job } = s;
  if (job === undefined) return { kind: "read" };
  if (job.status !== JobStatus.Posted) return { kind: "pass", claimBy: BigInt(job.deadline) };
  if (now < at(BigInt(job.deadline))) return { kind: "wait", time: at(BigInt(job.deadline)), reason: "keeper: the claim deadline is ahead" };
  return { kind: "expire", duty: "keeper" };
}

/**
 * Whether a reveal sent now can still use the seed: it lands in the block after the head at the earliest, and the
 * market refuses it in any block past `lastRevealBlock`. At `head == lastRevealBlock` it is already too late, though
 * a node that simulates a call in the head's own block (geth's `eth_call` on "latest") would let it through to be
 * mined reverted, its gas lost. The verifier's rule for an audit reveal is the same (`head + 1 > seedBlock + reach`).
 */
function inReach(head: bigint, lastRevealBlock: bigint): boolean {
  return head + 1n <= lastRevealBlock;
}

function window(s: ProviderJobSnapshot): { seedBlock: bigint; lastRevealBlock: bigint } {
  if (s.revealWindow === undefined) throw new DinferError("a committed job's step needs its reveal window", { code: "NO_REVEAL_WINDOW", details: { jobId: s.jobId.toString() } });
  return s.revealWindow;
}

// ------------------------------------------------------------------ batches

/*
 * Batches (IBatchMarket; docs/PROTOCOL.md "Batches"), as one pure
 * function of what the chain shows and what the worker journaled, like `decideProviderStep` for single jobs: which step a batch calls for next, or when to look at it again.
 *
 * A served batch goes: run every job first, then `claimAndCommitBatch` (run-first: the batch is locked only
 * once its results exist, its collateral budgeted for the whole batch) -> after the seed block, split out
 * each sampled job (`splitSampled`), which the single-job path then reveals with `JobMarket.reveal` once its
 * auditor committed blind -> `revealBatch` once every split sampled job is revealed there (the batch's reveal
 * publishes every output root and the batch salt: before the auditors' blind commitments it would hand them
 * the answers) -> `finalizeBatch` after the challenge window.
 */

export type ProviderBatchSnapshot = {
  batchId: bigint;
  local: LocalJobStatus;
  /** The batch as the chain shows it at the head; left out when not read yet. */
  batch?: Batch;
  me: Address;
  /** The served model's lowest fee per job; left out when the worker does not serve the batch's model. */
  minFee?: bigint;
  /** The largest batch the worker takes (option `maxBatch`): it runs a whole batch before committing. */
  maxBatch: number;
  head: { number: bigint; timestamp: bigint };
  /** A committed batch's reveal window (its seed block and the last block a reveal can use that seed). */
  revealWindow?: { seedBlock: bigint; lastRevealBlock: bigint };
  /** A committed batch past its seed block: the indices the draw samples (`BatchMarket.sampledBitmap`). */
  sampled?: readonly number[];
  /** Job index -> the JobMarket status it was split out as (BatchRecord.split). */
  split: ReadonlyMap<number, number>;
  /** The JobMarket status now of each job split out of the batch, by index (read for a committed batch). */
  splitStatus?: ReadonlyMap<number, number>;
  data: {
    /** Every job's output journaled (ids and roots), so the batch can be committed and revealed. */
    outputs?: boolean;
    /** Why the batch was given up: it only expires. */
    abandoned?: string;
  };
  keeperGraceSeconds: number;
};

export type ProviderBatchStep =
  | { kind: "read" }
  | { kind: "wait"; block?: bigint; time?: bigint; reason: string }
  | { kind: "skip"; reason: string }
  /** Run every job of a posted batch, then claim and commit it in one transaction (if the free stake backs it). */
  | { kind: "take" }
  /** Claimed by us without a commit (claimBatch elsewhere, a crash between): run and commit. */
  | { kind: "runAndCommit" }
  /** Split these sampled jobs out (each with its commitment proof); the single-job path reveals them. */
  | { kind: "splitSampled"; indices: number[] }
  /** `unrevealedSampled`: split sampled jobs not yet revealed in the JobMarket, revealed with the batch all the same (its deadline is near). */
  | { kind: "revealBatch"; unrevealedSampled?: number[] }
  | { kind: "revealTooLate"; reason: "SeedOutOfReach" | "DeadlinePassed"; details: Record<string, bigint | number> }
  | { kind: "finalizeBatch" }
  | { kind: "expire"; duty: "abandoned" | "keeper" }
  | { kind: "end"; outcome: "lost_race" | "finalized" | "expired"; reason?: string }
  | { kind: "pass" }
  /** Committed with outputs not journaled: it cannot be revealed (a lost data dir). */
  | { kind: "outputLost" };

/** A split job waiting for its reveal in the JobMarket is looked at again this often. */
export const SPLIT_RECHECK_SECONDS = 2n;
/**
 * How long before a batch's revealBy it is revealed even with split sampled jobs still unrevealed (`committedBatchStep`):
 * more than the 30 s after which the sender replaces a transaction the chain's fees outgrew.
 */
export const BATCH_REVEAL_MARGIN_SECONDS = 45n;

/** The one step a batch calls for now, or when to look again. */
export function decideBatchStep(s: ProviderBatchSnapshot): ProviderBatchStep {
  return s.local === "skipped" ? batchKeeperStep(s) : ownBatchStep(s);
}

function ownBatchStep(s: ProviderBatchSnapshot): ProviderBatchStep {
  const { batch: b, head } = s;
  if (b === undefined) return { kind: "read" };
  const now = head.timestamp;
  const deadline = BigInt(b.deadline);
  if (b.status === BatchStatus.Posted) return takeBatchStep(s, b);
  if (b.provider.toLowerCase() !== s.me.toLowerCase()) return { kind: "end", outcome: "lost_race", reason: "another provider claimed the batch" };
  if (b.status === BatchStatus.Finalized) return { kind: "end", outcome: "finalized" };
  if (b.status === BatchStatus.Expired) return { kind: "end", outcome: "expired" };
  if (s.data.abandoned && (b.status === BatchStatus.Claimed || b.status === BatchStatus.Committed)) {
    const unrevealable = b.status === BatchStatus.Committed && !inReach(head.number, batchWindow(s).lastRevealBlock);
    if (!unrevealable && now <= deadline) return { kind: "wait", time: deadline + 1n, reason: "an abandoned batch expires after its deadline" };
    return { kind: "expire", duty: "abandoned" };
  }
  switch (b.status) {
    case BatchStatus.Claimed:
      return { kind: "runAndCommit" };
    case BatchStatus.Committed:
      return committedBatchStep(s, b);
    case BatchStatus.Revealed:
      if (now <= deadline) return { kind: "wait", time: deadline + 1n, reason: "inside the challenge window" };
      return { kind: "finalizeBatch" };
  }
  return { kind: "wait", time: now + SPLIT_RECHECK_SECONDS, reason: `unknown batch status ${String(b.status)}` };
}

/** A posted batch: taken only if we serve its model at its fee, it is not over maxBatch, and it can still be claimed. */
function takeBatchStep(s: ProviderBatchSnapshot, b: Batch): ProviderBatchStep {
  if (s.minFee === undefined) return { kind: "skip", reason: "model not served" };
  if (b.feePerJob < s.minFee) {
    return { kind: "skip", reason: `fee per job ${formatTokens(b.feePerJob)} below our price ${formatTokens(s.minFee)} (${b.feePerJob} < ${s.minFee} wei)` };
  }
  if (b.count > s.maxBatch) return { kind: "skip", reason: `${b.count} jobs, over maxBatch ${s.maxBatch}` };
  if (s.head.timestamp > BigInt(b.deadline)) return { kind: "skip", reason: "claim deadline passed" };
  return { kind: "take" };
}

function committedBatchStep(s: ProviderBatchSnapshot, b: Batch): ProviderBatchStep {
  const { seedBlock, lastRevealBlock } = batchWindow(s);
  if (s.head.number <= seedBlock) return { kind: "wait", block: seedBlock + 1n, reason: "the seed block is not mined yet" };
  if (!inReach(s.head.number, lastRevealBlock)) {
    return { kind: "revealTooLate", reason: "SeedOutOfReach", details: { seed_block: seedBlock, last_reveal_block: lastRevealBlock } };
  }
  if (s.head.timestamp > BigInt(b.deadline)) return { kind: "revealTooLate", reason: "DeadlinePassed", details: { reveal_by: b.deadline } };
  if (!s.data.outputs) return { kind: "outputLost" };
  if (s.sampled === undefined) throw new DinferError("a committed batch past its seed block needs its sampled jobs", { code: "NO_SAMPLED_BITMAP", details: { batchId: s.batchId.toString() } });
  const unsplit = s.sampled.filter((i) => !s.split.has(i));
  if (unsplit.length > 0) return { kind: "splitSampled", indices: unsplit };
  // Every sampled job revealed (or ended) in the JobMarket before the batch's output list (its URLs name each
  // output's root) is published: an auditor still to commit cannot copy it. But not at the price of the batch: the
  // contract takes the reveal with sampled jobs split and unrevealed, and an auditor may commit as late as its
  // auditCommitBy, which can fall after the batch's revealBy. In the last BATCH_REVEAL_MARGIN_SECONDS the batch is
  // revealed all the same (an honest provider's outputs lose nothing to a copy; every unsplit job would lose its
  // collateral's penalty to an expiry).
  const waiting = [...s.split.entries()]
    .filter(([, as]) => as === JobStatus.Committed)
    .map(([index]) => index)
    .filter((index) => (s.splitStatus?.get(index) ?? JobStatus.Committed) < JobStatus.Revealed);
  if (waiting.length === 0) return { kind: "revealBatch" };
  const lastCall = BigInt(b.deadline) - BATCH_REVEAL_MARGIN_SECONDS;
  if (s.head.timestamp >= lastCall) return { kind: "revealBatch", unrevealedSampled: waiting };
  const recheck = s.head.timestamp + SPLIT_RECHECK_SECONDS;
  return { kind: "wait", time: recheck < lastCall ? recheck : lastCall, reason: `sampled job(s) at ${waiting.join(", ")} not revealed in the JobMarket yet` };
}

/** Keeper duty for a batch we did not take: expire it once its claim deadline and our grace passed, if still posted. */
function batchKeeperStep(s: ProviderBatchSnapshot): ProviderBatchStep {
  const { batch: b } = s;
  if (b === undefined) return { kind: "read" };
  if (b.status !== BatchStatus.Posted) return { kind: "pass" };
  // The batch id as the jitter key, offset so a batch and a job of the same number are not expired in step.
  const at = keeperTime({ me: s.me, jobId: s.batchId + (1n << 128n), claimBy: BigInt(b.deadline), graceSeconds: s.keeperGraceSeconds });
  if (s.head.timestamp < at) return { kind: "wait", time: at, reason: "keeper: the claim deadline is ahead" };
  return { kind: "expire", duty: "keeper" };
}

function batchWindow(s: ProviderBatchSnapshot): { seedBlock: bigint; lastRevealBlock: bigint } {
  if (s.revealWindow === undefined) {
    throw new DinferError("a committed batch's step needs its reveal window", { code: "NO_REVEAL_WINDOW", details: { batchId: s.batchId.toString() } });
  }
  return s.revealWindow;
}

/**
 * When a job taken now would be done, in chain seconds: the runs ahead of it share the inference threads,
 * each taking the model's measured time, then ours, then `sendSeconds` for the transaction to be mined.
 * Pure: `decideProviderStep`'s `finishAt`.
 */
export function estimateFinish({
  now,
  runMs,
  ahead,
  threads,
  sendSeconds = 2,
}: {
  now: bigint;
  /** The model's measured run time per job (a moving mean). */
  runMs: number;
  /** Runs queued or running before this one (any model: each at this model's time, a rough bound). */
  ahead: number;
  threads: number;
  sendSeconds?: number;
}): { at: bigint; why: string } {
  const rounds = Math.floor(ahead / Math.max(1, threads)) + 1;
  const seconds = Math.ceil((rounds * runMs) / 1000) + sendSeconds;
  return { at: now + BigInt(seconds), why: `${Math.round(runMs)} ms a run measured, ${ahead} runs ahead on ${threads} threads` };
}
