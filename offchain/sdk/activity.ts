/**
 * An account's view of the protocol, rebuilt from events: the jobs it posted (`listJobs`), one job's
 * audit and dispute (`jobVerification`), and its money history (`accountHistory`: fees paid, refunds
 * and other credits, payouts, slashes, withdrawals). `dinfer job list|status` and `dinfer history`
 * print them; a dApp may call them directly.
 *
 * Logs are read from `fromBlock` (default 0) to the head in one `eth_getLogs` per query: on a long
 * chain give the block the account started at (nodes cap the range they serve).
 */
import { encodeEventTopics, numberToHex, type Address, type Hex, type PublicClient } from "viem";

import { jobMarketAbi, stakingAbi, verificationAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { foldJobLogs, type JobRecord } from "../chain/jobs.js";
import { decodeEvent } from "../chain/events.js";

/** Where a log sits in the chain. */
type LogPlace = { blockNumber: bigint; transactionHash: Hex; logIndex: number };

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
  const topics = encodeEventTopics({ abi: jobMarketAbi, eventName: "JobPosted", args: poster ? { poster } : {} });
  const posted = await getLogs(publicClient, { address: market, fromBlock, toBlock, topics });
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
    const event = tryDecode(() => decodeEvent({ abi: verificationAbi, data: log.data, topics: log.topics }));
    if (event?.eventName === "AuditCommitted") out.audit = { auditor: event.args.auditor, state: "committed", recheck: false };
    else if (event?.eventName === "AuditRevealed") {
      out.audit = { auditor: event.args.auditor, state: Number(event.args.verdict) === 0 ? "agreed" : "disagreed", recheck: event.args.recheck };
    } else if (event?.eventName === "ChallengeOpened") {
      const reasons = ["challenge", "auditor disagreed", "auditor silent", "recheck"];
      out.dispute = { opener: event.args.challenger, reason: reasons[Number(event.args.reason)] ?? `reason ${event.args.reason}`, bond: event.args.bond };
    } else if (event?.eventName === "DisputeResolved" && out.dispute) {
      out.dispute.resolved = { providerFaulted: event.args.providerFaulted, slashed: event.args.slashed };
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
  const range = { fromBlock, toBlock, strict: true } as const;
  const market = { address: deployment.market, abi: jobMarketAbi, ...range };
  const staking = { address: deployment.staking, abi: stakingAbi, ...range };
  const verification = { address: deployment.verification, abi: verificationAbi, ...range };
  const [posted, finalized, credited, withdrawn, slashed, staked, unstaked, verificationCredited, verificationWithdrawn] = await Promise.all([
    publicClient.getContractEvents({ ...market, eventName: "JobPosted", args: { poster: account } }),
    publicClient.getContractEvents({ ...market, eventName: "JobFinalized", args: { provider: account } }),
    publicClient.getContractEvents({ ...market, eventName: "Credited", args: { account } }),
    publicClient.getContractEvents({ ...market, eventName: "Withdrawal", args: { account } }),
    publicClient.getContractEvents({ ...staking, eventName: "Slashed", args: { account } }),
    publicClient.getContractEvents({ ...staking, eventName: "Staked", args: { account } }),
    publicClient.getContractEvents({ ...staking, eventName: "Withdrawn", args: { account } }),
    publicClient.getContractEvents({ ...verification, eventName: "Credited", args: { account } }),
    publicClient.getContractEvents({ ...verification, eventName: "Withdrawal", args: { account } }),
  ]);
  const entries: (Omit<HistoryEntry, "timestamp"> & { logIndex: number })[] = [];
  const add = (log: LogPlace, kind: HistoryEntry["kind"], amount: bigint, jobId?: bigint) =>
    entries.push({ blockNumber: log.blockNumber, txHash: log.transactionHash, kind, amount, ...(jobId === undefined ? {} : { jobId }), logIndex: log.logIndex });
  for (const log of posted) add(log, "fee paid", -log.args.fee, log.args.jobId);
  for (const log of finalized) add(log, "payout", log.args.payout, log.args.jobId);
  for (const log of credited) {
    const { kind, jobId } = await creditReason({ publicClient, market: deployment.market, log, amount: log.args.amount });
    add(log, kind, log.args.amount, jobId);
  }
  for (const log of slashed) add(log, "slashed", -log.args.slashed);
  for (const log of staked) add(log, "staked", log.args.amount);
  for (const log of unstaked) add(log, "stake withdrawn", log.args.amount);
  for (const log of verificationCredited) add(log, "verification pay", log.args.amount);
  for (const log of [...withdrawn, ...verificationWithdrawn]) add(log, "withdrawn", log.args.amount);

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
async function creditReason({ publicClient, market, log, amount }: { publicClient: PublicClient; market: Address; log: LogPlace; amount: bigint }): Promise<{ kind: HistoryEntry["kind"]; jobId?: bigint }> {
  const receipt = await publicClient.getTransactionReceipt({ hash: log.transactionHash });
  for (const other of receipt.logs) {
    if (other.address.toLowerCase() !== market.toLowerCase()) continue;
    const event = tryDecode(() => decodeEvent({ abi: jobMarketAbi, data: other.data, topics: other.topics }));
    if (event?.eventName === "JobExpired") return { kind: amount === event.args.refund ? "refund" : "compensation", jobId: event.args.jobId };
    if (event?.eventName === "DisputeSettled") return { kind: "refund", jobId: event.args.jobId };
    if (event?.eventName === "AuditRewardPaid") return { kind: "audit reward" };
  }
  return { kind: "credit" };
}

/** A decoded event, or undefined for a log that is not one of the ABI's events. */
function tryDecode<T>(decode: () => T): T | undefined {
  try {
    return decode();
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
