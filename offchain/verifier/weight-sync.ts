/**
 * The keeper's verifier-weight duty: a slash or penalty leaves a member's weight in the verifier set as
 * it was, so the members named in Staking `Slashed` events are checked, and one whose weight is above
 * what its stake now backs is synced (`Staking.syncVerifier`) by the keeper `syncStep` (decide.ts)
 * names, after its grace. One pass at a time; a revert is final, any other failure leaves the check
 * for the next pass.
 */
import type { Address, PublicClient } from "viem";

import { stakingAbi } from "../chain/abis.js";
import { ContractRevertError } from "../chain/errors.js";
import type { TxSender } from "../chain/sender.js";
import type { Logger } from "../log.js";
import { syncStep } from "./decide.js";
import { describe } from "./judge.js";
import type { VerifierMetrics } from "./metrics.js";

export type WeightSyncsParameters = {
  publicClient: PublicClient;
  sender: TxSender;
  staking: Address;
  account: Address;
  keeper: boolean;
  keeperGraceSeconds: number;
  /** The verifier set, the keepers' rotation. */
  keepers: () => Promise<Address[]>;
  /** The chain time at the current head. */
  now: () => bigint;
  metrics: VerifierMetrics;
  log: Logger;
};

type Entry = { member: Address; since?: bigint; wakeAt?: bigint };

export class WeightSyncs {
  readonly #p: WeightSyncsParameters;
  /** Members named in `Slashed` events, by lowercase address: their weight may need a sync. */
  readonly #entries = new Map<string, Entry>();
  #running?: Promise<void>;

  constructor(parameters: WeightSyncsParameters) {
    this.#p = parameters;
  }

  /** The pass in progress, if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** A `Slashed` event named `member`: its weight is checked (once, however many events name it). */
  note(member: Address): void {
    if (!this.#entries.has(member.toLowerCase())) this.#entries.set(member.toLowerCase(), { member });
  }

  /** Starts a pass over the members whose check is due at `now`, unless one runs. */
  start({ now, stopping }: { now: bigint; stopping: () => boolean }): void {
    if (this.#running || this.#entries.size === 0) return;
    const due = [...this.#entries.values()].filter((entry) => entry.wakeAt === undefined || now >= entry.wakeAt);
    if (due.length === 0) return;
    this.#running = this.#pass(due, stopping)
      .catch((error) => this.#p.log.warn({ msg: "verifier weight check failed", err: describe(error) }))
      .finally(() => (this.#running = undefined));
  }

  async #pass(due: Entry[], stopping: () => boolean): Promise<void> {
    const { publicClient, sender, account, keeper, keeperGraceSeconds, metrics, log } = this.#p;
    const staking = { address: this.#p.staking, abi: stakingAbi };
    const [keepers, params] = await Promise.all([
      this.#p.keepers(),
      publicClient.readContract({ ...staking, functionName: "params" }),
    ]);
    for (const entry of due) {
      if (stopping()) return;
      const now = this.#p.now();
      entry.since ??= now;
      const [view, debt] = await Promise.all([
        publicClient.readContract({ ...staking, functionName: "account", args: [entry.member] }),
        publicClient.readContract({ ...staking, functionName: "penaltyDebt", args: [entry.member] }),
      ]);
      const step = syncStep({
        me: account,
        member: entry.member,
        now,
        since: entry.since,
        stake: view.stake,
        debt,
        roles: Number(view.roles),
        weight: view.verifierWeight,
        minVerifierStake: params.minVerifierStake,
        keeper,
        keeperGraceSeconds,
        keepers,
      });
      if (step.kind === "wait") {
        entry.wakeAt = step.time;
        continue;
      }
      if (step.kind === "act") {
        try {
          const { hash, fee } = await sender.send({ ...staking, functionName: "syncVerifier", args: [entry.member] });
          metrics.keeper.inc({ action: "syncVerifier" });
          metrics.gas.inc(Number(fee));
          log.info({ msg: "verifier weight synced to its stake", account: entry.member, reason: step.reason, tx_hash: hash });
        } catch (error) {
          // A revert is final (nothing to retry); anything else (the RPC) leaves the check for the next pass.
          if (!(error instanceof ContractRevertError)) throw error;
          log.debug({ msg: "syncVerifier refused by the contract", account: entry.member, error: error.errorName });
        }
      }
      this.#entries.delete(entry.member.toLowerCase());
    }
  }
}
