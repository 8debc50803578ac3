/**
 * The worker's StakeLedger (offchain/provider/stake.ts): what its claims in flight promise, against the stake
 * read at a head. Here only the promises are checked (no chain read): the end-to-end suites claim against
 * a real chain.
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";
import type { PublicClient } from "viem";

import { StakeLedger } from "../../offchain/provider/stake.js";

const TOKENS = 10n ** 18n;

function ledger(): StakeLedger {
  // No chain: `available` is not called in these tests.
  return new StakeLedger({ publicClient: {} as PublicClient, staking: "0x0000000000000000000000000000000000000001", account: "0x0000000000000000000000000000000000000002" });
}

describe("StakeLedger", () => {
  it("counts a claim in flight until a stake read at its block or later shows its lock", () => {
    const stake = ledger();
    stake.advance(10n);
    stake.reserve(1n, 100n * TOKENS);
    stake.reserve(2n, 100n * TOKENS);
    assert.equal(stake.promised(10n), 200n * TOKENS, "both sent, neither mined");
    stake.mined(1n, 100n * TOKENS, 11n);
    assert.equal(stake.promised(10n), 200n * TOKENS, "mined after the head: not in the read at 10");
    assert.equal(stake.promised(11n), 100n * TOKENS, "in the read at 11");
    assert.equal(stake.releaseUnmined(2n), true, "a reservation dropped");
    assert.equal(stake.promised(10n), 100n * TOKENS, "a claim dropped unmined promises nothing");
    assert.equal(stake.releaseUnmined(2n), false, "nothing left to drop");
    assert.equal(stake.releaseUnmined(1n), false, "a mined claim's reservation stays till the read shows it");
    assert.equal(stake.promised(10n), 100n * TOKENS);
  });

  it("a receipt that comes after the tick read its block is not counted twice at that head", () => {
    // The bench's tail: thirteen claims mined in the head's block, their receipts read after the tick
    // advanced to it. Counted again at that head, they left the last job waiting two blocks for stake it had.
    const stake = ledger();
    stake.advance(143n);
    for (let jobId = 1n; jobId <= 13n; jobId++) stake.reserve(jobId, 100n * TOKENS);
    for (let jobId = 1n; jobId <= 13n; jobId++) stake.mined(jobId, 100n * TOKENS, 143n);
    assert.equal(stake.promised(143n), 0n);
    // A check still at the head before sees them: the read at 142 does not show their locks.
    assert.equal(stake.promised(142n), 1_300n * TOKENS);
  });

  it("keeps a claim mined in the new head's block for a check still at the head before, and drops those mined earlier", () => {
    const stake = ledger();
    stake.advance(20n);
    stake.reserve(1n, 5n);
    stake.mined(1n, 5n, 20n);
    stake.reserve(2n, 7n);
    stake.mined(2n, 7n, 21n);
    stake.advance(21n);
    assert.equal(stake.promised(20n), 7n, "the claim mined at 21, for a check at 20; the one at 20 is in that read");
    assert.equal(stake.promised(21n), 0n);
    stake.advance(22n);
    assert.equal(stake.promised(20n), 0n, "mined before the head: dropped");
  });
});
