/**
 * The demo's reading of the chain, from its events alone (offchain/devnet/demo.ts runs the demo): every
 * event of the five contracts decoded, folded into one track per job of the dApp's batches and one per
 * redundant job (`followEvent`: what the live view and the summary show), the truth about the cheater's
 * results (`countCheats`), the redundant jobs' outcome (`countRedundant`) and which jobs each transaction of
 * their lifecycle served (`lifecycleTransactions`: the gas per job).
 *
 * A batch's job lives in the BatchMarket (BatchPosted, BatchCommitted, BatchRevealed, BatchFinalized or
 * BatchExpired cover all its jobs still in the batch) until it is split out (JobSplit): sampled for an audit
 * (as Committed, before the batch's reveal) or to be challenged (as Revealed, inside the window); from there
 * it is an ordinary JobMarket job (JobImported, ResultRevealed, JobDisputed, DisputeSettled, JobFinalized,
 * JobExpired). See docs/PROTOCOL.md, "Batches".
 *
 * A redundant job lives in the ReplicaMarket (ReplicaJobPosted, ReplicaCommitted, ReplicaRevealed,
 * ReplicaJobSettled) until its settlement sends its revealed seats to committees (ReplicaDisputed: each seat
 * is then a JobMarket job, imported Revealed and disputed at once, ending with DisputeSettled). Those seats'
 * JobMarket jobs are not jobs of the dApp's batches: no job track, no cheat, no lifecycle gas; they are
 * counted in `countRedundant`. See docs/PROTOCOL.md, "Redundant jobs".
 */
import { decodeEventLog, type Abi, type Address, type Hex, type Log } from "viem";

import { batchMarketAbi, jobMarketAbi, replicaMarketAbi, stakingAbi, verificationAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { ReplicaStatus } from "../chain/replicas.js";

export type ContractName = "market" | "batchMarket" | "verification" | "staking" | "replicaMarket";

/** One decoded event of the protocol's contracts. */
export type ChainEvent = { contract: ContractName; name: string; args: Record<string, unknown> };
/** The same, with its transaction (what the gas is read from). */
export type TxEvent = ChainEvent & { tx: Hex };

/** `JobSplit`'s status (the JobMarket's): a sampled job split before the batch's reveal, or a revealed one split to be challenged. */
export const SPLIT_SAMPLED = 3;
export const SPLIT_REVEALED = 4;

const ABIS: Record<ContractName, Abi> = {
  market: jobMarketAbi,
  batchMarket: batchMarketAbi,
  verification: verificationAbi,
  staking: stakingAbi,
  replicaMarket: replicaMarketAbi,
};

/** The addresses the demo reads logs from, in one getLogs. */
export function watchedAddresses(deployment: Deployment): Address[] {
  return [deployment.market, deployment.batchMarket, deployment.verification, deployment.staking, deployment.replicaMarket];
}

/** Decodes a log of one of the watched contracts; undefined for any other log, or one its ABI does not know. */
export function decodeEvent(log: Log, deployment: Deployment): TxEvent | undefined {
  const address = log.address.toLowerCase();
  const contract = (
    [
      ["market", deployment.market],
      ["batchMarket", deployment.batchMarket],
      ["verification", deployment.verification],
      ["staking", deployment.staking],
      ["replicaMarket", deployment.replicaMarket],
    ] as const
  ).find(([, at]) => at.toLowerCase() === address)?.[0];
  if (contract === undefined) return undefined;
  try {
    const decoded = decodeEventLog({ abi: ABIS[contract], data: log.data, topics: log.topics });
    return { contract, name: String(decoded.eventName), args: (decoded.args ?? {}) as Record<string, unknown>, tx: log.transactionHash! };
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ tracks

export type JobOutcome = "finalized" | "slashed" | "expired";

/** One job of the dApp's batches, as its events tell it. */
export type JobTrack = {
  /** Which input (`kind:image`): its reference root is the demo's reference run of it. */
  inputKey: string;
  kind: string;
  batchId: bigint;
  /** Wall-clock time the dApp asked for it to be posted. */
  postedAt: number;
  provider?: Address;
  sampled?: boolean;
  /** Split out of its batch: sampled (for its audit) or to be challenged. */
  split?: "sampled" | "challenged";
  disputed?: boolean;
  revealedAt?: number;
  finalAt?: number;
  outcome?: JobOutcome;
};

/** One of the dApp's batches: its jobs are `firstJobId .. firstJobId + count - 1`. */
export type BatchTrack = { batchId: bigint; firstJobId: bigint; count: number; postTx: Hex; provider?: Address; split: Set<number> };

/** One seat of a redundant job: who took it and, once sent to a committee, its JobMarket job and verdict. */
export type SeatTrack = { provider: Address; jobId?: bigint; faulted?: boolean };

/** One of the dApp's redundant jobs, as its events tell it. */
export type ReplicaTrack = {
  /** Wall-clock time the dApp posted it. */
  postedAt: number;
  seats: Map<number, SeatTrack>;
  status?: "agreed" | "disputed" | "expired";
  /** Settled and, when Disputed, every seat's dispute settled: nothing about it changes any more. */
  finalAt?: number;
};

export type FollowCounts = {
  batches: number;
  committed: number;
  revealed: number;
  sampled: number;
  disputes: number;
  slashed: number;
  /** Redundant jobs final (see `ReplicaTrack.finalAt`). */
  redundant: number;
};

export type FollowState = {
  jobs: Map<bigint, JobTrack>;
  batches: Map<bigint, BatchTrack>;
  /** The dApp's redundant jobs, by ReplicaMarket id (made when it posted them). */
  replicas: Map<bigint, ReplicaTrack>;
  /** The JobMarket job of each seat sent to a committee: its redundant job and seat. */
  seatJobs: Map<bigint, { replicaJobId: bigint; seat: number }>;
  counts: FollowCounts;
};

export function newFollowState(jobs: Map<bigint, JobTrack>, replicas: Map<bigint, ReplicaTrack> = new Map()): FollowState {
  return {
    jobs,
    batches: new Map(),
    replicas,
    seatJobs: new Map(),
    counts: { batches: 0, committed: 0, revealed: 0, sampled: 0, disputes: 0, slashed: 0, redundant: 0 },
  };
}

const SETTLED_AS: Partial<Record<number, ReplicaTrack["status"]>> = {
  [ReplicaStatus.Agreed]: "agreed",
  [ReplicaStatus.Disputed]: "disputed",
  [ReplicaStatus.Expired]: "expired",
};

/** Marks a redundant job final once it is settled and every seat sent to a committee has its verdict. */
function markReplicaFinal(state: FollowState, track: ReplicaTrack, now: number): void {
  if (track.finalAt !== undefined || track.status === undefined) return;
  if ([...track.seats.values()].some((seat) => seat.jobId !== undefined && seat.faulted === undefined)) return;
  track.finalAt = now;
  state.counts.redundant++;
}

/** Folds a ReplicaMarket event, or a seat's DisputeSettled, into the dApp's redundant jobs. */
function followReplicaEvent(state: FollowState, { contract, name, args }: ChainEvent, now: number): void {
  if (contract === "market") {
    const at = state.seatJobs.get(args.jobId as bigint);
    const track = at && state.replicas.get(at.replicaJobId);
    const seat = track?.seats.get(at!.seat);
    if (!track || !seat || name !== "DisputeSettled") return;
    seat.faulted = args.providerFaulted === true;
    markReplicaFinal(state, track, now);
    return;
  }
  const replicaJobId = args.replicaJobId as bigint | undefined;
  const track = replicaJobId === undefined ? undefined : state.replicas.get(replicaJobId);
  if (!track) return;
  const index = Number(args.seat);
  switch (name) {
    case "ReplicaCommitted":
      track.seats.set(index, { provider: args.provider as Address });
      break;
    case "ReplicaDisputed": {
      const jobId = args.jobId as bigint;
      const seat = track.seats.get(index) ?? { provider: args.provider as Address };
      seat.jobId = jobId;
      track.seats.set(index, seat);
      state.seatJobs.set(jobId, { replicaJobId: replicaJobId!, seat: index });
      break;
    }
    case "ReplicaJobSettled":
      track.status = SETTLED_AS[Number(args.status)];
      markReplicaFinal(state, track, now);
      break;
  }
}

function jobIdsOf(batch: BatchTrack, { unsplit }: { unsplit: boolean }): bigint[] {
  return Array.from({ length: batch.count }, (_, i) => i)
    .filter((i) => !unsplit || !batch.split.has(i))
    .map((i) => batch.firstJobId + BigInt(i));
}

/**
 * Folds one event into the tracks of the dApp's jobs (`state.jobs`, made when the dApp posted them): a batch
 * event moves every job still in the batch, a JobMarket event the one job split out; and into the dApp's
 * redundant jobs (`state.replicas`): a ReplicaMarket event, or the DisputeSettled of a seat sent to a committee.
 * `now` is the wall-clock time the event was seen (the latencies).
 */
export function followEvent(state: FollowState, event: TxEvent, now: number): void {
  const { contract, name, args, tx } = event;
  const { jobs, batches, counts } = state;
  if (contract === "replicaMarket" || (contract === "market" && state.seatJobs.has(args.jobId as bigint))) {
    followReplicaEvent(state, event, now);
    return;
  }
  if (contract === "batchMarket") {
    const batchId = args.batchId as bigint | undefined;
    if (batchId === undefined) return;
    if (name === "BatchPosted") {
      const firstJobId = args.firstJobId as bigint;
      if (!jobs.has(firstJobId)) return; // not one of the dApp's
      batches.set(batchId, { batchId, firstJobId, count: Number(args.count), postTx: tx, split: new Set() });
      counts.batches++;
      return;
    }
    const batch = batches.get(batchId);
    if (!batch) return;
    const each = (f: (track: JobTrack, jobId: bigint) => void) => {
      for (const jobId of jobIdsOf(batch, { unsplit: true })) {
        const track = jobs.get(jobId);
        if (track) f(track, jobId);
      }
    };
    switch (name) {
      case "BatchClaimed":
      case "BatchCommitted":
        batch.provider = args.provider as Address;
        if (name === "BatchCommitted") {
          each((track) => (track.provider = batch.provider));
          counts.committed += batch.count;
        }
        break;
      case "JobSplit": {
        const index = Number(args.index);
        const track = jobs.get(args.jobId as bigint);
        batch.split.add(index);
        if (!track) break;
        if (Number(args.status) === SPLIT_SAMPLED) {
          track.split = "sampled";
          track.sampled = true;
          counts.sampled++;
        } else track.split = "challenged";
        break;
      }
      case "BatchRevealed":
        each((track) => {
          track.revealedAt ??= now;
          track.sampled ??= false;
          counts.revealed++;
        });
        break;
      case "BatchFinalized":
        each((track) => {
          track.finalAt ??= now;
          track.outcome = "finalized";
        });
        break;
      case "BatchExpired":
        each((track) => {
          track.finalAt ??= now;
          track.outcome = "expired";
        });
        break;
    }
    return;
  }
  if (contract !== "market") return;
  const jobId = args.jobId as bigint | undefined;
  const track = jobId === undefined ? undefined : jobs.get(jobId);
  if (!track) return;
  switch (name) {
    case "ResultRevealed":
      track.revealedAt ??= now;
      counts.revealed++;
      break;
    case "JobDisputed":
      track.disputed = true;
      counts.disputes++;
      break;
    case "JobFinalized":
      track.finalAt ??= now;
      track.outcome = "finalized";
      break;
    case "DisputeSettled":
      if (args.providerFaulted === true) {
        track.finalAt ??= now;
        track.outcome = "slashed";
        counts.slashed++;
      }
      break;
    case "JobExpired":
      track.finalAt ??= now;
      track.outcome = "expired";
      break;
  }
}

// ------------------------------------------------------------------ cheats

/**
 * The cheater's results, counted from the chain's events. `faked`: its committed results whose revealed
 * root differs from the root of the demo's own reference CPU run of the same input, plus those it
 * committed and never revealed; `slashed`: of those, the jobs that ended Slashed, or Expired as sampled
 * (the whole collateral); `finalized`: of those, the jobs that were paid. A truthful demo has
 * `finalized` 0: no made-up result is ever paid.
 */
export type CheatCount = { faked: number; slashed: number; finalized: number };

export type CountCheatsParameters = {
  cheater: Address;
  /** Every event of the run, in chain order (the JobMarket's and the BatchMarket's are read). */
  events: readonly ChainEvent[];
  /** The root of the demo's reference run of the job's input. */
  referenceRootOf: (jobId: bigint) => Hex | undefined;
  /**
   * Count only these jobs (the demo: the jobs of the dApp's batches; the cheater's redundant seats, imported
   * into the JobMarket when they go to a committee, are counted by `countRedundant`). Default: every job.
   */
  jobs?: ReadonlySet<bigint>;
};

/**
 * The truth about the cheater's results, from the chain's events alone (see `CheatCount`). Its results are
 * those it committed: an ordinary job's ResultCommitted, every job of a batch it committed (BatchCommitted),
 * a job split out of its batch (JobImported with it as provider). A result's root is what the JobMarket
 * revealed for it (ResultRevealed: a job on its own, or a sampled job split out of its batch), else its
 * batch's BatchRevealed (whose value for a job split out as sampled is its commitment, not a root, and is
 * not read). A faked result is then slashed (DisputeSettled faulting the provider, whether the dispute came
 * from an audit or a challenge through Verification; JobExpired as sampled; or the sampled jobs of a batch
 * that expired with its reveal withheld, BatchExpired's `sampled`), paid (JobFinalized, directly or upheld by
 * a dispute; BatchFinalized for the jobs still in the batch), or neither yet.
 */
export function countCheats({ cheater, events, referenceRootOf, jobs }: CountCheatsParameters): CheatCount {
  const isCheater = (account: unknown) => String(account).toLowerCase() === cheater.toLowerCase();
  const batches = new Map<bigint, { firstJobId: bigint; count: number; provider?: Address; split: Map<number, number> }>();
  const committed = new Set<bigint>();
  const revealed = new Map<bigint, Hex>();
  const slashed = new Set<bigint>();
  const paid = new Set<bigint>();
  /** Sampled jobs of the cheater's withheld batches: slashed, but the event names no job. */
  let slashedWithheld = 0;
  for (const { contract, name, args } of events) {
    if (contract === "batchMarket") {
      const batchId = args.batchId as bigint;
      if (name === "BatchPosted") {
        batches.set(batchId, { firstJobId: args.firstJobId as bigint, count: Number(args.count), split: new Map() });
        continue;
      }
      const batch = batches.get(batchId);
      if (!batch) continue;
      const ids = (unsplit: boolean) =>
        Array.from({ length: batch.count }, (_, i) => i)
          .filter((i) => !unsplit || !batch.split.has(i))
          .map((i) => batch.firstJobId + BigInt(i));
      if (name === "BatchCommitted") {
        batch.provider = args.provider as Address;
        if (isCheater(args.provider)) for (const jobId of ids(false)) committed.add(jobId);
      } else if (name === "JobSplit") batch.split.set(Number(args.index), Number(args.status));
      else if (name === "BatchRevealed") {
        (args.outputRoots as readonly Hex[]).forEach((root, i) => {
          if (batch.split.get(i) === SPLIT_SAMPLED) return; // its commitment: the root is revealed in the JobMarket
          const jobId = batch.firstJobId + BigInt(i);
          if (!revealed.has(jobId)) revealed.set(jobId, root);
        });
      } else if (name === "BatchFinalized") for (const jobId of ids(true)) paid.add(jobId);
      else if (name === "BatchExpired" && isCheater(batch.provider)) slashedWithheld += Number(args.sampled);
      continue;
    }
    if (contract !== "market") continue;
    const jobId = args.jobId as bigint;
    if (name === "ResultCommitted" && isCheater(args.provider)) committed.add(jobId);
    else if (name === "JobImported" && isCheater((args.job as { provider?: Address } | undefined)?.provider)) committed.add(jobId);
    else if (name === "ResultRevealed") revealed.set(jobId, args.outputRoot as Hex);
    else if (name === "DisputeSettled" && args.providerFaulted === true) slashed.add(jobId);
    else if (name === "JobExpired" && args.sampled === true) slashed.add(jobId);
    else if (name === "JobFinalized") paid.add(jobId);
  }
  const faked = [...committed].filter((jobId) => {
    if (jobs !== undefined && !jobs.has(jobId)) return false;
    const root = revealed.get(jobId);
    if (root === undefined) return true; // committed and withheld
    const reference = referenceRootOf(jobId);
    if (reference === undefined) throw new Error(`no reference run for job ${jobId}: cannot tell whether its result was faked`);
    return root.toLowerCase() !== reference.toLowerCase();
  });
  return {
    faked: faked.length,
    slashed: faked.filter((jobId) => slashed.has(jobId)).length + slashedWithheld,
    finalized: faked.filter((jobId) => paid.has(jobId)).length,
  };
}

// ------------------------------------------------------------------ redundant jobs

/**
 * The redundant jobs of the run, from the chain's events alone. `jobs`: posted (ReplicaJobPosted);
 * `disagreements`: settled Disputed because their revealed roots differed (ReplicaJobSettled Disputed with a
 * zero root: an agreement sampled for a committee check is Disputed with the agreed root, and not counted);
 * `slashed`: seats their committee faulted (DisputeSettled faulting the provider of a JobMarket job that a
 * ReplicaDisputed names).
 */
export type RedundantCount = { jobs: number; disagreements: number; slashed: number };

/** Per provider (lower-case address): the redundant seats it took (ReplicaCommitted) and how many were slashed. */
export type SeatCount = { seats: number; slashed: number };

export type CountRedundantReturnType = RedundantCount & { byProvider: Map<string, SeatCount> };

const ZERO_ROOT = `0x${"0".repeat(64)}`;

export function countRedundant({ events }: { events: readonly ChainEvent[] }): CountRedundantReturnType {
  const count: RedundantCount = { jobs: 0, disagreements: 0, slashed: 0 };
  const byProvider = new Map<string, SeatCount>();
  const of = (provider: unknown) => {
    const key = String(provider).toLowerCase();
    let seats = byProvider.get(key);
    if (!seats) byProvider.set(key, (seats = { seats: 0, slashed: 0 }));
    return seats;
  };
  /** The provider of each seat's JobMarket job. */
  const seatJobs = new Map<bigint, string>();
  for (const { contract, name, args } of events) {
    if (contract === "replicaMarket") {
      if (name === "ReplicaJobPosted") count.jobs++;
      else if (name === "ReplicaCommitted") of(args.provider).seats++;
      else if (name === "ReplicaDisputed") seatJobs.set(args.jobId as bigint, String(args.provider));
      else if (name === "ReplicaJobSettled" && Number(args.status) === ReplicaStatus.Disputed && String(args.outputRoot).toLowerCase() === ZERO_ROOT) {
        count.disagreements++;
      }
    } else if (contract === "market" && name === "DisputeSettled" && args.providerFaulted === true) {
      const provider = seatJobs.get(args.jobId as bigint);
      if (provider === undefined) continue; // a job of the batches
      count.slashed++;
      of(provider).slashed++;
    }
  }
  return { ...count, byProvider };
}

// ------------------------------------------------------------------ gas

/** The events that make a transaction part of a job's lifecycle (what a job costs when nobody disputes it). */
const LIFECYCLE: Record<"market" | "batchMarket", ReadonlySet<string>> = {
  batchMarket: new Set(["BatchPosted", "BatchClaimed", "BatchCommitted", "JobSplit", "BatchRevealed", "BatchFinalized", "BatchExpired", "Deposited"]),
  market: new Set(["JobPosted", "JobClaimed", "ResultCommitted", "ResultRevealed", "JobFinalized", "JobExpired"]),
};

export type LifecycleTransactionsParameters = {
  /** Every event of the run, in chain order. */
  events: readonly TxEvent[];
  /** The jobs whose lifecycle is counted (the dApp's). */
  jobs: ReadonlySet<bigint>;
  /** The dApp: its BatchMarket deposits are shared by all of `jobs`. */
  dapp: Address;
};

/**
 * Which of `jobs` each transaction of their lifecycle served, so that its gas is divided over them: the
 * dApp's deposit (all of them), a post (every job of the batches it posted), a batch's claim and commit (its
 * jobs), a sampled job's split (that job), a batch's reveal, finalize or expiry (the jobs still in it then),
 * and a split job's reveal, finalize or expiry in the JobMarket (that job). Audits and disputes are not in it
 * (their parties pay them): a split to be challenged, a challenge, votes, and any transaction that settles a
 * dispute (DisputeSettled, even where it also finalizes the job).
 */
export function lifecycleTransactions({ events, jobs, dapp }: LifecycleTransactionsParameters): Map<Hex, Set<bigint>> {
  const batches = new Map<bigint, { firstJobId: bigint; count: number; split: Set<number> }>();
  const served = new Map<Hex, Set<bigint>>();
  const settlements = new Set<Hex>();
  const deposits = new Set<Hex>();
  const serve = (tx: Hex, ids: Iterable<bigint>) => {
    let set = served.get(tx);
    if (!set) served.set(tx, (set = new Set()));
    for (const id of ids) if (jobs.has(id)) set.add(id);
  };
  for (const { contract, name, args, tx } of events) {
    if (contract === "market" && name === "DisputeSettled") settlements.add(tx);
    if ((contract !== "market" && contract !== "batchMarket") || !LIFECYCLE[contract].has(name)) continue;
    if (contract === "market") {
      serve(tx, [args.jobId as bigint]);
      continue;
    }
    if (name === "Deposited") {
      if (String(args.account).toLowerCase() === dapp.toLowerCase()) deposits.add(tx);
      continue;
    }
    const batchId = args.batchId as bigint;
    if (name === "BatchPosted") batches.set(batchId, { firstJobId: args.firstJobId as bigint, count: Number(args.count), split: new Set() });
    const batch = batches.get(batchId);
    if (!batch) continue;
    if (name === "JobSplit") {
      batch.split.add(Number(args.index));
      // A split to be challenged is the challenger's (a dispute's) cost.
      if (Number(args.status) === SPLIT_SAMPLED) serve(tx, [args.jobId as bigint]);
      continue;
    }
    const unsplit = Array.from({ length: batch.count }, (_, i) => i)
      .filter((i) => !batch.split.has(i))
      .map((i) => batch.firstJobId + BigInt(i));
    serve(tx, unsplit);
  }
  // A reveal that also opens a dispute (its audit missed) is still the job's reveal; a settlement is not.
  for (const tx of settlements) served.delete(tx);
  for (const tx of deposits) served.set(tx, new Set(jobs));
  for (const [tx, set] of served) if (set.size === 0) served.delete(tx);
  return served;
}

/** Each job's share of the gas of the transactions that served it (`gasUsed / jobs served`, summed per job). */
export function gasShares(served: ReadonlyMap<Hex, ReadonlySet<bigint>>, gasUsed: ReadonlyMap<Hex, bigint>): Map<bigint, number> {
  const shares = new Map<bigint, number>();
  for (const [tx, ids] of served) {
    const gas = gasUsed.get(tx);
    if (gas === undefined) throw new Error(`no receipt read for transaction ${tx}`);
    for (const id of ids) shares.set(id, (shares.get(id) ?? 0) + Number(gas) / ids.size);
  }
  return shares;
}
