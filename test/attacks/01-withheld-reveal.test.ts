/**
 * Escape route 1 of issue 10: withholding a sampled reveal. A provider learns whether its job is sampled
 * before it must reveal; a cheater that is sampled used to stay silent and lose only the expiry penalty.
 * Now a withheld reveal of a sampled job is slashed in full (docs/PROTOCOL.md section 4), so withholding is
 * never cheaper than revealing a made-up result and being caught.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { Verdict, Vote } from "../helpers/verification.js";
import { bps, COLLATERAL, deployArena, expectLoss, fmt, JOB_FEE, M, PAYOUT, play, SAMPLING, tokens, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 1: withholding a sampled reveal", () => {
  it("withholding a sampled reveal costs the whole collateral, as much as revealing and being caught, and loses against honest work", async () => {
    const { provider, dapp, keeper, market, d, v, net, fork, post, commitWhere, judge, worth } = await load();

    // Honest work on a sampled job: the auditor agrees and the job is paid.
    const honestJob = await post();
    await commitWhere(honestJob, true);
    const honest = await net([provider], async () => {
      await v.commitAudit(honestJob);
      await d.reveal(honestJob);
      await v.revealAudit(honestJob);
      await d.finalize(honestJob);
    });
    assert.equal(honest, PAYOUT);

    // A made-up result on an unsampled job is paid like honest work: that is what cheating hopes for.
    const lucky = await post();
    await commitWhere(lucky, false);
    const unsampled = await net([provider], async () => {
      await d.reveal(lucky);
      await d.finalize(lucky);
    });

    // A made-up result on a sampled job: the honest auditor committed its own root blind.
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    const truth = v.auditOutput(jobId, { agree: false });
    await v.commitAudit(jobId, { output: truth });
    const point = await fork();

    // The cheater's options once it knows it is sampled: (a) stay silent until the reveal deadline passes.
    const posterBefore = await worth(dapp);
    const auditorBefore = await worth(auditor);
    const withhold = await net([provider], async () => {
      await d.pastDeadline(jobId);
      const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, JOB_FEE, COLLATERAL, true]);
    });
    // The whole collateral is split: the expiry penalty's share to the poster (with its fee back), the
    // finder's share to the auditor that did the work blind, the rest to the audit pool.
    assert.equal((await worth(dapp)) - posterBefore, JOB_FEE + bps(COLLATERAL, M.expiryPenaltyBps));
    assert.equal((await worth(auditor)) - auditorBefore, bps(COLLATERAL, V.challengerRewardBps));

    // (b) reveal the made-up result and face the auditor's Disagree and the committee.
    await point.restore();
    const caught = await net([provider], async () => {
      await d.reveal(jobId);
      await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
      await judge(jobId, { truth: Vote.ProviderWrong });
    });
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);

    assert.equal(withhold, -COLLATERAL);
    expectLoss(
      withhold <= caught && caught < honest,
      `withholding a sampled reveal: net ${fmt(withhold)} vs revealing and being caught ${fmt(caught)} vs honest ${fmt(honest)}`,
    );
    // Per job, with the sampling rate of the local terms: the cheater's best answer to being sampled, against
    // honest work whose compute may cost up to its whole payout.
    const expected = (1 - SAMPLING) * tokens(unsampled) + SAMPLING * Math.max(tokens(withhold), tokens(caught));
    const floor = tokens(honest) - tokens(PAYOUT);
    expectLoss(
      expected < floor,
      `cheating at ${SAMPLING * 100}% sampling: ${fmt(expected)} a job vs honest ${fmt(honest)} less compute (${fmt(floor)} if it costs the whole payout)`,
    );
  });

  it("the missed reveal of an unsampled job costs only the expiry penalty, and withholding it earns less than revealing", async () => {
    const { provider, keeper, market, d, net, post, commitWhere } = await load();
    const jobId = await post();
    await commitWhere(jobId, false);
    const missed = await net([provider], async () => {
      await d.pastDeadline(jobId);
      const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [
        jobId,
        JobStatus.Committed,
        JOB_FEE,
        bps(COLLATERAL, M.expiryPenaltyBps),
        false,
      ]);
    });
    assert.equal(missed, -bps(COLLATERAL, M.expiryPenaltyBps));

    const revealed = await post();
    await commitWhere(revealed, false);
    const paid = await net([provider], async () => {
      await d.reveal(revealed);
      await d.finalize(revealed);
    });
    expectLoss(
      missed < paid && -missed < COLLATERAL,
      `a missed unsampled reveal: net ${fmt(missed)} (the expiry penalty) vs revealing ${fmt(paid)} vs a withheld sampled reveal ${fmt(-COLLATERAL)}`,
    );
  });
});
