/**
 * What the explorer knows, folded from the indexed rows (offchain/explorer/db.ts) in chain order: one track
 * per job (its timeline, outcome, audit), per batch, per redundant job, per dispute (bond, committee, votes,
 * outcome, and how the money was split), per provider (jobs, slashes, payouts, profile, stake history) and
 * per model. Pure: the same rows give the same state, whoever folds them.
 *
 * A job is one of: an ordinary job (`JobPosted`), a signed job (`JobPosted` of an id >= 2^255, posted with its
 * commitment), a job of a batch (`BatchPosted` reserves `count` ids; its batch's events move it until it is
 * split out into the JobMarket, `JobSplit` + `JobImported`), or a seat of a redundant job sent to a committee
 * (`JobImported` + `ReplicaDisputed`: a JobMarket job that nobody posted as such). Seats are not counted among
 * the jobs posted; their redundant job is (`replicas`). See docs/PROTOCOL.md, "Jobs", "Batches", "Redundant jobs".
 *
 * The provider's reputation is the project's one rule (offchain/sdk/reputation.ts, `foldReputation`), fed
 * the same events; gas per job is the demo's rule (offchain/devnet/demo-events.ts, `lifecycleTransactions`,
 * `gasShares`): each lifecycle transaction's gas divided over the jobs it served.
 */
import { getAddress, type Address, type Hex } from "viem";

import { formatTokens } from "../chain/format.js";
import { gasShares, lifecycleTransactions, type TxEvent } from "../devnet/demo-events.js";
import { foldReputation, type ProviderReputation } from "../sdk/reputation.js";
import { DisputeReason, nameOf, Vote } from "../verifier/decide.js";
import type { AccountStateRow, BlockRow, EventRow, ExplorerRows, NetworkStateRow, TxRow } from "./db.js";

/** Where something happened: its block, the block's time, the transaction and the log. */
export type At = { block: bigint; timestamp: number; txHash: Hex; logIndex: number };

export const STEP_KEYS = [
  "posted",
  "claimed",
  "committed",
  "split",
  "sampled",
  "audit-committed",
  "revealed",
  "output-announced",
  "audited",
  "auditor-penalized",
  "challenged",
  "disputed",
  "committee",
  "vote-committed",
  "vote-revealed",
  "resolved",
  "finalized",
  "slashed",
  "expired",
  "callback-failed",
] as const;
export type StepKey = (typeof STEP_KEYS)[number];

/** One step of a job's timeline. `label` reads to a person; `actor` is who sent it, when an event names them. */
export type Step = At & { step: StepKey; label: string; actor?: Address };

export type JobKind = "job" | "signed" | "batch" | "seat";
export type JobStatusName = "posted" | "claimed" | "committed" | "revealed" | "disputed" | "finalized" | "expired" | "slashed";

export type AuditTrack = {
  auditor: Address;
  committed?: At;
  revealed?: At;
  outputRoot?: Hex;
  verdict?: "Agree" | "Disagree";
  outputURI?: string;
  recheck?: boolean;
  penalty?: bigint;
};

export type JobTrack = {
  jobId: bigint;
  kind: JobKind;
  batchId?: bigint;
  index?: number;
  replicaJobId?: bigint;
  seat?: number;
  modelId?: number;
  poster?: Address;
  provider?: Address;
  fee?: bigint;
  collateral?: bigint;
  terms?: number;
  inputHash?: Hex;
  inputURI?: string;
  status: JobStatusName;
  /** Whether its seed sampled it for an audit: known at the reveal (or the split, or the expiry). */
  sampled?: boolean;
  resultRoot?: Hex;
  /** Every location its output was announced at (the reveal's URI first). */
  outputURIs: string[];
  inlineOutput?: Hex;
  posted?: At;
  committed?: At;
  revealed?: At;
  ended?: At;
  payout?: bigint;
  /** Taken from the provider's stake for this job (a fault, or a withheld sampled reveal). */
  slashed?: bigint;
  refund?: bigint;
  penalty?: bigint;
  audit?: AuditTrack;
  steps: Step[];
};

export type BatchTrack = {
  batchId: bigint;
  firstJobId: bigint;
  count: number;
  modelId: number;
  poster: Address;
  feePerJob: bigint;
  provider?: Address;
  posted: At;
  /** Indexes split out into the JobMarket, with the JobMarket status they were split at (3 sampled, 4 revealed). */
  split: Map<number, number>;
  status: "posted" | "claimed" | "committed" | "revealed" | "finalized" | "expired";
};

export type SeatTrack = { provider: Address; committed: At; revealed?: At; paid?: bigint; withheld?: bigint; jobId?: bigint };

export type ReplicaTrack = {
  replicaJobId: bigint;
  modelId: number;
  poster: Address;
  replicas: number;
  feePerReplica: bigint;
  posted: At;
  seats: Map<number, SeatTrack>;
  status?: "agreed" | "disputed" | "expired";
  settled?: At;
};

/** One movement of money in a dispute's settlement transaction. */
export type SplitEntry = { account?: Address; role: string; what: string; amount: bigint };

export type VoteTrack = { voter: Address; seats: number; committed?: At; revealed?: At; vote?: string; paid?: bigint; penalty?: bigint };

export type DisputeTrack = {
  jobId: bigint;
  /** Zero address for a dispute the protocol opened (an audit's Disagree, a missed or unrevealed audit, a recheck). */
  challenger: Address;
  bond: bigint;
  reason: string;
  opened: At;
  committee: Address[];
  voteCommitBy?: bigint;
  voteRevealBy?: bigint;
  votes: Map<string, VoteTrack>;
  resolved?: At & { providerFaulted: boolean; slashed: bigint; outcome: string; votesCorrect: number; votesWrong: number; votesAuditorWrong: number };
  split: SplitEntry[];
};

/** `slash`: a fault (a dispute lost, a withheld sampled result or redundant seat); `penalty`: an expiry penalty, an auditor's or voter's penalty. */
export type SlashTrack = At & { amount: bigint; requested: bigint; recipient: Address; jobId?: bigint; why: string; kind: "slash" | "penalty" };

export type ProfileTrack = { region?: string; executionProviders: string[]; capacity: number; models: number[]; recordURI?: string; updated: At };

export type AccountTrack = {
  address: Address;
  roles: number;
  firstSeen: At;
  slashes: SlashTrack[];
  payouts: (At & { amount: bigint })[];
  profile?: ProfileTrack;
  /** Staking's `account()` read after each event that named it, oldest first. */
  stakeHistory: AccountStateRow[];
  seats: number;
};

export type ModelTrack = {
  modelId: number;
  owner: Address;
  modelHash: Hex;
  uri: string;
  runtime: string;
  tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint };
  /** The collateral in force at the last `ModelUpdated` (or registration); `collateralAt` says what it is at a time. */
  minCollateral: bigint;
  /** A decrease under notice (`CollateralLowering`): posts copy `collateral` from `effectiveAt` (seconds) on. */
  pendingCollateral?: { collateral: bigint; effectiveAt: number };
  priceFloor: bigint;
  nonFiniteInputs: boolean;
  active: boolean;
  registered: At;
};

export type ExplorerState = {
  /** The newest indexed block with events, and its time: "now" for every window. */
  latest?: { block: bigint; timestamp: number };
  blocks: Map<bigint, BlockRow>;
  txs: Map<Hex, TxRow>;
  events: EventRow[];
  jobs: Map<bigint, JobTrack>;
  batches: Map<bigint, BatchTrack>;
  replicas: Map<bigint, ReplicaTrack>;
  disputes: Map<bigint, DisputeTrack>;
  accounts: Map<string, AccountTrack>;
  models: Map<number, ModelTrack>;
  reputation: Map<string, ProviderReputation>;
  /** Each job's share of the gas of the lifecycle transactions that served it, and which jobs each such transaction served. */
  gas: { shares: Map<bigint, number>; served: Map<Hex, Set<bigint>> };
  network?: NetworkStateRow;
};

export const ROLE_PROVIDER = 1;
export const ROLE_VERIFIER = 2;
/** Ids of signed jobs: `uint256(digest) | 1 << 255`. */
const SIGNED_ID_BIT = 1n << 255n;
/** `JobSplit`'s status of a sampled job split out before the batch's reveal. */
const SPLIT_SAMPLED = 3;
/** IJobMarket.JobStatus.Posted: a `JobExpired.from` of a job nobody claimed. */
const FROM_POSTED = 1;
/** IJobMarket.JobStatus.Committed: a `JobExpired.from` that means the reveal was withheld. */
const FROM_COMMITTED = 3;
/** IReplicaMarket.ReplicaStatus. */
const REPLICA_STATUS: Record<number, ReplicaTrack["status"]> = { 2: "agreed", 3: "disputed", 4: "expired" };

const lower = (a: unknown) => String(a).toLowerCase();
const big = (v: unknown) => BigInt(v as bigint);

/** Folds every indexed row into the explorer's state. */
export function foldExplorer(rows: ExplorerRows): ExplorerState {
  const blocks = new Map(rows.blocks.map((b) => [b.number, b]));
  const txs = new Map(rows.txs.map((t) => [t.hash, t]));
  const last = rows.blocks.at(-1);
  const state: ExplorerState = {
    latest: last && { block: last.number, timestamp: last.timestamp },
    blocks,
    txs,
    events: rows.events,
    jobs: new Map(),
    batches: new Map(),
    replicas: new Map(),
    disputes: new Map(),
    accounts: new Map(),
    models: new Map(),
    reputation: new Map(),
    gas: { shares: new Map(), served: new Map() },
    network: rows.network.at(-1),
  };
  const byTx = new Map<Hex, EventRow[]>();
  for (const e of rows.events) {
    const list = byTx.get(e.txHash);
    if (list) list.push(e);
    else byTx.set(e.txHash, [e]);
  }
  const at = (e: EventRow): At => ({ block: e.blockNumber, timestamp: blocks.get(e.blockNumber)?.timestamp ?? 0, txHash: e.txHash, logIndex: e.logIndex });

  for (const e of rows.events) foldEvent(state, e, at(e), byTx);
  for (const row of rows.accounts) accountOf(state, row.address, undefined)?.stakeHistory.push(row);

  state.reputation = foldReputation(rows.events.map((e) => ({ eventName: e.name, args: e.args, blockNumber: e.blockNumber, logIndex: e.logIndex })));
  const lifecycle = lifecycleEvents(rows.events);
  const counted = new Set([...state.jobs.values()].filter((j) => j.kind !== "seat").map((j) => j.jobId));
  const served = lifecycleTransactions({ events: lifecycle, jobs: counted, dapp: "0x0000000000000000000000000000000000000000" });
  const gasUsed = new Map([...txs.values()].map((t) => [t.hash, t.gasUsed]));
  for (const tx of served.keys()) if (!gasUsed.has(tx)) served.delete(tx); // a receipt not indexed (cannot happen after a whole range)
  state.gas = { shares: gasShares(served, gasUsed), served };
  return state;
}

/** The events `lifecycleTransactions` reads, in its shape. */
function lifecycleEvents(events: readonly EventRow[]): TxEvent[] {
  const out: TxEvent[] = [];
  for (const e of events) {
    if (e.contract === "market" || e.contract === "batchMarket" || e.contract === "verification" || e.contract === "staking" || e.contract === "replicaMarket") {
      out.push({ contract: e.contract, name: e.name, args: e.args, tx: e.txHash });
    }
  }
  return out;
}

function accountOf(state: ExplorerState, address: Address, seen: At | undefined): AccountTrack | undefined {
  const key = lower(address);
  let track = state.accounts.get(key);
  if (!track) {
    if (seen === undefined) return undefined;
    track = { address: getAddress(address), roles: 0, firstSeen: seen, slashes: [], payouts: [], stakeHistory: [], seats: 0 };
    state.accounts.set(key, track);
  }
  return track;
}

function newJob(jobId: bigint, kind: JobKind): JobTrack {
  return { jobId, kind, status: "posted", outputURIs: [], steps: [] };
}

function jobOf(state: ExplorerState, jobId: bigint): JobTrack {
  let job = state.jobs.get(jobId);
  if (!job) state.jobs.set(jobId, (job = newJob(jobId, jobId >= SIGNED_ID_BIT ? "signed" : "job")));
  return job;
}

function step(job: JobTrack, key: StepKey, where: At, label: string, actor?: unknown): void {
  job.steps.push({ ...where, step: key, label, ...(typeof actor === "string" ? { actor: getAddress(actor) } : {}) });
}

/** Marks a job sampled (once), with a step at the first evidence of it. */
function markSampled(job: JobTrack, where: At, evidence: string): void {
  if (job.steps.some((s) => s.step === "sampled")) return;
  job.sampled = true;
  step(job, "sampled", where, `sampled for an audit (${evidence})`);
}

function foldEvent(state: ExplorerState, e: EventRow, where: At, byTx: ReadonlyMap<Hex, EventRow[]>): void {
  const { args } = e;
  switch (e.contract) {
    case "market":
      return foldMarket(state, e, where);
    case "batchMarket":
      return foldBatch(state, e, where);
    case "verification":
      return foldVerification(state, e, where, byTx);
    case "replicaMarket":
      return foldReplica(state, e, where);
    case "staking":
      return foldStaking(state, e, where, byTx);
    case "registry":
      return foldRegistry(state, e, where);
    case "profiles": {
      const account = accountOf(state, args.provider as Address, where)!;
      if (e.name === "ProfileCleared") account.profile = undefined;
      if (e.name === "ProfileSet") {
        const bits = Number(args.executionProviders);
        account.profile = {
          region: decodeRegionName(args.region as Hex),
          executionProviders: [bits & 1 ? "cpu" : "", bits & 2 ? "gpu" : ""].filter(Boolean),
          capacity: Number(args.capacity),
          models: (args.models as unknown[]).map(Number),
          recordURI: (args.recordURI as string) || undefined,
          updated: where,
        };
      }
      return;
    }
  }
}

/** A `bytes8` region as its text (the bytes before the zero padding); undefined for none. */
function decodeRegionName(region: Hex): string | undefined {
  const bytes = Buffer.from(region.slice(2), "hex");
  const end = bytes.indexOf(0);
  const name = bytes.subarray(0, end === -1 ? bytes.length : end).toString("latin1");
  return name === "" ? undefined : name;
}

function foldMarket(state: ExplorerState, e: EventRow, where: At): void {
  const { args, name } = e;
  if (args.jobId === undefined) return;
  const jobId = big(args.jobId);
  const job = jobOf(state, jobId);
  switch (name) {
    case "JobPosted":
      Object.assign(job, {
        modelId: Number(args.modelId),
        poster: getAddress(args.poster as string),
        fee: big(args.fee),
        collateral: big(args.collateral),
        terms: Number(args.terms),
        inputHash: args.inputHash as Hex,
        inputURI: (args.inputURI as string) || undefined,
        posted: where,
        status: "posted",
      });
      step(job, "posted", where, `posted by ${short(args.poster)} for model ${args.modelId}, fee escrowed`, args.poster);
      return;
    case "JobImported": {
      const imported = args.job as { poster: string; modelId: unknown; terms: unknown; fee: unknown; collateral: unknown; status: unknown; provider: string; result: Hex };
      if (job.kind === "batch") {
        job.provider = getAddress(imported.provider);
        if (Number(imported.status) === 4) job.resultRoot = imported.result;
        job.status = Number(imported.status) === 4 ? "revealed" : "committed";
        return;
      }
      // A redundant job's seat sent to a committee: a JobMarket job from here on.
      Object.assign(job, {
        kind: "seat",
        modelId: Number(imported.modelId),
        poster: getAddress(imported.poster),
        fee: big(imported.fee),
        collateral: big(imported.collateral),
        terms: Number(imported.terms),
        provider: getAddress(imported.provider),
        resultRoot: imported.result,
        posted: job.posted ?? where,
        revealed: where,
        status: "revealed",
      });
      step(job, "posted", where, "a redundant job's seat, sent to a committee (imported into the JobMarket)");
      return;
    }
    case "JobClaimed":
      job.provider = getAddress(args.provider as string);
      job.status = "claimed";
      step(job, "claimed", where, `claimed by ${short(args.provider)}, collateral locked`, args.provider);
      return;
    case "ResultCommitted":
      job.provider = getAddress(args.provider as string);
      job.status = "committed";
      job.committed = where;
      step(job, "committed", where, `result committed by ${short(args.provider)} (blind)`, args.provider);
      return;
    case "ResultRevealed": {
      const sampled = args.sampled === true;
      if (sampled) markSampled(job, where, "the seed drew it");
      job.sampled = sampled;
      job.resultRoot = args.outputRoot as Hex;
      if (args.outputURI) job.outputURIs.unshift(args.outputURI as string);
      if (args.inlineOutput && args.inlineOutput !== "0x") job.inlineOutput = args.inlineOutput as Hex;
      job.revealed = where;
      job.status = "revealed";
      step(job, "revealed", where, `result revealed (${sampled ? "sampled" : "not sampled"}), challenge window open`, args.provider);
      return;
    }
    case "OutputAnnounced":
      if (args.outputURI && !job.outputURIs.includes(args.outputURI as string)) job.outputURIs.push(args.outputURI as string);
      step(job, "output-announced", where, `output also at ${args.outputURI}`, args.provider);
      return;
    case "JobDisputed":
      job.status = "disputed";
      return;
    case "DisputeSettled":
      if (args.providerFaulted === true) {
        job.status = "slashed";
        job.slashed = big(args.slashed);
        job.ended = where;
        step(job, "slashed", where, `provider faulted: ${formatTokens(big(args.slashed))} slashed, the poster refunded`);
      }
      return;
    case "JobFinalized":
      job.status = "finalized";
      job.payout = big(args.payout);
      job.ended = where;
      accountOf(state, args.provider as Address, where)!.payouts.push({ ...where, amount: big(args.payout) });
      step(job, "finalized", where, `finalized: ${formatTokens(big(args.payout))} paid to ${short(args.provider)}`, args.provider);
      return;
    case "JobExpired": {
      const from = Number(args.from);
      const withheld = from === FROM_COMMITTED && args.sampled === true;
      if (withheld) markSampled(job, where, "its seed drew it, or went out of reach");
      job.status = "expired";
      job.refund = big(args.refund);
      job.penalty = big(args.penalty);
      if (withheld) job.slashed = big(args.penalty);
      job.ended = where;
      const what = from === 1 ? "nobody claimed it" : from === 2 ? "claimed, never committed" : withheld ? "sampled result withheld: the whole collateral slashed" : "committed, never revealed";
      step(job, "expired", where, `expired (${what}): ${formatTokens(big(args.refund))} refunded`);
      return;
    }
    case "CallbackFailed":
      step(job, "callback-failed", where, `the consumer's callback failed (recorded, not propagated)`);
      return;
  }
}

function batchJobIds(batch: BatchTrack, { unsplit }: { unsplit: boolean }): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < batch.count; i++) if (!unsplit || !batch.split.has(i)) out.push(batch.firstJobId + BigInt(i));
  return out;
}

function foldBatch(state: ExplorerState, e: EventRow, where: At): void {
  const { args, name } = e;
  if (name === "BatchPosted") {
    const batch: BatchTrack = {
      batchId: big(args.batchId),
      firstJobId: big(args.firstJobId),
      count: Number(args.count),
      modelId: Number(args.modelId),
      poster: getAddress(args.poster as string),
      feePerJob: big(args.feePerJob),
      posted: where,
      split: new Map(),
      status: "posted",
    };
    state.batches.set(batch.batchId, batch);
    const hashes = args.inputHashes as Hex[];
    const uris = args.inputURIs as string[];
    batchJobIds(batch, { unsplit: false }).forEach((jobId, index) => {
      const job = newJob(jobId, "batch");
      Object.assign(job, {
        batchId: batch.batchId,
        index,
        modelId: batch.modelId,
        poster: batch.poster,
        fee: batch.feePerJob,
        collateral: big(args.collateralPerJob),
        terms: Number(args.terms),
        inputHash: hashes[index],
        inputURI: uris[index] || undefined,
        posted: where,
      });
      step(job, "posted", where, `posted in batch ${batch.batchId} (job ${index + 1} of ${batch.count}) by ${short(batch.poster)}`, batch.poster);
      state.jobs.set(jobId, job);
    });
    return;
  }
  if (args.batchId === undefined) return;
  const batch = state.batches.get(big(args.batchId));
  if (!batch) return;
  const each = (f: (job: JobTrack) => void) => {
    for (const jobId of batchJobIds(batch, { unsplit: true })) {
      const job = state.jobs.get(jobId);
      if (job) f(job);
    }
  };
  switch (name) {
    case "BatchClaimed":
      batch.provider = getAddress(args.provider as string);
      batch.status = "claimed";
      each((job) => {
        job.provider = batch.provider;
        job.status = "claimed";
        step(job, "claimed", where, `batch ${batch.batchId} claimed by ${short(args.provider)}`, args.provider);
      });
      return;
    case "BatchCommitted":
      batch.provider = getAddress(args.provider as string);
      batch.status = "committed";
      each((job) => {
        job.provider = batch.provider;
        job.status = "committed";
        job.committed = where;
        step(job, "committed", where, `committed with batch ${batch.batchId} by ${short(args.provider)} (a Merkle root of the results)`, args.provider);
      });
      return;
    case "JobSplit": {
      const index = Number(args.index);
      const status = Number(args.status);
      batch.split.set(index, status);
      const job = state.jobs.get(big(args.jobId));
      if (!job) return;
      if (status === SPLIT_SAMPLED) markSampled(job, where, "split out of its batch for its audit");
      step(job, "split", where, status === SPLIT_SAMPLED ? `split out of batch ${batch.batchId} into the JobMarket for its audit` : `split out of batch ${batch.batchId} to be challenged`);
      return;
    }
    case "BatchRevealed": {
      batch.status = "revealed";
      const roots = args.outputRoots as Hex[];
      each((job) => {
        job.resultRoot = roots[job.index!];
        if (args.outputURI) job.outputURIs.unshift(args.outputURI as string);
        job.sampled ??= false;
        job.revealed = where;
        job.status = "revealed";
        step(job, "revealed", where, `revealed with batch ${batch.batchId} (not sampled), challenge window open`, args.provider);
      });
      return;
    }
    case "BatchFinalized": {
      batch.status = "finalized";
      accountOf(state, args.provider as Address, where)!.payouts.push({ ...where, amount: big(args.payout) });
      const jobs = Number(args.jobs);
      const share = jobs > 0 ? big(args.payout) / BigInt(jobs) : 0n;
      each((job) => {
        job.status = "finalized";
        job.payout = share;
        job.ended = where;
        step(job, "finalized", where, `finalized with batch ${batch.batchId}: ${formatTokens(big(args.payout))} for ${jobs} jobs paid to ${short(args.provider)}`, args.provider);
      });
      return;
    }
    case "BatchExpired":
      batch.status = "expired";
      each((job) => {
        job.status = "expired";
        job.ended = where;
        step(job, "expired", where, `expired with batch ${batch.batchId}: fees refunded`);
      });
      return;
  }
}

function foldReplica(state: ExplorerState, e: EventRow, where: At): void {
  const { args, name } = e;
  if (args.replicaJobId === undefined) return;
  const id = big(args.replicaJobId);
  if (name === "ReplicaJobPosted") {
    state.replicas.set(id, {
      replicaJobId: id,
      modelId: Number(args.modelId),
      poster: getAddress(args.poster as string),
      replicas: Number(args.replicas),
      feePerReplica: big(args.feePerReplica),
      posted: where,
      seats: new Map(),
    });
    return;
  }
  const replica = state.replicas.get(id);
  if (!replica) return;
  const seat = Number(args.seat);
  switch (name) {
    case "ReplicaCommitted": {
      replica.seats.set(seat, { provider: getAddress(args.provider as string), committed: where });
      const account = accountOf(state, args.provider as Address, where)!;
      account.seats++;
      return;
    }
    case "ReplicaRevealed": {
      const s = replica.seats.get(seat);
      if (s) s.revealed = where;
      return;
    }
    case "ReplicaPaid": {
      const s = replica.seats.get(seat);
      if (s) s.paid = big(args.payout);
      accountOf(state, args.provider as Address, where)!.payouts.push({ ...where, amount: big(args.payout) });
      return;
    }
    case "ReplicaWithheld": {
      const s = replica.seats.get(seat);
      if (s) s.withheld = big(args.slashed);
      return;
    }
    case "ReplicaDisputed": {
      const s = replica.seats.get(seat);
      const jobId = big(args.jobId);
      if (s) s.jobId = jobId;
      const job = jobOf(state, jobId);
      Object.assign(job, { kind: "seat", replicaJobId: id, seat });
      return;
    }
    case "ReplicaJobSettled":
      replica.status = REPLICA_STATUS[Number(args.status)];
      replica.settled = where;
      return;
  }
}

function foldVerification(state: ExplorerState, e: EventRow, where: At, byTx: ReadonlyMap<Hex, EventRow[]>): void {
  const { args, name } = e;
  if (args.jobId === undefined) return;
  const jobId = big(args.jobId);
  const job = jobOf(state, jobId);
  const dispute = state.disputes.get(jobId);
  switch (name) {
    case "AuditCommitted":
      markSampled(job, where, `auditor ${short(args.auditor)} drawn`);
      job.audit = { auditor: getAddress(args.auditor as string), committed: where };
      step(job, "audit-committed", where, `auditor ${short(args.auditor)} re-ran it and committed its own result blind`, args.auditor);
      return;
    case "AuditRevealed": {
      const verdict = Number(args.verdict) === 0 ? "Agree" : "Disagree";
      job.audit = {
        ...(job.audit ?? { auditor: getAddress(args.auditor as string) }),
        revealed: where,
        outputRoot: args.outputRoot as Hex,
        verdict,
        outputURI: (args.outputURI as string) || undefined,
        recheck: args.recheck === true,
      };
      markSampled(job, where, "audited");
      step(job, "audited", where, `audited: ${verdict}${args.recheck === true ? " (rechecked by a committee)" : ""}`, args.auditor);
      return;
    }
    case "AuditorPenalized":
      if (job.audit) job.audit.penalty = big(args.penalty);
      step(job, "auditor-penalized", where, `auditor ${short(args.auditor)} penalized ${formatTokens(big(args.penalty))}`, args.auditor);
      return;
    case "ChallengeOpened": {
      const reason = nameOf(DisputeReason, Number(args.reason));
      state.disputes.set(jobId, {
        jobId,
        challenger: getAddress(args.challenger as string),
        bond: big(args.bond),
        reason,
        opened: where,
        committee: [],
        votes: new Map(),
        split: [],
      });
      if (Number(args.reason) === DisputeReason.Challenge) {
        step(job, "challenged", where, `challenged by ${short(args.challenger)} with a bond of ${formatTokens(big(args.bond))}`, args.challenger);
      } else step(job, "disputed", where, `dispute opened: ${reasonText(reason)}`);
      return;
    }
    case "CommitteeDrawn": {
      if (!dispute) return;
      dispute.committee = (args.committee as string[]).map((a) => getAddress(a));
      dispute.voteCommitBy = big(args.voteCommitBy);
      dispute.voteRevealBy = big(args.voteRevealBy);
      for (const member of dispute.committee) {
        const v = dispute.votes.get(lower(member));
        if (v) v.seats++;
        else dispute.votes.set(lower(member), { voter: member, seats: 1 });
      }
      step(job, "committee", where, `committee drawn: ${dispute.committee.length} seats, ${dispute.votes.size} member(s)`);
      return;
    }
    case "VoteCommitted": {
      const v = dispute && voteOf(dispute, args.voter as Address);
      if (v) v.committed = where;
      step(job, "vote-committed", where, `${short(args.voter)} committed a vote (blind)`, args.voter);
      return;
    }
    case "VoteRevealed": {
      const v = dispute && voteOf(dispute, args.voter as Address);
      const vote = nameOf(Vote, Number(args.vote));
      if (v) Object.assign(v, { revealed: where, vote });
      step(job, "vote-revealed", where, `${short(args.voter)} voted ${vote}`, args.voter);
      return;
    }
    case "VoterPaid": {
      const v = dispute && voteOf(dispute, args.voter as Address);
      if (v) v.paid = (v.paid ?? 0n) + big(args.amount);
      return;
    }
    case "VoterPenalized": {
      const v = dispute && voteOf(dispute, args.voter as Address);
      if (v) v.penalty = (v.penalty ?? 0n) + big(args.penalty);
      return;
    }
    case "DisputeResolved": {
      if (!dispute) return;
      const outcome = nameOf(Vote, Number(args.outcome));
      dispute.resolved = {
        ...where,
        providerFaulted: args.providerFaulted === true,
        slashed: big(args.slashed),
        outcome: Number(args.outcome) === 0 ? "no quorum" : outcome,
        votesCorrect: Number(args.votesCorrect),
        votesWrong: Number(args.votesWrong),
        votesAuditorWrong: Number(args.votesAuditorWrong),
      };
      dispute.split = splitOf(byTx.get(e.txHash) ?? [], { job, dispute });
      const verdict = args.providerFaulted === true ? "the provider was wrong" : Number(args.outcome) === 0 ? "no quorum: the provider upheld" : "the provider was upheld";
      step(job, "resolved", where, `dispute resolved: ${verdict} (votes: ${args.votesCorrect} correct, ${args.votesWrong} wrong, ${args.votesAuditorWrong} auditor wrong)`);
      // The market settles inside `resolve` (its events come first): the verdict reads before its consequence.
      const consequence = job.steps.findIndex((x) => x.txHash === e.txHash && (x.step === "slashed" || x.step === "finalized"));
      if (consequence !== -1) job.steps.splice(consequence, 0, job.steps.pop()!);
      return;
    }
  }
}

function voteOf(dispute: DisputeTrack, voter: Address): VoteTrack {
  let v = dispute.votes.get(lower(voter));
  if (!v) dispute.votes.set(lower(voter), (v = { voter: getAddress(voter), seats: 0 }));
  return v;
}

/** How a dispute's settlement moved money: every stake slashed or penalized, every credit and the treasury's share, in its transaction. */
function splitOf(events: readonly EventRow[], { job, dispute }: { job: JobTrack; dispute: DisputeTrack }): SplitEntry[] {
  const roleOf = (account: unknown): string => {
    const a = lower(account);
    const roles: string[] = [];
    if (job.provider && lower(job.provider) === a) roles.push("provider");
    if (job.poster && lower(job.poster) === a) roles.push("poster");
    if (lower(dispute.challenger) === a) roles.push("challenger");
    if (job.audit && lower(job.audit.auditor) === a) roles.push("auditor");
    if (dispute.committee.some((m) => lower(m) === a)) roles.push("voter");
    return roles.join(", ") || "other";
  };
  // Only the events that move money (a slash or penalty taken from a stake, a credit, the treasury's share):
  // VoterPaid, AuditorPenalized, JobFinalized and their kind restate one of those.
  const out: SplitEntry[] = [];
  for (const e of events) {
    const { args } = e;
    const account = typeof args.account === "string" ? getAddress(args.account) : undefined;
    switch (`${e.contract}.${e.name}`) {
      case "staking.Slashed": {
        const role = roleOf(args.account);
        out.push({ account, role, what: role.includes("provider") ? "slashed from stake" : "penalty taken from stake", amount: -big(args.slashed) });
        break;
      }
      case "market.Credited":
      case "verification.Credited":
      case "batchMarket.Credited":
        out.push({ account, role: roleOf(args.account), what: `credited (${e.contract === "market" ? "JobMarket" : e.contract === "verification" ? "Verification" : "BatchMarket"})`, amount: big(args.amount) });
        break;
      case "verification.TreasuryCredited":
        out.push({ role: "treasury", what: "to the treasury", amount: big(args.amount) });
        break;
      case "market.AuditPoolFunded":
        out.push({ role: "audit pool", what: "to the audit pool", amount: big(args.amount) });
        break;
    }
  }
  return out;
}

function foldStaking(state: ExplorerState, e: EventRow, where: At, byTx: ReadonlyMap<Hex, EventRow[]>): void {
  const { args, name } = e;
  if (args.account === undefined) return;
  const account = accountOf(state, args.account as Address, where)!;
  switch (name) {
    case "Staked":
    case "RolesChanged":
      account.roles = Number(args.roles);
      return;
    case "Slashed": {
      const cause = explainSlash(state, e, byTx.get(e.txHash) ?? []);
      account.slashes.push({ ...where, amount: big(args.slashed), requested: big(args.requested), recipient: getAddress(args.recipient as string), ...cause });
      return;
    }
  }
}

type SlashCause = { jobId?: bigint; why: string; kind: "slash" | "penalty" };

/**
 * Why a stake was slashed, from the other events of its transaction. A transaction may settle several
 * things (a dispute that slashes the provider and penalizes voters and the auditor, a multicall of
 * expiries), so a cause counts only when it names the slashed account, or when the job or batch it names
 * was claimed by that account (or by nobody the fold has seen: an index that starts after the claim).
 * Each cause is emitted right after the `Staking.slash` / `penalize` call that made it (JobMarket's
 * `expire` and `settleDispute`, Verification's `_takeFromAuditor` and `_settleVoters`, BatchMarket's
 * `expire`, ReplicaMarket's `_slashWithheld`), so the first matching cause after the `Slashed` log is its
 * own; the nearest one before it is the fallback.
 */
function explainSlash(state: ExplorerState, slashed: EventRow, siblings: readonly EventRow[]): SlashCause {
  const account = lower(slashed.args.account);
  let before: SlashCause | undefined;
  for (const s of siblings) {
    if (s.logIndex === slashed.logIndex) continue;
    const cause = causeOf(state, s, account);
    if (!cause) continue;
    if (s.logIndex > slashed.logIndex) return cause;
    before = cause; // siblings are in log order: the last one before is the nearest
  }
  return before ?? { why: "slashed", kind: "slash" };
}

/** What `event` says about a slash of `account`, or undefined when it is not about that account's stake. */
function causeOf(state: ExplorerState, event: EventRow, account: string): SlashCause | undefined {
  const { args } = event;
  const jobId = args.jobId === undefined ? undefined : big(args.jobId);
  // Whether the job's or batch's claimer is the account; an unknown claimer cannot rule it out.
  const claimedBy = (provider: Address | undefined) => provider === undefined || lower(provider) === account;
  const jobProvider = jobId === undefined ? undefined : state.jobs.get(jobId)?.provider;
  switch (`${event.contract}.${event.name}`) {
    case "market.DisputeSettled":
      if (args.providerFaulted !== true || !claimedBy(jobProvider)) return undefined;
      return { jobId, why: "fault: a dispute found the result wrong", kind: "slash" };
    case "market.JobExpired":
      // An unclaimed job (from Posted) slashes nobody.
      if (Number(args.from) === FROM_POSTED || !claimedBy(jobProvider)) return undefined;
      if (Number(args.from) === FROM_COMMITTED && args.sampled === true) return { jobId, why: "withheld a sampled result", kind: "slash" };
      return { jobId, why: "expiry penalty", kind: "penalty" };
    case "verification.AuditorPenalized":
      return lower(args.auditor) === account ? { jobId, why: "auditor penalty", kind: "penalty" } : undefined;
    case "verification.VoterPenalized":
      return lower(args.voter) === account ? { jobId, why: "voter penalty", kind: "penalty" } : undefined;
    case "replicaMarket.ReplicaWithheld":
      return lower(args.provider) === account ? { why: `withheld a redundant job's seat (${args.replicaJobId})`, kind: "slash" } : undefined;
    case "batchMarket.BatchExpired": {
      if (!claimedBy(state.batches.get(big(args.batchId))?.provider)) return undefined;
      const sampled = big(args.sampled) > 0n;
      return { why: sampled ? `batch ${args.batchId} expired with sampled results withheld` : `batch ${args.batchId} expired: expiry penalty`, kind: sampled ? "slash" : "penalty" };
    }
  }
  return undefined;
}

function foldRegistry(state: ExplorerState, e: EventRow, where: At): void {
  const { args, name } = e;
  const modelId = Number(args.modelId);
  const spec = args.spec as
    | { modelHash: Hex; uri: string; runtime: string; tolerance: { kind: unknown; axis: unknown; absTolE12: unknown; relTolE12: unknown }; minCollateral: unknown; priceFloor: unknown; nonFiniteInputs: boolean }
    | undefined;
  const fromSpec = (s: NonNullable<typeof spec>) => ({
    modelHash: s.modelHash,
    uri: s.uri,
    runtime: s.runtime,
    tolerance: { kind: Number(s.tolerance.kind), axis: Number(s.tolerance.axis), absTolE12: big(s.tolerance.absTolE12), relTolE12: big(s.tolerance.relTolE12) },
    minCollateral: big(s.minCollateral),
    priceFloor: big(s.priceFloor),
    nonFiniteInputs: s.nonFiniteInputs === true,
  });
  const model = state.models.get(modelId);
  switch (name) {
    case "ModelRegistered":
      state.models.set(modelId, { modelId, owner: getAddress(args.owner as string), active: true, registered: where, ...fromSpec(spec!) });
      return;
    case "ModelUpdated":
      if (!model) return;
      Object.assign(model, fromSpec(spec!));
      // The event's collateral is the one in force after the update, a decrease due by then included: that
      // decrease is spent. One still under notice stays (a `CollateralLowering` of the same transaction replaces
      // or cancels it).
      if (model.pendingCollateral && model.pendingCollateral.effectiveAt <= where.timestamp) model.pendingCollateral = undefined;
      return;
    case "CollateralLowering": {
      if (!model) return;
      const effectiveAt = Number(args.effectiveAt);
      // effectiveAt 0: an update kept or raised the collateral and cancelled the decrease.
      model.pendingCollateral = effectiveAt === 0 ? undefined : { collateral: big(args.collateral), effectiveAt };
      return;
    }
    case "ModelActiveSet":
      if (model) model.active = args.active === true;
      return;
    case "ModelOwnershipTransferred":
      if (model) model.owner = getAddress(args.to as string);
      return;
  }
}

/**
 * A model's collateral at `timestamp` (seconds; the views pass the newest indexed block's): the decrease under
 * notice once its time has come (the registry applies it on read, with no event), and what is still pending.
 */
export function collateralAt(model: Pick<ModelTrack, "minCollateral" | "pendingCollateral">, timestamp: number): {
  minCollateral: bigint;
  pending?: { collateral: bigint; effectiveAt: number };
} {
  const pending = model.pendingCollateral;
  if (pending === undefined) return { minCollateral: model.minCollateral };
  if (pending.effectiveAt <= timestamp) return { minCollateral: pending.collateral };
  return { minCollateral: model.minCollateral, pending };
}

export function reasonText(reason: string): string {
  return (
    {
      Challenge: "a challenge",
      AuditDisagreed: "the auditor disagreed",
      AuditMissed: "the auditor missed its blind commit",
      AuditUnrevealed: "the auditor never revealed",
      Recheck: "an Agree drawn for a recheck",
      Replicas: "a redundant job's seats disagreed",
    } as Record<string, string>
  )[reason] ?? reason;
}

export function short(address: unknown): string {
  const a = String(address);
  return a.length === 42 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a;
}
