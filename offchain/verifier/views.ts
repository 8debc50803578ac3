/**
 * Typed reads of the Verification contract (IVerification.sol), normalized from what viem returns
 * (uint64 as bigint, enums as numbers) into the shapes decide.ts works on, the locations a job's output
 * is served at (its reveal, the market's OutputAnnounced events and an auditor's reveal), and the rules of a terms
 * version (read with offchain/chain/terms.ts) as decide.ts uses them.
 */
import { numberToHex, type Address, type Hex, type PublicClient } from "viem";

import { batchMarketAbi, jobMarketAbi, verificationAbi } from "../chain/abis.js";
import { decodeJobLog, type Job } from "../chain/jobs.js";
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
import { decodeEvent } from "../chain/events.js";

type Read = { publicClient: PublicClient; verification: Address; blockNumber?: bigint };

/** Where and at which block a view is read; spread into `readContract`, whose typed ABI checks the call. */
function at({ verification, blockNumber }: Read) {
  return { address: verification, abi: verificationAbi, blockNumber } as const;
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
  const a = await r.publicClient.readContract({ ...at(r), functionName: "audit", args: [r.jobId] });
  return { auditor: a.auditor, state: a.state as AuditState, commitBlock: a.commitBlock, commitment: a.commitment, outputRoot: a.outputRoot };
}

export async function readDispute(r: Read & { jobId: bigint }): Promise<DisputeView> {
  const d = await r.publicClient.readContract({ ...at(r), functionName: "dispute", args: [r.jobId] });
  if (d.state === 0) return NO_DISPUTE;
  return {
    challenger: d.challenger,
    bond: d.bond,
    state: d.state as DisputeState,
    reason: d.reason as DisputeReason,
    openedBlock: BigInt(d.openedBlock),
    openedAt: BigInt(d.openedAt),
    seedBlock: BigInt(d.seedBlock),
    voteCommitBy: BigInt(d.voteCommitBy),
    voteRevealBy: BigInt(d.voteRevealBy),
    outcome: d.outcome as Vote,
    providerFaulted: d.providerFaulted,
    committee: [...d.committee],
  };
}

/** Each member's vote, once per member (a member may hold several seats: `dispute.committee` repeats it). */
export async function readVotes(r: Read & { jobId: bigint; committee: readonly Address[] }): Promise<VoteView[]> {
  const members = [...new Map(r.committee.map((m) => [m.toLowerCase(), m])).values()];
  return Promise.all(
    members.map(async (voter) => {
      const [commitment, vote] = await r.publicClient.readContract({ ...at(r), functionName: "voteOf", args: [r.jobId, voter] });
      return { voter, commitment, vote: vote as Vote };
    }),
  );
}

export async function readAuditorOf(r: Read & { jobId: bigint; job: Job }): Promise<Address> {
  return r.publicClient.readContract({ ...at(r), functionName: "auditorOf", args: [r.jobId, r.job] });
}

export async function readVerificationCredits(r: Read & { account: Address }): Promise<bigint> {
  return r.publicClient.readContract({ ...at(r), functionName: "credits", args: [r.account] });
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
    if (log.address.toLowerCase() === market.toLowerCase()) {
      const event = decodeJobLog({ data: log.data, topics: log.topics, blockNumber: null });
      if (event?.eventName === "OutputAnnounced") locations.announced.push(event.args.outputURI);
      continue;
    }
    if (log.topics.length === 0) continue;
    try {
      const event = decodeEvent({ abi: verificationAbi, data: log.data, topics: log.topics });
      if (event.eventName === "AuditRevealed") locations.audit = { auditor: event.args.auditor, outputRoot: event.args.outputRoot, outputURI: event.args.outputURI };
    } catch {
      continue; // an event this ABI does not know
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

/** How many of a provider's latest reveals `readProviderBlobServers` looks at. */
const PROVIDER_REVEALS_READ = 16;

/**
 * The output locations of a provider's latest reveals (`ResultRevealed` of the JobMarket and `BatchRevealed`
 * of the BatchMarket, filtered on-node by the indexed provider): where its blob server was. A blind auditor
 * needs the provider's server before the job it audits is revealed (to read an input its dApp no longer
 * serves), and a provider with any revealed job has told the chain where it serves.
 */
export async function readProviderBlobServers({
  publicClient,
  market,
  batchMarket,
  provider,
}: {
  publicClient: PublicClient;
  market: Address;
  batchMarket: Address;
  provider: Address;
}): Promise<string[]> {
  const [jobs, batches] = await Promise.all([
    publicClient.getContractEvents({ address: market, abi: jobMarketAbi, eventName: "ResultRevealed", args: { provider }, fromBlock: 0n, toBlock: "latest" }),
    publicClient.getContractEvents({ address: batchMarket, abi: batchMarketAbi, eventName: "BatchRevealed", args: { provider }, fromBlock: 0n, toBlock: "latest" }),
  ]);
  const latest = [...jobs, ...batches]
    .sort((a, b) => Number((b.blockNumber ?? 0n) - (a.blockNumber ?? 0n)) || (b.logIndex ?? 0) - (a.logIndex ?? 0))
    .slice(0, PROVIDER_REVEALS_READ);
  return [...new Set(latest.map((log) => String((log.args as { outputURI?: string }).outputURI ?? "")).filter((uri) => uri !== ""))];
}

