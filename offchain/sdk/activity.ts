/**
 * An account's view of the protocol, rebuilt from events: the jobs it posted (`listJobs`), one job's
 * audit and dispute (`jobVerification`), and its money history (`accountHistory`: fees paid, refunds
 * and other credits, payouts, slashes, withdrawals). `dinfer job list|status` and `dinfer history`
 * print them; a dApp may call them directly.
 *
 * Logs are read from `fromBlock` (default 0) to the head in one `eth_getLogs` per query: on a long
 * chain give the block the account started at (nodes cap the range they serve).
 */
import { decodeEventLog, encodeEventTopics, numberToHex, type Abi, type Address, type Hex, type PublicClient } from "viem";

import { abiOf } from "../chain/artifacts.js";
import type { Deployment } from "../chain/deployment.js";
import { foldJobLogs, type JobRecord } from "../chain/jobs.js";

type RawLog = { address: Address; data: Hex; topics: [Hex, ...Hex[]]; blockNumber: bigint; transactionHash: Hex; logIndex: number };

export type ListJobsParameters = {
  publicClient: PublicClient;
  market: Address;
  /** Only jobs this account posted; every job when left out. */
  poster?: Address;
  fromBlock?: bigint;
};

/** The jobs posted (by `poster`), each folded from all its events to its current state, oldest first. */
export async function listJobs({ publicClient, market, poster, fromBlock = 0n }: ListJobsParameters): Promise<JobRecord[]> {
  const toBlock = await publicClient.getBlockNumber({ cacheTime: 0 });
  const posted = await getLogs(publicClient, { address: market, fromBlock, toBlock, topics: topicsOf("JobMarket", "JobPosted", poster ? { poster } : {}) });
  const ids = posted.map((log) => log.topics[1]!);
  const logs: RawLog[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    logs.push(...(await getLogs(publicClient, { address: market, fromBlock, toBlock, topics: [null, ids.slice(i, i + 100)] })));
  }
  logs.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : Number(a.blockNumber - b.blockNumber)));
  return [...foldJobLogs(logs).values()].sort((a, b) => Number(a.jobId - b.jobId));
}

/** One job's audit and dispute, from the verification contract's events. */
export type JobVerification = {
  audit?: { auditor: Address; state: "committed" | "agreed" | "disagreed"; recheck: boolean };
  dispute?: { opener: Address; reason: "challenge" | "auditor disagreed" | "auditor silent" | "recheck" | string; bond: bigint; resolved?: { providerFaulted: boolean; slashed: bigint } };
};

export async function jobVerification({ publicClient, verification, jobId, fromBlock = 0n }: { publicClient: PublicClient; verification: Address; jobId: bigint; fromBlock?: bigint }): Promise<JobVerification> {
  const toBlock = await publicClient.getBlockNumber({ cacheTime: 0 });
  const logs = await getLogs(publicClient, { address: verification, fromBlock, toBlock, topics: [null, numberToHex(jobId, { size: 32 })] });
  const out: JobVerification = {};
  for (const log of logs) {
    const event = decode(abiOf("Verification"), log);
    if (!event) continue;
    const a = event.args;
    if (event.eventName === "AuditCommitted") out.audit = { auditor: a.auditor as Address, state: "committed", recheck: false };
    else if (event.eventName === "AuditRevealed") out.audit = { auditor: a.auditor as Address, state: Number(a.verdict) === 0 ? "agreed" : "disagreed", recheck: a.recheck as boolean };
    else if (event.eventName === "ChallengeOpened") {
      const reasons = ["challenge", "auditor disagreed", "auditor silent", "recheck"];
      out.dispute = { opener: a.challenger as Address, reason: reasons[Number(a.reason)] ?? `reason ${a.reason}`, bond: a.bond as bigint };
    } else if (event.eventName === "DisputeResolved" && out.dispute) {
      out.dispute.resolved = { providerFaulted: a.providerFaulted as boolean, slashed: a.slashed as bigint };
    }
  }
  return out;
}

/** One money movement of an account. `amount` is signed: + the account gained (a credit), - it lost. */
export type HistoryEntry = {
  blockNumber: bigint;
  timestamp: bigint;
  txHash: Hex;
  kind: "fee paid" | "refund" | "compensation" | "payout" | "audit reward" | "verification pay" | "credit" | "slashed" | "staked" | "stake withdrawn" | "withdrawn";
  amount: bigint;
  jobId?: bigint;
};

export type AccountHistory = {
  entries: HistoryEntry[];
  /** Sums by kind: fees paid and slashes are negative. Withdrawals and stake moves only move tokens. */
  totals: { feesPaid: bigint; refunds: bigint; payouts: bigint; rewards: bigint; slashed: bigint; net: bigint };
};

/**
 * An account's money history as a dApp and as a provider or verifier: fees escrowed for its jobs,
 * refunds and compensation credited back, payouts for jobs it served, audit rewards and committee pay,
 * stake slashed, and its withdrawals.
 */
export async function accountHistory({ publicClient, deployment, account, fromBlock = 0n }: { publicClient: PublicClient; deployment: Deployment; account: Address; fromBlock?: bigint }): Promise<AccountHistory> {
  const toBlock = await publicClient.getBlockNumber({ cacheTime: 0 });
  const range = { fromBlock, toBlock };
  const market = abiOf("JobMarket");
  const query = (address: Address, contract: "JobMarket" | "Staking" | "Verification", eventName: string, args: Record<string, Address>) =>
    getLogs(publicClient, { address, ...range, topics: topicsOf(contract, eventName, args) });
  const [posted, finalized, credited, withdrawn, slashed, staked, unstaked, verificationCredited, verificationWithdrawn] = await Promise.all([
    query(deployment.market, "JobMarket", "JobPosted", { poster: account }),
    query(deployment.market, "JobMarket", "JobFinalized", { provider: account }),
    query(deployment.market, "JobMarket", "Credited", { account }),
    query(deployment.market, "JobMarket", "Withdrawal", { account }),
    query(deployment.staking, "Staking", "Slashed", { account }),
    query(deployment.staking, "Staking", "Staked", { account }),
    query(deployment.staking, "Staking", "Withdrawn", { account }),
    query(deployment.verification, "Verification", "Credited", { account }),
    query(deployment.verification, "Verification", "Withdrawal", { account }),
  ]);
  const entries: (Omit<HistoryEntry, "timestamp"> & { logIndex: number })[] = [];
  const add = (log: RawLog, kind: HistoryEntry["kind"], amount: bigint, jobId?: bigint) =>
    entries.push({ blockNumber: log.blockNumber, txHash: log.transactionHash, kind, amount, ...(jobId === undefined ? {} : { jobId }), logIndex: log.logIndex });
  for (const log of posted) {
    const a = decode(market, log)!.args;
    add(log, "fee paid", -(a.fee as bigint), a.jobId as bigint);
  }
  for (const log of finalized) {
    const a = decode(market, log)!.args;
    add(log, "payout", a.payout as bigint, a.jobId as bigint);
  }
  for (const log of credited) {
    const amount = decode(market, log)!.args.amount as bigint;
    const { kind, jobId } = await creditReason({ publicClient, market: deployment.market, log, amount });
    add(log, kind, amount, jobId);
  }
  for (const log of slashed) add(log, "slashed", -(decode(abiOf("Staking"), log)!.args.slashed as bigint));
  for (const log of staked) add(log, "staked", decode(abiOf("Staking"), log)!.args.amount as bigint);
  for (const log of unstaked) add(log, "stake withdrawn", decode(abiOf("Staking"), log)!.args.amount as bigint);
  for (const log of verificationCredited) add(log, "verification pay", decode(abiOf("Verification"), log)!.args.amount as bigint);
  for (const log of [...withdrawn, ...verificationWithdrawn]) add(log, "withdrawn", decode(market, log)?.args.amount as bigint);

  entries.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : Number(a.blockNumber - b.blockNumber)));
  const times = new Map<bigint, bigint>();
  for (const blockNumber of new Set(entries.map((entry) => entry.blockNumber))) times.set(blockNumber, (await publicClient.getBlock({ blockNumber })).timestamp);
  const full: HistoryEntry[] = entries.map(({ logIndex: _, ...entry }) => ({ ...entry, timestamp: times.get(entry.blockNumber)! }));

  const sum = (kinds: HistoryEntry["kind"][]) => full.filter((entry) => kinds.includes(entry.kind)).reduce((total, entry) => total + entry.amount, 0n);
  const totals = {
    feesPaid: sum(["fee paid"]),
    refunds: sum(["refund", "compensation", "credit"]),
    payouts: sum(["payout"]),
    rewards: sum(["audit reward", "verification pay"]),
    slashed: sum(["slashed"]),
    net: 0n,
  };
  totals.net = totals.feesPaid + totals.refunds + totals.payouts + totals.rewards + totals.slashed;
  return { entries: full, totals };
}

/** Why the market credited an account, from the other events of the same transaction. */
async function creditReason({ publicClient, market, log, amount }: { publicClient: PublicClient; market: Address; log: RawLog; amount: bigint }): Promise<{ kind: HistoryEntry["kind"]; jobId?: bigint }> {
  const receipt = await publicClient.getTransactionReceipt({ hash: log.transactionHash });
  for (const other of receipt.logs) {
    if (other.address.toLowerCase() !== market.toLowerCase()) continue;
    const event = decode(abiOf("JobMarket"), other as unknown as RawLog);
    if (!event) continue;
    const a = event.args;
    if (event.eventName === "JobExpired") return { kind: amount === a.refund ? "refund" : "compensation", jobId: a.jobId as bigint };
    if (event.eventName === "DisputeSettled") return { kind: "refund", jobId: a.jobId as bigint };
    if (event.eventName === "AuditRewardPaid") return { kind: "audit reward" };
  }
  return { kind: "credit" };
}

function topicsOf(contract: "JobMarket" | "Staking" | "Verification", eventName: string, args: Record<string, Address>): (Hex | Hex[] | null)[] {
  return encodeEventTopics({ abi: abiOf(contract), eventName, args } as Parameters<typeof encodeEventTopics>[0]) as (Hex | Hex[] | null)[];
}

function decode(abi: Abi, log: Pick<RawLog, "data" | "topics">): { eventName: string; args: Record<string, unknown> } | undefined {
  try {
    const { eventName, args } = decodeEventLog({ abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
    return { eventName: String(eventName), args: args as unknown as Record<string, unknown> };
  } catch {
    return undefined;
  }
}

async function getLogs(
  publicClient: PublicClient,
  { address, fromBlock, toBlock, topics }: { address: Address; fromBlock: bigint; toBlock: bigint; topics: (Hex | Hex[] | null)[] },
): Promise<RawLog[]> {
  const logs = await publicClient.request({
    method: "eth_getLogs",
    params: [{ address, fromBlock: numberToHex(fromBlock), toBlock: numberToHex(toBlock), topics }],
  });
  return logs.map((l) => ({
    address: l.address,
    data: l.data,
    topics: l.topics as [Hex, ...Hex[]],
    blockNumber: BigInt(l.blockNumber ?? 0),
    transactionHash: l.transactionHash as Hex,
    logIndex: Number(l.logIndex ?? 0),
  }));
}
