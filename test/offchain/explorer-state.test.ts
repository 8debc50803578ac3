/**
 * The explorer's fold (offchain/explorer/state.ts) fed rows by hand: the cases a real chain reaches only
 * through a multicall, where one transaction settles several things, and a model's collateral through the
 * notice on decreases (a day of chain time between blocks, which a real chain takes a day to reach).
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";
import { type Address, type Hex } from "viem";

import type { ContractKey, EventRow, ExplorerRows } from "../../offchain/explorer/db.js";
import { collateralAt, foldExplorer } from "../../offchain/explorer/state.js";
import { modelsView } from "../../offchain/explorer/views.js";

const P1: Address = "0x1111111111111111111111111111111111111111";
const P2: Address = "0x2222222222222222222222222222222222222222";
const VOTER: Address = "0x3333333333333333333333333333333333333333";
const MARKET: Address = "0x4444444444444444444444444444444444444444";
const VERIFICATION: Address = "0x5555555555555555555555555555555555555555";

const txHash = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;

/** Rows of one block per transaction; each transaction is its events, in log order. */
const T0 = 1_700_000_000;

/** Rows of one block per transaction, 12 s apart unless `timestamps` says when each block was; each transaction is its events, in log order. */
function rowsOf(transactions: [contract: ContractKey, name: string, args: Record<string, unknown>][][], timestamps?: number[]): ExplorerRows {
  const events: EventRow[] = [];
  transactions.forEach((logs, i) => {
    const blockNumber = BigInt(i + 1);
    logs.forEach(([contract, name, args], logIndex) => events.push({ blockNumber, logIndex, blockHash: txHash(1000 + i), txHash: txHash(i + 1), contract, name, args }));
  });
  const blocks = transactions.map((_, i) => ({ number: BigInt(i + 1), hash: txHash(1000 + i), timestamp: timestamps?.[i] ?? T0 + i * 12 }));
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

describe("explorer state: a model's collateral and the notice on decreases", function () {
  const DAY = 86_400;
  const E = 10n ** 18n;
  const spec = (minCollateral: bigint) => ({
    modelHash: txHash(77),
    uri: "https://models.example/m.onnx",
    runtime: "onnxruntime-node@1.30.0",
    tolerance: { kind: 0, axis: 0, absTolE12: 1n, relTolE12: 1n },
    minCollateral,
    priceFloor: E,
    nonFiniteInputs: false,
  });
  type Tx = [ContractKey, string, Record<string, unknown>][];
  const registered: Tx = [["registry", "ModelRegistered", { modelId: 1n, owner: P1, modelHash: txHash(77), spec: spec(100n * E) }]];
  /** An update that schedules a decrease: CollateralLowering, then ModelUpdated with the collateral in force. */
  const lowering = (inForce: bigint, to: bigint, effectiveAt: number): Tx => [
    ["registry", "CollateralLowering", { modelId: 1n, collateral: to, effectiveAt: BigInt(effectiveAt) }],
    ["registry", "ModelUpdated", { modelId: 1n, spec: spec(inForce) }],
  ];
  const models = (rows: ExplorerRows) => modelsView(foldExplorer(rows)).models[0]!;

  it("shows the collateral in force and the decrease pending, and the decrease in force once the newest block reaches its time", function () {
    const at = T0 + 12 + DAY;
    const pending = models(rowsOf([registered, lowering(100n * E, 40n * E, at), []], [T0, T0 + 12, at - 1]));
    assert.equal(pending.minCollateral, "100");
    assert.deepEqual(pending.pendingCollateral, { collateral: "40", effectiveAt: new Date(at * 1000).toISOString().replace(".000Z", "Z"), timestamp: at });
    // Any indexed block from effectiveAt on: applied on read, as the registry does, with no event of its own.
    const due = models(rowsOf([registered, lowering(100n * E, 40n * E, at), []], [T0, T0 + 12, at]));
    assert.equal(due.minCollateral, "40");
    assert.equal(due.pendingCollateral, null);
  });

  it("drops a decrease an update cancelled (effectiveAt 0), and one an update found already due", function () {
    const at = T0 + 12 + DAY;
    const cancelled = rowsOf([
      registered,
      lowering(100n * E, 40n * E, at),
      [
        ["registry", "CollateralLowering", { modelId: 1n, collateral: 0n, effectiveAt: 0n }],
        ["registry", "ModelUpdated", { modelId: 1n, spec: spec(150n * E) }],
      ],
      [],
    ], [T0, T0 + 12, T0 + 24, at + 5]);
    assert.deepEqual([models(cancelled).minCollateral, models(cancelled).pendingCollateral], ["150", null]);
    // Past its time the registry wrote the decrease for good, then took a raise above it: ModelUpdated says 60.
    const raisedAfterDue = rowsOf([registered, lowering(100n * E, 40n * E, at), [["registry", "ModelUpdated", { modelId: 1n, spec: spec(60n * E) }]]], [T0, T0 + 12, at + 5]);
    const track = foldExplorer(raisedAfterDue).models.get(1)!;
    assert.equal(track.pendingCollateral, undefined);
    assert.deepEqual(collateralAt(track, at + 10), { minCollateral: 60n * E });
  });

  it("keeps a pending decrease through an update that changed only the URI or price floor, and takes a replacing one", function () {
    const at = T0 + 12 + DAY;
    const kept = foldExplorer(rowsOf([registered, lowering(100n * E, 40n * E, at), [["registry", "ModelUpdated", { modelId: 1n, spec: { ...spec(100n * E), priceFloor: 2n * E } }]]])).models.get(1)!;
    assert.deepEqual(collateralAt(kept, at - 1), { minCollateral: 100n * E, pending: { collateral: 40n * E, effectiveAt: at } });
    const later = T0 + 24 + DAY;
    const replaced = foldExplorer(rowsOf([registered, lowering(100n * E, 40n * E, at), lowering(100n * E, 10n * E, later)])).models.get(1)!;
    assert.deepEqual(collateralAt(replaced, at), { minCollateral: 100n * E, pending: { collateral: 10n * E, effectiveAt: later } });
    assert.deepEqual(collateralAt(replaced, later), { minCollateral: 10n * E });
  });
});
