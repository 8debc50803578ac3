/**
 * Escape route 7 of issue 10: front-running one's own auditor or challenger. A caught provider used to
 * challenge its own job from a second account before its auditor's Disagree landed, recover part of its
 * collateral as the challenger's reward, and leave the auditor who did the work unpaid. Now the finder's
 * share goes to the auditor whose blind Disagree found the fault, else to the poster, whoever opened the
 * dispute (docs/PROTOCOL.md section 7): a self-challenge returns nothing but its bond.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { DisputeReason, faultedSplit, Verdict, Vote } from "../helpers/verification.js";
import { bps, CHALLENGE_SEAT_PAY, COLLATERAL, deployArena, expectLoss, fmt, PAYOUT, play, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers } = connection;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

/** The finder's share of a slash whose dispute the protocol opened (no bond paid its committee). */
const FINDER_SHARE = bps(COLLATERAL, V.challengerRewardBps);
/**
 * The finder's share after a challenge whose full committee voted the outcome: challengerRewardBps of the
 * whole slash, taken first; only the rest reimburses the challenger the seats its bond paid (section 7).
 */
const FINDER_SHARE_AFTER_CHALLENGE = faultedSplit(COLLATERAL, BigInt(V.committeeSize) * CHALLENGE_SEAT_PAY).finder;

describe("escape route 7: front-running one's own auditor or challenger", () => {
  it("a self-challenge before the auditor's Disagree: the auditor still gets the finder's share and the cheater loses its whole collateral", async () => {
    // A challenge's committee is paid out of the bond, and the slash makes the bond good. Were the
    // reimbursement taken before the finder's share, the self-challenge would move the committee's pay
    // (3 x 8.33 instead of 3 x 2 from the pool) out of the slash and cut the auditor that did the work to 40%
    // of 75; the finder's share comes first (section 7), so the auditor gets 40% of 100 either way.
    const { verification, provider, provider2, d, v, fork, post, commitWhere, judge, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, true);
    const auditor = await v.auditor(jobId);
    const truth = v.auditOutput(jobId, { agree: false });
    await v.commitAudit(jobId, { output: truth });
    const cheater = [provider, provider2];
    await d.reveal(jobId);
    const point = await fork();

    // (a) The cheater's second key challenges at once, before the auditor reveals its Disagree.
    let before = await worth(...cheater);
    let auditorBefore = await worth(auditor);
    await v.challenge(jobId, provider2);
    assert.equal((await verification.read.dispute([jobId])).reason, DisputeReason.Challenge);
    await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
    await judge(jobId, { truth: Vote.ProviderWrong });
    const selfChallenged = (await worth(...cheater)) - before;
    const auditorPaid = (await worth(auditor)) - auditorBefore;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);

    // (b) It lets the auditor's Disagree open the dispute.
    await point.restore();
    before = await worth(...cheater);
    auditorBefore = await worth(auditor);
    await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
    await judge(jobId, { truth: Vote.ProviderWrong });
    const plain = (await worth(...cheater)) - before;
    const auditorPlain = (await worth(auditor)) - auditorBefore;

    expectLoss(
      selfChallenged === -COLLATERAL && selfChallenged <= plain && auditorPlain === FINDER_SHARE && auditorPaid === auditorPlain,
      `self-challenge before the auditor's Disagree: cheater net ${fmt(selfChallenged)} vs ${fmt(plain)} without it vs honest ${fmt(PAYOUT)}; ` +
        `the auditor earns ${fmt(auditorPaid)} after the self-challenge vs ${fmt(auditorPlain)} without it`,
    );
  });

  it("a self-challenge on an unsampled job returns nothing to the cheater: the finder's share goes to the poster, as after a watchdog's challenge", async () => {
    const { provider, provider2, dapp, stranger, d, v, fork, post, commitWhere, judge, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, false);
    await d.reveal(jobId);
    const cheater = [provider, provider2];
    const point = await fork();

    const play = async (challenger: typeof stranger) => {
      const before = await worth(...cheater);
      const posterBefore = await worth(dapp);
      await v.challenge(jobId, challenger);
      await judge(jobId, { truth: Vote.ProviderWrong });
      return { cheater: (await worth(...cheater)) - before, poster: (await worth(dapp)) - posterBefore };
    };
    // (a) The cheater challenges itself from its second key, hoping to pocket the finder's share.
    const self = await play(provider2);
    // (b) A watchdog challenges it.
    await point.restore();
    const watchdog = await play(stranger);

    // Both are challenges: the bond paid the committee and was reimbursed from the slash before the finder's share.
    const posterGets = d.jobs.job(jobId).fee + FINDER_SHARE_AFTER_CHALLENGE;
    expectLoss(
      self.cheater === -COLLATERAL && self.cheater <= watchdog.cheater && self.poster === posterGets && watchdog.poster === posterGets,
      `self-challenge of an unsampled job: cheater net ${fmt(self.cheater)} vs ${fmt(watchdog.cheater)} when a watchdog challenges vs honest ${fmt(PAYOUT)}; ` +
        `the poster gets ${fmt(self.poster)} (its fee back and the finder's share) either way`,
    );
  });
});
