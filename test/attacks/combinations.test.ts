/**
 * Combinations of the escape routes of issue 10: withholding a sampled reveal with a second key on the
 * other side of the job (the poster, or the blind auditor), and Sybil verifier accounts together with a
 * self-challenge. Each is played on the real contracts at the local terms, branch by branch, and its
 * expectation per job compared with honest work (docs/PROTOCOL.md section 8).
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, parseEther } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { Verdict, Vote } from "../helpers/verification.js";
import {
  AUDIT_REWARD,
  captureChance,
  COLLATERAL,
  deployArena,
  expectLoss,
  fmt,
  JOB_FEE,
  PAYOUT,
  play,
  SAMPLING,
  tokens,
  type Arena,
} from "./arena.js";

const connection = await network.create();
const { networkHelpers } = connection;

const arena = (conn: typeof connection) => deployArena(conn);
/** One Sybil verifier holding half the verifier stake. */
const halfSybil = (conn: typeof connection) => deployArena(conn, { honest: 6, sybils: 1, sybilStake: parseEther("1200") });
/** Three Sybil verifiers of six honest ones: a third of the verifier stake. */
const thirdSybils = (conn: typeof connection) => deployArena(conn, { honest: 6, sybils: 3 });

async function load(fixture: (conn: typeof connection) => Promise<Arena> = arena) {
  const sys = await networkHelpers.loadFixture(fixture);
  return { ...sys, ...play(connection, sys) };
}

describe("combinations", () => {
  it("withhold + second key: a withheld sampled reveal loses even with the poster, or the blind auditor, on the cheater's side", async () => {
    // (a) The cheater posts its own job from a second key, then withholds when sampled.
    {
      const { market, token, provider, provider2, keeper, d, v, post, commitWhere, worth, fork } = await load();
      await token.write.approve([market.address, 2n ** 256n - 1n], { account: provider2.account });
      const cheater = [provider, provider2];
      const start = await fork();
      let before = await worth(...cheater);
      const honestJob = await post({ poster: provider2 });
      await commitWhere(honestJob, true);
      await v.commitAudit(honestJob);
      await d.reveal(honestJob);
      await v.revealAudit(honestJob);
      await d.finalize(honestJob);
      const honest = (await worth(...cheater)) - before;

      await start.restore();
      before = await worth(...cheater);
      const jobId = await post({ poster: provider2 });
      await commitWhere(jobId, true);
      await v.commitAudit(jobId, { output: v.auditOutput(jobId, { agree: false }) });
      await d.pastDeadline(jobId);
      await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      const withheld = (await worth(...cheater)) - before;
      expectLoss(
        withheld < honest && honest === PAYOUT - JOB_FEE,
        `withhold with the second key as poster: cheater and poster net ${fmt(withheld)} vs ${fmt(honest)} for honest work paid by the same poster`,
      );
    }

    // (b) The cheater's second key is drawn as the auditor and commits blind; the cheater withholds anyway.
    {
      const { market, provider, keeper, sybils, d, v, fork, post, commitWhere, auditorAddress, worth } = await load(halfSybil);
      const [second] = sybils;
      const cheater = [provider, second];
      const jobId = await post();
      await commitWhere(jobId, true, { also: async () => (await auditorAddress(jobId)) === getAddress(second.account.address) });
      await v.commitAudit(jobId, { by: second });
      const point = await fork();
      let before = await worth(...cheater);
      await d.pastDeadline(jobId);
      await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      const withheld = (await worth(...cheater)) - before;

      // Revealing instead, its own auditor agrees (equal roots are never rechecked).
      await point.restore();
      before = await worth(...cheater);
      await d.reveal(jobId);
      await v.revealAudit(jobId, { by: second });
      await d.finalize(jobId);
      const revealed = (await worth(...cheater)) - before;
      expectLoss(
        withheld < revealed && withheld < PAYOUT && revealed === PAYOUT + AUDIT_REWARD,
        `withhold with the second key as blind auditor: net ${fmt(withheld)} vs ${fmt(revealed)} for revealing to the colluding auditor ` +
          `(collusion is priced by the stake share r, see route 2) vs honest ${fmt(PAYOUT)}`,
      );
    }
  });

  it("Sybil verifiers + self-challenge: challenging oneself buys no committee odds, and the cheat loses at a third of the verifier stake", async () => {
    const sys = await load(thirdSybils);
    const { staking, provider, provider2, sybils, d, v, fork, until, post, commitWhere, auditorAddress, seats, judge, worth, net } = sys;
    const mine = new Set(sybils.map((w) => getAddress(w.account.address)));
    const cheater = [provider, provider2, ...sybils];
    const votes = { truth: Vote.ProviderWrong, attackers: sybils, attackerVote: Vote.ProviderCorrect };

    // A sampled made-up result with an honest auditor, who commits its own root blind.
    const jobId = await post();
    await commitWhere(jobId, true, { also: async () => !mine.has(await auditorAddress(jobId)) });
    const truth = v.auditOutput(jobId, { agree: false });
    await v.commitAudit(jobId, { output: truth });
    await d.reveal(jobId);
    const point = await fork();
    // Both branches are played in worlds with the same Sybil seats (two when captured, none when caught), so
    // they differ only by the self-challenge, not by how many seats the draw happened to give.
    const sybilSeats = async () => (await seats(jobId)).filter((s) => mine.has(s)).length;
    const branch = async (selfChallenge: boolean, capture: boolean) => {
      await point.restore();
      const before = await worth(...cheater);
      await until(
        async () => {
          if (selfChallenge) await v.challenge(jobId, provider2);
          await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
          await v.drawCommittee(jobId);
        },
        async () => (await sybilSeats()) === (capture ? 2 : 0),
      );
      await judge(jobId, votes);
      assert.equal(d.jobs.job(jobId).status, capture ? JobStatus.Finalized : JobStatus.Slashed);
      return (await worth(...cheater)) - before;
    };
    const self = { captured: await branch(true, true), caught: await branch(true, false) };
    const plain = { captured: await branch(false, true), caught: await branch(false, false) };

    // A Sybil drawn as the auditor agrees with the made-up result.
    const colluded = await post();
    await commitWhere(colluded, true, { also: async () => mine.has(await auditorAddress(colluded)) });
    const withSybil = await net(cheater, async () => {
      await v.commitAudit(colluded, { by: v.wallet(await auditorAddress(colluded)) });
      await d.reveal(colluded);
      await v.revealAudit(colluded);
      await d.finalize(colluded);
    });

    // The stake shares: of the auditor draw (commit block), and of the committee (the honest auditor excluded).
    const block = d.jobs.job(jobId).commitBlock;
    let theirs = 0n;
    for (const w of sybils) theirs += await staking.read.verifierWeightAt([w.account.address, block]);
    const total = await staking.read.totalVerifierWeightAt([block]);
    const r = Number(theirs) / Number(total);
    const k = captureChance(Number(theirs) / Number(total - parseEther("200")));
    const perJob = (branches: { captured: bigint; caught: bigint }) =>
      (1 - SAMPLING) * tokens(PAYOUT) +
      SAMPLING * (r * tokens(withSybil) + (1 - r) * (k * tokens(branches.captured) + (1 - k) * tokens(branches.caught)));
    const withSelf = perJob(self);
    const without = perJob(plain);
    expectLoss(
      self.caught <= -COLLATERAL && self.captured <= plain.captured && withSelf <= without && withSelf < tokens(PAYOUT) - tokens(PAYOUT),
      `Sybils (r = ${r.toFixed(3)}, k = ${k.toFixed(3)}) + self-challenge: captured ${fmt(self.captured)}, caught ${fmt(self.caught)} ` +
        `(without the self-challenge ${fmt(plain.captured)} / ${fmt(plain.caught)}), Sybil auditor ${fmt(withSybil)}: ` +
        `${fmt(withSelf)} a job (${fmt(without)} without) vs honest ${fmt(PAYOUT)} less compute (${fmt(0)} if it costs the whole payout)`,
    );
  });
});
