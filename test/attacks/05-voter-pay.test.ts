/**
 * Escape route 5 of issue 10: verdict-dependent voter pay. Committee members used to earn twice as much for
 * "provider wrong" as for "provider correct", and a single revealed vote of three slashed. Now every seat that
 * voted the outcome is paid the same whichever way the outcome went, and a quorum is more than half of the
 * seats (docs/PROTOCOL.md section 7). A challenge's committee is paid out of the challenger's bond
 * (`challengeBond x (1 - providerRewardBps) / seats` a seat), a committee the protocol opened (an audit's
 * Disagree, a missed or unrevealed audit, a recheck) `voterRewardBps` of the fee from the audit pool: nobody
 * can open disputes at will to farm the pool.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, parseEther } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { PRICE_FLOOR } from "../helpers/fixture.js";
import { feeSplit } from "../helpers/market.js";
import { AuditState, DisputeReason, Vote } from "../helpers/verification.js";
import { CHALLENGE_SEAT_PAY, deployArena, expectLoss, fmt, M, PAYOUT, play, SAMPLING, tokens, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers } = connection;

const arena = (conn: typeof connection) => deployArena(conn);
/** Two Sybil verifiers of eight, and an audit pool grown by the levy of past jobs. */
const sybilArena = async (conn: typeof connection) => {
  const sys = await deployArena(conn, { honest: 6, sybils: 2 });
  await sys.market.write.fundAuditPool([parseEther("20000")], { account: sys.dapp.account });
  return sys;
};

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 5: verdict-dependent voter pay", () => {
  it("a seat is paid the same for either verdict, and a voter that always says 'wrong' loses against voting on the evidence", async () => {
    const { challenger, stranger, d, v, until, post, commitWhere, voteAs, worth } = await load();
    const threeMembers = (jobId: bigint) => async () => (await v.members(jobId)).length === 3;

    /** A revealed job challenged by `by`, with a committee of three distinct members; returns the members. */
    async function dispute(by: typeof challenger, { madeUp }: { madeUp: boolean }) {
      const jobId = await post();
      await commitWhere(jobId, false);
      await d.reveal(jobId);
      await until(() => v.challenge(jobId, by).then(() => v.drawCommittee(jobId)), threeMembers(jobId));
      return { jobId, members: (await v.members(jobId)).map((m) => m.wallet), truth: madeUp ? Vote.ProviderWrong : Vote.ProviderCorrect };
    }

    // A made-up result caught by a watchdog: the quorum says "wrong".
    const caught = await dispute(challenger, { madeUp: true });
    let before = await Promise.all(caught.members.map((m) => worth(m)));
    await voteAs(caught.jobId, { truth: caught.truth });
    await v.resolve(caught.jobId);
    const payWrong = (await Promise.all(caught.members.map((m) => worth(m)))).map((w, i) => w - before[i]);
    assert.equal(d.jobs.job(caught.jobId).status, JobStatus.Slashed);

    // A correct result challenged by a griefer: the quorum says "correct"; one member always says "wrong".
    const griefed = await dispute(stranger, { madeUp: false });
    const [contrarian] = griefed.members;
    before = await Promise.all(griefed.members.map((m) => worth(m)));
    await voteAs(griefed.jobId, { truth: griefed.truth, attackers: [contrarian], attackerVote: Vote.ProviderWrong });
    await v.resolve(griefed.jobId);
    const payCorrect = (await Promise.all(griefed.members.map((m) => worth(m)))).map((w, i) => w - before[i]);
    assert.equal(d.jobs.job(griefed.jobId).status, JobStatus.Finalized);

    // A challenge's committee is paid out of the bond: 50 x (1 - 50%) / 3 seats, for either verdict.
    assert.equal(CHALLENGE_SEAT_PAY, (V.challengeBond * BigInt(10_000 - V.providerRewardBps)) / 10_000n / 3n);
    assert.deepEqual(payWrong, [CHALLENGE_SEAT_PAY, CHALLENGE_SEAT_PAY, CHALLENGE_SEAT_PAY], "every seat of the 'wrong' quorum is paid");
    assert.deepEqual(payCorrect.slice(1), [CHALLENGE_SEAT_PAY, CHALLENGE_SEAT_PAY], "every seat of the 'correct' quorum is paid the same");
    expectLoss(
      payCorrect[0] === -V.voterPenalty && payCorrect[0] < CHALLENGE_SEAT_PAY,
      `voter pay: ${fmt(payWrong[1])} a seat for a 'wrong' verdict, ${fmt(payCorrect[1])} for a 'correct' one; ` +
        `a voter that always says 'wrong' against the quorum ${fmt(payCorrect[0])} vs ${fmt(CHALLENGE_SEAT_PAY)} for voting on the evidence`,
    );
    assert.equal(getAddress(contrarian.account.address), getAddress(griefed.members[0].account.address));
  });

  it("a single revealed 'wrong' vote of three seats cannot slash: the provider is paid, the lone voter earns nothing", async () => {
    const { provider, challenger, d, v, until, post, commitWhere, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, false);
    const providerBefore = await worth(provider);
    await d.reveal(jobId);
    const challengerBefore = await worth(challenger);
    await until(() => v.challenge(jobId, challenger).then(() => v.drawCommittee(jobId)), async () => (await v.members(jobId)).length === 3);
    const [lone] = (await v.members(jobId)).map((m) => m.wallet);
    const before = challengerBefore + (await worth(lone));
    // One member reveals "wrong"; the other two say nothing (bribed, or offline).
    await v.vote(jobId, (member) => (member === lone ? Vote.ProviderWrong : Vote.None));
    await v.resolve(jobId);
    const provided = (await worth(provider)) - providerBefore;
    const attackers = (await worth(lone, challenger)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    expectLoss(
      provided === PAYOUT && attackers === 0n && attackers < CHALLENGE_SEAT_PAY,
      `one revealed 'wrong' vote of ${V.committeeSize} seats: the provider is paid ${fmt(provided)} (not slashed); the lone voter and the challenger ${fmt(attackers)} vs ${fmt(CHALLENGE_SEAT_PAY)} for a vote with a quorum`,
    );
  });

  it("voter pay cannot be farmed: challenging one's own job with Sybil seats on the committee, or missing one's own audit to send a high-fee job to a pool-paid committee, does not pay", async () => {
    // This test used to fail: every seat that voted a challenge's outcome was paid voterRewardBps of the job's
    // fee from the shared audit pool, and a party posting a high-fee job, serving it honestly and challenging
    // it itself bought a dispute for the bond's lost half and the protocol's cut of the fee while its Sybil
    // seats collected a fee each. A challenge's committee is now paid out of the bond. The attacker's best
    // plays left, each played here on the real contracts at the local terms with 2 Sybil verifiers of 8:
    // (a) the self-challenge at the old high fee and at the model's price floor (the best fee now: the seat
    // pay no longer grows with the fee, the protocol's cut does); (b) the cheapest dispute it can open at
    // will that the pool still pays (a Disagree or an unrevealed audit would cost challengeBond): its own
    // Sybil auditor, drawn for its own sampled high-fee job, misses the blind commit (auditorPenalty, but at
    // least the replacing committee's pay: here more than its whole stake) and the job goes to a committee
    // paid voterRewardBps of the fee a seat.
    const sys = await networkHelpers.loadFixture(sybilArena);
    const { market, verification, provider, dapp, challenger, sybils, d, v, until, post, commitWhere, judge, worth, seats } = { ...sys, ...play(connection, sys) };
    const attacker = [dapp, provider, challenger, ...sybils];
    const theirs = new Set(sybils.map((w) => getAddress(w.account.address)));
    const seatsHeld = async (jobId: bigint) => (await seats(jobId)).filter((s) => theirs.has(s)).length;
    const r = sybils.length / (sybils.length + 6);
    const n = V.committeeSize;

    /** (a) One self-challenge of an honest result at `fee` whose committee holds `held` Sybil seats. */
    const challengeRound = async (fee: bigint, held: number) => {
      const before = await worth(...attacker);
      const pool = await market.read.auditPool();
      const jobId = await post({ overrides: { fee } });
      await commitWhere(jobId, false);
      await d.reveal(jobId);
      await until(() => v.challenge(jobId, challenger).then(() => v.drawCommittee(jobId)), async () => (await seatsHeld(jobId)) === held);
      await judge(jobId, { truth: Vote.ProviderCorrect });
      return { net: (await worth(...attacker)) - before, drained: pool - (await market.read.auditPool()) };
    };
    const challengeAt = async (fee: bigint) => {
      const none = await challengeRound(fee, 0);
      const one = await challengeRound(fee, 1);
      const seat = tokens(one.net) - tokens(none.net);
      return { fee, none, one, seat, expected: tokens(none.net) + n * r * seat };
    };
    const high = await challengeAt(parseEther("1000"));
    const floor = await challengeAt(PRICE_FLOOR);

    // (b) A high-fee job of its own whose drawn auditor is one of its Sybils, which misses the commit.
    const fee = parseEther("1000");
    const ordinary = feeSplit(fee, M);
    const missedRound = async (held: number) => {
      const before = await worth(...attacker);
      const pool = await market.read.auditPool();
      // A world where the job is sampled and a Sybil audits it comes once in 1 / (p r) = 80 commits (the
      // search moves no deadline; the hour's claim window is kept from before it did).
      const jobId = await post({ overrides: { fee, claimBy: (await d.now()) + BigInt(M.maxClaimDelay) } });
      await commitWhere(jobId, true, { also: async () => theirs.has(getAddress(await v.auditorOf(jobId))) });
      await d.at((await verification.read.auditCommitBy([d.jobs.job(jobId)])) + 1n);
      // The reveal opens the dispute and fixes its committee's seed block: each world reveals under another coinbase.
      await until(() => d.reveal(jobId).then(() => v.drawCommittee(jobId)), async () => (await seatsHeld(jobId)) === held);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Missed);
      assert.equal((await verification.read.dispute([jobId])).reason, DisputeReason.AuditMissed);
      await judge(jobId, { truth: Vote.ProviderCorrect });
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      return { net: (await worth(...attacker)) - before, drained: pool - (await market.read.auditPool()) };
    };
    const missedNone = await missedRound(0);
    const missedOne = await missedRound(1);
    const seat = tokens(missedOne.net) - tokens(missedNone.net);
    // The missed auditor is excluded from its committee: the attacker's other Sybil holds 1 of 7 accounts' stake.
    const rSeat = (sybils.length - 1) / (sybils.length - 1 + 6);
    // Every job it posts costs the protocol's cut and the levy; only the sampled ones its Sybil audits (p r) reach a committee.
    const missedPerJob = (share: number, seatShare: number) =>
      (1 - SAMPLING * share) * -tokens(ordinary.protocolFee + ordinary.auditLevy) + SAMPLING * share * (tokens(missedNone.net) + n * seatShare * seat);
    const missed = missedPerJob(r, rSeat);
    // The stake share at which the missed-audit route would break even (its seats drawn at the same share).
    let breakEven = 1;
    for (let x = 0.001; x <= 1; x += 0.001) if (missedPerJob(x, x) >= 0) { breakEven = x; break; }

    expectLoss(
      high.expected < 0 && floor.expected < 0 && missed < 0,
      `self-dealing with ${sybils.length} Sybil verifiers of ${sybils.length + 6} (r = ${r.toFixed(2)}): ` +
        `(a) challenging its own ${fmt(high.fee)} job: ${fmt(high.none.net)} without a seat, ${fmt(high.one.net)} with one (the pool drained ${fmt(high.one.drained)}): ${fmt(high.expected)} a round; ` +
        `at the price floor ${fmt(floor.fee)}: ${fmt(floor.none.net)}, ${fmt(floor.one.net)}: ${fmt(floor.expected)} a round; ` +
        `(b) its Sybil auditor missing its own sampled ${fmt(fee)} job: ${fmt(missedNone.net)} without a seat, ${fmt(missedOne.net)} with one (the pool drained ${fmt(missedOne.drained)}), ` +
        `${fmt(missed)} a job posted (break-even at r = ${breakEven.toFixed(2)} of the verifier stake); vs ${fmt(0)} for not playing`,
    );
  });
});
