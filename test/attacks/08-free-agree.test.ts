/**
 * Escape route 8 of issue 10: an Agree that costs nothing. An auditor used to commit a random root, answer
 * Agree, be paid at once, and keep the reward after the provider was slashed. Now an Agree is paid only when
 * the job is paid, an Agree with a result shown wrong costs `challengeBond`, an Agree whose root differs from
 * the provider's is rechecked with `recheckPpm` from a seed unknown when the auditor committed, and keeping
 * quiet costs the same bond (docs/PROTOCOL.md section 7).
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { AuditState, DisputeReason, isRechecked, Verdict, Vote } from "../helpers/verification.js";
import { AUDIT_REWARD, deployArena, expectLoss, fmt, M, MISSED_AUDIT_PENALTY, play, RECHECK, tokens, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 8: an Agree that costs nothing", () => {
  it("an auditor that agrees without running the job is paid nothing at its reveal, loses challengeBond when rechecked or when it keeps quiet, and earns less than auditing", async () => {
    const { verification, publicClient, d, v, fork, until, post, commitWhere, judge, worth } = await load();
    // An honest provider's sampled job; its auditor is lazy: it commits a root it made up.
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    const lazy = v.auditOutput(jobId, { agree: false });
    const rechecked = async () => {
      const { commitBlock } = await verification.read.audit([jobId]);
      const recheckBlock = commitBlock + BigInt(M.seedDelay);
      await v.mineBeyond(recheckBlock);
      return isRechecked((await publicClient.getBlock({ blockNumber: recheckBlock })).hash, jobId, V.recheckPpm);
    };
    const start = await fork();
    const before = await worth(auditor);

    // Not rechecked: nothing at the reveal, the reward when the job is paid.
    await until(() => v.commitAudit(jobId, { output: lazy }), async () => !(await rechecked()));
    await d.reveal(jobId);
    await v.revealAudit(jobId, { output: lazy, verdict: Verdict.Agree });
    const atReveal = (await worth(auditor)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Revealed);
    await d.finalize(jobId);
    const lucky = (await worth(auditor)) - before;

    // Rechecked: a committee judges the auditor's own output too, and finds it wrong.
    await start.restore();
    await until(() => v.commitAudit(jobId, { output: lazy }), rechecked);
    await d.reveal(jobId);
    await v.revealAudit(jobId, { output: lazy, verdict: Verdict.Agree });
    assert.equal((await verification.read.dispute([jobId])).reason, DisputeReason.Recheck);
    await judge(jobId, { truth: Vote.AuditorWrong });
    const caught = (await worth(auditor)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);

    // Seeing a recheck coming, it keeps quiet instead: the same bond, and a committee judges the job anyway.
    await start.restore();
    await until(() => v.commitAudit(jobId, { output: lazy }), rechecked);
    await d.reveal(jobId);
    await d.finalize(jobId);
    assert.equal((await verification.read.audit([jobId])).state, AuditState.Unrevealed);
    await judge(jobId, { truth: Vote.ProviderCorrect });
    const quiet = (await worth(auditor)) - before;

    // The honest auditor runs the job, commits the provider's root, and is never rechecked.
    await start.restore();
    await v.commitAudit(jobId);
    await d.reveal(jobId);
    await v.revealAudit(jobId);
    await d.finalize(jobId);
    const honest = (await worth(auditor)) - before;

    const expected = (1 - RECHECK) * tokens(lucky) + RECHECK * Math.max(tokens(caught), tokens(quiet));
    expectLoss(
      atReveal === 0n && lucky === AUDIT_REWARD && caught === -V.challengeBond && quiet === -V.challengeBond && expected < tokens(honest) - tokens(AUDIT_REWARD),
      `a lazy Agree: ${fmt(atReveal)} at its reveal, ${fmt(lucky)} when not rechecked, ${fmt(caught)} when rechecked, ${fmt(quiet)} keeping quiet: ` +
        `${fmt(expected)} an audit at ${RECHECK * 100}% rechecks vs honest ${fmt(honest)} less compute (${fmt(0)} if it costs the whole reward)`,
    );
  });

  it("an auditor that agreed with a made-up result loses challengeBond when a watchdog shows it wrong", async () => {
    const { verification, stranger, d, v, until, post, commitWhere, judge, worth, publicClient } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    const lazy = v.auditOutput(jobId, { agree: false });
    const before = await worth(auditor);
    await until(
      () => v.commitAudit(jobId, { output: lazy }),
      async () => {
        const { commitBlock } = await verification.read.audit([jobId]);
        await v.mineBeyond(commitBlock + BigInt(M.seedDelay));
        const seed = (await publicClient.getBlock({ blockNumber: commitBlock + BigInt(M.seedDelay) })).hash;
        return !isRechecked(seed, jobId, V.recheckPpm);
      },
    );
    // The provider's result is made up too; the lazy auditor agrees with it; a watchdog challenges.
    await d.reveal(jobId);
    await v.revealAudit(jobId, { output: lazy, verdict: Verdict.Agree });
    await v.challenge(jobId, stranger);
    await judge(jobId, { truth: Vote.ProviderWrong });
    const net = (await worth(auditor)) - before;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    expectLoss(
      net === -V.challengeBond,
      `an Agree with a result shown wrong: auditor net ${fmt(net)} vs ${fmt(AUDIT_REWARD)} for an honest audit of an honest job`,
    );
  });

  it("an auditor cannot copy the provider's root: the reveal waits for its blind commit, and once the provider revealed it can neither commit nor reveal", async () => {
    const { market, verification, provider, d, v, post, commitWhere, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    const before = await worth(auditor);
    // The auditor waits for the provider's root to copy it; the provider may not reveal until the audit deadline.
    const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
      verification,
      "AuditPending",
      [jobId, commitBy],
    );
    await d.at(commitBy + 1n);
    await d.reveal(jobId);
    // The root is public now: a commitment to it, or a reveal of it, would be a copy.
    const copy = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
    await assertions.revertWithCustomErrorWithArgs(
      verification.write.commitAudit([jobId, d.jobs.job(jobId), copy], { account: auditor.account }),
      verification,
      "WrongJobStatus",
      [jobId, JobStatus.Disputed],
    );
    await assertions.revertWithCustomErrorWithArgs(
      verification.write.revealAudit(v.revealAuditArgs(jobId, v.auditOutput(jobId), Verdict.Agree), { account: auditor.account }),
      verification,
      "WrongAuditState",
      [jobId, AuditState.Missed],
    );
    const net = (await worth(auditor)) - before;
    // It missed its blind commit: auditorPenalty, but at least the pay of the committee that replaces it.
    expectLoss(net === -MISSED_AUDIT_PENALTY, `an auditor waiting to copy the provider's root: net ${fmt(net)} vs ${fmt(AUDIT_REWARD)} for an honest audit`);
  });
});
