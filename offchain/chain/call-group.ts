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
 */
import { encodeFunctionData, parseAbi, type Abi, type Address, type ContractFunctionArgs, type ContractFunctionName } from "viem";

import { RetryableError } from "../errors.js";
import { ContractRevertError } from "./errors.js";
import type { SendParameters, SendReturnType, TxSender } from "./sender.js";

type WriteMutability = "nonpayable" | "payable";

/** OpenZeppelin's Multicall, the one function a grouped transaction calls. */
const multicallAbi = parseAbi(["function multicall(bytes[] data) returns (bytes[] results)"]);

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
};

type Pending = {
  parameters: SendParameters;
  resolve: (result: GroupedSendReturnType) => void;
  reject: (error: unknown) => void;
};

export class CallGroup {
  readonly address: Address;
  readonly #p: CallGroupParameters;
  readonly #functions: ReadonlySet<string>;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;

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
  >(call: SendParameters<abi, functionName, args>): Promise<GroupedSendReturnType> {
    const parameters = call as unknown as SendParameters;
    const grouped =
      this.#p.maxCalls > 1 &&
      parameters.address.toLowerCase() === this.#p.address.toLowerCase() &&
      this.#functions.has(parameters.functionName as string) &&
      parameters.value === undefined &&
      parameters.gas === undefined;
    if (!grouped) return this.#alone(parameters);
    return new Promise<GroupedSendReturnType>((resolve, reject) => {
      this.#queue.push({ parameters, resolve, reject });
      if (this.#queue.length >= this.#p.maxCalls) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#p.maxWaitMs);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const group = this.#queue.splice(0, this.#p.maxCalls);
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#flush(), this.#p.maxWaitMs);
    if (group.length > 0) this.#send(group);
  }

  /** Sends `group` as one transaction (one call: as it is). */
  #send(group: Pending[]): void {
    if (group.length === 1) {
      const [only] = group as [Pending];
      void this.#alone(only.parameters).then(only.resolve, only.reject);
    } else void this.#together(group);
  }

  async #together(group: Pending[]): Promise<void> {
    const data = group.map(({ parameters }) =>
      encodeFunctionData({ abi: parameters.abi as Abi, functionName: parameters.functionName as string, args: (parameters as { args?: readonly unknown[] }).args }),
    );
    // The contract's own errors decode a refused group's revert (Multicall passes the inner one up).
    const errors = (group[0]!.parameters.abi as Abi).filter((item) => item.type === "error");
    let broadcast = false;
    let sent: SendReturnType;
    try {
      sent = await this.#p.sender.send({
        address: this.#p.address,
        abi: [...multicallAbi, ...errors],
        functionName: "multicall",
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
    group.forEach(({ resolve }, i) => resolve({ ...sent, fee: i === 0 ? sent.fee - share * BigInt(calls - 1) : share, calls }));
  }

  async #alone(parameters: SendParameters): Promise<GroupedSendReturnType> {
    return { ...(await this.#p.sender.send(parameters)), calls: 1 };
  }
}
