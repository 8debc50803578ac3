/**
 * The worker's earnings withdrawals: the credits its finalized jobs earned in one contract (the JobMarket, or
 * the BatchMarket for batches: both are PullPayments), withdrawn once they
 * reach `withdrawMin`. Credits are read only when they may have grown (a job of ours finalized) and at
 * least every CREDITS_RECHECK_MS (anything else that pays us), and at most one withdraw goes out per
 * WITHDRAW_EVERY_MS: each costs a transaction, and finalizes come in bursts.
 */
import type { Address, PublicClient } from "viem";

import { pullPaymentsAbi } from "../chain/abis.js";
import { formatTokens } from "../chain/format.js";
import type { TxSender } from "../chain/sender.js";
import { DinferError } from "../errors.js";
import type { Logger } from "../log.js";
import type { WorkerMetrics } from "./metrics.js";

/** Credits are read after a job of ours finalized, and at least this often (anything else that pays us). */
const CREDITS_RECHECK_MS = 30_000;
/** At most one withdraw per this long. */
const WITHDRAW_EVERY_MS = 5_000;

export type EarningsParameters = {
  publicClient: PublicClient;
  sender: TxSender;
  /** The contract whose credits these are (IPullPayments: the JobMarket or the BatchMarket). */
  market: Address;
  account: Address;
  withdrawMin: bigint;
  metrics: WorkerMetrics;
  log: Logger;
  now?: () => number;
};

export class Earnings {
  readonly #p: EarningsParameters;
  readonly #now: () => number;
  /** Whether our credits may have grown since they were last read, and when that was. */
  #mayHaveGrown = true;
  #readAt = 0;
  #withdrewAt = -Infinity;
  #withdrawing?: Promise<void>;

  constructor(parameters: EarningsParameters) {
    this.#p = parameters;
    this.#now = parameters.now ?? Date.now;
  }

  /** The withdraw in flight, if any (a step's transaction waits for it). */
  get withdrawing(): Promise<void> | undefined {
    return this.#withdrawing;
  }

  /** A job of ours finalized: our credits grew. */
  grew(): void {
    this.#mayHaveGrown = true;
  }

  /**
   * Starts a withdraw when one is due, never alongside a step's transaction (`sending` > 0): a withdraw
   * empties the credits slot, and a finalize whose gas was estimated before that then needs ~20k gas
   * more (a zero to non-zero SSTORE) and runs out.
   */
  maybeWithdraw(sending: number): void {
    const now = this.#now();
    const due = (this.#mayHaveGrown && now - this.#withdrewAt >= WITHDRAW_EVERY_MS) || now - this.#readAt >= CREDITS_RECHECK_MS;
    if (this.#withdrawing || sending > 0 || !due) return;
    this.#withdrawing = this.#withdraw()
      .catch((error) => this.#p.log.warn({ msg: "withdraw failed", err: describe(error) }))
      .finally(() => (this.#withdrawing = undefined));
  }

  async #withdraw(): Promise<void> {
    const { publicClient, sender, market, account, withdrawMin, metrics, log } = this.#p;
    this.#mayHaveGrown = false;
    this.#readAt = this.#now();
    let credits: bigint;
    try {
      credits = await publicClient.readContract({ address: market, abi: pullPaymentsAbi, functionName: "credits", args: [account] });
    } catch (error) {
      this.#mayHaveGrown = true;
      throw error;
    }
    if (credits === 0n || credits < withdrawMin) return;
    this.#withdrewAt = this.#now();
    const { hash, fee } = await sender.send({ address: market, abi: pullPaymentsAbi, functionName: "withdraw", args: [] });
    metrics.earnings.inc(Number(credits));
    metrics.gas.inc(Number(fee));
    log.info({ msg: "earnings withdrawn", contract: market, amount: credits.toString(), amount_tokens: formatTokens(credits), tx_hash: hash });
  }
}

function describe(error: unknown): string {
  if (error instanceof DinferError) return `${error.name}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
