/**
 * Typed reads of the Verification contract's views (IVerification.sol), normalized from what viem
 * returns (uint64 as bigint, enums as numbers) into the shapes decide.ts works on.
 */
import type { Address, Hex, PublicClient } from "viem";

import { abiOf } from "../chain/artifacts.js";
import type { Job } from "../chain/jobs.js";
import {
  NO_DISPUTE,
  type AuditState,
  type AuditView,
  type DisputeState,
  type DisputeView,
  type Vote,
  type VoteView,
} from "./decide.js";

/** `IVerification.VerificationParams`. */
export type VerificationParams = {
  challengeBond: bigint;
  auditReward: bigint;
  auditorPenalty: bigint;
  voterPenalty: bigint;
  auditCommitTimeout: number;
  voteCommitTimeout: number;
  voteRevealTimeout: number;
  committeeSize: number;
  challengerRewardBps: number;
  voterRewardBps: number;
  providerRewardBps: number;
};

type Read = { publicClient: PublicClient; verification: Address; blockNumber?: bigint };

function read({ publicClient, verification, blockNumber }: Read, functionName: string, args: readonly unknown[]): Promise<unknown> {
  return publicClient.readContract({ address: verification, abi: abiOf("Verification"), functionName, args, blockNumber });
}

export async function readVerificationParams(r: Read): Promise<VerificationParams> {
  const p = (await read(r, "params", [])) as Record<string, bigint | number>;
  return {
    challengeBond: BigInt(p.challengeBond!),
    auditReward: BigInt(p.auditReward!),
    auditorPenalty: BigInt(p.auditorPenalty!),
    voterPenalty: BigInt(p.voterPenalty!),
    auditCommitTimeout: Number(p.auditCommitTimeout),
    voteCommitTimeout: Number(p.voteCommitTimeout),
    voteRevealTimeout: Number(p.voteRevealTimeout),
    committeeSize: Number(p.committeeSize),
    challengerRewardBps: Number(p.challengerRewardBps),
    voterRewardBps: Number(p.voterRewardBps),
    providerRewardBps: Number(p.providerRewardBps),
  };
}

export async function readAudit(r: Read & { jobId: bigint }): Promise<AuditView> {
  const a = (await read(r, "audit", [r.jobId])) as { auditor: Address; state: number; commitment: Hex; outputRoot: Hex };
  return { auditor: a.auditor, state: Number(a.state) as AuditState, commitment: a.commitment, outputRoot: a.outputRoot };
}

export async function readDispute(r: Read & { jobId: bigint }): Promise<DisputeView> {
  const d = (await read(r, "dispute", [r.jobId])) as Record<string, unknown>;
  if (Number(d.state) === 0) return NO_DISPUTE;
  return {
    challenger: d.challenger as Address,
    bond: BigInt(d.bond as bigint),
    state: Number(d.state) as DisputeState,
    openedBlock: BigInt(d.openedBlock as bigint),
    openedAt: BigInt(d.openedAt as bigint),
    voteCommitBy: BigInt(d.voteCommitBy as bigint),
    voteRevealBy: BigInt(d.voteRevealBy as bigint),
    byAuditor: Boolean(d.byAuditor),
    providerFaulted: Boolean(d.providerFaulted),
    committee: [...(d.committee as readonly Address[])],
  };
}

export async function readVotes(r: Read & { jobId: bigint; committee: readonly Address[] }): Promise<VoteView[]> {
  return Promise.all(
    r.committee.map(async (voter) => {
      const [commitment, vote] = (await read(r, "voteOf", [r.jobId, voter])) as readonly [Hex, number];
      return { voter, commitment, vote: Number(vote) as Vote };
    }),
  );
}

export async function readAuditorOf(r: Read & { jobId: bigint; job: Job }): Promise<Address> {
  return (await read(r, "auditorOf", [r.jobId, r.job])) as Address;
}

export async function readAuditCommitBy(r: Read & { job: Job }): Promise<bigint> {
  return BigInt((await read(r, "auditCommitBy", [r.job])) as bigint);
}

export async function readVerificationCredits(r: Read & { account: Address }): Promise<bigint> {
  return (await read(r, "credits", [r.account])) as bigint;
}
