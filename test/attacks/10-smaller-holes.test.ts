/**
 * Escape route 10 of issue 10, the smaller holes: a callback job could not require an inline output; an
 * account holding both roles lost locked collateral to verifier penalties, so its faulted job slashed less
 * than its collateral; the poster could sit on its own job's committee; and an honest provider whose blob
 * server was knocked offline could be voted wrong. Each is closed on the contract side (docs/PROTOCOL.md
 * sections 4, 6 and 7).
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { anyValue } from "@nomicfoundation/hardhat-viem-assertions/predicates";
import { getAddress, keccak256, parseEther, toHex, type Address, type Hex } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { ROLE_PROVIDER, ROLE_VERIFIER, stake, VERIFIER_STAKE } from "../helpers/fixture.js";
import { inlineRoot } from "../helpers/market.js";
import { AuditState, committeeDrawSeed, isRechecked, Verdict, Vote } from "../helpers/verification.js";
import { AUDIT_REWARD, bps, COLLATERAL, deployArena, expectLoss, fmt, JOB_FEE, M, MISSED_AUDIT_PENALTY, PAYOUT, play, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);
/** No verifier yet: the dual-role test builds its own set. */
const empty = (conn: typeof connection) => deployArena(conn, { honest: 0 });

async function load(fixture: (conn: typeof connection) => Promise<Arena> = arena) {
  const sys = await networkHelpers.loadFixture(fixture);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 10: smaller holes", () => {
  it("a callback job that requires an inline output cannot be revealed by URI: the consumer gets the output bytes or the provider pays", async () => {
    const { market, token, provider, keeper, d, net, commitWhere } = await load();
    const consumer = await viem.deployContract("GoodConsumer", [market.address, token.address]);
    await token.write.mint([consumer.address, 10n * JOB_FEE]);
    const output = toHex("the consumer's output bytes");
    const root = inlineRoot(output);
    const request = async () => d.request({ fee: JOB_FEE, callbackGasLimit: 300_000, inlineOutput: true });

    // The cheater commits and reveals by URI only: refused.
    const jobId = await d.posted(consumer.write.post([await request()]));
    await commitWhere(jobId, false, { outputRoot: root });
    await assertions.revertWithCustomErrorWithArgs(
      market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
      market,
      "InlineOutputRequired",
      [jobId],
    );
    // Its best answer is to stay silent: the consumer is refunded and the provider loses the expiry penalty.
    const silent = await net([provider], async () => {
      await d.pastDeadline(jobId);
      await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
    });

    // Honest work: revealed inline, finalized with the bytes, delivered to the consumer.
    const honestJob = await d.posted(consumer.write.post([await request()]));
    await commitWhere(honestJob, false, { outputRoot: root });
    const honest = await net([provider], async () => {
      await d.reveal(honestJob, { inlineOutput: output });
      await d.pastDeadline(honestJob);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([honestJob, d.jobs.job(honestJob)], { account: keeper.account }),
        market,
        "InlineOutputRequired",
        [honestJob],
      );
      await d.jobs.send(market.write.finalizeWithOutput([honestJob, d.jobs.job(honestJob), output], { account: keeper.account }));
    });
    assert.equal(await consumer.read.calls(), 1n);
    assert.equal(await consumer.read.lastOutputHash(), keccak256(output));
    assert.equal(await consumer.read.lastOutputRoot(), root);
    expectLoss(
      silent < honest && honest === PAYOUT,
      `a callback job revealed by URI only: refused; staying silent nets ${fmt(silent)} vs honest ${fmt(honest)} with the bytes delivered`,
    );
  });

  it("an account holding both roles still loses its whole collateral when its job is faulted, whatever verifier penalties it paid", async () => {
    const sys = await load(empty);
    const { verification, staking, provider2, stranger, wallets, d, v, post, commitWhere, judge, worth } = sys;
    const [dual, ...honest] = wallets.slice(8, 12);
    const a = getAddress(dual.account.address);
    const free = parseEther("5");
    // The dual-role account: the collateral of one job and 5 more; the only verifier for now.
    await stake(sys, a, COLLATERAL + free, ROLE_PROVIDER | ROLE_VERIFIER);
    await stake(sys, provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
    const before = await worth(dual);

    // Two sampled jobs of another provider: the dual-role account is the one verifier drawn to audit them.
    const audits: bigint[] = [];
    for (let i = 0; i < 2; i++) {
      const jobId = await post();
      await commitWhere(jobId, true, { by: provider2 });
      assert.equal(getAddress(await v.auditorOf(jobId)), a);
      audits.push(jobId);
    }
    // Honest verifiers join: they will judge its own job, whose committee is drawn from its commit block's set.
    for (const w of honest) await stake(sys, w.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
    // Its own job locks its collateral (it is not sampled here: its committee comes from the challenge below).
    const own = await post();
    await commitWhere(own, false, { by: dual });
    assert.equal((await staking.read.account([a])).locked, COLLATERAL);

    // It misses both audits: the first penalty (6, more than its 5 free) takes its free stake and owes the
    // rest on its collateral; the second is owed whole. Nothing is taken from the collateral now.
    assert.ok(MISSED_AUDIT_PENALTY > free);
    let commitBy = 0n;
    for (const jobId of audits) {
      const by = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
      if (by > commitBy) commitBy = by;
    }
    await d.at(commitBy + 1n);
    const penalties = [free, 0n];
    for (const [i, jobId] of audits.entries()) {
      const { transactionHash } = await d.reveal(jobId, { by: provider2 });
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, a, penalties[i], AuditState.Missed]);
    }
    const account = await staking.read.account([a]);
    assert.deepEqual([account.stake, account.locked], [COLLATERAL, COLLATERAL], "the collateral is whole for its own job's slash");
    assert.equal(await staking.read.penaltyDebt([a]), 2n * MISSED_AUDIT_PENALTY - free, "the rest of both penalties is owed");

    // Its own made-up result is challenged and faulted: the slash takes the whole collateral.
    await d.reveal(own, { by: dual });
    await v.challenge(own, stranger);
    const { transactionHash } = await judge(own, { truth: Vote.ProviderWrong });
    await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [own, true, COLLATERAL, Vote.ProviderWrong, 0n, 3n, 0n]);
    const lost = (await worth(dual)) - before;
    expectLoss(
      lost === -(COLLATERAL + free) && d.jobs.job(own).status === JobStatus.Slashed,
      `a dual-role account after ${fmt(-free)} of verifier penalties: its faulted job slashed ${fmt(-COLLATERAL)} (the whole collateral), net ${fmt(lost)} vs honest ${fmt(PAYOUT)}`,
    );
  });

  it("an account holding both roles with all its stake locked still pays for a lazy Agree and a false Disagree: the bond is owed on its collateral and taken as it comes back", async () => {
    const sys = await load(empty);
    const { verification, staking, publicClient, provider2, wallets, d, v, fork, until, post, commitWhere, judge, worth } = sys;
    const [dual, ...honest] = wallets.slice(8, 12);
    const a = getAddress(dual.account.address);
    // The dual-role account stakes exactly one job's collateral, beside honest verifiers (its committees').
    await stake(sys, a, COLLATERAL, ROLE_PROVIDER | ROLE_VERIFIER);
    await stake(sys, provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
    for (const w of honest) await stake(sys, w.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
    // Another provider's sampled job, in a world where the dual-role account is drawn to audit it.
    const audited = await post();
    await commitWhere(audited, true, { by: provider2, also: async () => getAddress(await v.auditorOf(audited)) === a });
    // Its own honest job locks all it has: no free stake, none unbonding.
    const own = await post();
    await commitWhere(own, false, { by: dual });
    assert.equal(await staking.read.availableStake([a]), 0n);
    const start = await fork();
    const before = await worth(dual);
    const ownJobPaid = async () => {
      await d.reveal(own, { by: dual });
      await d.finalize(own);
      assert.equal(d.jobs.job(own).status, JobStatus.Finalized);
    };
    const rechecked = async () => {
      const { commitBlock } = await verification.read.audit([audited]);
      const recheckBlock = commitBlock + BigInt(M.seedDelay);
      await v.mineBeyond(recheckBlock);
      return isRechecked((await publicClient.getBlock({ blockNumber: recheckBlock })).hash, audited, V.recheckPpm);
    };
    const owedThenPaid = async (resolved: { transactionHash: Hex }) => {
      await assertions.emitWithArgs(resolved.transactionHash, verification, "AuditorPenalized", [audited, a, 0n, anyValue]);
      await assertions.emitWithArgs(resolved.transactionHash, staking, "PenaltyDeferred", [a, V.challengeBond, V.challengeBond]);
      await ownJobPaid();
      assert.equal(await staking.read.penaltyDebt([a]), 0n);
      return (await worth(dual)) - before;
    };

    // A lazy Agree (a made-up root), rechecked: the committee finds its output wrong.
    const lazy = v.auditOutput(audited, { agree: false });
    await until(() => v.commitAudit(audited, { output: lazy }), rechecked);
    await d.reveal(audited, { by: provider2 });
    await v.revealAudit(audited, { output: lazy, verdict: Verdict.Agree });
    const lazyAgree = await owedThenPaid(await judge(audited, { truth: Vote.AuditorWrong }));

    // A Disagree with an honest result: the committee upholds the provider.
    await start.restore();
    await until(() => v.commitAudit(audited, { output: lazy }), async () => !(await rechecked()));
    await d.reveal(audited, { by: provider2 });
    await v.revealAudit(audited, { output: lazy, verdict: Verdict.Disagree });
    const falseDisagree = await owedThenPaid(await judge(audited, { truth: Vote.ProviderCorrect }));

    // Honest work: it runs the job, agrees, and is paid for both.
    await start.restore();
    await v.commitAudit(audited);
    await d.reveal(audited, { by: provider2 });
    await v.revealAudit(audited);
    await d.finalize(audited);
    await ownJobPaid();
    const honestNet = (await worth(dual)) - before;

    expectLoss(
      lazyAgree === PAYOUT - V.challengeBond && falseDisagree === PAYOUT - V.challengeBond && honestNet === PAYOUT + AUDIT_REWARD,
      `a dual-role auditor with every token locked: a lazy Agree rechecked nets ${fmt(lazyAgree)}, a false Disagree ${fmt(falseDisagree)} ` +
        `(each ${fmt(-V.challengeBond)} owed on its collateral and taken as its own job pays) vs honest ${fmt(honestNet)}`,
    );
  });

  it("the poster can neither audit its own job nor sit on its committee: challenging a correct result of its own job costs it the bond", async () => {
    const sys = await load();
    const { staking, publicClient, provider, dapp, d, v, until, post, commitWhere, seats, judge, worth } = sys;
    // The poster holds half the verifier stake, and tokens for a bond.
    await stake(sys, dapp.account.address, parseEther("1200"), ROLE_VERIFIER);
    await sys.token.write.approve([sys.verification.address, V.challengeBond], { account: dapp.account });
    const poster = getAddress(dapp.account.address);

    const audited = await post();
    await commitWhere(audited, true);
    assert.notEqual(getAddress(await v.auditorOf(audited)), poster);

    // The poster challenges a correct result of its own job, in a world where, were it not excluded, the
    // draw would have given it a seat.
    const jobId = await post();
    await commitWhere(jobId, false);
    await d.reveal(jobId);
    const before = await worth(dapp);
    const providerBefore = await worth(provider);
    const wouldSit = async () => {
      const { seedBlock } = await sys.verification.read.dispute([jobId]);
      await v.mineBeyond(seedBlock);
      const seed = (await publicClient.getBlock({ blockNumber: seedBlock })).hash;
      const notExcludingPoster: Address[] = [provider.account.address];
      for (let i = 0; i < V.committeeSize; i++) {
        const seat = await staking.read.drawVerifier([committeeDrawSeed(seed, jobId, i), d.jobs.job(jobId).commitBlock, notExcludingPoster]);
        if (getAddress(seat) === poster) return true;
      }
      return false;
    };
    await until(() => v.challenge(jobId, dapp), wouldSit);
    await v.drawCommittee(jobId);
    assert.ok(!(await seats(jobId)).includes(poster), "the poster holds no seat");
    await judge(jobId, { truth: Vote.ProviderCorrect });
    const posterNet = (await worth(dapp)) - before;
    const providerNet = (await worth(provider)) - providerBefore;
    expectLoss(
      posterNet === -V.challengeBond && providerNet === PAYOUT + bps(V.challengeBond, V.providerRewardBps),
      `a poster challenging its own job's correct result, kept off the committee: net ${fmt(posterNet)} vs ${fmt(0)} for accepting it; the provider ${fmt(providerNet)}`,
    );
  });

  it("output availability: the provider announces more locations and an equal-root auditor serves the same bytes; a griefer's challenge loses its bond", async () => {
    const { market, verification, provider, stranger, d, v, post, commitWhere, judge, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    await v.commitAudit(jobId);
    await d.reveal(jobId);
    // The provider names another location of its output; only the provider can.
    const mirror = "https://mirror.example/blobs/output";
    await assertions.emitWithArgs(
      market.write.announceOutput([jobId, d.jobs.job(jobId), mirror], { account: provider.account }),
      market,
      "OutputAnnounced",
      [jobId, getAddress(provider.account.address), mirror],
    );
    await assertions.revertWithCustomErrorWithArgs(
      market.write.announceOutput([jobId, d.jobs.job(jobId), "https://attacker.example/garbage"], { account: stranger.account }),
      market,
      "NotJobProvider",
      [jobId, getAddress(stranger.account.address)],
    );
    // The auditor's root equals the provider's: its reveal names a third location of the same bytes.
    const { outputRoot } = v.auditOutput(jobId);
    const { transactionHash } = await v.revealAudit(jobId);
    await assertions.emitWithArgs(transactionHash, verification, "AuditRevealed", [
      jobId,
      getAddress(auditor.account.address),
      d.jobs.job(jobId).result,
      Verdict.Agree,
      `http://auditor/outputs/${outputRoot}`,
      false,
    ]);
    assert.equal(outputRoot, d.jobs.job(jobId).result);

    // A griefer knocks the provider's blob server offline and challenges: the committee fetches the bytes
    // from the other locations, checks them against the root and upholds the result.
    const before = await worth(stranger);
    await v.challenge(jobId, stranger);
    await judge(jobId, { truth: Vote.ProviderCorrect });
    const griefer = (await worth(stranger)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    expectLoss(griefer === -V.challengeBond, `challenging a result whose first location is offline: griefer net ${fmt(griefer)} vs ${fmt(0)}`);
  });
});
