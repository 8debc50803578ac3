/**
 * The worker's free stake as its claims see it: the available stake read at the tick's head (one read
 * per head, shared by the jobs of a tick), less the collateral promised to claims not yet in that read
 * (sent, or mined after the head). A claim is never sent that the stake cannot back.
 */
import type { Address, PublicClient } from "viem";

import { stakingAbi } from "../chain/abis.js";

export type StakeLedgerParameters = { publicClient: PublicClient; staking: Address; account: Address };

export class StakeLedger {
  readonly #p: StakeLedgerParameters;
  /** Per job, the collateral promised and, once its claim is mined, the block (the reservation ends when the head reaches it). */
  readonly #reserved = new Map<bigint, { amount: bigint; block?: bigint }>();
  /** Our available stake at a head. */
  #read?: { head: bigint; value: Promise<bigint> };

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

  /** The claim is mined in `block`: a stake read at that block or later shows its lock (`promised`). */
  mined(jobId: bigint, amount: bigint, block: bigint): void {
    this.#reserved.set(jobId, { amount, block });
  }

  /** Drops the job's reservation unless its claim was mined (kept until the stake read shows the lock); whether there was one to drop. */
  releaseUnmined(jobId: bigint): boolean {
    return this.#reserved.get(jobId)?.block === undefined && this.#reserved.delete(jobId);
  }

  /**
   * Our available stake at `head` (one read per head). What claims can still lock is this less
   * `promised(head)`, taken right after the await, with the reservation in the same continuation: another
   * job's reservation between the two would let a claim be sent the stake cannot back.
   */
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
