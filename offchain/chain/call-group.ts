/**
 * Groups an account's calls to one contract into one transaction: the contract's `multicall(bytes[])`
 * (OpenZeppelin Multicall: each call delegated to the contract itself, the sender kept). A provider
 * serving many separately posted jobs pays one transaction's base cost (21,000 gas) for the claims,
 * reveals or finalizations that fall due together, instead of one each.
 *
 * A call waits at most `maxWaitMs` for others (a group leaves at once when it holds `maxCalls`); a
 * lone call is sent as it is. A group the contract refuses (one of its calls would revert: a lost claim
 * race, a reveal still waiting for its audit), or the node refuses before it is sent (a group too large
 * for one transaction: over the gas a transaction may use, 16,777,216 since Osaka, or the node's size
 * limit), is split in two halves, each sent as a group again, down to single calls: each caller learns
 * its own outcome, one refused call costs the others log2(n) more simulations rather than their grouping,
 * and a group that could never be sent is never formed again. A group mined and reverted (the state
 * moved after its estimate) is sent again call by call: each reverted group is paid for. Each caller gets the transaction's hash (through
 * its `onSent`, for its journal) and receipt, with `fee` its share of the transaction's fee and `calls`
 * the number of calls the transaction carried.
 *
 * Calls another account may make fail in the meantime (claims: a rival's claim mined first) are grouped
 * with `skipFailures`: the group goes as the market's `tryMulticall`, which skips a call that reverts (its
 * effects undone, its revert data in a `CallSkipped` event) and runs the others. Its caller gets the
 * `ContractRevertError` it would have got alone (its details name the transaction), and the others their
 * receipt: a race lost in the block costs the group that one call's gas, not every call in it. A
 * `tryMulticall` never fails its simulation for one call, so the group is read first (an `eth_call` of it
 * from the sender): a call that would fail already goes alone, where the sender's simulation refuses it
 * with its own error and nothing is sent, as it would have been alone. With `leaveWhenIdle` a call leaves
 * at once while none of the group's transactions is in flight, and only the calls that come while one is
 * wait (at most `maxWaitMs`): grouping costs a claim no time when there is nothing to group it with.
 *
 * What held when a caller queued its call may not hold when the group leaves (a reorg replaced the job it
 * claims): a caller's `withdrawn` is asked again then, and whenever the call is sent again, and a call it withdraws
 * rejects with its error, unsent.
 */
import {
  decodeEventLog,
  decodeFunctionResult,
  encodeFunctionData,
  parseAbi,
  type Abi,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from "viem";

import { RetryableError } from "../errors.js";
import { ContractRevertError, decodeRevert } from "./errors.js";
import type { SendParameters, SendReturnType, TxSender } from "./sender.js";

type WriteMutability = "nonpayable" | "payable";

/** OpenZeppelin's Multicall, the one function a grouped transaction calls. */
const multicallAbi = parseAbi(["function multicall(bytes[] data) returns (bytes[] results)"]);
/** JobMarket's `tryMulticall`: a call that reverts is skipped and named in a `CallSkipped` event. */
const tryMulticallAbi = parseAbi(["function tryMulticall(bytes[] data) returns (bool[] ok)", "event CallSkipped(uint256 index, bytes reason)"]);

export type GroupedSendReturnType = SendReturnType & {
  /** Calls the transaction carried (1 when this call was sent alone). */
  calls: number;
};

export type CallGroupParameters = {
  sender: Pick<TxSender, "send" | "address">;
  /** The contract whose calls are grouped (it must have `multicall(bytes[])`); calls elsewhere pass through. */
  address: Address;
  /** The functions grouped; others pass through, alone. */
  functions: readonly string[];
  /** The most calls one transaction carries (>= 1; 1 turns grouping off). */
  maxCalls: number;
  /** The longest a call waits for others (>= 0). */
  maxWaitMs: number;
  /**
   * Group with `tryMulticall` (the contract must have it): a call that reverts once mined is skipped and
   * only its caller fails. For calls a rival may make fail between the estimate and the block (claims),
   * and only calls that reach no code but the contract's own and trusted contracts': any code they reach
   * could make the contract emit a `CallSkipped` of its own (a `tryMulticall` from a consumer's callback),
   * which the receipt cannot tell from the group's. `reader` reads the group before it is sent.
   */
  skipFailures?: { reader: Pick<PublicClient, "call"> };
  /** A call leaves at once while none of the group's transactions is in flight (see the module doc). */
  leaveWhenIdle?: boolean;
};

/** `CallGroup.send`'s second argument. */
export type GroupedSendOptions = {
  /**
   * Asked each time the call is about to go out (as its group leaves after its wait, again when it is sent again
   * after a refused or reverted group, and before a call that is not grouped): an error withdraws the call (it
   * rejects with that error and is not sent), undefined lets it go. One that throws withdraws it with that error.
   */
  withdrawn?: () => Error | undefined;
};

type Pending = {
  parameters: SendParameters;
  resolve: (result: GroupedSendReturnType) => void;
  reject: (error: unknown) => void;
  withdrawn?: () => Error | undefined;
};

export class CallGroup {
  readonly address: Address;
  readonly #p: CallGroupParameters;
  readonly #functions: ReadonlySet<string>;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The group's transactions between their send and their outcome. */
  #inFlight = 0;

  constructor(parameters: CallGroupParameters) {
    const { maxCalls, maxWaitMs } = parameters;
    if (!Number.isInteger(maxCalls) || maxCalls < 1) throw new RangeError(`CallGroup: maxCalls must be an integer >= 1, got ${maxCalls}`);
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new RangeError(`CallGroup: maxWaitMs must be >= 0, got ${maxWaitMs}`);
    this.#p = parameters;
    this.#functions = new Set(parameters.functions);
    this.address = parameters.sender.address;
  }

  /** Sends `parameters` alone or in a group (see the module doc); the same contract as TxSender.send. */
  send<
    const abi extends Abi | readonly unknown[],
    functionName extends ContractFunctionName<abi, WriteMutability>,
    args extends ContractFunctionArgs<abi, WriteMutability, functionName>,
  >(call: SendParameters<abi, functionName, args>, { withdrawn }: GroupedSendOptions = {}): Promise<GroupedSendReturnType> {
    const parameters = call as unknown as SendParameters;
    const grouped =
      this.#p.maxCalls > 1 &&
      parameters.address.toLowerCase() === this.#p.address.toLowerCase() &&
      this.#functions.has(parameters.functionName as string) &&
      parameters.value === undefined &&
      parameters.gas === undefined;
    if (!grouped) {
      const error = askWithdrawn(withdrawn);
      return error === undefined ? this.#alone(parameters) : Promise.reject(error);
    }
    return new Promise<GroupedSendReturnType>((resolve, reject) => {
      this.#queue.push({ parameters, resolve, reject, withdrawn });
      if (this.#queue.length >= this.#p.maxCalls) this.#flush();
      // Idle: this call and those due with it (this turn of the event loop) leave together, now.
      else this.#timer ??= setTimeout(() => this.#flush(), this.#p.leaveWhenIdle && this.#inFlight === 0 ? 0 : this.#p.maxWaitMs);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const group = this.#queue.splice(0, this.#p.maxCalls);
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#flush(), this.#p.maxWaitMs);
    if (group.length > 0) this.#send(group);
  }

  /**
   * Sends `group` as one transaction (one call: as it is); `checked`: read already, every call would run. Each
   * call's `withdrawn` is asked first, here, so that a call sent again (a half of a refused group, one the pre-read
   * sent alone, one of a reverted group) is asked again too: each leaves after a round trip or a block.
   */
  #send(pending: Pending[], checked = false): void {
    const group = pending.filter(({ withdrawn, reject }) => {
      const error = askWithdrawn(withdrawn);
      if (error !== undefined) reject(error);
      return error === undefined;
    });
    if (group.length === 0) return;
    this.#inFlight++;
    let done: Promise<void>;
    if (group.length === 1) {
      const [only] = group as [Pending];
      done = this.#alone(only.parameters).then(only.resolve, only.reject);
    } else done = this.#together(group, checked);
    void done.finally(() => {
      this.#inFlight--;
      if (this.#p.leaveWhenIdle && this.#inFlight === 0 && this.#queue.length > 0) this.#flush();
    });
  }

  async #together(group: Pending[], checked: boolean): Promise<void> {
    const data = group.map(({ parameters }) =>
      encodeFunctionData({ abi: parameters.abi as Abi, functionName: parameters.functionName as string, args: (parameters as { args?: readonly unknown[] }).args }),
    );
    // The contract's own errors decode a refused group's revert (Multicall passes the inner one up).
    const errors = (group[0]!.parameters.abi as Abi).filter((item) => item.type === "error");
    if (this.#p.skipFailures && !checked) {
      const runs = await this.#wouldRun(data);
      if (runs !== undefined && runs.length === group.length && runs.includes(false)) {
        // A call that fails already (a job a rival took before this block) goes alone: the sender's
        // simulation refuses it and sends nothing. The others go on together.
        group.forEach((pending, i) => runs[i] || this.#send([pending]));
        const running = group.filter((_, i) => runs[i]);
        if (running.length > 0) this.#send(running, true);
        return;
      }
    }
    let broadcast = false;
    let sent: SendReturnType;
    try {
      sent = await this.#p.sender.send({
        address: this.#p.address,
        abi: [...(this.#p.skipFailures ? tryMulticallAbi : multicallAbi), ...errors],
        functionName: this.#p.skipFailures ? "tryMulticall" : "multicall",
        args: [data],
        onSent: (tx) => {
          broadcast = true;
          for (const { parameters } of group) parameters.onSent?.(tx);
        },
      });
    } catch (error) {
      // Refused before it was sent, by the contract's simulation or by the node (a final refusal, such as
      // a group over the gas or size a transaction may have): the halves go again, at the cost of a
      // simulation each. Mined and reverted (the state moved after the estimate): nothing of it took
      // effect, but a reverted group is paid for, so each call goes alone rather than risk that again.
      // A transport failure, or any other failure once the node had it (it may still be mined), reaches
      // every caller: the next tick reads the jobs and tries again.
      if (!broadcast && (error instanceof ContractRevertError || !(error instanceof RetryableError))) {
        const half = Math.ceil(group.length / 2);
        this.#send(group.slice(0, half));
        this.#send(group.slice(half));
      } else if (error instanceof ContractRevertError) {
        for (const pending of group) this.#send([pending]);
      } else for (const { reject } of group) reject(error);
      return;
    }
    const calls = group.length;
    const share = sent.fee / BigInt(calls);
    const events = this.#p.skipFailures ? skipEvents(sent.receipt, this.#p.address) : [];
    const skipped = new Map(events);
    if (events.some(([index]) => index >= calls) || skipped.size < events.length) {
      // More CallSkipped events than the group can have made: some came from elsewhere (a contract the calls
      // reached), so none can be trusted. The chain says what happened: the next tick reads the jobs.
      const error = new RetryableError("a grouped transaction's receipt has CallSkipped events its calls cannot all have made", {
        code: "GROUP_OUTCOME_UNCLEAR",
        details: { txHash: sent.hash, calls, skipped: [...skipped.keys()] },
      });
      for (const { reject } of group) reject(error);
      return;
    }
    group.forEach(({ resolve, reject }, i) => {
      const fee = i === 0 ? sent.fee - share * BigInt(calls - 1) : share;
      const reason = skipped.get(i);
      if (reason === undefined) return resolve({ ...sent, fee, calls });
      // Mined, and this call alone reverted: the error it would have had alone, in the group's transaction.
      const { errorName, args } = decodeRevert({ data: reason, abi: errors });
      const details = { txHash: sent.hash, blockNumber: sent.receipt.blockNumber.toString(), skippedIn: calls, fee: fee.toString() };
      reject(new ContractRevertError({ errorName, args, data: reason, details }));
    });
  }

  async #alone(parameters: SendParameters): Promise<GroupedSendReturnType> {
    return { ...(await this.#p.sender.send(parameters)), calls: 1 };
  }

  /** Which calls of a `tryMulticall` of `data` would run now (an eth_call from the sender); undefined if the read fails. */
  async #wouldRun(data: Hex[]): Promise<readonly boolean[] | undefined> {
    try {
      const { data: returned } = await this.#p.skipFailures!.reader.call({
        account: this.#p.sender.address,
        to: this.#p.address,
        data: encodeFunctionData({ abi: tryMulticallAbi, functionName: "tryMulticall", args: [data] }),
      });
      return decodeFunctionResult({ abi: tryMulticallAbi, functionName: "tryMulticall", data: returned ?? "0x" });
    } catch {
      return undefined; // the send's own simulation meets whatever failed here
    }
  }
}

/** A caller's `withdrawn` asked: its error, or undefined to go on; one that throws withdraws the call with what it threw. */
function askWithdrawn(withdrawn: (() => Error | undefined) | undefined): Error | undefined {
  try {
    return withdrawn?.();
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** The contract's `CallSkipped` events in a receipt, in order: the index and revert data of each. */
function skipEvents(receipt: TransactionReceipt, contract: Address): [number, Hex][] {
  const events: [number, Hex][] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== contract.toLowerCase()) continue;
    try {
      const { args } = decodeEventLog({ abi: tryMulticallAbi, eventName: "CallSkipped", data: log.data, topics: log.topics });
      events.push([Number(args.index), args.reason]);
    } catch {
      // another of the contract's events
    }
  }
  return events;
}
