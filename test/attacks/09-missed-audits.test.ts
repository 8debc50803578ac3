/**
 * Escape route 9 of issue 10: missed audits left jobs unaudited. If the drawn auditor missed its deadline, a
 * sampled job used to finalize on the provider's word, so the real sampling rate was p times the auditors'
 * on-time rate. Now a missed blind commit sends the job to a committee at the reveal, and an audit committed
 * and never revealed sends it there at finalize (docs/PROTOCOL.md section 7): a sampled job is always judged.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { AuditState, DisputeReason, Vote } from "../helpers/verification.js";
import {
  AUDIT_REWARD,
  COLLATERAL,
  deployArena,
  expectLoss,
  fmt,
  MISSED_AUDIT_PENALTY,
  PAYOUT,
  play,
  UNREVEALED_AUDIT_PENALTY,
  V,
  VOTER_REWARD,
  type Arena,
} from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 9: missed audits", () => {
  it("a missed blind commit sends the job to a committee at the reveal: the made-up result is slashed, the absent auditor penalized", async () => {
    const { market, verification, provider, d, v, post, commitWhere, judge, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    const before = await worth(provider);
    const auditorBefore = await worth(auditor);
    // The cheater hopes its auditor is offline: it may not reveal before the auditor's deadline.
    const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
      verification,
      "AuditPending",
      [jobId, commitBy],
    );
    await d.at(commitBy + 1n);
    await d.reveal(jobId);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
    assert.equal((await verification.read.dispute([jobId])).reason, DisputeReason.AuditMissed);
    assert.equal((await verification.read.audit([jobId])).state, AuditState.Missed);
    await judge(jobId, { truth: Vote.ProviderWrong });
    const cheater = (await worth(provider)) - before;
    const absent = (await worth(auditor)) - auditorBefore;
    // The absent auditor pays at least what the committee replacing it is paid: 3 seats x 2 = 6 > auditorPenalty (5).
    assert.equal(MISSED_AUDIT_PENALTY, BigInt(V.committeeSize) * VOTER_REWARD);
    assert.ok(MISSED_AUDIT_PENALTY > V.auditorPenalty, `the committee's pay ${fmt(MISSED_AUDIT_PENALTY)} exceeds auditorPenalty ${fmt(V.auditorPenalty)}`);
    expectLoss(
      cheater === -COLLATERAL && absent === -MISSED_AUDIT_PENALTY,
      `a made-up result whose auditor missed its commit: cheater net ${fmt(cheater)} vs honest ${fmt(PAYOUT)}; the absent auditor ${fmt(absent)} vs ${fmt(AUDIT_REWARD)} for auditing`,
    );
  });

  it("an audit committed and never revealed sends the job to a committee at finalize: the made-up result is slashed", async () => {
    const { verification, provider, d, v, post, commitWhere, judge, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    await v.commitAudit(jobId, { output: v.auditOutput(jobId, { agree: false }) });
    const before = await worth(provider);
    const auditorBefore = await worth(auditor);
    await d.reveal(jobId);
    // The auditor never reveals; the window ends and finalize hands the job to a committee.
    await d.finalize(jobId);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
    assert.equal((await verification.read.dispute([jobId])).reason, DisputeReason.AuditUnrevealed);
    await judge(jobId, { truth: Vote.ProviderWrong });
    const cheater = (await worth(provider)) - before;
    const quiet = (await worth(auditor)) - auditorBefore;
    expectLoss(
      cheater === -COLLATERAL && quiet === -UNREVEALED_AUDIT_PENALTY && UNREVEALED_AUDIT_PENALTY === V.challengeBond,
      `a made-up result whose auditor never revealed: cheater net ${fmt(cheater)} vs honest ${fmt(PAYOUT)}; the quiet auditor ${fmt(quiet)} vs ${fmt(AUDIT_REWARD)} for auditing`,
    );
  });
});
