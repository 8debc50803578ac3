/**
 * Escape route 11: an auditor choosing its verdict after the committee's votes. An audit commits to an output root
 * only; its verdict is given at the reveal. In a dispute someone else opened (a watchdog's or the poster's
 * challenge), the audit could be revealed up to the end of the challenge window, long after the committee's votes
 * were public: a lazy auditor committed a made-up root, waited, and revealed Agree when the votes upheld the
 * provider (its full reward, its root never judged: the committee voted before it was shown) or Disagree when they
 * faulted it (the finder's share). Now the audit is revealed before the committee is drawn or not at all, and the
 * committee's seed block leaves a committed auditor 2 x `seedDelay` blocks after its own recheck seed to do it
 * (docs/PROTOCOL.md section 6).
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { keccak256, toHex } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { AuditState, Verdict, Vote } from "../helpers/verification.js";
import { AUDIT_REWARD, deployArena, expectLoss, fmt, M, play, UNREVEALED_AUDIT_PENALTY, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

/**
 * The lazy auditor's play: it commits a root it never computed, the provider reveals, a watchdog challenges, the
 * committee is drawn and votes `votes`; then the auditor reveals its root with the verdict those votes pay
 * (`verdict`): refused, AuditClosed. The dispute resolves.
 */
async function holdBackVerdict(sys: Awaited<ReturnType<typeof load>>, jobId: bigint, { votes, verdict }: { votes: number; verdict: number }) {
  const { verification, challenger, d, v } = sys;
  const auditor = await v.auditor(jobId);
  const madeUp = { outputRoot: keccak256(toHex(`a root nobody computed for job ${jobId}`)), salt: keccak256(toHex("a lazy salt")) };
  await v.commitAudit(jobId, { output: madeUp });
  await d.reveal(jobId);
  await v.challenge(jobId, challenger);
  await v.drawCommittee(jobId);
  assert.ok((await verification.read.dispute([jobId])).committee.length > 0, "a committee was drawn");
  await v.vote(jobId, () => votes);
  await assertions.revertWithCustomErrorWithArgs(
    verification.write.revealAudit(v.revealAuditArgs(jobId, madeUp, verdict), { account: auditor.account }),
    verification,
    "AuditClosed",
    [jobId],
  );
  await v.resolve(jobId);
}

describe("escape route 11: an auditor's verdict chosen after the committee's votes", () => {
  it("a lazy auditor that waits for the votes upholding the provider cannot reveal its Agree then: it pays as unrevealed, an honest one earns the reward", async () => {
    const sys = await load();
    const { verification, challenger, d, v, fork, post, commitWhere, judge, net } = sys;
    const jobId = await post();
    await commitWhere(jobId, true); // an honest provider, sampled
    const auditor = await v.auditor(jobId);
    const point = await fork();

    // The lazy auditor commits a root it never computed, and waits for the watchdog's dispute to be voted.
    const lazy = await net([auditor], () => holdBackVerdict(sys, jobId, { votes: Vote.ProviderCorrect, verdict: Verdict.Agree }));
    assert.equal((await verification.read.audit([jobId])).state, AuditState.Unrevealed);

    // The honest auditor computes the output and reveals its Agree into the open dispute, before the draw.
    await point.restore();
    const honest = await net([auditor], async () => {
      await v.commitAudit(jobId);
      await d.reveal(jobId);
      await v.challenge(jobId, challenger);
      await v.revealAudit(jobId, { verdict: Verdict.Agree });
      await judge(jobId, { truth: Vote.ProviderCorrect });
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    expectLoss(
      lazy === -UNREVEALED_AUDIT_PENALTY && honest === AUDIT_REWARD && lazy < honest,
      `a verdict held back for the votes: auditor net ${fmt(lazy)} vs honest ${fmt(honest)}`,
    );
  });

  it("a lazy auditor that waits for the votes faulting the provider cannot reveal a Disagree then: no finder's share, the unrevealed penalty", async () => {
    const sys = await load();
    const { provider, challenger, d, v, fork, post, commitWhere, judge, net } = sys;
    const jobId = await post();
    const truth = v.auditOutput(jobId, { agree: false });
    await commitWhere(jobId, true, { by: provider }); // the provider's root is made up: `truth` is the real output
    const auditor = await v.auditor(jobId);
    const point = await fork();

    const lazy = await net([auditor], () => holdBackVerdict(sys, jobId, { votes: Vote.ProviderWrong, verdict: Verdict.Disagree }));
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);

    await point.restore();
    const honest = await net([auditor], async () => {
      await v.commitAudit(jobId, { output: truth });
      await d.reveal(jobId);
      await v.challenge(jobId, challenger);
      await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
      await judge(jobId, { truth: Vote.ProviderWrong });
      assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    });

    expectLoss(lazy < 0n && honest > 0n, `a Disagree held back for the votes: auditor net ${fmt(lazy)} vs honest ${fmt(honest)}`);
  });

  it("an honest auditor keeps 2 x seedDelay blocks after its recheck seed to reveal, however early a dispute opens and its committee is drawn", async () => {
    const { verification, publicClient, challenger, d, v, post, commitWhere } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    // The audit's commit and the provider's reveal in one block, the challenge in the next: the dispute opens
    // before the audit's recheck seed is mined, and the audit may not be revealed before that.
    await connection.provider.request({ method: "evm_setAutomine", params: [false] });
    try {
      const nonce = await publicClient.getTransactionCount({ address: auditor.account.address, blockTag: "pending" });
      const committing = v.commitAudit(jobId);
      while ((await publicClient.getTransactionCount({ address: auditor.account.address, blockTag: "pending" })) === nonce) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const revealing = d.reveal(jobId, { waitSeed: false });
      while (((await publicClient.request({ method: "eth_getBlockByNumber", params: ["pending", false] }))?.transactions.length ?? 0) < 2) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await networkHelpers.mine();
      await Promise.all([committing, revealing]);
    } finally {
      await connection.provider.request({ method: "evm_setAutomine", params: [true] });
    }
    await v.challenge(jobId, challenger);
    const audit = await verification.read.audit([jobId]);
    const dispute = await verification.read.dispute([jobId]);
    const recheckBlock = audit.commitBlock + BigInt(M.seedDelay);
    assert.ok(dispute.openedBlock < recheckBlock, `the dispute opened (block ${dispute.openedBlock}) before the audit could be revealed (after ${recheckBlock})`);
    assert.equal(dispute.seedBlock, recheckBlock + 2n * BigInt(M.seedDelay), "the committee's seed comes 2 x seedDelay after the audit's recheck seed");
    // Nobody can draw the committee before its seed block is mined; the auditor reveals in that very block.
    await v.mineBeyond(dispute.seedBlock - 2n);
    assert.equal(await d.latestBlock(), dispute.seedBlock - 1n);
    await assertions.revertWithCustomErrorWithArgs(
      verification.write.drawCommittee([jobId], { account: challenger.account }),
      verification,
      "CommitteeSeedNotReady",
      [jobId, dispute.seedBlock],
    );
    const { blockNumber } = await d.jobs.send(verification.write.revealAudit(v.revealAuditArgs(jobId, v.auditOutput(jobId), Verdict.Agree), { account: auditor.account }));
    assert.equal(blockNumber, dispute.seedBlock);
    assert.equal((await verification.read.audit([jobId])).state, AuditState.Agreed);
  });
});
