/**
 * The verifier's periodic status line. A verifier is drawn as auditor for a share of the sampled jobs
 * equal to its share of the verifier set's weight, so a small one can wait many minutes between two
 * draws: without a word it looks dead. Every `statusIntervalMs` (a minute) while no step runs, it logs
 * one INFO line saying what it watches and why it is quiet.
 */
import type { Address, PublicClient } from "viem";

import { stakingAbi } from "../chain/abis.js";
import { formatTokens, formatUptime } from "../chain/format.js";
import { startStatusLine } from "../daemon/status.js";
import type { Logger } from "../log.js";

/** What the verifier has seen since it started. */
export type VerifierActivity = {
  /** JobPosted events seen. */
  jobsSeen: number;
  /** Of them, jobs of a model it serves. */
  jobsServed: number;
  /** Jobs it was drawn to audit. */
  drawn: number;
  /** Jobs it still follows (open in its journal). */
  open: number;
};

export type VerifierStatus = VerifierActivity & {
  /** Our weight in the verifier set and the set's total, at the head. */
  weight: bigint;
  totalWeight: bigint;
  /** Seconds since the start. */
  uptimeS: number;
};

/** "idle: verifier set share 25.0% (1,000 of 4,000 DINF), 12 jobs seen (12 of served models), not drawn yet, 0 open, up 5m". */
export function formatVerifierStatus(status: VerifierStatus): string {
  const { weight, totalWeight, jobsSeen, jobsServed, drawn, open } = status;
  const share = totalWeight === 0n ? "not in the verifier set" : `verifier set share ${(Number((weight * 10_000n) / totalWeight) / 100).toFixed(1)}% (${formatTokens(weight)} of ${formatTokens(totalWeight)})`;
  const seen = `${jobsSeen} job${jobsSeen === 1 ? "" : "s"} seen (${jobsServed} of served models)`;
  const draws = drawn === 0 ? "not drawn yet" : `drawn as auditor for ${drawn}`;
  return `idle: ${share}, ${seen}, ${draws}, ${open} open, up ${formatUptime(status.uptimeS)}`;
}

/** Our weight in the verifier set and the set's total, at `blockNumber`. */
export async function readVerifierWeight({ publicClient, staking, account, blockNumber }: { publicClient: PublicClient; staking: Address; account: Address; blockNumber: bigint }) {
  const contract = { address: staking, abi: stakingAbi };
  const [weight, totalWeight] = await Promise.all([
    publicClient.readContract({ ...contract, functionName: "verifierWeightAt", args: [account, blockNumber] }),
    publicClient.readContract({ ...contract, functionName: "totalVerifierWeightAt", args: [blockNumber] }),
  ]);
  return { weight, totalWeight };
}

export type StartIdleStatusParameters = {
  daemon: { activity(): VerifierActivity; readonly busy: number };
  publicClient: PublicClient;
  staking: Address;
  account: Address;
  intervalMs: number;
  log: Logger;
  now?: () => number;
};

/** Logs `formatVerifierStatus` every `intervalMs` while the daemon runs no step (offchain/daemon/status.ts); returns the stop function. */
export function startIdleStatus({ daemon, publicClient, staking, account, intervalMs, log, now }: StartIdleStatusParameters): () => void {
  return startStatusLine({
    busy: () => daemon.busy,
    intervalMs,
    log,
    now,
    read: async (uptimeS) => {
      const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 });
      const { weight, totalWeight } = await readVerifierWeight({ publicClient, staking, account, blockNumber });
      const status: VerifierStatus = { ...daemon.activity(), weight, totalWeight, uptimeS };
      return {
        msg: formatVerifierStatus(status),
        weight: weight.toString(),
        total_weight: totalWeight.toString(),
        jobs_seen: status.jobsSeen,
        jobs_served: status.jobsServed,
        drawn: status.drawn,
        open: status.open,
      };
    },
  });
}
