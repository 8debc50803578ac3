/**
 * The explorer's fold (offchain/explorer/state.ts) fed rows by hand: the cases a real chain reaches only
 * through a multicall, where one transaction settles several things.
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";
import { type Address, type Hex } from "viem";

import type { ContractKey, EventRow, ExplorerRows } from "../../offchain/explorer/db.js";
import { foldExplorer } from "../../offchain/explorer/state.js";

const P1: Address = "0x1111111111111111111111111111111111111111";
const P2: Address = "0x2222222222222222222222222222222222222222";
const VOTER: Address = "0x3333333333333333333333333333333333333333";
const MARKET: Address = "0x4444444444444444444444444444444444444444";
const VERIFICATION: Address = "0x5555555555555555555555555555555555555555";

const txHash = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;

/** Rows of one block per transaction; each transaction is its events, in log order. */
function rowsOf(transactions: [contract: ContractKey, name: string, args: Record<string, unknown>][][]): ExplorerRows {
  const events: EventRow[] = [];
  transactions.forEach((logs, i) => {
    const blockNumber = BigInt(i + 1);
    logs.forEach(([contract, name, args], logIndex) => events.push({ blockNumber, logIndex, blockHash: txHash(1000 + i), txHash: txHash(i + 1), contract, name, args }));
  });
  const blocks = transactions.map((_, i) => ({ number: BigInt(i + 1), hash: txHash(1000 + i), timestamp: 1_700_000_000 + i * 12 }));
  return { blocks, events, txs: [], accounts: [], network: [] };
}

const claimed = (jobId: bigint, provider: Address): [ContractKey, string, Record<string, unknown>] => ["market", "JobClaimed", { jobId, provider }];
const slashed = (account: Address, amount: bigint, recipient: Address): [ContractKey, string, Record<string, unknown>] => [
  "staking",
  "Slashed",
  { account, requested: amount, slashed: amount, recipient },
];

describe("explorer state: why a stake was slashed", function () {
  it("gives each slash of a transaction that settles several jobs its own job and cause, not the transaction's first", function () {
    const state = foldExplorer(
      rowsOf([
        [claimed(1n, P1), claimed(2n, P2), claimed(3n, P1), claimed(4n, P2)],
        // A multicall of two expiries: P1's job 1 claimed and never committed, P2's job 2 a withheld sampled reveal.
        // Each `Slashed` comes from inside `expire`, before its `JobExpired`.
        [
          slashed(P1, 10n, MARKET),
          ["market", "Credited", { account: P2, amount: 10n }],
          ["market", "JobExpired", { jobId: 1n, from: 2, refund: 100n, penalty: 10n, sampled: false }],
          slashed(P2, 500n, MARKET),
          ["market", "JobExpired", { jobId: 2n, from: 3, refund: 100n, penalty: 500n, sampled: true }],
        ],
        // A multicall of two dispute resolutions: job 3's provider P1 faulted, then on job 4 a voter penalized.
        [
          slashed(P1, 500n, VERIFICATION),
          ["market", "DisputeSettled", { jobId: 3n, providerFaulted: true, slashed: 500n }],
          slashed(VOTER, 7n, VERIFICATION),
          ["verification", "VoterPenalized", { jobId: 4n, voter: VOTER, penalty: 7n }],
        ],
      ]),
    );
    const slashes = (a: Address) => state.accounts.get(a.toLowerCase())!.slashes.map((s) => ({ jobId: s.jobId, why: s.why, kind: s.kind, amount: s.amount }));
    assert.deepEqual(slashes(P1), [
      { jobId: 1n, why: "expiry penalty", kind: "penalty", amount: 10n },
      { jobId: 3n, why: "fault: a dispute found the result wrong", kind: "slash", amount: 500n },
    ]);
    assert.deepEqual(slashes(P2), [{ jobId: 2n, why: "withheld a sampled result", kind: "slash", amount: 500n }]);
    assert.deepEqual(slashes(VOTER), [{ jobId: 4n, why: "voter penalty", kind: "penalty", amount: 7n }]);
  });

  it("gives two expiries of one provider in one transaction each its own job, by log order", function () {
    const state = foldExplorer(
      rowsOf([
        [claimed(1n, P1), claimed(2n, P1)],
        [
          slashed(P1, 10n, MARKET),
          ["market", "JobExpired", { jobId: 1n, from: 2, refund: 100n, penalty: 10n, sampled: false }],
          ["market", "JobExpired", { jobId: 5n, from: 1, refund: 100n, penalty: 0n, sampled: false }],
          slashed(P1, 20n, MARKET),
          ["market", "JobExpired", { jobId: 2n, from: 3, refund: 100n, penalty: 20n, sampled: false }],
        ],
      ]),
    );
    const slashes = state.accounts.get(P1.toLowerCase())!.slashes;
    assert.deepEqual(
      slashes.map((s) => [s.jobId, s.why, s.amount]),
      [
        [1n, "expiry penalty", 10n],
        [2n, "expiry penalty", 20n],
      ],
    );
  });
});
