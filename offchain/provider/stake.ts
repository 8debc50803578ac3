/**
 * The worker's free stake as its claims see it: the available stake read at the tick's head (one read
 * per head, shared by the jobs of a tick), less the collateral promised to claims not yet in that read
 * (sent, or mined after the head). A claim is never sent that the stake cannot back. A check the stake
 * does not back leaves a wake behind, called when stake may have come free (`check`): the single jobs, the
 * batches and the redundant jobs of one worker share the ledger, so each one's receipts wake the others.
 */
import type { Address, PublicClient } from "viem";

import { stakingAbi } from "../chain/abis.js";

export type StakeLedgerParameters = { publicClient: PublicClient; staking: Address; account: Address };

export type StakeCheckParameters = {
  /** The job's key in the ledger (a batch's and a redundant job's are offset: BATCH_KEY, REPLICA_KEY). */
  key: bigint;
  amount: bigint;
  head: bigint;
  /** Reserve a backed amount for `key` at once, in the same continuation as the check. */
  reserve?: boolean;
  /** Called once when stake may have come free, if the stake does not back `amount` now (replaces the key's earlier one). */
  onFreed?: () => void;
};

export class StakeLedger {
  readonly #p: StakeLedgerParameters;
  /** Per job, the collateral promised and, once its claim is mined, the block (the reservation ends when the head reaches it). */
  readonly #reserved = new Map<bigint, { amount: bigint; block?: bigint }>();
  /** Our available stake at a head. */
  #read?: { head: bigint; value: Promise<bigint> };
  /** Wakes of the checks the stake did not back, by key. */
  readonly #waiters = new Map<bigint, () => void>();

  constructor(parameters: StakeLedgerParameters) {
    this.#p = parameters;
  }

  /**
   * A new head: the reservations of claims mined before it are in the stake read at it and at the head
   * before it, and are dropped. One mined in the head's own block is kept for a check still at the head
   * before; `promised(head)` leaves it out.
   */
  advance(head: bigint): void {
    for (const [jobId, { block }] of this.#reserved) if (block !== undefined && block < head) this.#reserved.delete(jobId);
  }

  /** Promises `amount` to job `jobId`'s claim (until it is mined: `mined`; or dropped: `release`). */
  reserve(jobId: bigint, amount: bigint): void {
    this.#reserved.set(jobId, { amount });
  }

  /**
   * The claim is mined in `block`: a stake read at that block or later shows its lock (`promised`). The waiting
   * checks try again: a claim mined in the head's block is in the stake read at the head before its receipt is
   * read, and counted as in flight till then, so the stake may have been there all along.
   */
  mined(jobId: bigint, amount: bigint, block: bigint): void {
    this.#reserved.set(jobId, { amount, block });
    this.#freed();
  }

  /**
   * Drops the job's reservation unless its claim was mined (kept until the stake read shows the lock); whether
   * there was one to drop. A dropped one wakes the waiting checks.
   */
  releaseUnmined(jobId: bigint): boolean {
    const dropped = this.#reserved.get(jobId)?.block === undefined && this.#reserved.delete(jobId);
    if (dropped) this.#freed();
    return dropped;
  }

  /**
   * Whether our free stake at `head` (available, less `promised(head)`) backs `amount`, and that free stake.
   * With `reserve`, a backed amount is reserved for `key` with no await between the check and the reservation:
   * another job's reservation between the two would let a claim be sent the stake cannot back. An amount not
   * backed leaves `onFreed` to be called when a reservation is dropped or a claim found mined, rather than a
   * block later.
   */
  async check({ key, amount, head, reserve = false, onFreed }: StakeCheckParameters): Promise<{ backed: boolean; free: bigint }> {
    this.#waiters.delete(key);
    const free = (await this.available(head)) - this.promised(head);
    if (free < amount) {
      if (onFreed !== undefined) this.#waiters.set(key, onFreed);
      return { backed: false, free };
    }
    if (reserve) this.reserve(key, amount);
    return { backed: true, free };
  }

  /**
   * Calls (and forgets) the waiting checks' wakes. They run inside `mined` and `releaseUnmined`, in the step of
   * the claim that freed the stake: a wake that throws is dropped (its job still wakes at its timed sleep), never
   * the claim's step, nor the wakes after it.
   */
  #freed(): void {
    if (this.#waiters.size === 0) return;
    const wakes = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const wake of wakes) {
      try {
        wake();
      } catch {
        // See above: a wake only hurries a retry.
      }
    }
  }

  /** Our available stake at `head` (one read per head); what claims can still lock is this less `promised(head)` (`check`). */
  available(head: bigint): Promise<bigint> {
    if (this.#read?.head !== head) {
      const { publicClient, staking, account } = this.#p;
      const value = publicClient.readContract({ address: staking, abi: stakingAbi, functionName: "availableStake", args: [account], blockNumber: head });
      this.#read = { head, value };
      value.catch(() => {
        if (this.#read?.value === value) this.#read = undefined;
      });
    }
    return this.#read.value;
  }

  /**
   * Collateral our claims in flight, or mined after `head`, will lock: what the stake read at `head` does not
   * show yet. A claim mined at `head` or before is in that read; its receipt often comes after the tick that
   * read it, and counted again until the next head, it made a worker whose stake backs a few more jobs than
   * it runs wait a block or two for stake it had.
   */
  promised(head: bigint): bigint {
    let sum = 0n;
    for (const { amount, block } of this.#reserved.values()) if (block === undefined || block > head) sum += amount;
    return sum;
  }
}
