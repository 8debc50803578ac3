/**
 * Escape route 4 of issue 10: choosing one's own late auditor. With a reveal timeout longer than 256 block
 * times, a provider used to wait until its seed was out of reach and pick its auditor by picking its reveal
 * block. Now the reveal closes once the seed is out of reach and the job can only expire, as sampled,
 * slashed in full (docs/PROTOCOL.md section 4); and the local terms reveal well inside the seed's reach.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { ZERO_ADDRESS } from "../helpers/market.js";
import { BLOCKHASH_REACH, COLLATERAL, deployArena, expectLoss, fmt, JOB_FEE, M, PAYOUT, play, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 4: choosing one's own late auditor", () => {
  it("a provider that waits out its seed's reach cannot reveal at all: the job expires as sampled and costs the whole collateral", async () => {
    const { market, verification, provider, keeper, verifiers, d, v, net, post } = await load();
    const jobId = await post();
    await d.claimAndCommit(jobId);
    const seedBlock = d.jobs.job(jobId).commitBlock + BigInt(M.seedDelay);
    const late = await net([provider], async () => {
      // 256 blocks go by in 256 seconds (the node dates no two blocks alike): the reveal deadline is still
      // ahead, the seed already out of reach.
      await networkHelpers.mine(seedBlock + BLOCKHASH_REACH - (await d.latestBlock()), { interval: 0 });
      assert.ok((await d.now()) < BigInt(d.jobs.job(jobId).deadline));
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
        market,
        "SeedOutOfReach",
        [jobId, seedBlock, seedBlock + BLOCKHASH_REACH],
      );
      // Nobody is drawn from a seed out of reach, and no auditor can commit any more. A call runs in the
      // latest block, where the seed is still within reach (the reveal above ran in the next one): one
      // more block puts it out of reach for calls too.
      await networkHelpers.mine(1, { interval: 0 });
      assert.equal(await v.auditorOf(jobId), ZERO_ADDRESS);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), await v.auditCommitment(jobId, verifiers[0], v.auditOutput(jobId))], {
          account: verifiers[0].account,
        }),
        verification,
        "AuditClosed",
        [jobId],
      );
      // Anyone expires it at once, before its deadline: it counts as sampled.
      const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, JOB_FEE, COLLATERAL, true]);
    });
    expectLoss(late === -COLLATERAL && late < PAYOUT, `waiting out the seed to pick a late auditor: net ${fmt(late)} vs honest ${fmt(PAYOUT)}`);
  });

  it("the local terms are safe: at one block a second, the last second to reveal comes well before the seed is out of reach", async () => {
    const { provider, d, net, post, commitWhere } = await load();
    // The auditor commits before the provider may reveal, and the reveal deadline lies inside the seed's reach.
    assert.ok(V.auditCommitTimeout < M.revealTimeout);
    assert.ok(M.revealTimeout + M.seedDelay < Number(BLOCKHASH_REACH), `revealTimeout ${M.revealTimeout} s at one block a second < 256 blocks`);

    // An honest provider revealing at its very last second, one block a second since its commit.
    const jobId = await post();
    await commitWhere(jobId, false);
    const { commitBlock, deadline } = d.jobs.job(jobId);
    const seedBlock = commitBlock + BigInt(M.seedDelay);
    const blocks = BigInt(deadline) - (await d.now()) - 1n;
    await networkHelpers.mine(blocks, { interval: 1 });
    await d.at(deadline);
    const paid = await net([provider], async () => {
      const { blockNumber } = await d.reveal(jobId);
      assert.ok(blockNumber <= seedBlock + BLOCKHASH_REACH, `revealed at block ${blockNumber}, the seed reaches to ${seedBlock + BLOCKHASH_REACH}`);
      await d.finalize(jobId);
    });
    expectLoss(
      paid === PAYOUT,
      `an honest reveal at revealBy (${M.revealTimeout} blocks after the commit at one a second) is paid ${fmt(paid)}; the seed stays in reach for ${BLOCKHASH_REACH} blocks`,
    );
  });
});
