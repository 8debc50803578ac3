/**
 * Escape route 2 of issue 10: steering the auditor draw. A provider holding a few minimum-stake verifier
 * accounts used to change the verifier set after the seed was public until the draw landed on its own
 * account. Now the auditor is drawn from the set frozen at the job's commit block, stake-weighted
 * (docs/PROTOCOL.md section 6): no transaction after the seed changes it, and splitting stake over accounts
 * buys no extra chance. The attacker's only edge left is its share `r` of the verifier stake.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { encodeAbiParameters, getAddress, keccak256, parseAbiParameters, parseEther } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { ROLE_PROVIDER, ROLE_VERIFIER, stake } from "../helpers/fixture.js";
import { ZERO_ADDRESS } from "../helpers/market.js";
import { Verdict, Vote } from "../helpers/verification.js";
import {
  AUDIT_REWARD,
  captureChance,
  deployArena,
  expectLoss,
  fmt,
  PAYOUT,
  play,
  SAMPLING,
  tokens,
  V,
  type Arena,
} from "./arena.js";

const connection = await network.create();
const { networkHelpers } = connection;

const MIN_STAKE = parseEther("100");
/** Six honest verifiers of 200 and three Sybil accounts of the attacker at the minimum stake: r = 300 / 1500. */
const sybilAccounts = (conn: typeof connection) => deployArena(conn, { honest: 6, sybils: 3, sybilStake: MIN_STAKE });
/** Six honest verifiers of 200 and no Sybil. */
const honestOnly = (conn: typeof connection) => deployArena(conn);
/** The same stake in one account. */
const oneAccount = (conn: typeof connection) => deployArena(conn, { honest: 6, sybils: 1, sybilStake: 3n * MIN_STAKE });

async function load(fixture: (conn: typeof connection) => Promise<Arena> = sybilAccounts) {
  const sys = await networkHelpers.loadFixture(fixture);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 2: steering the auditor draw", () => {
  it("role changes, stake and unbonding after the seed never change the auditor; the attacker's edge is its stake share only", async () => {
    const sys = await load();
    const { provider, staking, stranger, sybils, d, v, net, fork, until, post, commitWhere, auditorAddress, seats, judge } = sys;
    const mine = new Set(sybils.map((w) => getAddress(w.account.address)));
    const honestAuditor = async (jobId: bigint) => !mine.has(await auditorAddress(jobId));

    // A made-up result, sampled, with an honest auditor drawn: the attacker sees the seed and moves.
    const jobId = await post();
    await commitWhere(jobId, true, { also: () => honestAuditor(jobId) });
    const drawn = await auditorAddress(jobId);
    // The attacker's share before its moves: its weight in the commit block's set (the provider and the
    // poster hold no verifier stake), and in the committee's (the auditor excluded).
    const block = d.jobs.job(jobId).commitBlock;
    let theirs = 0n;
    for (const w of sybils) theirs += await staking.read.verifierWeightAt([w.account.address, block]);
    const total = await staking.read.totalVerifierWeightAt([block]);
    const r = Number(theirs) / Number(total);
    assert.equal(r, 0.2);

    const moves: [string, () => Promise<unknown>][] = [
      ["a Sybil leaves the set", () => staking.write.setRoles([0], { account: sybils[0].account })],
      ["and rejoins", () => staking.write.setRoles([ROLE_VERIFIER], { account: sybils[0].account })],
      ["a Sybil unbonds", () => staking.write.requestUnbond([MIN_STAKE], { account: sybils[1].account })],
      ["a Sybil becomes a provider only", () => staking.write.setRoles([ROLE_PROVIDER], { account: sybils[2].account })],
      ["a new account stakes 10,000 as a verifier", () => stake(sys, stranger.account.address, parseEther("10000"), ROLE_VERIFIER)],
      ["and unbonds it again", () => staking.write.requestUnbond([parseEther("10000")], { account: stranger.account })],
      ["the provider joins the set", () => staking.write.setRoles([ROLE_PROVIDER | ROLE_VERIFIER], { account: provider.account })],
    ];
    for (const [move, run] of moves) {
      await run();
      assert.equal(await auditorAddress(jobId), drawn, `after "${move}" the auditor is still the one drawn at the commit block`);
    }
    await staking.write.setRoles([ROLE_VERIFIER], { account: sybils[2].account });
    await staking.write.setRoles([ROLE_PROVIDER], { account: provider.account });

    // The honest auditor audits blind; the made-up result is revealed and disagreed with.
    const truth = v.auditOutput(jobId, { agree: false });
    await v.commitAudit(jobId, { output: truth });
    await d.reveal(jobId);
    assert.equal(getAddress((await sys.verification.read.audit([jobId])).auditor), drawn);
    const beforeDispute = await fork();
    const attacker = [provider, ...sybils];
    const sybilSeats = async () => (await seats(jobId)).filter((s) => mine.has(s)).length;
    const disagree = async () => {
      await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
      await v.drawCommittee(jobId);
    };
    // The committee decides; the attacker's Sybils vote for the made-up result.
    const attackerVotes = { truth: Vote.ProviderWrong, attackers: sybils, attackerVote: Vote.ProviderCorrect };
    let before = await sys.worth(...attacker);
    await until(disagree, async () => (await sybilSeats()) < 2);
    await judge(jobId, attackerVotes);
    const caught = (await sys.worth(...attacker)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);

    await beforeDispute.restore();
    before = await sys.worth(...attacker);
    await until(disagree, async () => (await sybilSeats()) >= 2);
    await judge(jobId, attackerVotes);
    const captured = (await sys.worth(...attacker)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);

    // The world where a Sybil is drawn auditor: it commits the provider's own root and agrees.
    const colluded = await post();
    await commitWhere(colluded, true, { also: async () => !(await honestAuditor(colluded)) });
    const withSybil = await net(attacker, async () => {
      await v.commitAudit(colluded);
      await d.reveal(colluded);
      await v.revealAudit(colluded);
      await d.finalize(colluded);
    });
    assert.equal(withSybil, PAYOUT + AUDIT_REWARD);

    // The unsampled world and honest work.
    const unsampledJob = await post();
    await commitWhere(unsampledJob, false);
    const unsampled = await net(attacker, () => d.reveal(unsampledJob).then(() => d.finalize(unsampledJob)));
    const honest = PAYOUT;

    const k = captureChance(Number(theirs) / Number(total - parseEther("200")));
    const sampledBranch = r * tokens(withSybil) + (1 - r) * (k * tokens(captured) + (1 - k) * tokens(caught));
    const expected = (1 - SAMPLING) * tokens(unsampled) + SAMPLING * sampledBranch;
    expectLoss(
      caught < 0n && expected < tokens(honest) - tokens(PAYOUT),
      `steering the auditor draw with 3 Sybils (r = ${r}): ${moves.length} moves after the seed, auditor unchanged; caught ${fmt(caught)}, ` +
        `committee captured (k = ${k.toFixed(3)}) ${fmt(captured)}, Sybil auditor (r) ${fmt(withSybil)}, unsampled ${fmt(unsampled)}: ` +
        `${fmt(expected)} a job vs honest ${fmt(honest)} less compute (${fmt(0)} if it costs the whole payout)`,
    );
  });

  it("splitting stake over accounts gives the same chance of being drawn as one account", async () => {
    const chance = async (fixture: (conn: typeof connection) => Promise<Arena>) => {
      const { staking, sybils, provider, dapp, d } = await load(fixture);
      const block = await d.latestBlock();
      const theirs = new Set(sybils.map((w) => getAddress(w.account.address)));
      let hits = 0;
      const draws = 400;
      for (let i = 0; i < draws; i++) {
        const seed = BigInt(keccak256(encodeAbiParameters(parseAbiParameters("string, uint256"), ["draw", BigInt(i)])));
        const drawn = await staking.read.drawVerifier([seed, block, [provider.account.address, dapp.account.address]]);
        if (theirs.has(getAddress(drawn))) hits++;
      }
      let weight = 0n;
      for (const w of sybils) weight += await staking.read.verifierWeightAt([w.account.address, block]);
      return { share: Number(weight) / Number(await staking.read.totalVerifierWeightAt([block])), drawn: hits / draws };
    };
    const split = await chance(sybilAccounts);
    const single = await chance(oneAccount);
    expectLoss(
      split.share === single.share && Math.abs(split.drawn - split.share) < 0.05 && Math.abs(single.drawn - single.share) < 0.05,
      `3 accounts of 100: weight ${split.share}, drawn ${split.drawn.toFixed(3)} of 400 draws; one account of 300: weight ${single.share}, drawn ${single.drawn.toFixed(3)}`,
    );
  });

  it("a provider holding most of the verifier stake in its own account is still audited: excluding it never leaves its sampled jobs unaudited", async () => {
    // The hole this closes: Staking.drawVerifier used to step past excluded accounts with at most 16 probes,
    // so a provider holding a share w of the verifier weight drew nobody with probability w^16 (85% at
    // 100,000 of 101,200) and its sampled job was revealed and paid without an audit, its committee seats
    // coming up empty alike. The excluded ranges are now cut out of the cumulative weights (section 6).
    const sys = await load(honestOnly);
    const { staking, provider, dapp, d, v, net, post, commitWhere, seats, judge } = sys;
    await stake(sys, provider.account.address, parseEther("99000"), ROLE_PROVIDER | ROLE_VERIFIER);
    const block = await d.latestBlock();
    const share = Number(await staking.read.verifierWeightAt([provider.account.address, block])) / Number(await staking.read.totalVerifierWeightAt([block]));
    assert.ok(share > 0.98, `the provider holds ${share} of the verifier weight`);
    const parties = new Set([getAddress(provider.account.address), getAddress(dapp.account.address)]);
    let empty = 0;
    let own = 0;
    const draws = 200;
    for (let i = 0; i < draws; i++) {
      const seed = BigInt(keccak256(encodeAbiParameters(parseAbiParameters("string, uint256"), ["whale", BigInt(i)])));
      const drawn = await staking.read.drawVerifier([seed, block, [provider.account.address, dapp.account.address]]);
      if (drawn === ZERO_ADDRESS) empty++;
      else if (parties.has(getAddress(drawn))) own++;
    }
    const unaudited = empty / draws;

    // Its best play, a made-up result revealed in the hope of drawing nobody: sampled, it draws an honest
    // auditor, whose blind Disagree goes to a committee with every seat filled by honest verifiers.
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    assert.ok(!parties.has(getAddress(auditor.account.address)));
    const truth = v.auditOutput(jobId, { agree: false });
    const caught = await net([provider], async () => {
      await v.commitAudit(jobId, { output: truth });
      await d.reveal(jobId);
      await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
      await v.drawCommittee(jobId);
      const drawn = await seats(jobId);
      assert.equal(drawn.length, V.committeeSize, "every seat is filled");
      assert.ok(drawn.every((s) => !parties.has(s)), "the provider holds no seat");
      await judge(jobId, { truth: Vote.ProviderWrong });
    });
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    // An unaudited sampled job would have been paid as an unsampled one.
    const expected = (1 - SAMPLING) * tokens(PAYOUT) + SAMPLING * (unaudited * tokens(PAYOUT) + (1 - unaudited) * tokens(caught));
    expectLoss(
      empty === 0 && own === 0 && expected < 0,
      `a provider with 100,000 of verifier stake against 1,200 honest (${(share * 100).toFixed(1)}%): ${empty} of ${draws} draws excluding it find nobody, ` +
        `${own} draw it or the poster; a sampled made-up result is audited and caught, ${fmt(caught)}: ${fmt(expected)} a job vs honest ${fmt(PAYOUT)} less compute (${fmt(0)} if it costs the whole payout)`,
    );
  });
});
