/**
 * The arena's own rule: a search of worlds (`until`) is the test's choice of a branch, not time passing in
 * the game, so it moves no deadline however many worlds it tries.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { deployArena, play } from "./arena.js";

const connection = await network.create();
const { networkHelpers } = connection;
const arena = (conn: typeof connection) => deployArena(conn);

describe("the arena's world search", () => {
  it("plays every world at the first world's time: after 30 worlds a job five seconds from its claim deadline is still claimed", async () => {
    const sys = await networkHelpers.loadFixture(arena);
    const { d, post, until } = play(connection, sys);
    const claimBy = (await d.now()) + 5n;
    const jobId = await post({ overrides: { claimBy } });
    const hashes = new Set<string>();
    const worlds = await until(
      () => d.claimAndCommit(jobId),
      async () => {
        hashes.add((await sys.publicClient.getBlock()).hash);
        return hashes.size === 30;
      },
    );
    assert.equal(worlds, 30, "every world is another chain (another block hash)");
    assert.equal(d.jobs.job(jobId).status, JobStatus.Committed);
    assert.ok((await d.now()) <= claimBy + 2n, `the chain's time moved ${(await d.now()) - claimBy + 5n} s in the search`);
  });
});
