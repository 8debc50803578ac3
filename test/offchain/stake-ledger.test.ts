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

function ledger(availableStake?: bigint): StakeLedger {
  // No chain: the stake read answers `availableStake` (the end-to-end suites read a real one).
  const publicClient = { readContract: async () => availableStake } as unknown as PublicClient;
  return new StakeLedger({ publicClient, staking: "0x0000000000000000000000000000000000000001", account: "0x0000000000000000000000000000000000000002" });
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

  it("check: backs an amount the free stake covers, reserving it at once; one it does not cover is woken when a claim is mined or dropped", async () => {
    const stake = ledger(300n);
    assert.deepEqual(await stake.check({ key: 1n, amount: 200n, head: 5n, reserve: true }), { backed: true, free: 300n });
    assert.equal(stake.promised(5n), 200n, "reserved in the same continuation");
    let woken = 0;
    assert.deepEqual(await stake.check({ key: 2n, amount: 200n, head: 5n, onFreed: () => woken++ }), { backed: false, free: 100n });
    assert.equal(stake.promised(5n), 200n, "an amount not backed reserves nothing");
    assert.equal(stake.releaseUnmined(3n), false);
    assert.equal(woken, 0, "nothing dropped: no wake");
    stake.mined(1n, 200n, 5n);
    assert.equal(woken, 1, "a claim found mined wakes the waiting check");
    stake.mined(1n, 200n, 5n);
    assert.equal(woken, 1, "once: the wake is forgotten once called");
  });

  it("check: a key's wake is replaced by its next check, and dropped when that check is backed; a drop wakes every waiting key", async () => {
    const stake = ledger(100n);
    stake.reserve(9n, 100n);
    const woken: string[] = [];
    await stake.check({ key: 1n, amount: 50n, head: 5n, onFreed: () => woken.push("1 first") });
    await stake.check({ key: 1n, amount: 50n, head: 5n, onFreed: () => woken.push("1 second") });
    await stake.check({ key: 2n, amount: 50n, head: 5n, onFreed: () => woken.push("2") });
    assert.equal(stake.releaseUnmined(9n), true);
    assert.deepEqual(woken, ["1 second", "2"]);
    woken.length = 0;
    stake.reserve(9n, 100n);
    await stake.check({ key: 1n, amount: 50n, head: 5n, onFreed: () => woken.push("1") });
    stake.releaseUnmined(9n);
    assert.deepEqual(await stake.check({ key: 1n, amount: 50n, head: 5n, onFreed: () => woken.push("1 again") }), { backed: true, free: 100n });
    stake.reserve(8n, 10n);
    stake.releaseUnmined(8n);
    assert.deepEqual(woken, ["1"], "a backed check leaves no wake behind");
  });

  it("a wake that throws is dropped: the claim that freed the stake is recorded, and the other wakes still run", async () => {
    const stake = ledger(0n);
    const woken: bigint[] = [];
    await stake.check({ key: 1n, amount: 5n, head: 5n, onFreed: () => { throw new Error("a journal read failed"); } });
    await stake.check({ key: 2n, amount: 5n, head: 5n, onFreed: () => woken.push(2n) });
    stake.reserve(9n, 5n);
    assert.doesNotThrow(() => stake.mined(9n, 5n, 6n));
    assert.deepEqual(woken, [2n]);
    assert.equal(stake.promised(5n), 5n, "the mined claim is recorded");
  });
});
