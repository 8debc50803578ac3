/**
 * Redundant jobs (contracts/ReplicaMarket.sol, docs/PROTOCOL.md "Redundant jobs"): a job run by k providers
 * that commit blind and reveal; agreement pays them all, anything else sends each revealed seat to a
 * committee as an ordinary JobMarket job. This module reads a redundant job (its state from the contract's
 * views, its request from `ReplicaJobPosted`), finds the redundant job a disputed JobMarket job came from
 * (`ReplicaDisputed`, indexed by that job id), and fills in such a job's input and output location, which the
 * JobMarket's own events do not carry.
 */
import type { Address, Hex, PublicClient } from "viem";

import { NonRetryableError } from "../errors.js";
import { replicaMarketAbi } from "./abis.js";

export const ReplicaStatus = { None: 0, Open: 1, Agreed: 2, Disputed: 3, Expired: 4 } as const;
export type ReplicaStatus = (typeof ReplicaStatus)[keyof typeof ReplicaStatus];
export const REPLICA_STATUS_NAMES = ["none", "open", "agreed", "disputed", "expired"] as const;

export type ReplicaConstraints = {
  allowlist: readonly Address[];
  /** bytes8, zero: any region */
  region: Hex;
  /** bitmask of profiles.ts EXECUTION_PROVIDER_BITS, zero: any */
  executionProviders: number;
  /** parts per million of the off-chain reputation rule; 0: none (carried, not enforced on-chain) */
  minReputationPpm: number;
};

export type ReplicaSeat = {
  index: number;
  provider: Address;
  commitBlock: bigint;
  revealed: boolean;
  commitment: Hex;
  outputRoot: Hex;
  /** The seat's JobMarket job once it went to a committee; 0n before. */
  jobId: bigint;
  /** Where the seat's provider serves its output (ReplicaRevealed). */
  outputURI?: string;
};

export type ReplicaRecord = {
  replicaJobId: bigint;
  postedBlock: bigint;
  poster: Address;
  modelId: number;
  terms: number;
  replicas: number;
  committed: number;
  revealed: number;
  status: ReplicaStatus;
  feePerReplica: bigint;
  collateral: bigint;
  claimBy: bigint;
  /** When reveals close; 0n while seats can still be taken. */
  revealDeadline: bigint;
  inputHash: Hex;
  inputURI: string;
  constraints: ReplicaConstraints;
  seats: ReplicaSeat[];
  /** The root every revealed seat agreed on, once settled Agreed (or sampled: then Disputed). */
  agreedRoot?: Hex;
  sampled?: boolean;
};

export type ReadReplicaJobParameters = {
  client: PublicClient;
  replicaMarket: Address;
  replicaJobId: bigint;
  /** The first block to search for its events; the block it was posted in when known. */
  fromBlock?: bigint;
};

/** A redundant job: state and seats from the contract's views, request and reveal URIs from its events. */
export async function readReplicaJob({ client, replicaMarket, replicaJobId, fromBlock = 0n }: ReadReplicaJobParameters): Promise<ReplicaRecord> {
  const blockNumber = await client.getBlockNumber({ cacheTime: 0 });
  const [job, revealDeadline, logs] = await Promise.all([
    client.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "replicaJob", args: [replicaJobId], blockNumber }),
    client.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "revealDeadline", args: [replicaJobId], blockNumber }),
    client.getContractEvents({ address: replicaMarket, abi: replicaMarketAbi, args: { replicaJobId } as never, fromBlock, toBlock: blockNumber }),
  ]);
  if (job.status === ReplicaStatus.None) {
    throw new NonRetryableError(`redundant job ${replicaJobId} not found`, { code: "JOB_NOT_FOUND", details: { replicaJobId: replicaJobId.toString() } });
  }
  const seats = await Promise.all(
    Array.from({ length: job.committed }, async (_, index) => {
      const s = await client.readContract({ address: replicaMarket, abi: replicaMarketAbi, functionName: "seat", args: [replicaJobId, BigInt(index)], blockNumber });
      return { index, provider: s.provider, commitBlock: s.commitBlock, revealed: s.revealed, commitment: s.commitment, outputRoot: s.outputRoot, jobId: s.jobId } as ReplicaSeat;
    }),
  );
  let posted: { postedBlock: bigint; inputHash: Hex; inputURI: string; constraints: ReplicaConstraints } | undefined;
  let agreedRoot: Hex | undefined;
  let sampled: boolean | undefined;
  for (const log of logs) {
    const args = log.args as Record<string, unknown>;
    if (log.eventName === "ReplicaJobPosted") {
      const c = args.constraints as ReplicaConstraints;
      posted = {
        postedBlock: log.blockNumber,
        inputHash: args.inputHash as Hex,
        inputURI: args.inputURI as string,
        constraints: { allowlist: [...c.allowlist], region: c.region, executionProviders: Number(c.executionProviders), minReputationPpm: Number(c.minReputationPpm) },
      };
    } else if (log.eventName === "ReplicaRevealed") {
      const seat = seats[Number(args.seat)];
      if (seat) seat.outputURI = args.outputURI as string;
    } else if (log.eventName === "ReplicaJobSettled") {
      const root = args.outputRoot as Hex;
      if (!/^0x0{64}$/.test(root)) agreedRoot = root;
      sampled = args.sampled as boolean;
    }
  }
  if (!posted) {
    throw new NonRetryableError(`redundant job ${replicaJobId}'s ReplicaJobPosted event is not in the blocks searched: search from an earlier block`, {
      code: "JOB_NOT_FOUND",
      details: { replicaJobId: replicaJobId.toString(), fromBlock: fromBlock.toString() },
    });
  }
  return {
    replicaJobId,
    postedBlock: posted.postedBlock,
    poster: job.poster,
    modelId: Number(job.modelId),
    terms: Number(job.terms),
    replicas: Number(job.replicas),
    committed: Number(job.committed),
    revealed: Number(job.revealed),
    status: Number(job.status) as ReplicaStatus,
    feePerReplica: job.feePerReplica,
    collateral: job.collateral,
    claimBy: job.claimBy,
    revealDeadline,
    inputHash: posted.inputHash,
    inputURI: posted.inputURI,
    constraints: posted.constraints,
    seats,
    agreedRoot,
    sampled,
  };
}

/**
 * The root a majority of the job's seats revealed (more than half of its k seats), or undefined: what a dApp
 * can act on before the job is settled, when it trusts that most seats are honest.
 */
export function majorityRoot(record: Pick<ReplicaRecord, "replicas" | "seats">): Hex | undefined {
  const counts = new Map<string, number>();
  for (const seat of record.seats) {
    if (!seat.revealed) continue;
    const key = seat.outputRoot.toLowerCase();
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    if (count * 2 > record.replicas) return seat.outputRoot;
  }
  return undefined;
}

/** A JobMarket job that a redundant job's seat became: the redundant job, the seat, and the record. */
export type ReplicaOfJob = { record: ReplicaRecord; seat: ReplicaSeat };

/**
 * The redundant job a JobMarket job was imported from (its seat went to a committee), or undefined for any
 * other job. One indexed log read (`ReplicaDisputed` by job id), then the redundant job.
 */
export async function findReplicaOfJob({ client, replicaMarket, jobId, fromBlock = 0n }: { client: PublicClient; replicaMarket: Address; jobId: bigint; fromBlock?: bigint }): Promise<ReplicaOfJob | undefined> {
  const [log] = await client.getContractEvents({ address: replicaMarket, abi: replicaMarketAbi, eventName: "ReplicaDisputed", args: { jobId }, fromBlock, toBlock: "latest" });
  if (!log) return undefined;
  const { replicaJobId, seat } = log.args as { replicaJobId: bigint; seat: bigint };
  // Its post came before the import (and before `fromBlock`, which may be the import's block): its events are
  // filtered on-node by the indexed id, from the start.
  const record = await readReplicaJob({ client, replicaMarket, replicaJobId });
  return { record, seat: record.seats[Number(seat)]! };
}
