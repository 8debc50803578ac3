/**
 * The chain's truth for the explorer's tests, read straight from the node (`eth_getLogs` over the protocol's
 * contracts, `Staking.account`), never from the explorer's file: how many jobs were posted, finalized,
 * expired and slashed (a batch counts its jobs; a redundant job's seat sent to a committee is not a posted
 * job), and each provider's faults.
 */
import { decodeEventLog, type Abi, type Address, type Hex, type PublicClient } from "viem";

import { batchMarketAbi, jobMarketAbi, replicaMarketAbi, stakingAbi, verificationAbi } from "../../offchain/chain/abis.js";
import type { Deployment } from "../../offchain/chain/deployment.js";

export type ChainTruth = {
  posted: number;
  finalized: number;
  expired: number;
  slashed: number;
  /** Lower-case provider -> its jobs that ended Slashed, plus its sampled results withheld (the whole collateral slashed). */
  faults: Map<string, number>;
  /** Every protocol log (of the five contracts read here) with its block hash. */
  logs: { blockNumber: bigint; blockHash: Hex; logIndex: number }[];
  /** The jobs that ended Slashed. */
  slashedJobs: bigint[];
};

type Decoded = { name: string; args: Record<string, unknown>; blockNumber: bigint; blockHash: Hex; logIndex: number };

/** Every decoded event of the market, batch market, verification, staking and replica market contracts, in chain order. */
export async function protocolEvents(publicClient: PublicClient, deployment: Deployment): Promise<Decoded[]> {
  const abis = new Map<string, Abi>([
    [deployment.market.toLowerCase(), jobMarketAbi],
    [deployment.batchMarket.toLowerCase(), batchMarketAbi],
    [deployment.verification.toLowerCase(), verificationAbi],
    [deployment.staking.toLowerCase(), stakingAbi],
    [deployment.replicaMarket.toLowerCase(), replicaMarketAbi],
  ]);
  const logs = await publicClient.getLogs({ address: [...abis.keys()] as Address[], fromBlock: 0n, toBlock: "latest" });
  const out: Decoded[] = [];
  for (const log of logs) {
    try {
      const decoded = decodeEventLog({ abi: abis.get(log.address.toLowerCase())!, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
      out.push({ name: String(decoded.eventName), args: (decoded.args ?? {}) as Record<string, unknown>, blockNumber: log.blockNumber!, blockHash: log.blockHash!, logIndex: log.logIndex! });
    } catch {
      // an event of no interest here
    }
  }
  return out.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
}

export async function chainTruth(publicClient: PublicClient, deployment: Deployment): Promise<ChainTruth> {
  const events = await protocolEvents(publicClient, deployment);
  const seats = new Set(events.filter((e) => e.name === "ReplicaDisputed").map((e) => e.args.jobId as bigint));
  const providerOf = new Map<bigint, string>();
  const truth: ChainTruth = { posted: 0, finalized: 0, expired: 0, slashed: 0, faults: new Map(), logs: events, slashedJobs: [] };
  const fault = (provider: string | undefined) => {
    if (provider === undefined) return;
    truth.faults.set(provider, (truth.faults.get(provider) ?? 0) + 1);
  };
  for (const { name, args } of events) {
    const jobId = args.jobId as bigint | undefined;
    if (name === "JobPosted") truth.posted++;
    else if (name === "BatchPosted") truth.posted += Number(args.count);
    else if ((name === "JobClaimed" || name === "ResultCommitted") && jobId !== undefined) providerOf.set(jobId, String(args.provider).toLowerCase());
    else if (name === "JobImported") providerOf.set(jobId!, String((args.job as { provider: string }).provider).toLowerCase());
    else if (name === "JobFinalized" && !seats.has(jobId!)) truth.finalized++;
    else if (name === "BatchFinalized") truth.finalized += Number(args.jobs);
    else if (name === "JobExpired") {
      truth.expired++;
      if (Number(args.from) === 3 && args.sampled === true) fault(providerOf.get(jobId!));
    } else if (name === "BatchExpired") truth.expired += Number(args.jobs);
    else if (name === "DisputeSettled" && args.providerFaulted === true && !seats.has(jobId!)) {
      truth.slashed++;
      truth.slashedJobs.push(jobId!);
      fault(providerOf.get(jobId!));
    }
  }
  return truth;
}

/** Staking's `account()` of `who` now. */
export async function stakeOf(publicClient: PublicClient, deployment: Deployment, who: Address) {
  return publicClient.readContract({ address: deployment.staking, abi: stakingAbi, functionName: "account", args: [who] });
}
