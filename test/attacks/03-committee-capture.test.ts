/**
 * Escape route 3 of issue 10: capturing a committee. Four verifier accounts of ten used to reach a 2-of-3
 * majority against a correct result by changing the set between the seed and the draw. Now a committee is
 * drawn from the set frozen at the job's commit block (before anyone knew whether the job is sampled or
 * disputed), with the seed of a block fixed when the dispute opened, seat by seat in proportion to stake
 * (docs/PROTOCOL.md sections 6 and 7): a colluding majority comes only with the odds `k(r)` of the stake
 * the attacker held at the commit, and at four accounts of ten those odds make the attack lose.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, parseEther, type Address } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { ROLE_PROVIDER, ROLE_VERIFIER, stake, VERIFIER_STAKE } from "../helpers/fixture.js";
import { committeeDrawSeed, Verdict, Vote } from "../helpers/verification.js";
import { captureChance, COLLATERAL, deployArena, expectLoss, fmt, JOB_FEE, M, PAYOUT, play, tokens, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers } = connection;

/** Ten verifier accounts of 200: six honest, four the attacker's. */
const tenAccounts = (conn: typeof connection) => deployArena(conn, { honest: 6, sybils: 4 });

/** Six honest verifiers of 200 and nobody else. */
const honestArena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(tenAccounts);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 3: capturing a committee", () => {
  it("changing the verifier set between the committee's seed and its draw changes nothing", async () => {
    const sys = await load();
    const { staking, verification, publicClient, provider, dapp, challenger, stranger, sybils, verifiers, d, v, post, commitWhere, seats } = sys;
    const jobId = await post();
    await commitWhere(jobId, false);
    await d.reveal(jobId);
    const { blockNumber: openedBlock } = await v.challenge(jobId, challenger);
    const seedBlock = openedBlock + BigInt(M.seedDelay);
    const { commitBlock } = d.jobs.job(jobId);
    await v.mineBeyond(seedBlock);
    // The seed is public: the committee it draws from the commit block's set is known to everyone.
    const seed = (await publicClient.getBlock({ blockNumber: seedBlock })).hash;
    const excluded: Address[] = [provider.account.address, dapp.account.address, challenger.account.address];
    const predicted: Address[] = [];
    for (let i = 0; i < V.committeeSize; i++) {
      predicted.push(getAddress(await staking.read.drawVerifier([committeeDrawSeed(seed, jobId, i), commitBlock, excluded])));
    }
    // The attacker reshapes the set before anyone draws: its accounts stake 10,000 more each, the honest
    // members it would like out cannot be moved, a fresh account joins, the provider joins too.
    for (const w of sybils) await stake(sys, w.account.address, parseEther("10000"), ROLE_VERIFIER);
    await stake(sys, stranger.account.address, parseEther("50000"), ROLE_VERIFIER);
    await staking.write.setRoles([ROLE_PROVIDER | ROLE_VERIFIER], { account: provider.account });
    await staking.write.requestUnbond([VERIFIER_STAKE], { account: verifiers[0].account });
    await v.drawCommittee(jobId);
    assert.deepEqual(await seats(jobId), predicted);
    assert.equal((await verification.read.dispute([jobId])).seedBlock, seedBlock);
  });

  it("a poster with four verifier accounts of ten that challenges a correct result loses against paying for it", async () => {
    const sys = await load();
    const { provider, dapp, challenger, sybils, d, v, fork, until, post, commitWhere, seats, judge, worth } = sys;
    const attacker = [dapp, challenger, ...sybils];
    const theirs = new Set(sybils.map((w) => getAddress(w.account.address)));
    const attackerSeats = async (jobId: bigint) => (await seats(jobId)).filter((s) => theirs.has(s)).length;
    const votes = { truth: Vote.ProviderCorrect, attackers: sybils, attackerVote: Vote.ProviderWrong };

    // Honest use: the dApp pays for a correct result.
    let before = await worth(...attacker);
    const paidFor = await post();
    await commitWhere(paidFor, false);
    await d.reveal(paidFor);
    await d.finalize(paidFor);
    const honest = (await worth(...attacker)) - before;
    assert.equal(honest, -JOB_FEE);

    // The attack: challenge the honest provider's correct result and vote it down with the attacker's seats.
    before = await worth(...attacker);
    const victimBefore = await worth(provider);
    const jobId = await post();
    await commitWhere(jobId, false);
    await d.reveal(jobId);
    const point = await fork();
    const challengeAndDraw = async () => {
      await v.challenge(jobId, challenger);
      await v.drawCommittee(jobId);
    };

    await until(challengeAndDraw, async () => (await attackerSeats(jobId)) >= 2);
    await judge(jobId, votes);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    const captured = (await worth(...attacker)) - before;
    const victim = (await worth(provider)) - victimBefore;

    await point.restore();
    await until(challengeAndDraw, async () => (await attackerSeats(jobId)) < 2);
    await judge(jobId, votes);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    const failed = (await worth(...attacker)) - before;

    const k = captureChance(0.4);
    const expected = k * tokens(captured) + (1 - k) * tokens(failed);
    expectLoss(
      victim === -COLLATERAL && expected < tokens(honest),
      `capturing a committee with 4 accounts of 10 (k = ${k.toFixed(3)}): captured ${fmt(captured)} (the honest provider ${fmt(victim)}), ` +
        `not captured ${fmt(failed)}: ${fmt(expected)} a challenge vs ${fmt(honest)} for paying for the result`,
    );
  });
  it("stake added once the cheater learns its job is sampled never sits on the committee that judges it", async () => {
    const sys = await networkHelpers.loadFixture(honestArena);
    const { staking, verification, publicClient, provider, dapp, stranger, d, v, post, commitWhere, seats, judge, worth } = { ...sys, ...play(connection, sys) };
    const cheater = [provider, stranger];
    // A made-up result; the seed says it is sampled, with an honest auditor. Before its reveal is due, the
    // cheater stakes 100,000 as a verifier from a second account: over 98% of the verifier stake.
    const jobId = await post();
    await commitWhere(jobId, true);
    const { commitBlock } = d.jobs.job(jobId);
    await stake(sys, stranger.account.address, parseEther("100000"), ROLE_VERIFIER);
    const before = await worth(...cheater);
    const truth = v.auditOutput(jobId, { agree: false });
    await v.commitAudit(jobId, { output: truth });
    await d.reveal(jobId);
    const { blockNumber: openedBlock } = await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
    await v.drawCommittee(jobId);
    const drawn = await seats(jobId);

    // At the dispute's opening block the whale held r of the eligible stake, a colluding majority with
    // odds k(r); at the commit block, which the committee is drawn from, it held nothing.
    const whale = getAddress(stranger.account.address);
    const weightAt = (block: bigint) => staking.read.verifierWeightAt([whale, block]);
    const eligibleAt = async (block: bigint) =>
      (await staking.read.totalVerifierWeightAt([block])) - (await staking.read.verifierWeightAt([(await verification.read.audit([jobId])).auditor, block]));
    const rAtOpening = Number(await weightAt(openedBlock)) / Number(await eligibleAt(openedBlock));
    assert.equal(await weightAt(commitBlock), 0n);
    assert.ok(rAtOpening > 0.98, `r at the opening block ${rAtOpening}`);
    assert.equal(drawn.length, V.committeeSize);
    assert.ok(!drawn.includes(whale), "the whale holds no seat");
    // The committee's seed is public: whoever would have sat on it from the opening block's set.
    const { seedBlock } = await verification.read.dispute([jobId]);
    const seed = (await publicClient.getBlock({ blockNumber: seedBlock })).hash;
    const excluded: Address[] = [provider.account.address, dapp.account.address, (await verification.read.audit([jobId])).auditor];
    let wouldHave = 0;
    for (let i = 0; i < V.committeeSize; i++) {
      if (getAddress(await staking.read.drawVerifier([committeeDrawSeed(seed, jobId, i), openedBlock, excluded])) === whale) wouldHave++;
    }

    // The whale's vote would be for the made-up result; it has none. The honest committee faults it.
    await judge(jobId, { truth: Vote.ProviderWrong, attackers: [stranger], attackerVote: Vote.ProviderCorrect });
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    const net = (await worth(...cheater)) - before;
    expectLoss(
      net === -COLLATERAL,
      `100,000 staked after learning the job is sampled (r = ${rAtOpening.toFixed(3)} at the dispute's opening, k = ${captureChance(rAtOpening).toFixed(4)}; ` +
        `${wouldHave} of ${V.committeeSize} seats had the committee been drawn then): 0 seats from the commit block's set; the cheater nets ${fmt(net)} vs honest ${fmt(PAYOUT)}`,
    );
  });
});
