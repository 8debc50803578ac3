/**
 * The journaled send-at-most-once action both daemons take their job steps with. The intent is
 * recorded (and on disk) before anything is sent, the transaction hash the moment the node has it, the
 * outcome after the receipt; a step whose action the journal already holds as confirmed is not sent
 * again, and one the contract refused may be tried again later (`retryAction`). A crash between the
 * send and the journal entry leaves the action pending: the daemon reconciles it with the chain. A
 * confirmed action asked for again is sent again only when a reorg took its transaction away (`#lost`).
 * Logs and metrics stay with the daemon; this only keeps the journal and the send in order.
 */
import { setTimeout as sleep } from "node:timers/promises";

import { TransactionNotFoundError, TransactionReceiptNotFoundError, type Hex, type PublicClient } from "viem";

import type { SendParameters, SendReturnType } from "../chain/sender.js";
import { classifyChainError, ContractRevertError, errorChain } from "../chain/errors.js";
import type { Journal } from "../state/journal.js";

export type SendOnce = (onSent: NonNullable<SendParameters["onSent"]>) => Promise<SendReturnType>;

export type JournaledSendResult =
  /** The journal holds the action as confirmed already: nothing was sent. */
  | { state: "done" }
  /** Sent now and mined; `lost`: the transaction of an earlier confirmation, which a reorg took away. */
  | ({ state: "sent"; lost?: Hex } & SendReturnType)
  /** The contract refused it (simulated or mined reverted): recorded as failed, never retried here. */
  | { state: "refused"; error: ContractRevertError };

export type JournaledActionsParameters = {
  journal: Journal;
  /**
   * Take the intent's disk flush off the event loop (`beginAction({ sync: false })`, then `flush()`):
   * a daemon with many jobs in flight keeps its loop free. Default: a synchronous flush.
   */
  asyncFlush?: boolean;
  /**
   * Lets a confirmed action the daemon asks for again be looked up on the chain (its recorded transaction's receipt,
   * then the node's pool) and sent again when a reorg took it away. Without it, a confirmed action is never sent again.
   */
  publicClient?: Pick<PublicClient, "getTransactionReceipt" | "getTransaction">;
  /**
   * How long to wait before asking a second time whether a confirmed action's transaction is gone (`#lost`): a node
   * behind the one that mined it (a load balancer's) knows neither its receipt nor the transaction for a moment.
   * Default 3 s.
   */
  lostRecheckMs?: number;
};

/** A daemon's journaled actions, and how many are being simulated, estimated or sent now. */
export class JournaledActions {
  readonly #journal: Journal;
  readonly #asyncFlush: boolean;
  readonly #publicClient: JournaledActionsParameters["publicClient"];
  readonly #lostRecheckMs: number;
  #sending = 0;

  constructor({ journal, asyncFlush = false, publicClient, lostRecheckMs = 3_000 }: JournaledActionsParameters) {
    this.#journal = journal;
    this.#asyncFlush = asyncFlush;
    this.#publicClient = publicClient;
    this.#lostRecheckMs = lostRecheckMs;
  }

  /** Actions between their intent and their outcome now (a daemon holds its withdrawals while any is). */
  get sending(): number {
    return this.#sending;
  }

  /**
   * Sends `action` of job `jobId` at most once (`key` names it in the journal; default: the action).
   * `beforeSend` runs after the intent is on disk and before the send (e.g. waiting for a withdrawal).
   * A failure other than a revert (the RPC) throws and leaves the action pending for the next try.
   * An action the journal holds as confirmed is "done", unless its transaction is gone from the chain (`#lost`):
   * then it is reopened and sent again (the result names the lost transaction).
   */
  async send({
    jobId,
    action,
    send,
    beforeSend,
  }: {
    jobId: bigint;
    action: string;
    send: SendOnce;
    beforeSend?: () => Promise<void>;
  }): Promise<JournaledSendResult> {
    const journal = this.#journal;
    const { action: existing } = journal.beginAction({ jobId, action, sync: !this.#asyncFlush });
    let lost: Hex | undefined;
    if (existing.state === "confirmed") {
      if (!(await this.#lost(existing.txHash))) return { state: "done" };
      lost = existing.txHash;
      journal.reopenAction({ jobId, action });
    }
    if (existing.state === "failed") journal.retryAction({ jobId, action });
    if (this.#asyncFlush) await journal.flush();
    await beforeSend?.();
    this.#sending++;
    try {
      // The hash is journaled the moment the node has the transaction: a crash while we wait for the
      // receipt still leaves the record of which transaction did the action.
      const sent = await send(({ hash: txHash, nonce }) => journal.markActionSent({ jobId, action, txHash, nonce }));
      journal.markActionConfirmed({ jobId, action, txHash: sent.hash });
      return { state: "sent", ...sent, ...(lost === undefined ? {} : { lost }) };
    } catch (error) {
      if (!(error instanceof ContractRevertError)) throw error;
      journal.markActionFailed({ jobId, action, error: `${error.errorName ?? "revert"}` });
      return { state: "refused", error };
    } finally {
      this.#sending--;
    }
  }

  /**
   * Whether the transaction that confirmed an action is gone: no receipt, and not in the node's pool either (a reorg
   * took the block that mined it away, and the node did not put it back). Asked only when a daemon asks for an action
   * the journal holds as confirmed: a daemon decides from the chain's state, so that happens after such a reorg (or
   * from a read older than the action), never on the way of a job that goes as planned, which pays no request for it.
   * A transaction still pooled will be mined again, and one with a receipt stands: either way the action is done, and
   * sending it again could do it twice. Unknown (no client, no hash recorded): done, as before. Gone means gone twice,
   * `lostRecheckMs` apart: a lagging node answers "not found" for a transaction another node mined.
   */
  async #lost(txHash: Hex | undefined): Promise<boolean> {
    if (!(await this.#absent(txHash))) return false;
    await sleep(this.#lostRecheckMs);
    return this.#absent(txHash);
  }

  /** Whether the node knows neither a receipt of `txHash` nor the transaction itself (unknown: false). */
  async #absent(txHash: Hex | undefined): Promise<boolean> {
    const client = this.#publicClient;
    if (client === undefined || txHash === undefined) return false;
    const absent = async (read: () => Promise<unknown>, notFound: new (...args: never[]) => Error): Promise<boolean> => {
      try {
        await read();
        return false;
      } catch (error) {
        if (errorChain(error).some((e) => e instanceof notFound)) return true;
        throw classifyChainError({ error, details: { txHash, step: "confirmed action's transaction" } });
      }
    };
    return (await absent(() => client.getTransactionReceipt({ hash: txHash }), TransactionReceiptNotFoundError)) && (await absent(() => client.getTransaction({ hash: txHash }), TransactionNotFoundError));
  }
}

/** An action `sendUnlessDropped` did not send after all. */
class DroppedBeforeSend extends Error {}

/**
 * `JournaledActions.send` with a last check: `stillWanted`, asked after `beforeSend`, returns why the action must not
 * go out after all (a reorg replaced what it acts on while it waited). Then nothing is sent, its intent stays in the
 * journal for a later send, and the result is `{ dropped }` with that reason.
 */
export async function sendUnlessDropped({
  actions,
  jobId,
  action,
  send,
  beforeSend,
  stillWanted,
}: {
  actions: JournaledActions;
  jobId: bigint;
  action: string;
  send: SendOnce;
  beforeSend?: () => Promise<void>;
  stillWanted?: () => Promise<string | undefined>;
}): Promise<JournaledSendResult | { dropped: string }> {
  let dropped: string | undefined;
  try {
    return await actions.send({
      jobId,
      action,
      send: (onSent) => (dropped === undefined ? send(onSent) : Promise.reject(new DroppedBeforeSend())),
      beforeSend: async () => {
        await beforeSend?.();
        dropped = await stillWanted?.();
      },
    });
  } catch (error) {
    if (error instanceof DroppedBeforeSend) return { dropped: dropped! };
    throw error;
  }
}
