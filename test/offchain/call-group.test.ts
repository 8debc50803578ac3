/**
 * CallGroup (offchain/chain/call-group.ts), the worker's grouping of its steps into one JobMarket
 * multicall: when calls leave together or alone, what each caller gets back, and how a group the
 * contract refuses falls back to one call each. The sender here is a recording stand-in (this is the
 * unit of code around it); the same grouping against the real JobMarket is in
 * test/offchain/call-group-chain.test.ts.
 *
 * Run alone: `npx hardhat test mocha test/offchain/call-group.test.ts`.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { describe, it } from "mocha";
import {
  decodeFunctionData,
  encodeAbiParameters,
  encodeErrorResult,
  encodeEventTopics,
  encodeFunctionResult,
  parseAbi,
  type Address,
  type Hex,
  type Log,
  type TransactionReceipt,
} from "viem";

import { CallGroup, type CallGroupParameters } from "../../offchain/chain/call-group.js";
import { ChainRequestError, ChainTransportError, ContractRevertError } from "../../offchain/chain/errors.js";
import { RetryableError } from "../../offchain/errors.js";
import type { SendParameters, SendReturnType } from "../../offchain/chain/sender.js";

const MARKET: Address = "0x00000000000000000000000000000000000000aa";
const OTHER: Address = "0x00000000000000000000000000000000000000bb";
const abi = parseAbi([
  "function finalize(uint256 jobId)",
  "function claim(uint256 jobId)",
  "function expire(uint256 jobId)",
  "function multicall(bytes[] data) returns (bytes[] results)",
  "function tryMulticall(bytes[] data) returns (bool[] ok)",
  "event CallSkipped(uint256 index, bytes reason)",
  "error JobMismatch(uint256 jobId)",
]);

type Sent = { functionName: string; args: readonly unknown[]; address: Address };

/** Records what it is asked to send; refuses what `refuse` says (a ContractRevertError, as TxSender's simulation does). */
function recordingSender({ refuse = () => false, fail }: { refuse?: (p: Sent) => boolean; fail?: Error } = {}) {
  const sent: Sent[] = [];
  let nonce = 0;
  const sender = {
    address: "0x00000000000000000000000000000000000000cc" as Address,
    async send(parameters: SendParameters): Promise<SendReturnType> {
      const call: Sent = { functionName: parameters.functionName as string, args: (parameters as { args: readonly unknown[] }).args, address: parameters.address };
      await sleep(5);
      if (fail) throw fail;
      if (refuse(call)) throw new ContractRevertError({ errorName: "JobMismatch", args: [], details: {} });
      sent.push(call);
      const hash = `0x${(++nonce).toString(16).padStart(64, "0")}` as Hex;
      parameters.onSent?.({ hash, nonce });
      return { hash, nonce, receipt: { gasUsed: 100_000n, blockNumber: 1n, status: "success" } as TransactionReceipt, fee: 1_000_003n };
    },
  };
  return { sender: sender as unknown as CallGroupParameters["sender"], sent };
}

/** The job ids a recorded multicall carried. */
function innerJobIds(call: Sent): bigint[] {
  return (call.args[0] as Hex[]).map((data) => decodeFunctionData({ abi, data }).args![0] as bigint);
}

describe("CallGroup: a provider's steps in one multicall", () => {
  it("sends the calls due within maxWaitMs as one multicall; each caller gets its hash (onSent too), the receipt, its share of the fee and the group's size", async () => {
    const { sender, sent } = recordingSender();
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 10, maxWaitMs: 50 });
    const journaled: [bigint, Hex][] = [];
    const results = await Promise.all(
      [1n, 2n, 3n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId], onSent: ({ hash }) => journaled.push([jobId, hash]) })),
    );
    assert.equal(sent.length, 1, "one transaction");
    assert.equal(sent[0]!.functionName, "multicall");
    assert.deepEqual(innerJobIds(sent[0]!), [1n, 2n, 3n], "in the order the calls came");
    assert.deepEqual(new Set(results.map((r) => r.hash)).size, 1);
    assert.deepEqual(journaled.map(([id]) => id), [1n, 2n, 3n], "every caller journals the hash");
    assert.ok(results.every((r) => r.calls === 3));
    assert.equal(results.reduce((sum, r) => sum + r.fee, 0n), 1_000_003n, "the shares add up to the transaction's fee");
  });

  it("sends a lone call as it is (no multicall), and calls to other contracts or of other functions alone at once", async () => {
    const { sender, sent } = recordingSender();
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 10, maxWaitMs: 30 });
    const lone = await group.send({ address: MARKET, abi, functionName: "finalize", args: [7n] });
    assert.equal(lone.calls, 1);
    await Promise.all([
      group.send({ address: MARKET, abi, functionName: "expire", args: [8n] }),
      group.send({ address: OTHER, abi, functionName: "finalize", args: [9n] }),
    ]);
    assert.deepEqual(sent.map((s) => s.functionName), ["finalize", "expire", "finalize"]);
  });

  it("leaves at once with maxCalls calls, the rest in the next group", async () => {
    const { sender, sent } = recordingSender();
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 2, maxWaitMs: 10_000 });
    const started = performance.now();
    await Promise.all([1n, 2n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] })));
    assert.ok(performance.now() - started < 5_000, "did not wait for maxWaitMs");
    const third = group.send({ address: MARKET, abi, functionName: "finalize", args: [3n] });
    const fourth = group.send({ address: MARKET, abi, functionName: "finalize", args: [4n] });
    await Promise.all([third, fourth]);
    assert.deepEqual(sent.map(innerJobIds), [[1n, 2n], [3n, 4n]]);
  });

  it("splits a refused group in halves, each sent again as a group: the refused call rejects with its own error, the others go through", async () => {
    const refuse = (call: Sent) => (call.functionName === "multicall" ? innerJobIds(call).includes(2n) : call.args[0] === 2n);
    const { sender, sent } = recordingSender({ refuse });
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 10, maxWaitMs: 20 });
    const outcomes = await Promise.allSettled([1n, 2n, 3n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] })));
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof ContractRevertError);
    const byJob = sent.map((s) => [s.functionName, s.args[0]]).sort((a, b) => Number(a[1]) - Number(b[1]));
    assert.deepEqual(byJob, [["finalize", 1n], ["finalize", 3n]], "[1, 2] refused, then 1 and 2 alone; [3] alone");
  });

  it("keeps the others grouped when one call of a group is refused (a sampled reveal held for its audit joins every group): 7 of 8 calls in 3 transactions, not 7", async () => {
    // The worker retries a reveal held for its audit (AuditPending) every few seconds: sent again call by
    // call, each group it joined lost its grouping whole. Halving costs log2(8) = 3 refused simulations.
    const refuse = (call: Sent) => (call.functionName === "multicall" ? innerJobIds(call).includes(8n) : call.args[0] === 8n);
    const { sender, sent } = recordingSender({ refuse });
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 8, maxWaitMs: 20 });
    const jobIds = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n];
    const outcomes = await Promise.allSettled(jobIds.map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] })));
    assert.deepEqual(outcomes.map((o) => o.status), [...Array(7).fill("fulfilled"), "rejected"]);
    assert.equal(sent.length, 3, `transactions sent for the 7 good calls: ${sent.map((s) => (s.functionName === "multicall" ? innerJobIds(s).join("+") : String(s.args[0]))).join(", ")}`);
    assert.deepEqual(sent.map((s) => (s.functionName === "multicall" ? innerJobIds(s) : [s.args[0]])).sort((a, b) => a.length - b.length), [[7n], [5n, 6n], [1n, 2n, 3n, 4n]]);
  });

  it("splits a group the node refuses before it has it (too large for one transaction), down to groups it takes", async () => {
    // A node's own refusal of the group (over the gas a transaction may use): not a revert, not retryable.
    const tooLarge = new ChainRequestError("Transaction gas limit exceeds transaction gas cap", { code: "CHAIN_REQUEST", details: {} });
    const { sender, sent } = recordingSender({ refuse: () => false });
    const inner = sender.send.bind(sender);
    sender.send = (async (parameters: SendParameters) => {
      const calls = parameters.functionName === "multicall" ? (parameters as { args: readonly unknown[] }).args[0] as Hex[] : [];
      if (calls.length > 2) throw tooLarge;
      return inner(parameters);
    }) as typeof sender.send;
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 8, maxWaitMs: 20 });
    const results = await Promise.all([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] })));
    assert.ok(results.every((r) => r.calls === 2), "each in a group of two, the most the node takes");
    assert.deepEqual(sent.map(innerJobIds).sort((a, b) => Number(a[0]! - b[0]!)), [[1n, 2n], [3n, 4n], [5n, 6n], [7n, 8n]]);
  });

  it("sends a group mined and reverted (the state moved after its estimate) again call by call, not in halves: a reverted group is paid for", async () => {
    const { sender, sent } = recordingSender();
    const inner = sender.send.bind(sender);
    let mined = 0;
    sender.send = (async (parameters: SendParameters) => {
      if (parameters.functionName !== "multicall") return inner(parameters);
      parameters.onSent?.({ hash: `0x${"ee".repeat(32)}`, nonce: 99 });
      mined++;
      throw new ContractRevertError({ errorName: "JobMismatch", args: [], details: {} });
    }) as typeof sender.send;
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 8, maxWaitMs: 20 });
    const results = await Promise.all([1n, 2n, 3n, 4n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] })));
    assert.equal(mined, 1, "one group mined and reverted, none after it");
    assert.ok(results.every((r) => r.calls === 1));
    assert.equal(sent.length, 4);
  });

  it("rejects every call of a group with the endpoint's error (not sent one by one: the next tick retries them)", async () => {
    const { sender, sent } = recordingSender({ fail: new ChainTransportError("connection refused", { code: "CHAIN_TRANSPORT", details: {} }) });
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 10, maxWaitMs: 20 });
    const outcomes = await Promise.allSettled([1n, 2n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] })));
    assert.ok(outcomes.every((o) => o.status === "rejected" && o.reason instanceof ChainTransportError));
    assert.equal(sent.length, 0);
  });

  /** A reader whose eth_call of a tryMulticall answers that the calls of `failing` jobs would not run. */
  const readerFailing = (failing: bigint[] = []) => ({
    reads: 0,
    async call({ data }: { data?: Hex }) {
      this.reads++;
      const calls = decodeFunctionData({ abi, data: data! }).args![0] as Hex[];
      const ok = calls.map((call) => !failing.includes(decodeFunctionData({ abi, data: call }).args![0] as bigint));
      return { data: encodeFunctionResult({ abi, functionName: "tryMulticall", result: ok }) };
    },
  });
  /** A CallSkipped event as `emitter` logs it: call `index` of the group skipped with JobMismatch(jobId). */
  const skippedLog = (emitter: Address, index: bigint, jobId: bigint) =>
    ({
      address: emitter,
      topics: encodeEventTopics({ abi, eventName: "CallSkipped" }),
      data: encodeAbiParameters([{ type: "uint256" }, { type: "bytes" }], [index, encodeErrorResult({ abi, errorName: "JobMismatch", args: [jobId] })]),
    }) as unknown as Log;
  /** A recording sender whose receipts carry `logs`. */
  function senderLogging(logs: Log[]) {
    const recording = recordingSender({ refuse: (call) => call.functionName === "claim" && call.args[0] === 99n });
    const inner = recording.sender.send.bind(recording.sender);
    recording.sender.send = (async (parameters: SendParameters) => {
      const result = await inner(parameters);
      return { ...result, receipt: { ...result.receipt, logs } };
    }) as typeof recording.sender.send;
    return recording;
  }
  const claims = (group: CallGroup, jobIds: bigint[]) => Promise.allSettled(jobIds.map((jobId) => group.send({ address: MARKET, abi, functionName: "claim", args: [jobId] })));

  it("with skipFailures sends a tryMulticall: the caller of a call the receipt's CallSkipped names rejects with its decoded error and the transaction, the others resolve", async () => {
    // The market skipped the second call; an event with the same signature logged by another contract is not the market's.
    const { sender, sent } = senderLogging([skippedLog(OTHER, 0n, 1n), skippedLog(MARKET, 1n, 2n)]);
    const group = new CallGroup({ sender, address: MARKET, functions: ["claim"], maxCalls: 10, maxWaitMs: 20, skipFailures: { reader: readerFailing() } });
    const outcomes = await claims(group, [1n, 2n, 3n]);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.functionName, "tryMulticall");
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled"]);
    const skipped = (outcomes[1] as PromiseRejectedResult).reason as ContractRevertError;
    assert.ok(skipped instanceof ContractRevertError);
    assert.equal(skipped.errorName, "JobMismatch");
    assert.deepEqual(skipped.args, [2n]);
    assert.equal(skipped.details?.txHash, (outcomes[0] as PromiseFulfilledResult<{ hash: Hex }>).value.hash);
  });

  it("with skipFailures reads the group first: a call that would fail already goes alone (refused by its simulation, nothing sent), the others in one tryMulticall", async () => {
    const { sender, sent } = senderLogging([]);
    const reader = readerFailing([99n]);
    const group = new CallGroup({ sender, address: MARKET, functions: ["claim"], maxCalls: 10, maxWaitMs: 20, skipFailures: { reader } });
    const outcomes = await claims(group, [1n, 99n, 3n]);
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof ContractRevertError);
    assert.equal(sent.length, 1, "one transaction, the lost claim not in it");
    assert.deepEqual(innerJobIds(sent[0]!), [1n, 3n]);
    assert.equal(reader.reads, 1, "the checked group is not read again");
  });

  it("with skipFailures trusts no CallSkipped when the receipt has more than the group can have made (an index past it, or twice): every caller gets a retryable error naming the transaction", async () => {
    for (const logs of [[skippedLog(MARKET, 5n, 1n)], [skippedLog(MARKET, 1n, 2n), skippedLog(MARKET, 1n, 2n)]]) {
      const { sender } = senderLogging(logs);
      const group = new CallGroup({ sender, address: MARKET, functions: ["claim"], maxCalls: 10, maxWaitMs: 20, skipFailures: { reader: readerFailing() } });
      const outcomes = await claims(group, [1n, 2n, 3n]);
      for (const outcome of outcomes) {
        assert.equal(outcome.status, "rejected");
        const error = (outcome as PromiseRejectedResult).reason as RetryableError;
        assert.ok(error instanceof RetryableError, String(error));
        assert.equal(error.code, "GROUP_OUTCOME_UNCLEAR");
        assert.match(String(error.details?.txHash), /^0x/);
      }
    }
  });

  it("with leaveWhenIdle a call leaves at once while none is in flight; the calls that come while one is wait for it, and leave together when it is done", async () => {
    const { sender, sent } = recordingSender();
    const inner = sender.send.bind(sender);
    let finish = () => {};
    let asked = 0;
    sender.send = (async (parameters: SendParameters) => {
      // The first transaction stays in flight until told (a block away).
      if (asked++ === 0) await new Promise<void>((resolve) => (finish = resolve));
      return inner(parameters);
    }) as typeof sender.send;
    const group = new CallGroup({ sender, address: MARKET, functions: ["finalize"], maxCalls: 10, maxWaitMs: 10_000, leaveWhenIdle: true });
    const first = group.send({ address: MARKET, abi, functionName: "finalize", args: [1n] });
    await sleep(30);
    assert.equal(asked, 1, "the first call left at once, not after maxWaitMs");
    const later = [2n, 3n, 4n].map((jobId) => group.send({ address: MARKET, abi, functionName: "finalize", args: [jobId] }));
    await sleep(30);
    assert.equal(asked, 1, "the first is in flight; the others wait");
    const started = performance.now();
    finish();
    const results = await Promise.all([first, ...later]);
    assert.ok(performance.now() - started < 5_000, "did not wait for maxWaitMs");
    assert.deepEqual(sent.map((s) => (s.functionName === "multicall" ? innerJobIds(s) : [s.args[0]])), [[1n], [2n, 3n, 4n]]);
    assert.deepEqual(results.map((r) => r.calls), [1, 3, 3, 3]);
  });

  it("asks a call's withdrawn as its group leaves: one withdrawn during its wait (a reorg replaced its job) rejects with the caller's error, unsent, the others go", async () => {
    const { sender, sent } = recordingSender();
    const group = new CallGroup({ sender, address: MARKET, functions: ["claim"], maxCalls: 10, maxWaitMs: 50 });
    let replaced = false;
    const asked: bigint[] = [];
    const withdrawnIf = (jobId: bigint, when: () => boolean) => ({
      withdrawn: () => {
        asked.push(jobId);
        return when() ? new RetryableError("reposted", { code: "REPOSTED_MID_STEP" }) : undefined;
      },
    });
    const calls = [1n, 2n, 3n].map((jobId) => group.send({ address: MARKET, abi, functionName: "claim", args: [jobId] }, withdrawnIf(jobId, () => jobId === 2n && replaced)));
    replaced = true; // after queueing, before the group leaves
    const [one, two, three] = await Promise.allSettled(calls);
    assert.equal(one!.status, "fulfilled");
    assert.equal(three!.status, "fulfilled");
    assert.equal(two!.status, "rejected");
    assert.equal(((two as PromiseRejectedResult).reason as RetryableError).code, "REPOSTED_MID_STEP");
    assert.deepEqual(asked, [1n, 2n, 3n], "each asked once, as the group left");
    assert.deepEqual(sent.map((s) => (s.functionName === "multicall" ? innerJobIds(s) : [s.args[0]])), [[1n, 3n]], "job 2's claim never sent");
  });

  it("asks withdrawn again each time a call goes out again (a half of a refused group) and before a call not grouped; one that throws withdraws only its call", async () => {
    // Job 1 makes every group that holds it refuse: [1, 2, 3] is refused, then [1, 2], then 1 and 2 go alone.
    const refuse = (call: Sent) => (call.functionName === "multicall" ? innerJobIds(call).includes(1n) : call.args[0] === 1n);
    const { sender, sent } = recordingSender({ refuse });
    const group = new CallGroup({ sender, address: MARKET, functions: ["claim"], maxCalls: 10, maxWaitMs: 20 });
    let asks = 0;
    // Job 2's job is replaced after its first group was refused: it must not go out in the halves.
    const two = { withdrawn: () => (++asks > 1 ? new RetryableError("reposted", { code: "REPOSTED_MID_STEP" }) : undefined) };
    const three = {
      withdrawn: (): Error | undefined => {
        throw new Error("withdrawn() failed");
      },
    };
    const outcomes = await Promise.allSettled([
      group.send({ address: MARKET, abi, functionName: "claim", args: [1n] }),
      group.send({ address: MARKET, abi, functionName: "claim", args: [2n] }, two),
      group.send({ address: MARKET, abi, functionName: "claim", args: [3n] }, three),
    ]);
    assert.equal(outcomes[0]!.status, "rejected", "job 1 refused alone");
    assert.equal(((outcomes[1] as PromiseRejectedResult).reason as RetryableError).code, "REPOSTED_MID_STEP", "job 2 withdrawn when sent again");
    assert.match(((outcomes[2] as PromiseRejectedResult).reason as Error).message, /withdrawn\(\) failed/);
    assert.ok(asks >= 2, "job 2 asked again after its group was refused");
    assert.deepEqual(sent, [], "nothing sent: job 1 refused, jobs 2 and 3 withdrawn");

    // Not grouped (another function): asked before it is sent alone.
    const other = { withdrawn: () => new RetryableError("reposted", { code: "REPOSTED_MID_STEP" }) };
    await assert.rejects(group.send({ address: MARKET, abi, functionName: "finalize", args: [4n] }, other), (error: RetryableError) => error.code === "REPOSTED_MID_STEP");
    assert.deepEqual(sent, []);
  });

  it("refuses limits that make no sense, naming them", () => {
    const { sender } = recordingSender();
    assert.throws(() => new CallGroup({ sender, address: MARKET, functions: [], maxCalls: 0, maxWaitMs: 0 }), /maxCalls must be an integer >= 1, got 0/);
    assert.throws(() => new CallGroup({ sender, address: MARKET, functions: [], maxCalls: 2, maxWaitMs: -1 }), /maxWaitMs must be >= 0, got -1/);
  });
});
