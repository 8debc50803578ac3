/**
 * Provider reputation, derived from chain events by one fixed rule that anyone can recompute: nothing a
 * provider says about itself counts, and nothing here is stored on-chain. `dinfer provider status` prints it;
 * a dApp or a matching service calls `readReputation`.
 *
 * The rule (`REPUTATION_RULE`; docs in the README, "Reputation"), on a score in millionths, 0..1,000,000,
 * applied to a provider's outcomes in chain order (block, log index):
 * - a new provider starts **neutral**, at 500,000, and is marked new until its first judged outcome;
 * - an **audited pass** (a sampled job finalized after its auditor revealed Agree, or a dispute a committee
 *   upheld by its votes) moves the score 10% of the way to 1,000,000: trust is earned only by work someone
 *   re-ran. A sampled job nobody could be drawn to audit, and a dispute that ended without a quorum (the
 *   challenger's bond back), count as unaudited;
 * - a **fault** (a dispute lost: slashed; or a sampled result withheld, which is slashed as a fault) moves it
 *   60% of the way to 0: one fault leaves any history below a new provider's 500,000 (at most 400,000);
 * - an **expiry** of a job it took (a missed commit or reveal that is not a withheld sampled one) moves it 20%
 *   of the way to 0;
 * - an unaudited job finalized (alone or in a batch) counts in the statistics and leaves the score as it is:
 *   nobody checked it.
 * Splitting into fresh identities gains nothing: each starts at 500,000 with no history, below every
 * provider with audited passes and no fault, and needs its own stake for every job it takes.
 *
 * Alongside: per provider and per provider x model, jobs finalized / expired / slashed, audits passed and
 * failed, disputes won and lost, and the mean commit delay (blocks from post to commit) and reveal delay
 * (blocks from commit to reveal).
 */
import type { Abi, Address, PublicClient } from "viem";

import { batchMarketAbi, jobMarketAbi, replicaMarketAbi, verificationAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { decodeEvent } from "../chain/events.js";

export const REPUTATION_RULE = {
  /** Every score is in millionths: 1,000,000 is full trust. */
  scale: 1_000_000,
  /** Where a provider with no judged outcome stands. */
  start: 500_000,
  /** An audited pass: this percentage of the way to the top. */
  passPct: 10,
  /** A fault (slashed): this percentage of the way to 0. */
  faultPct: 60,
  /** An expiry of a job it took: this percentage of the way to 0. */
  expiryPct: 20,
} as const;

export type ReputationOutcome = "audited pass" | "fault" | "expiry" | "finalized";

export type ReputationCounters = {
  finalized: number;
  expired: number;
  slashed: number;
  auditsPassed: number;
  auditsFailed: number;
  disputesWon: number;
  disputesLost: number;
  /** Mean blocks from a job's post to its commit, over `commits` jobs. */
  commitDelayBlocks: number | undefined;
  /** Mean blocks from a job's commit to its reveal, over `reveals` jobs. */
  revealDelayBlocks: number | undefined;
  commits: number;
  reveals: number;
};

export type ProviderReputation = ReputationCounters & {
  provider: Address;
  /** 0..1,000,000 (REPUTATION_RULE.scale). */
  score: number;
  /** No judged outcome yet (no audited pass, fault or expiry): the score is the neutral start. */
  isNew: boolean;
  /** Per model id. */
  models: Map<number, ReputationCounters>;
  /** Every outcome that moved the score or a counter, in chain order. */
  history: { blockNumber: bigint; jobId?: bigint; batchId?: bigint; replicaJobId?: bigint; outcome: ReputationOutcome; score: number }[];
};

/** The score after one outcome (integer arithmetic: the same everywhere). */
export function nextScore(score: number, outcome: ReputationOutcome): number {
  const { scale, passPct, faultPct, expiryPct } = REPUTATION_RULE;
  if (outcome === "audited pass") return score + Math.floor(((scale - score) * passPct) / 100);
  if (outcome === "fault") return score - Math.ceil((score * faultPct) / 100);
  if (outcome === "expiry") return score - Math.ceil((score * expiryPct) / 100);
  return score;
}

/** A decoded market event with its place (what `foldReputation` reads). */
export type ReputationEvent = { eventName: string; args: Record<string, unknown>; blockNumber: bigint; logIndex: number };

/** Folds JobMarket, BatchMarket and Verification events (any order; sorted here) into every provider's reputation. */
export function foldReputation(events: readonly ReputationEvent[]): Map<string, ProviderReputation> {
  const sorted = [...events].sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
  // What the Verification contract judged, per job, read first: its events and the market's of one
  // settlement come in either order within the transaction.
  const agreed = new Set<bigint>();
  const upheldByVotes = new Set<bigint>();
  for (const { eventName, args } of sorted) {
    if (eventName === "AuditRevealed" && Number(args.verdict) === 0) agreed.add(args.jobId as bigint);
    if (eventName === "DisputeResolved" && !(args.providerFaulted as boolean) && Number(args.outcome) !== 0) upheldByVotes.add(args.jobId as bigint);
  }
  const jobs = new Map<bigint, { modelId?: number; postBlock?: bigint; provider?: Address; commitBlock?: bigint; sampled?: boolean; judged?: boolean }>();
  const batches = new Map<bigint, { modelId: number; provider?: Address }>();
  const replicaModels = new Map<bigint, number>();
  const out = new Map<string, ProviderReputation>();
  const of = (provider: Address) => {
    const key = provider.toLowerCase();
    let rep = out.get(key);
    if (!rep) {
      rep = { provider, score: REPUTATION_RULE.start, isNew: true, ...counters(), models: new Map(), history: [] };
      out.set(key, rep);
    }
    return rep;
  };
  const modelOf = (rep: ProviderReputation, modelId: number | undefined) => {
    if (modelId === undefined) return undefined;
    let m = rep.models.get(modelId);
    if (!m) rep.models.set(modelId, (m = counters()));
    return m;
  };
  /** Applies `change` to the provider's totals and its model's, and the outcome to its score. */
  const record = (
    provider: Address,
    modelId: number | undefined,
    at: { blockNumber: bigint; jobId?: bigint; batchId?: bigint; replicaJobId?: bigint },
    outcome: ReputationOutcome,
    change: (c: ReputationCounters) => void,
  ) => {
    const rep = of(provider);
    change(rep);
    const m = modelOf(rep, modelId);
    if (m) change(m);
    rep.score = nextScore(rep.score, outcome);
    if (outcome !== "finalized") rep.isNew = false;
    rep.history.push({ ...at, outcome, score: rep.score });
  };
  const delay = (c: ReputationCounters, which: "commit" | "reveal", blocks: bigint) => {
    if (which === "commit") c.commitDelayBlocks = mean(c.commitDelayBlocks, c.commits++, Number(blocks));
    else c.revealDelayBlocks = mean(c.revealDelayBlocks, c.reveals++, Number(blocks));
  };

  for (const { eventName, args, blockNumber } of sorted) {
    const jobId = args.jobId as bigint | undefined;
    const job = jobId === undefined ? undefined : (jobs.get(jobId) ?? jobs.set(jobId, {}).get(jobId)!);
    switch (eventName) {
      case "JobPosted":
        Object.assign(job!, { modelId: Number(args.modelId), postBlock: blockNumber });
        break;
      case "JobImported": {
        const imported = args.job as { modelId: number; provider: Address };
        Object.assign(job!, { modelId: Number(imported.modelId), provider: imported.provider });
        break;
      }
      case "JobClaimed":
        job!.provider = args.provider as Address;
        break;
      case "ResultCommitted": {
        job!.provider = args.provider as Address;
        job!.commitBlock = blockNumber;
        if (job!.postBlock !== undefined) {
          const rep = of(job!.provider);
          delay(rep, "commit", blockNumber - job!.postBlock);
          const m = modelOf(rep, job!.modelId);
          if (m) delay(m, "commit", blockNumber - job!.postBlock);
        }
        break;
      }
      case "ResultRevealed": {
        job!.sampled = args.sampled as boolean;
        if (job!.commitBlock !== undefined) {
          const rep = of(args.provider as Address);
          delay(rep, "reveal", blockNumber - job!.commitBlock);
          const m = modelOf(rep, job!.modelId);
          if (m) delay(m, "reveal", blockNumber - job!.commitBlock);
        }
        break;
      }
      case "JobFinalized": {
        // Audited: sampled and its auditor revealed Agree. A job a dispute settled was scored there already.
        const audited = job!.sampled === true && agreed.has(jobId!) && !job!.judged;
        record(args.provider as Address, job!.modelId, { blockNumber, jobId }, audited ? "audited pass" : "finalized", (c) => {
          c.finalized++;
          if (audited) c.auditsPassed++;
        });
        break;
      }
      case "JobExpired": {
        if (job!.provider === undefined || (args.penalty as bigint) === 0n) break; // unclaimed: nobody's fault
        const withheldSampled = Number(args.from) === 3 /* Committed */ && (args.sampled as boolean);
        record(job!.provider, job!.modelId, { blockNumber, jobId }, withheldSampled ? "fault" : "expiry", (c) => {
          c.expired++;
          if (withheldSampled) {
            c.slashed++;
            c.auditsFailed++;
          }
        });
        break;
      }
      case "DisputeSettled": {
        if (job!.provider === undefined) break;
        const faulted = args.providerFaulted as boolean;
        job!.judged = true;
        // Upheld counts as audited only when a committee's votes upheld it (not a dispute that found no quorum).
        const outcome = faulted ? "fault" : upheldByVotes.has(jobId!) ? "audited pass" : "finalized";
        record(job!.provider, job!.modelId, { blockNumber, jobId }, outcome, (c) => {
          if (faulted) {
            c.disputesLost++;
            c.slashed++;
            if (job!.sampled) c.auditsFailed++;
          } else {
            c.disputesWon++;
            if (job!.sampled && outcome === "audited pass") c.auditsPassed++;
          }
        });
        break;
      }
      case "BatchPosted":
        batches.set(args.batchId as bigint, { modelId: Number(args.modelId) });
        break;
      // Redundant jobs (ReplicaMarket): an agreed seat is finalized work, not an audit (one owner of every seat
      // could agree with itself); a seat withheld once the others' roots were public is a fault, as a withheld
      // sampled reveal is. A disputed seat is a JobMarket job from its import on (JobImported, DisputeSettled).
      case "ReplicaJobPosted":
        replicaModels.set(args.replicaJobId as bigint, Number(args.modelId));
        break;
      case "ReplicaPaid": {
        const replicaJobId = args.replicaJobId as bigint;
        record(args.provider as Address, replicaModels.get(replicaJobId), { blockNumber, replicaJobId }, "finalized", (c) => {
          c.finalized++;
        });
        break;
      }
      case "ReplicaWithheld": {
        const replicaJobId = args.replicaJobId as bigint;
        record(args.provider as Address, replicaModels.get(replicaJobId), { blockNumber, replicaJobId }, "fault", (c) => {
          c.expired++;
          c.slashed++;
        });
        break;
      }
      case "BatchClaimed":
      case "BatchCommitted": {
        const batch = batches.get(args.batchId as bigint);
        if (batch) batch.provider = args.provider as Address;
        break;
      }
      case "BatchFinalized": {
        const batch = batches.get(args.batchId as bigint);
        const count = Number(args.jobs);
        record(args.provider as Address, batch?.modelId, { blockNumber, batchId: args.batchId as bigint }, "finalized", (c) => {
          c.finalized += count;
        });
        break;
      }
      case "BatchExpired": {
        const batch = batches.get(args.batchId as bigint);
        if (!batch?.provider || (args.penalty as bigint) === 0n) break;
        const withheldSampled = (args.sampled as bigint) > 0n;
        record(batch.provider, batch.modelId, { blockNumber, batchId: args.batchId as bigint }, withheldSampled ? "fault" : "expiry", (c) => {
          c.expired += Number(args.jobs);
          if (withheldSampled) {
            c.slashed++;
            c.auditsFailed++;
          }
        });
        break;
      }
    }
  }
  return out;
}

function counters(): ReputationCounters {
  return {
    finalized: 0,
    expired: 0,
    slashed: 0,
    auditsPassed: 0,
    auditsFailed: 0,
    disputesWon: 0,
    disputesLost: 0,
    commitDelayBlocks: undefined,
    revealDelayBlocks: undefined,
    commits: 0,
    reveals: 0,
  };
}

function mean(current: number | undefined, n: number, value: number): number {
  return current === undefined ? value : (current * n + value) / (n + 1);
}

/** A provider that has done nothing yet: the neutral start. */
export function freshReputation(provider: Address): ProviderReputation {
  return { provider, score: REPUTATION_RULE.start, isNew: true, ...counters(), models: new Map(), history: [] };
}

export type ReadReputationParameters = {
  publicClient: PublicClient;
  deployment: Pick<Deployment, "market" | "batchMarket" | "verification"> & Partial<Pick<Deployment, "replicaMarket">>;
  /** Where reading starts (default 0); on a long chain, the block the markets were deployed at. */
  fromBlock?: bigint;
};

/**
 * Every provider's reputation, from the JobMarket's, BatchMarket's, Verification's and (when given) the
 * ReplicaMarket's events (one eth_getLogs over them).
 */
export async function readReputation({ publicClient, deployment, fromBlock = 0n }: ReadReputationParameters): Promise<Map<string, ProviderReputation>> {
  const abis = new Map<string, Abi>([
    [deployment.market.toLowerCase(), jobMarketAbi],
    [deployment.batchMarket.toLowerCase(), batchMarketAbi],
    [deployment.verification.toLowerCase(), verificationAbi],
    ...(deployment.replicaMarket ? [[deployment.replicaMarket.toLowerCase(), replicaMarketAbi] as [string, Abi]] : []),
  ]);
  const logs = await publicClient.getLogs({ address: [...abis.keys()] as Address[], fromBlock, toBlock: "latest" });
  const events: ReputationEvent[] = [];
  for (const log of logs) {
    const abi = abis.get(log.address.toLowerCase())!;
    try {
      const decoded = decodeEvent({ abi, data: log.data, topics: log.topics });
      if (decoded.eventName === undefined) continue;
      events.push({ eventName: decoded.eventName, args: (decoded.args ?? {}) as Record<string, unknown>, blockNumber: log.blockNumber!, logIndex: log.logIndex! });
    } catch {
      // an event this fold does not read
    }
  }
  return foldReputation(events);
}

/** One provider's reputation (the neutral start when it has done nothing). */
export async function providerReputation(parameters: ReadReputationParameters & { provider: Address }): Promise<ProviderReputation> {
  return (await readReputation(parameters)).get(parameters.provider.toLowerCase()) ?? freshReputation(parameters.provider);
}

/** The score as a fraction of 1, three decimals ("0.736"). */
export function formatScore(score: number): string {
  return (score / REPUTATION_RULE.scale).toFixed(3);
}

/** Lines for `dinfer provider status`: the score, its counters, per model, and (`history`) every outcome. */
export function formatReputation(rep: ProviderReputation, { history = false }: { history?: boolean } = {}): string {
  const delays = (c: ReputationCounters) =>
    c.commits === 0 ? "" : `; commit after ${c.commitDelayBlocks!.toFixed(1)} blocks, reveal ${c.revealDelayBlocks === undefined ? "-" : c.revealDelayBlocks.toFixed(1)} blocks after (mean)`;
  const line = (c: ReputationCounters) =>
    `${c.finalized} finalized, ${c.expired} expired, ${c.slashed} slashed; audits ${c.auditsPassed} passed, ${c.auditsFailed} failed; disputes ${c.disputesWon} won, ${c.disputesLost} lost${delays(c)}`;
  const lines = [
    `reputation ${formatScore(rep.score)}${rep.isNew ? " (NEW: no audited outcome yet; every provider starts at 0.500)" : ""}: ${line(rep)}`,
    ...[...rep.models.entries()].sort(([a], [b]) => a - b).map(([modelId, c]) => `  model ${modelId}: ${line(c)}`),
  ];
  if (history) {
    for (const h of rep.history) {
      const what = h.jobId !== undefined ? `job ${h.jobId}` : h.batchId !== undefined ? `batch ${h.batchId}` : `redundant job ${h.replicaJobId}`;
      lines.push(`  block ${h.blockNumber} ${what}: ${h.outcome} -> ${formatScore(h.score)}`);
    }
  }
  return lines.join("\n");
}
