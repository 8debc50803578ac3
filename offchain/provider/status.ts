/**
 * The provider worker's periodic status line: every `statusIntervalMs` (a minute) while no job step
 * runs, one INFO line saying what it has seen and done since the start and how much stake is free
 * to back new claims, so an idle worker is visibly alive (like the verifier's, ../verifier/status.ts).
 */
import type { Address, PublicClient } from "viem";

import { stakingAbi } from "../chain/abis.js";
import { formatTokens, formatUptime } from "../chain/format.js";
import { startStatusLine } from "../daemon/status.js";
import type { Logger } from "../log.js";

/** What the worker has seen and done since it started. */
export type WorkerActivity = {
  /** JobPosted events of served models seen. */
  jobsSeen: number;
  /** Jobs it still follows (candidates and its own jobs not ended). */
  open: number;
  /** Claims, commits and reveals of ours confirmed (a claimAndCommit counts as both). */
  claimed: number;
  committed: number;
  revealed: number;
};

export type WorkerStatus = WorkerActivity & {
  /** Our provider stake and the part of it not locked as collateral, at the head. */
  stake: bigint;
  free: bigint;
  /** Seconds since the start. */
  uptimeS: number;
};

/** "idle: 12 jobs seen, 0 open, 3 claimed, 3 committed, 3 revealed, stake 1000 DINF (940 DINF free), up 5m". */
export function formatWorkerStatus(status: WorkerStatus): string {
  const { jobsSeen, open, claimed, committed, revealed, stake, free } = status;
  const seen = `${jobsSeen} job${jobsSeen === 1 ? "" : "s"} seen`;
  const stakeText = stake === 0n ? "no provider stake (claims need collateral: dinfer provider stake)" : `stake ${formatTokens(stake)} (${formatTokens(free)} free)`;
  return `idle: ${seen}, ${open} open, ${claimed} claimed, ${committed} committed, ${revealed} revealed, ${stakeText}, up ${formatUptime(status.uptimeS)}`;
}

export type StartWorkerStatusParameters = {
  daemon: { activity(): WorkerActivity; readonly busy: number };
  publicClient: PublicClient;
  staking: Address;
  account: Address;
  intervalMs: number;
  log: Logger;
  now?: () => number;
};

/** Logs `formatWorkerStatus` every `intervalMs` while the worker runs no job step (offchain/daemon/status.ts); returns the stop function. */
export function startWorkerStatus({ daemon, publicClient, staking, account, intervalMs, log, now }: StartWorkerStatusParameters): () => void {
  const contract = { address: staking, abi: stakingAbi };
  return startStatusLine({
    busy: () => daemon.busy,
    intervalMs,
    log,
    now,
    read: async (uptimeS) => {
      const [state, free] = await Promise.all([
        publicClient.readContract({ ...contract, functionName: "account", args: [account] }),
        publicClient.readContract({ ...contract, functionName: "availableStake", args: [account] }),
      ]);
      const status: WorkerStatus = { ...daemon.activity(), stake: state.stake, free, uptimeS };
      return {
        msg: formatWorkerStatus(status),
        jobs_seen: status.jobsSeen,
        open: status.open,
        claimed: status.claimed,
        committed: status.committed,
        revealed: status.revealed,
        stake: status.stake.toString(),
        stake_tokens: formatTokens(status.stake),
        free_stake: free.toString(),
        free_stake_tokens: formatTokens(free),
      };
    },
  });
}
