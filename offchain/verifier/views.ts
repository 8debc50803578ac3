/**
 * Typed reads of the Verification contract (IVerification.sol), normalized from what viem returns
 * (uint64 as bigint, enums as numbers) into the shapes decide.ts works on, the locations a job's output
 * is served at (its reveal, the market's OutputAnnounced events and an auditor's reveal), and the rules of a terms
 * version (read with offchain/chain/terms.ts) as decide.ts uses them.
 */
import { decodeEventLog, numberToHex, type Address, type Hex, type PublicClient } from "viem";

import { abiOf } from "../chain/artifacts.js";
import type { Job } from "../chain/jobs.js";
import type { Terms } from "../chain/terms.js";
import {
  NO_DISPUTE,
  type AuditState,
  type AuditView,
  type DisputeReason,
  type DisputeState,
  type DisputeView,
  type JobTerms,
  type Vote,
  type VoteView,
} from "./decide.js";

type Read = { publicClient: PublicClient; verification: Address; blockNumber?: bigint };

function read({ publicClient, verification, blockNumber }: Read, functionName: string, args: readonly unknown[]): Promise<unknown> {
  return publicClient.readContract({ address: verification, abi: abiOf("Verification"), functionName, args, blockNumber });
}

/** The rules decide.ts works by, out of a terms version. */
export function jobTermsOf({ market, verification }: Terms): JobTerms {
  return {
    seedDelay: market.seedDelay,
    revealTimeout: market.revealTimeout,
    challengeWindow: market.challengeWindow,
    disputeDuration: market.disputeDuration,
    auditCommitTimeout: verification.auditCommitTimeout,
    voteCommitTimeout: verification.voteCommitTimeout,
    voteRevealTimeout: verification.voteRevealTimeout,
  };
}

export async function readAudit(r: Read & { jobId: bigint }): Promise<AuditView> {
  const a = (await read(r, "audit", [r.jobId])) as { auditor: Address; state: number; commitBlock: bigint; commitment: Hex; outputRoot: Hex };
  return { auditor: a.auditor, state: Number(a.state) as AuditState, commitBlock: BigInt(a.commitBlock), commitment: a.commitment, outputRoot: a.outputRoot };
}

export async function readDispute(r: Read & { jobId: bigint }): Promise<DisputeView> {
  const d = (await read(r, "dispute", [r.jobId])) as Record<string, unknown>;
  if (Number(d.state) === 0) return NO_DISPUTE;
  return {
    challenger: d.challenger as Address,
    bond: BigInt(d.bond as bigint),
    state: Number(d.state) as DisputeState,
    reason: Number(d.reason) as DisputeReason,
    openedBlock: BigInt(d.openedBlock as bigint),
    openedAt: BigInt(d.openedAt as bigint),
    seedBlock: BigInt(d.seedBlock as bigint),
    voteCommitBy: BigInt(d.voteCommitBy as bigint),
    voteRevealBy: BigInt(d.voteRevealBy as bigint),
    outcome: Number(d.outcome) as Vote,
    providerFaulted: Boolean(d.providerFaulted),
    committee: [...(d.committee as readonly Address[])],
  };
}

/** Each member's vote, once per member (a member may hold several seats: `dispute.committee` repeats it). */
export async function readVotes(r: Read & { jobId: bigint; committee: readonly Address[] }): Promise<VoteView[]> {
  const members = [...new Map(r.committee.map((m) => [m.toLowerCase(), m])).values()];
  return Promise.all(
    members.map(async (voter) => {
      const [commitment, vote] = (await read(r, "voteOf", [r.jobId, voter])) as readonly [Hex, number];
      return { voter, commitment, vote: Number(vote) as Vote };
    }),
  );
}

export async function readAuditorOf(r: Read & { jobId: bigint; job: Job }): Promise<Address> {
  return (await read(r, "auditorOf", [r.jobId, r.job])) as Address;
}

export async function readVerificationCredits(r: Read & { account: Address }): Promise<bigint> {
  return (await read(r, "credits", [r.account])) as bigint;
}

/** Where a job's outputs are served beyond its reveal: what the market's and Verification's events say. */
export type OutputLocations = {
  /** Every URI the provider announced for the job (`JobMarket.OutputAnnounced`), in chain order. */
  announced: string[];
  /** The auditor's reveal (`Verification.AuditRevealed`): its root and where it serves its own output. */
  audit?: { auditor: Address; outputRoot: Hex; outputURI: string };
};

export type ReadOutputLocationsParameters = {
  publicClient: PublicClient;
  market: Address;
  verification: Address;
  jobId: bigint;
  fromBlock?: bigint;
};

/**
 * Reads the job's `OutputAnnounced` (JobMarket) and `AuditRevealed` (Verification) events, in one
 * request filtered on-node by the two addresses and the indexed jobId. Each event counts only from the
 * contract that emits it (the market lets only the job's provider announce).
 */
export async function readOutputLocations({ publicClient, market, verification, jobId, fromBlock }: ReadOutputLocationsParameters): Promise<OutputLocations> {
  const logs = await publicClient.request({
    method: "eth_getLogs",
    params: [{ address: [market, verification], fromBlock: numberToHex(fromBlock ?? 0n), toBlock: "latest", topics: [null, numberToHex(jobId, { size: 32 })] }],
  });
  const locations: OutputLocations = { announced: [] };
  for (const log of [...logs].sort(chainOrder)) {
    const fromMarket = log.address.toLowerCase() === market.toLowerCase();
    let decoded: { eventName: string; args: Record<string, unknown> };
    try {
      const abi = abiOf(fromMarket ? "JobMarket" : "Verification");
      decoded = decodeEventLog({ abi, data: log.data as Hex, topics: log.topics as [Hex, ...Hex[]] }) as unknown as typeof decoded;
    } catch {
      continue;
    }
    if (fromMarket && decoded.eventName === "OutputAnnounced") locations.announced.push(String(decoded.args.outputURI));
    if (!fromMarket && decoded.eventName === "AuditRevealed") {
      locations.audit = { auditor: decoded.args.auditor as Address, outputRoot: decoded.args.outputRoot as Hex, outputURI: String(decoded.args.outputURI) };
    }
  }
  return locations;
}

/** Logs of several addresses in the order they happened (a node may group them by address). */
function chainOrder(a: { blockNumber: Hex | null; logIndex: Hex | null }, b: { blockNumber: Hex | null; logIndex: Hex | null }): number {
  const key = (log: typeof a) => [BigInt(log.blockNumber ?? "0x0"), BigInt(log.logIndex ?? "0x0")] as const;
  const [[ab, ai], [bb, bi]] = [key(a), key(b)];
  return ab !== bb ? (ab < bb ? -1 : 1) : ai < bi ? -1 : ai > bi ? 1 : 0;
}
