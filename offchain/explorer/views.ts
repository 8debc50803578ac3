/**
 * The explorer's JSON views, pure functions of its state (offchain/explorer/state.ts): what `GET /api/...`
 * answers and the page shows. Amounts are tokens as decimal text ("12.5", unit `DINF`), never wei; times are
 * the chain's (block timestamps, ISO 8601 UTC) and every window ("24 h", "30 d") ends at the newest indexed
 * block with a protocol event, so a view depends on the indexed rows alone.
 *
 * | view             | numbers, and the events they come from |
 * |------------------|----------------------------------------|
 * | `networkView`    | jobs posted (`JobPosted`, `BatchPosted.count`), finalized (`JobFinalized`, `BatchFinalized.jobs`), expired (`JobExpired`, `BatchExpired`), slashed (`DisputeSettled` faulting the provider), all time and over 24 h; fees posted and paid to providers; active and unbonding stake (`Staking.totalStaked/totalUnbonding`); active providers; sampling actual (sampled / jobs whose sampling was decided) vs target (`samplingPpm` of the current terms); median post -> reveal; gas per finalized job (receipts) |
 * | `providersView`  | per provider: stake free / locked / unbonding (`Staking.account`), jobs and outcomes, success %, audits passed / failed and reputation (`foldReputation`), slashes (`Staking.Slashed`), latency, profile (`ProfileSet`), earnings over 30 d (payouts) |
 * | `providerView`   | one provider's row, its history (reputation, stake, outcomes per time bucket), its jobs and slashes |
 * | `jobsView`       | jobs, newest first, filtered by provider, model or status |
 * | `jobView`        | one job: timeline with transactions and gas, model and tolerance, result root, audit (and its comparison), dispute |
 * | `modelsView`     | registered models (`ModelRegistered`, `ModelUpdated`, `CollateralLowering`, `ModelActiveSet`) with their jobs and fees |
 * | `disputesView`   | disputes: reason, bond, committee, votes, outcome, and how the settlement split the money |
 */
import { getAddress, type Hex } from "viem";

import { plainTokens, TOKEN_SYMBOL } from "../chain/format.js";
import { toleranceFromChain } from "../codec/tolerance.js";
import { formatScore, freshReputation, REPUTATION_RULE, type ProviderReputation } from "../sdk/reputation.js";
import { collateralAt, reasonText, ROLE_PROVIDER, ROLE_VERIFIER, type AccountTrack, type At, type DisputeTrack, type ExplorerState, type JobStatusName, type JobTrack, type ModelTrack } from "./state.js";

const DAY = 86_400;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

/** What every view is told beside the state: the chain, and how far the indexer got. */
export type ViewContext = { chainId: number; indexedBlock?: bigint; indexerError?: string };

/** A place in the chain as the views give it. */
export type WhenJson = { block: string; time: string; timestamp: number; txHash: Hex };

const when = (at: At | undefined): WhenJson | null =>
  at ? { block: at.block.toString(), time: isoTime(at.timestamp), timestamp: at.timestamp, txHash: at.txHash } : null;
const isoTime = (timestamp: number) => new Date(timestamp * 1000).toISOString().replace(".000Z", "Z");
const tokens = (value: bigint | undefined) => (value === undefined ? null : plainTokens(value));
const sum = (values: Iterable<bigint>) => {
  let total = 0n;
  for (const v of values) total += v;
  return total;
};

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The jobs posted as jobs (not a redundant job's seat sent to a committee). */
const postedJobs = (state: ExplorerState) => [...state.jobs.values()].filter((j) => j.kind !== "seat" && j.posted !== undefined);
const nowOf = (state: ExplorerState) => state.latest?.timestamp ?? 0;

// ------------------------------------------------------------------ network

type Counts = { posted: number; finalized: number; expired: number; slashed: number };

function countJobs(jobs: readonly JobTrack[], since: number): Counts {
  const ended = (j: JobTrack, status: JobStatusName) => j.status === status && j.ended !== undefined && j.ended.timestamp >= since;
  return {
    posted: jobs.filter((j) => j.posted!.timestamp >= since).length,
    finalized: jobs.filter((j) => ended(j, "finalized")).length,
    expired: jobs.filter((j) => ended(j, "expired")).length,
    slashed: jobs.filter((j) => ended(j, "slashed")).length,
  };
}

/** Fees escrowed by posts, and paid out to providers (jobs, batches, redundant seats), since `since`. */
function fees(state: ExplorerState, since: number) {
  let posted = 0n;
  for (const j of postedJobs(state)) if (j.posted!.timestamp >= since && j.fee !== undefined) posted += j.fee;
  for (const r of state.replicas.values()) if (r.posted.timestamp >= since) posted += r.feePerReplica * BigInt(r.replicas);
  let paid = 0n;
  for (const a of state.accounts.values()) for (const p of a.payouts) if (p.timestamp >= since) paid += p.amount;
  return { posted: plainTokens(posted), paidToProviders: plainTokens(paid) };
}

/** Sampling as it happened: sampled jobs over the jobs whose sampling is known (revealed, or shown sampled before: audited, split, withheld). */
function samplingActual(state: ExplorerState) {
  let decided = 0;
  let sampled = 0;
  for (const j of postedJobs(state)) {
    // A sampled job is known as such from its audit commit, split or withheld expiry, before any reveal.
    if (j.revealed === undefined && j.sampled !== true) continue;
    decided++;
    if (j.sampled === true) sampled++;
  }
  return { sampled, decided, rate: decided === 0 ? null : sampled / decided };
}

function postToReveal(jobs: readonly JobTrack[]) {
  const done = jobs.filter((j) => j.posted && j.revealed);
  return {
    jobs: done.length,
    medianBlocks: median(done.map((j) => Number(j.revealed!.block - j.posted!.block))),
    medianSeconds: median(done.map((j) => j.revealed!.timestamp - j.posted!.timestamp)),
  };
}

/** Gas per finalized job: each lifecycle transaction's gas over the jobs it served (post, claim, commit, reveal, finalize). */
function gasPerJob(state: ExplorerState, jobs: readonly JobTrack[]) {
  const finalized = jobs.filter((j) => j.status === "finalized" && state.gas.shares.has(j.jobId));
  const total = finalized.reduce((s, j) => s + state.gas.shares.get(j.jobId)!, 0);
  return { jobs: finalized.length, perJob: finalized.length === 0 ? null : Math.round(total / finalized.length), total: Math.round(total) };
}

const BUCKET_SIZES = [10, 30, 60, 300, 900, 3_600, 6 * 3_600, DAY];

/** Outcomes per time bucket between `from` and `to` (chain time): at most ~48 buckets of a round size. */
export function outcomeSeries(jobs: readonly JobTrack[], from: number, to: number) {
  const span = Math.max(1, to - from);
  const size = BUCKET_SIZES.find((s) => span / s <= 48) ?? DAY;
  const start = Math.floor(from / size) * size;
  const count = Math.floor((to - start) / size) + 1;
  const buckets = Array.from({ length: count }, (_, i) => ({ start: start + i * size, posted: 0, finalized: 0, expired: 0, slashed: 0 }));
  const put = (timestamp: number | undefined, key: "posted" | "finalized" | "expired" | "slashed") => {
    if (timestamp === undefined || timestamp < start || timestamp > to) return;
    buckets[Math.floor((timestamp - start) / size)]![key]++;
  };
  for (const j of jobs) {
    put(j.posted?.timestamp, "posted");
    if (j.status === "finalized" || j.status === "expired" || j.status === "slashed") put(j.ended?.timestamp, j.status);
  }
  return { bucketSeconds: size, buckets };
}

/** Providers: the provider role, a profile, a redundant seat, or a job taken. */
function providerAccounts(state: ExplorerState): AccountTrack[] {
  const took = new Set<string>();
  for (const j of state.jobs.values()) if (j.provider) took.add(j.provider.toLowerCase());
  return [...state.accounts.values()].filter(
    (a) => (a.roles & ROLE_PROVIDER) !== 0 || a.profile !== undefined || a.seats > 0 || took.has(a.address.toLowerCase()),
  );
}

const latestStake = (account: AccountTrack) => account.stakeHistory.at(-1);

export function networkView(state: ExplorerState, { chainId, indexedBlock, indexerError }: ViewContext) {
  const now = nowOf(state);
  const jobs = postedJobs(state);
  const providers = providerAccounts(state);
  const verifiers = [...state.accounts.values()].filter((a) => (a.roles & ROLE_VERIFIER) !== 0 && (latestStake(a)?.stake ?? 0n) > 0n);
  const replicas = [...state.replicas.values()];
  const disputes = [...state.disputes.values()];
  const first = jobs.reduce((m, j) => Math.min(m, j.posted!.timestamp), now);
  const sampling = samplingActual(state);
  const targetPpm = state.network && state.network.termsVersion > 0 ? state.network.samplingPpm : null;
  return {
    unit: TOKEN_SYMBOL,
    chain: {
      chainId,
      indexedBlock: indexedBlock?.toString() ?? null,
      latestEventBlock: state.latest?.block.toString() ?? null,
      latestEventTime: state.latest ? isoTime(state.latest.timestamp) : null,
      termsVersion: state.network?.termsVersion || null,
      indexerError: indexerError ?? null,
    },
    jobs: {
      allTime: { ...countJobs(jobs, -Infinity), open: jobs.filter((j) => j.ended === undefined).length },
      last24h: countJobs(jobs, now - DAY),
      redundant: {
        posted: replicas.length,
        agreed: replicas.filter((r) => r.status === "agreed").length,
        disputed: replicas.filter((r) => r.status === "disputed").length,
        expired: replicas.filter((r) => r.status === "expired").length,
      },
      batches: state.batches.size,
    },
    fees: { allTime: fees(state, -Infinity), last24h: fees(state, now - DAY) },
    stake: {
      active: tokens(state.network?.totalStaked ?? 0n),
      unbonding: tokens(state.network?.totalUnbonding ?? 0n),
    },
    providers: {
      total: providers.length,
      active: providers.filter((a) => (a.roles & ROLE_PROVIDER) !== 0 && (latestStake(a)?.stake ?? 0n) > 0n).length,
    },
    verifiers: { active: verifiers.length },
    sampling: {
      targetPpm,
      target: targetPpm === null ? null : targetPpm / 1_000_000,
      actual: sampling.rate,
      sampledJobs: sampling.sampled,
      decidedJobs: sampling.decided,
    },
    latency: { postToReveal: postToReveal(jobs) },
    gas: gasPerJob(state, jobs),
    disputes: {
      opened: disputes.length,
      resolved: disputes.filter((d) => d.resolved).length,
      providerFaulted: disputes.filter((d) => d.resolved?.providerFaulted).length,
    },
    series: outcomeSeries(jobs, Math.max(first, now - DAY), now),
  };
}

// ------------------------------------------------------------------ providers

function providerJobs(state: ExplorerState, address: string): JobTrack[] {
  const key = address.toLowerCase();
  return postedJobs(state).filter((j) => j.provider?.toLowerCase() === key);
}

function providerRow(state: ExplorerState, account: AccountTrack) {
  const now = nowOf(state);
  const key = account.address.toLowerCase();
  const jobs = providerJobs(state, key);
  const rep: ProviderReputation = state.reputation.get(key) ?? freshReputation(account.address);
  const outcome = (s: JobStatusName) => jobs.filter((j) => j.status === s).length;
  const [finalized, expired, slashed] = [outcome("finalized"), outcome("expired"), outcome("slashed")];
  const judged = finalized + expired + slashed;
  const stake = latestStake(account);
  const jobSlashes = account.slashes.filter((s) => s.kind === "slash");
  const penalties = account.slashes.filter((s) => s.kind === "penalty");
  const earned = (since: number) => sum(account.payouts.filter((p) => p.timestamp >= since).map((p) => p.amount));
  return {
    address: account.address,
    isNew: rep.isNew,
    reputation: { score: rep.score / REPUTATION_RULE.scale, text: formatScore(rep.score), isNew: rep.isNew },
    roles: { provider: (account.roles & ROLE_PROVIDER) !== 0, verifier: (account.roles & ROLE_VERIFIER) !== 0 },
    stake: {
      total: tokens(stake?.stake ?? 0n),
      free: tokens((stake?.stake ?? 0n) - (stake?.locked ?? 0n)),
      locked: tokens(stake?.locked ?? 0n),
      unbonding: tokens(stake?.unbonding ?? 0n),
    },
    jobs: { total: jobs.length, finalized, expired, slashed, open: jobs.filter((j) => j.ended === undefined).length, redundantSeats: account.seats },
    successRate: judged === 0 ? null : finalized / judged,
    audits: { passed: rep.auditsPassed, failed: rep.auditsFailed, audited: jobs.filter((j) => j.audit?.verdict !== undefined).length },
    disputes: { won: rep.disputesWon, lost: rep.disputesLost },
    slashes: { count: jobSlashes.length, amount: plainTokens(sum(jobSlashes.map((s) => s.amount))) },
    penalties: { count: penalties.length, amount: plainTokens(sum(penalties.map((s) => s.amount))) },
    latency: {
      medianPostToRevealSeconds: postToReveal(jobs).medianSeconds,
      meanCommitBlocks: rep.commitDelayBlocks ?? null,
      meanRevealBlocks: rep.revealDelayBlocks ?? null,
    },
    region: account.profile?.region ?? null,
    models: account.profile?.models ?? [],
    executionProviders: account.profile?.executionProviders ?? [],
    capacity: account.profile?.capacity ?? null,
    earnings: { last30d: plainTokens(earned(now - 30 * DAY)), allTime: plainTokens(earned(-Infinity)) },
    firstSeen: when(account.firstSeen),
  };
}

export type ProviderRow = ReturnType<typeof providerRow>;

/** Every provider (the provider role, a profile, or a job taken), most jobs first. */
export function providersView(state: ExplorerState): { unit: string; providers: ProviderRow[] } {
  const rows = providerAccounts(state).map((a) => providerRow(state, a));
  rows.sort((a, b) => b.jobs.total - a.jobs.total || a.address.localeCompare(b.address));
  return { unit: TOKEN_SYMBOL, providers: rows };
}

/** One provider with its history; undefined when the address never appeared. */
export function providerView(state: ExplorerState, address: string) {
  const account = state.accounts.get(address.toLowerCase());
  if (!account) return undefined;
  const key = address.toLowerCase();
  const rep = state.reputation.get(key) ?? freshReputation(account.address);
  const jobs = providerJobs(state, key);
  const timeOf = (block: bigint) => state.blocks.get(block)?.timestamp ?? 0;
  const first = Math.min(account.firstSeen.timestamp, ...jobs.map((j) => j.posted!.timestamp));
  return {
    unit: TOKEN_SYMBOL,
    provider: providerRow(state, account),
    history: {
      reputation: [
        { block: account.firstSeen.block.toString(), timestamp: account.firstSeen.timestamp, score: REPUTATION_RULE.start / REPUTATION_RULE.scale, outcome: "start" },
        ...rep.history.map((h) => ({
          block: h.blockNumber.toString(),
          timestamp: timeOf(h.blockNumber),
          score: h.score / REPUTATION_RULE.scale,
          outcome: h.outcome,
          jobId: h.jobId?.toString() ?? null,
        })),
      ],
      stake: account.stakeHistory.map((s) => ({
        block: s.blockNumber.toString(),
        timestamp: timeOf(s.blockNumber),
        stake: plainTokens(s.stake),
        locked: plainTokens(s.locked),
        unbonding: plainTokens(s.unbonding),
      })),
      outcomes: outcomeSeries(jobs, first, Math.max(first, nowOf(state))),
    },
    models: [...rep.models.entries()].sort(([a], [b]) => a - b).map(([modelId, c]) => ({ modelId, finalized: c.finalized, expired: c.expired, slashed: c.slashed, auditsPassed: c.auditsPassed, auditsFailed: c.auditsFailed })),
    slashes: account.slashes.map((s) => ({ ...when(s)!, amount: plainTokens(s.amount), requested: plainTokens(s.requested), recipient: s.recipient, jobId: s.jobId?.toString() ?? null, why: s.why, kind: s.kind })),
    jobs: jobs.sort((a, b) => compareJobs(b, a)).slice(0, 100).map((j) => jobSummary(j)),
  };
}

// ------------------------------------------------------------------ jobs

function compareJobs(a: JobTrack, b: JobTrack): number {
  const ab = a.posted?.block ?? 0n;
  const bb = b.posted?.block ?? 0n;
  if (ab !== bb) return ab < bb ? -1 : 1;
  return a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0;
}

function jobSummary(j: JobTrack) {
  return {
    jobId: j.jobId.toString(),
    kind: j.kind,
    batchId: j.batchId?.toString() ?? null,
    replicaJobId: j.replicaJobId?.toString() ?? null,
    modelId: j.modelId ?? null,
    poster: j.poster ?? null,
    provider: j.provider ?? null,
    status: j.status,
    sampled: j.sampled ?? null,
    fee: tokens(j.fee),
    posted: when(j.posted),
    ended: when(j.ended),
  };
}

export type JobsQuery = { provider?: string; modelId?: number; status?: string; limit?: number; offset?: number };

/** Jobs, newest first (seats of redundant jobs included, marked `seat`). */
export function jobsView(state: ExplorerState, { provider, modelId, status, limit = 50, offset = 0 }: JobsQuery = {}) {
  let jobs = [...state.jobs.values()].filter((j) => j.posted !== undefined);
  if (provider) jobs = jobs.filter((j) => j.provider?.toLowerCase() === provider.toLowerCase());
  if (modelId !== undefined) jobs = jobs.filter((j) => j.modelId === modelId);
  if (status) jobs = jobs.filter((j) => j.status === status);
  jobs.sort((a, b) => compareJobs(b, a));
  return { unit: TOKEN_SYMBOL, total: jobs.length, offset, jobs: jobs.slice(offset, offset + limit).map(jobSummary) };
}

/** How the auditor's output compared with the provider's (offchain/explorer/comparison.ts). */
export type ComparisonJson =
  | { state: "none" }
  | { state: "identical" }
  | { state: "pending" }
  | { state: "unavailable"; problem: string }
  | {
      state: "done";
      verdict: "agree" | "disagree";
      reason: string | null;
      tensors: { name: string; dtype: string; dims: number[]; elements: number; maxAbsError: number | null; maxRelError: number | null; mismatches: number }[];
    };

export function toleranceText(tolerance: ModelTrack["tolerance"]): { kind: string; text: string; absTol?: number; relTol?: number; axis?: number } {
  try {
    const policy = toleranceFromChain(tolerance);
    if (policy.kind === "allclose") return { kind: "allclose", absTol: policy.absTol, relTol: policy.relTol, text: `allclose: |a - b| <= ${policy.absTol} + ${policy.relTol} * |b|` };
    if (policy.kind === "argmax") return { kind: "argmax", axis: policy.axis, text: `argmax along axis ${policy.axis}: the same top-1` };
    return { kind: "exact", text: "exact: the same bytes" };
  } catch (error) {
    return { kind: "invalid", text: (error as Error).message };
  }
}

/** One job with its whole timeline; undefined when no event names it. */
export function jobView(state: ExplorerState, jobId: bigint, { comparison = { state: "none" } }: { comparison?: ComparisonJson } = {}) {
  const job = state.jobs.get(jobId);
  if (!job) return undefined;
  const model = job.modelId === undefined ? undefined : state.models.get(job.modelId);
  const dispute = state.disputes.get(jobId);
  const served = state.gas.served;
  const timeline = job.steps.map((s) => {
    const tx = state.txs.get(s.txHash);
    const jobs = served.get(s.txHash);
    return {
      step: s.step,
      label: s.label,
      actor: s.actor ?? null,
      ...when(s)!,
      gasUsed: tx ? Number(tx.gasUsed) : null,
      /** The job's share of the transaction's gas when the transaction is part of its lifecycle (a batch's is shared). */
      gasShare: tx && jobs?.has(jobId) ? Math.round(Number(tx.gasUsed) / jobs.size) : null,
      sender: tx?.sender ?? null,
    };
  });
  return {
    unit: TOKEN_SYMBOL,
    job: {
      ...jobSummary(job),
      index: job.index ?? null,
      seat: job.seat ?? null,
      collateral: tokens(job.collateral),
      terms: job.terms ?? null,
      inputHash: job.inputHash ?? null,
      inputURI: job.inputURI ?? null,
      resultRoot: job.resultRoot ?? null,
      outputURIs: job.outputURIs,
      inlineOutput: job.inlineOutput !== undefined,
      payout: tokens(job.payout),
      slashed: tokens(job.slashed),
      refund: tokens(job.refund),
      revealed: when(job.revealed),
      gas: { lifecycleShare: state.gas.shares.has(jobId) ? Math.round(state.gas.shares.get(jobId)!) : null },
    },
    model: model ? { modelId: model.modelId, uri: model.uri, runtime: model.runtime, modelHash: model.modelHash, tolerance: toleranceText(model.tolerance) } : null,
    timeline,
    audit: job.audit
      ? {
          auditor: job.audit.auditor,
          committed: when(job.audit.committed),
          revealed: when(job.audit.revealed),
          verdict: job.audit.verdict ?? null,
          outputRoot: job.audit.outputRoot ?? null,
          outputURI: job.audit.outputURI ?? null,
          recheck: job.audit.recheck ?? false,
          penalty: tokens(job.audit.penalty),
          rootsEqual: job.audit.outputRoot !== undefined && job.resultRoot !== undefined ? job.audit.outputRoot.toLowerCase() === job.resultRoot.toLowerCase() : null,
          comparison,
        }
      : null,
    dispute: dispute ? disputeJson(state, dispute) : null,
  };
}

// ------------------------------------------------------------------ models

export function modelsView(state: ExplorerState) {
  const jobs = postedJobs(state);
  const providersOf = (modelId: number) =>
    [...state.accounts.values()].filter((a) => a.profile?.models.includes(modelId)).map((a) => a.address);
  return {
    unit: TOKEN_SYMBOL,
    models: [...state.models.values()]
      .sort((a, b) => a.modelId - b.modelId)
      .map((m) => {
        const mine = jobs.filter((j) => j.modelId === m.modelId);
        const collateral = collateralAt(m, nowOf(state));
        return {
          modelId: m.modelId,
          owner: m.owner,
          modelHash: m.modelHash,
          uri: m.uri,
          runtime: m.runtime,
          tolerance: toleranceText(m.tolerance),
          minCollateral: plainTokens(collateral.minCollateral),
          // A lower collateral under notice: posts copy it from `effectiveAt` on.
          pendingCollateral: collateral.pending
            ? { collateral: plainTokens(collateral.pending.collateral), effectiveAt: isoTime(collateral.pending.effectiveAt), timestamp: collateral.pending.effectiveAt }
            : null,
          priceFloor: plainTokens(m.priceFloor),
          nonFiniteInputs: m.nonFiniteInputs,
          active: m.active,
          registered: when(m.registered),
          jobs: countJobs(mine, -Infinity),
          fees: plainTokens(sum(mine.map((j) => j.fee ?? 0n))),
          medianPostToRevealSeconds: postToReveal(mine).medianSeconds,
          providers: providersOf(m.modelId),
        };
      }),
  };
}

// ------------------------------------------------------------------ disputes

function disputeJson(state: ExplorerState, d: DisputeTrack) {
  const job = state.jobs.get(d.jobId);
  return {
    jobId: d.jobId.toString(),
    provider: job?.provider ?? null,
    poster: job?.poster ?? null,
    reason: d.reason,
    reasonText: reasonText(d.reason),
    challenger: d.challenger === ZERO_ADDRESS ? null : getAddress(d.challenger),
    bond: plainTokens(d.bond),
    opened: when(d.opened),
    committee: d.committee,
    votes: [...d.votes.values()].map((v) => ({
      voter: v.voter,
      seats: v.seats,
      committed: v.committed !== undefined,
      vote: v.vote ?? null,
      paid: tokens(v.paid),
      penalty: tokens(v.penalty),
    })),
    state: d.resolved ? "resolved" : d.committee.length > 0 ? "voting" : "open",
    outcome: d.resolved?.outcome ?? null,
    providerFaulted: d.resolved?.providerFaulted ?? null,
    slashed: tokens(d.resolved?.slashed),
    resolved: when(d.resolved),
    tally: d.resolved ? { providerCorrect: d.resolved.votesCorrect, providerWrong: d.resolved.votesWrong, auditorWrong: d.resolved.votesAuditorWrong } : null,
    split: d.split.map((s) => ({ account: s.account ?? null, role: s.role, what: s.what, amount: plainTokens(s.amount < 0n ? -s.amount : s.amount), sign: s.amount < 0n ? "-" : "+" })),
  };
}

/** Every dispute, newest first. */
export function disputesView(state: ExplorerState) {
  const disputes = [...state.disputes.values()].sort((a, b) => (a.opened.block === b.opened.block ? b.opened.logIndex - a.opened.logIndex : a.opened.block < b.opened.block ? 1 : -1));
  return { unit: TOKEN_SYMBOL, disputes: disputes.map((d) => disputeJson(state, d)) };
}

/** A JSON.stringify replacer for views: bigints as decimal text. */
export function viewJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

