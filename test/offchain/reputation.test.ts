/**
 * Provider reputation (offchain/sdk/reputation.ts): the rule on synthetic events, and read from a real chain's
 * events (the local deployment, jobs run with the market driver: finalized, expired, a withheld sampled reveal).
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, type Address } from "viem";

import { deploySystem, setUpMarket, type Connection } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";
import {
  foldReputation,
  nextScore,
  providerReputation,
  readReputation,
  REPUTATION_RULE,
  type ReputationEvent,
} from "../../offchain/sdk/reputation.js";

const P = getAddress("0x00000000000000000000000000000000000000aa");
const Q = getAddress("0x00000000000000000000000000000000000000bb");

/** A provider's job, as its events: posted at `block`, committed 2 blocks later, revealed 3 after that, then its end. */
function job(jobId: bigint, provider: Address, block: bigint, end: "pass" | "audited pass" | "slashed" | "expired" | "withheld", modelId = 1): ReputationEvent[] {
  const at = (offset: bigint, logIndex: number) => ({ blockNumber: block + offset, logIndex });
  const sampled = end === "audited pass" || end === "withheld" || end === "slashed";
  const events: ReputationEvent[] = [
    { eventName: "JobPosted", args: { jobId, modelId: BigInt(modelId) }, ...at(0n, 0) },
    { eventName: "ResultCommitted", args: { jobId, provider }, ...at(2n, 0) },
  ];
  if (end === "withheld") return [...events, { eventName: "JobExpired", args: { jobId, from: 3, penalty: 10n, sampled: true }, ...at(9n, 0) }];
  if (end === "expired") return [...events, { eventName: "JobExpired", args: { jobId, from: 3, penalty: 1n, sampled: false }, ...at(9n, 0) }];
  events.push({ eventName: "ResultRevealed", args: { jobId, provider, sampled }, ...at(5n, 0) });
  if (end === "audited pass") events.push({ eventName: "AuditRevealed", args: { jobId, verdict: 0 }, ...at(6n, 0) });
  if (end === "slashed") return [...events, { eventName: "DisputeSettled", args: { jobId, providerFaulted: true, slashed: 10n }, ...at(9n, 0) }];
  return [...events, { eventName: "JobFinalized", args: { jobId, provider, payout: 1n }, ...at(9n, 0) }];
}

describe("reputation: the rule", () => {
  it("starts a provider neutral and new", () => {
    const reps = foldReputation(job(1n, P, 10n, "pass"));
    const p = reps.get(P.toLowerCase())!;
    assert.equal(p.score, REPUTATION_RULE.start);
    assert.equal(p.isNew, true, "an unaudited job judges nothing");
    assert.equal(p.finalized, 1);
  });

  it("after k audited passes and one slash, a provider stands below a fresh one, for every k (a fault costs more than any history earns)", () => {
    for (const k of [0, 1, 2, 5, 10, 50, 200, 1000]) {
      const events = Array.from({ length: k }, (_, i) => job(BigInt(i + 1), P, BigInt(i * 20), "audited pass")).flat();
      const goodOnly = foldReputation(events).get(P.toLowerCase());
      const withSlash = foldReputation([...events, ...job(BigInt(k + 1), P, BigInt(k * 20 + 20), "slashed")]).get(P.toLowerCase())!;
      assert.ok(withSlash.score < REPUTATION_RULE.start, `k=${k}: ${withSlash.score} is not below a fresh provider's ${REPUTATION_RULE.start}`);
      if (k > 0) assert.ok(goodOnly!.score > REPUTATION_RULE.start, `k=${k}: audited passes earn trust`);
      assert.equal(withSlash.slashed, 1);
      assert.equal(withSlash.disputesLost, 1);
      assert.equal(withSlash.auditsFailed, 1);
      assert.equal(withSlash.auditsPassed, k);
    }
  });

  it("a withheld sampled reveal is a fault too; a plain expiry costs less; unaudited work moves nothing", () => {
    const withheld = foldReputation(job(1n, P, 0n, "withheld")).get(P.toLowerCase())!;
    assert.equal(withheld.score, nextScore(REPUTATION_RULE.start, "fault"));
    assert.equal(withheld.slashed, 1);
    const expired = foldReputation(job(1n, P, 0n, "expired")).get(P.toLowerCase())!;
    assert.equal(expired.score, 400_000);
    assert.ok(expired.score > withheld.score);
    const busy = foldReputation(Array.from({ length: 100 }, (_, i) => job(BigInt(i + 1), P, BigInt(i * 20), "pass")).flat()).get(P.toLowerCase())!;
    assert.equal(busy.score, REPUTATION_RULE.start, "a hundred unchecked jobs earn no trust");
    assert.equal(busy.finalized, 100);
  });

  it("fresh identities gain nothing: a new one stands below any provider with audited passes and no fault", () => {
    const proven = foldReputation(job(1n, P, 0n, "audited pass")).get(P.toLowerCase())!;
    const fresh = foldReputation(job(2n, Q, 0n, "pass")).get(Q.toLowerCase())!;
    assert.ok(proven.score > fresh.score);
    assert.equal(fresh.isNew, true);
  });

  it("scores only real audits: a sampled job nobody audited, and a dispute upheld without a committee's votes, earn nothing; an upheld dispute counts once", () => {
    // Sampled and finalized, but no auditor revealed (none could be drawn): unaudited.
    const unaudited = job(1n, P, 0n, "pass").map((e) => (e.eventName === "ResultRevealed" ? { ...e, args: { ...e.args, sampled: true } } : e));
    const a = foldReputation(unaudited).get(P.toLowerCase())!;
    assert.equal(a.score, REPUTATION_RULE.start);
    assert.equal(a.auditsPassed, 0);
    // A self-challenge that found no quorum: bond back, DisputeSettled(false) then JobFinalized. Nothing scored.
    const base = job(2n, P, 0n, "pass").filter((e) => e.eventName !== "JobFinalized");
    const noQuorum = [
      ...base,
      { eventName: "DisputeSettled", args: { jobId: 2n, providerFaulted: false, slashed: 0n }, blockNumber: 20n, logIndex: 0 },
      { eventName: "JobFinalized", args: { jobId: 2n, provider: P, payout: 1n }, blockNumber: 20n, logIndex: 1 },
      { eventName: "DisputeResolved", args: { jobId: 2n, providerFaulted: false, outcome: 0 }, blockNumber: 20n, logIndex: 2 },
    ];
    const b = foldReputation(noQuorum).get(P.toLowerCase())!;
    assert.equal(b.score, REPUTATION_RULE.start);
    assert.equal(b.disputesWon, 1);
    // Upheld by the committee's votes (sampled, its auditor agreed too): one audited pass, not two.
    const voted = [
      ...noQuorum.map((e) => (e.eventName === "DisputeResolved" ? { ...e, args: { ...e.args, outcome: 1 } } : e.eventName === "ResultRevealed" ? { ...e, args: { ...e.args, sampled: true } } : e)),
      { eventName: "AuditRevealed", args: { jobId: 2n, verdict: 0 }, blockNumber: 8n, logIndex: 0 },
    ];
    const c = foldReputation(voted).get(P.toLowerCase())!;
    assert.equal(c.score, nextScore(REPUTATION_RULE.start, "audited pass"));
    assert.equal(c.auditsPassed, 1);
    assert.equal(c.finalized, 1);
  });

  it("a claimed batch that expires costs its provider (BatchClaimed names it)", () => {
    const events: ReputationEvent[] = [
      { eventName: "BatchPosted", args: { batchId: 1n, modelId: 3n }, blockNumber: 1n, logIndex: 0 },
      { eventName: "BatchClaimed", args: { batchId: 1n, provider: P }, blockNumber: 2n, logIndex: 0 },
      { eventName: "BatchExpired", args: { batchId: 1n, from: 2, jobs: 4n, refund: 4n, penalty: 1n, sampled: 0n }, blockNumber: 9n, logIndex: 0 },
    ];
    const p = foldReputation(events).get(P.toLowerCase())!;
    assert.equal(p.score, nextScore(REPUTATION_RULE.start, "expiry"));
    assert.equal(p.models.get(3)!.expired, 4);
  });

  it("redundant jobs: an agreed seat is finalized work and earns nothing (one owner of every seat could agree with itself); a withheld seat is a fault", () => {
    const events: ReputationEvent[] = [
      { eventName: "ReplicaJobPosted", args: { replicaJobId: 1n, modelId: 5n }, blockNumber: 1n, logIndex: 0 },
      { eventName: "ReplicaPaid", args: { replicaJobId: 1n, provider: P, seat: 0n, payout: 1n }, blockNumber: 9n, logIndex: 0 },
      { eventName: "ReplicaWithheld", args: { replicaJobId: 1n, provider: Q, seat: 1n, slashed: 5n }, blockNumber: 9n, logIndex: 1 },
    ];
    const reps = foldReputation(events);
    const p = reps.get(P.toLowerCase())!;
    assert.equal(p.score, REPUTATION_RULE.start);
    assert.equal(p.isNew, true);
    assert.equal(p.models.get(5)!.finalized, 1);
    const q = reps.get(Q.toLowerCase())!;
    assert.equal(q.score, nextScore(REPUTATION_RULE.start, "fault"));
    assert.ok(q.score < REPUTATION_RULE.start);
    assert.equal(q.slashed, 1);
    assert.equal(q.history[0]!.replicaJobId, 1n);
  });

  it("is deterministic: the same events in any order give the same scores, per model counters and delays", () => {
    const events = [...job(1n, P, 0n, "audited pass", 1), ...job(2n, P, 30n, "slashed", 2), ...job(3n, Q, 40n, "pass", 1), ...job(4n, P, 60n, "audited pass", 1)];
    const a = foldReputation(events).get(P.toLowerCase())!;
    const b = foldReputation([...events].reverse()).get(P.toLowerCase())!;
    assert.equal(a.score, b.score);
    assert.deepEqual(a.history.map((h) => h.score), b.history.map((h) => h.score));
    assert.equal(a.score, nextScore(nextScore(nextScore(REPUTATION_RULE.start, "audited pass"), "fault"), "audited pass"));
    assert.equal(a.models.get(1)!.auditsPassed, 2);
    assert.equal(a.models.get(2)!.slashed, 1);
    assert.equal(a.commitDelayBlocks, 2);
    assert.equal(a.revealDelayBlocks, 3);
  });
});

const connection = await network.create();
const { networkHelpers } = connection;

describe("reputation: read from a real chain's events", () => {
  async function deployed(conn: Connection) {
    const sys = await deploySystem(conn);
    await setUpMarket(sys);
    return sys;
  }

  it("counts a finalized job and an expired one of the provider; a provider with no jobs is fresh", async () => {
    const sys = await networkHelpers.loadFixture(deployed);
    const { market, verification, keeper, provider, dapp, publicClient } = sys;
    // This fixture has no BatchMarket: the keeper's account stands in (no events there).
    const deployment = { market: market.address, batchMarket: keeper.account.address, verification: verification.address };
    const d = marketDriver({ connection, ...sys });
    const done = await d.post();
    await d.claimAndCommit(done);
    await d.reveal(done);
    await d.finalize(done);
    const missed = await d.post();
    await d.claim(missed);
    await d.pastDeadline(missed);
    await d.jobs.send(market.write.expire([missed, d.jobs.job(missed)], { account: keeper.account }));

    const reps = await readReputation({ publicClient, deployment });
    const p = reps.get(provider.account.address.toLowerCase())!;
    assert.equal(p.finalized, 1);
    assert.equal(p.expired, 1);
    assert.equal(p.score, nextScore(REPUTATION_RULE.start, "expiry"), "the missed commit cost 20% of the way to 0");
    assert.equal(p.isNew, false);
    assert.equal(p.models.get(1)!.finalized, 1);
    assert.ok(p.commitDelayBlocks !== undefined && p.commitDelayBlocks >= 1);
    const nobody = await providerReputation({ publicClient, deployment, provider: dapp.account.address });
    assert.equal(nobody.score, REPUTATION_RULE.start);
    assert.equal(nobody.isNew, true);
  });
});
