/**
 * What a person waiting sees: `JobProgress` turns a job's successive states (read from a real market's
 * events, moved through its states by the test driver) into one line per stage; the idle verifier's
 * status line reads its share of the verifier set from the real Staking contract and is logged.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";

import { network } from "hardhat";
import { describe, it } from "mocha";
import pino from "pino";
import { getAddress, parseEther } from "viem";

import { readJob } from "../../offchain/chain/jobs.js";
import { JobProgress } from "../../offchain/sdk/progress.js";
import { formatVerifierStatus, startIdleStatus } from "../../offchain/verifier/status.js";
import { deploySystem, ROLE_VERIFIER, setUpMarket, stake } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";

describe("job progress lines", function () {
  this.timeout(120_000);

  it("says each stage once as the job moves: waiting, claimed by the provider, committed, revealed (not sampled, finalizing in N), window closed, final", async () => {
    const connection = await network.create();
    try {
      const sys = await deploySystem(connection);
      await setUpMarket(sys);
      const d = marketDriver({ connection, ...sys, modelId: 1n });
      const progress = new JobProgress();
      const read = async (jobId: bigint) => {
        const record = await readJob({ client: sys.publicClient as never, market: sys.market.address, jobId });
        const now = BigInt(await connection.networkHelpers.time.latest());
        return progress.update({ record, now });
      };
      const provider = getAddress(sys.provider.account.address);

      const jobId = await d.post();
      const waiting = await read(jobId);
      assert.equal(waiting.length, 1);
      assert.match(waiting[0]!, /^waiting for a provider to claim it \(unclaimed jobs expire in \d+ (min|s)/);
      assert.deepEqual(await read(jobId), [], "nothing new: no line");

      await d.claim(jobId);
      assert.deepEqual(await read(jobId), [`claimed by ${provider}`]);
      await d.commit(jobId);
      const committed = await read(jobId);
      assert.equal(committed.length, 1);
      assert.match(committed[0]!, new RegExp(`^committed: ${provider} sealed its result; the output is revealed after the sampling seed's block`));

      await d.reveal(jobId);
      const revealed = await read(jobId);
      assert.equal(revealed.length, 1);
      assert.match(revealed[0]!, /^revealed: output root 0x[0-9a-f]{8}…[0-9a-f]{4}, not sampled for audit; finalizing in \d+ (min|s).*when the challenge window ends$/);

      const { job } = await readJob({ client: sys.publicClient as never, market: sys.market.address, jobId });
      await connection.networkHelpers.time.increaseTo(job.deadline); // the window's last second (finalize then comes a second later)
      assert.deepEqual(await read(jobId), ["challenge window closed: waiting for a finalize (the provider or any keeper sends it)"]);
      await d.finalize(jobId);
      assert.deepEqual(await read(jobId), ["final"]);
      assert.deepEqual(await read(jobId), []);
    } finally {
      await connection.close();
    }
  });

  it("gives a stage skipped between two reads its own line: a claim and commit in one transaction read once say both", async () => {
    const connection = await network.create();
    try {
      const sys = await deploySystem(connection);
      await setUpMarket(sys);
      const d = marketDriver({ connection, ...sys, modelId: 1n });
      const jobId = await d.post();
      await d.claimAndCommit(jobId);
      const record = await readJob({ client: sys.publicClient as never, market: sys.market.address, jobId });
      const lines = new JobProgress().update({ record, now: BigInt(await connection.networkHelpers.time.latest()) });
      assert.deepEqual(
        lines.map((l) => l.split(":")[0]!.split(" by")[0]),
        ["claimed", "committed"],
      );
    } finally {
      await connection.close();
    }
  });
});

describe("the idle verifier's status line", function () {
  this.timeout(120_000);

  it("formats its share of the verifier set in tokens, the jobs seen and whether it was drawn", () => {
    const line = formatVerifierStatus({ weight: parseEther("1000"), totalWeight: parseEther("4000"), jobsSeen: 12, jobsServed: 10, drawn: 0, open: 1, uptimeS: 330 });
    assert.equal(line, "idle: verifier set share 25.0% (1000 DINF of 4000 DINF), 12 jobs seen (10 of served models), not drawn yet, 1 open, up 5m");
    assert.equal(
      formatVerifierStatus({ weight: 0n, totalWeight: 0n, jobsSeen: 1, jobsServed: 0, drawn: 2, open: 0, uptimeS: 7_500 }),
      "idle: not in the verifier set, 1 job seen (0 of served models), drawn as auditor for 2, 0 open, up 2h05m",
    );
  });

  it("is logged every interval while no step runs, with the weights read from Staking, and not while one does", async () => {
    const connection = await network.create();
    try {
      const sys = await deploySystem(connection);
      await stake(sys, sys.verifier.account.address, parseEther("1000"), ROLE_VERIFIER);
      await stake(sys, sys.keeper.account.address, parseEther("3000"), ROLE_VERIFIER);
      await connection.networkHelpers.mine(1);
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          for (const text of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(text) as Record<string, unknown>);
          done();
        },
      });
      const daemon = { busy: 0, activity: () => ({ jobsSeen: 3, jobsServed: 3, drawn: 0, open: 0 }) };
      const stop = startIdleStatus({
        daemon,
        publicClient: sys.publicClient as never,
        staking: sys.staking.address,
        account: sys.verifier.account.address,
        intervalMs: 100,
        log: pino({ level: "info" }, sink),
      });
      try {
        await waitFor(() => lines.length >= 1);
        const [first] = lines;
        assert.equal(first!.level, 30);
        assert.match(String(first!.msg), /^idle: verifier set share 25\.0% \(1000 DINF of 4000 DINF\), 3 jobs seen \(3 of served models\), not drawn yet, 0 open, up 0s$/);
        assert.equal(first!.weight, parseEther("1000").toString());
        assert.equal(first!.total_weight, parseEther("4000").toString());
        daemon.busy = 1;
        await new Promise((r) => setTimeout(r, 300)); // a read already under way may still log
        const count = lines.length;
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(lines.length, count, "no status line while a step runs");
      } finally {
        stop();
      }
    } finally {
      await connection.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
