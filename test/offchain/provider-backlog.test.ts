/**
 * The provider worker's backlog (offchain/provider/worker.ts, `startSteps` and `startCandidates`): posted jobs
 * wait for a free prefetch slot, and each slot that frees takes the best paid job per millisecond of our
 * inference time, the oldest first among equals, whatever order they were posted in.
 *
 * A real worker on the in-process chain (test/helpers/in-process-worker.ts), its echo runner holding each run.
 *
 * Run alone: `npx hardhat test mocha --no-compile test/offchain/provider-backlog.test.ts`.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { InferenceRunError, InferenceTimeoutError } from "../../offchain/inference/errors.js";
import { takeBest } from "../../offchain/provider/backlog.js";
import { FEE } from "../helpers/fixture.js";
import { inProcessWorker, inputOf } from "../helpers/in-process-worker.js";

const connection = await network.create();
const { networkHelpers } = connection;

describe("takeBest", () => {
  it("takes the highest value, the lowest job id among equal values, one job a call, until none is left", () => {
    const offers = [
      { jobId: 5n, value: 2 },
      { jobId: 9n, value: 3 },
      { jobId: 2n, value: 1 },
      { jobId: 7n, value: 3 },
      { jobId: 4n, value: 2 },
    ];
    const taken: bigint[] = [];
    for (let offer = takeBest(offers); offer !== undefined; offer = takeBest(offers)) taken.push(offer.jobId);
    assert.deepEqual(taken, [7n, 9n, 4n, 5n, 2n]);
    assert.equal(offers.length, 0);
    assert.equal(takeBest([]), undefined);
  });
});

describe("provider worker: a backlog of posted jobs", function () {
  this.timeout(120_000);

  it("takes the backlog one freed slot at a time, the best paid first and the oldest first among equal fees", async () => {
    const t = await inProcessWorker(connection, { prefetch: 1 });
    try {
      t.echo.hold();
      // The first job takes the one slot; the four posted while it runs wait for it, fees 1, 3, 2 and 3 (x FEE).
      const multiples = [1n, 1n, 3n, 2n, 3n];
      const inputs = multiples.map((_, i) => inputOf([i, i, i, i]));
      const jobIds = [await t.post(inputs[0]!, { fee: multiples[0]! * FEE })];
      await t.turnsUntil(() => t.echo.held === 1, "the first job runs");
      for (let i = 1; i < inputs.length; i++) jobIds.push(await t.post(inputs[i]!, { fee: multiples[i]! * FEE }));
      await t.turnsUntil(() => jobIds.every((jobId) => t.journal.getJobStatus(jobId) !== undefined), "the worker knows every job");
      await t.turn();
      assert.equal(t.echo.runs.length, 1, "no second run while the one slot is taken");
      for (let started = 1; started < inputs.length; started++) {
        t.echo.releaseNext();
        await t.turnsUntil(() => t.echo.runs.length === started + 1, `run ${started + 1} starts`);
        assert.equal(t.echo.runs.length, started + 1, "one slot: one run at a time");
      }
      t.echo.release();
      // Fee 3 (the older, then the newer), then 2, then the fee-1 job posted second.
      assert.deepEqual(t.echo.runs, [0, 2, 4, 3, 1].map((i) => inputs[i]));
      await t.turnsUntil(() => jobIds.every((jobId) => t.journal.getJobStatus(jobId) === "active"), "every job committed by us");
    } finally {
      await t.close();
    }
  });
});

describe("provider worker: inputs whose runs fail, before any claim (run first)", function () {
  this.timeout(120_000);

  it("tries an input that runs the model past its time limit twice, then leaves it: no third run, however long the job stays posted", async () => {
    const t = await inProcessWorker(connection, { prefetch: 1 });
    try {
      const hanging = inputOf([9, 9, 9, 9]);
      t.echo.failOn(hanging, () => new InferenceTimeoutError({ phase: "run", timeoutMs: 120_000, modelHash: "0x" }));
      const jobId = await t.post(hanging);
      await t.turnsUntil(() => t.echo.runs.length === 1, "the first try");
      assert.equal(t.journal.getJobStatus(jobId), "candidate", "a timeout may be the machine's: the job stays open");
      // The retry waits out its backoff in chain time.
      await networkHelpers.time.increase(5);
      await t.turnsUntil(() => t.journal.getJobStatus(jobId) === "skipped", "skipped after its second timeout");
      assert.equal(t.echo.runs.length, 2);
      assert.match(String(t.journal.getJob(jobId)!.data.reason), /timed out after 120000 ms \(2 times\)/);
      await networkHelpers.time.increase(600);
      for (let i = 0; i < 5; i++) await t.turn();
      assert.equal(t.echo.runs.length, 2, "never a third run");
      assert.equal((await t.read(jobId)).job.status, JobStatus.Posted, "still posted, for someone else (or its expiry)");
    } finally {
      await t.close();
    }
  });

  it("tries again, as any failure, a job whose stacked run (several jobs in one) timed out: the slow input is not known to be its own", async () => {
    const t = await inProcessWorker(connection, { prefetch: 1 });
    try {
      const stacked = inputOf([8, 8, 8, 8]);
      t.echo.failOn(stacked, () => new InferenceTimeoutError({ phase: "run", timeoutMs: 120_000, modelHash: "0x", jobs: 2 }));
      const jobId = await t.post(stacked);
      for (let tries = 1; tries <= 3; tries++) {
        await t.turnsUntil(() => t.echo.runs.length === tries, `try ${tries}`);
        assert.equal(t.journal.getJobStatus(jobId), "candidate");
        await networkHelpers.time.increase(10); // past each backoff (2, 4, 8 s)
      }
    } finally {
      await t.close();
    }
  });

  it("puts a poster whose inputs fail their runs behind other posters' jobs", async () => {
    const t = await inProcessWorker(connection, { prefetch: 1 });
    try {
      // Three of the dApp's inputs the model refuses: the poster's failures in a row reach the suspect count.
      for (const v of [1, 2, 3]) {
        const input = inputOf([v, v, v, -v]);
        t.echo.failOn(input, () => new InferenceRunError({ problem: "the model refuses this input", modelHash: "0x", ep: "cpu" }));
        const jobId = await t.post(input);
        await t.turnsUntil(() => t.journal.getJobStatus(jobId) === "skipped", `refused input ${v} skipped`);
      }
      // One slot, held by a job of another poster; then one more of the dApp's and one of the other poster's, at one fee.
      t.echo.hold();
      const first = await t.post(inputOf([7, 7, 7, 7]), { poster: t.sys.stranger });
      await t.turnsUntil(() => t.echo.held === 1, "the other poster's first job runs");
      const suspect = await t.post(inputOf([5, 5, 5, 5]));
      const other = await t.post(inputOf([6, 6, 6, 6]), { poster: t.sys.stranger });
      await t.turnsUntil(() => [suspect, other].every((jobId) => t.journal.getJobStatus(jobId) !== undefined), "the worker knows both");
      t.echo.releaseNext();
      await t.turnsUntil(() => t.echo.runs.length === 5, "the freed slot's run starts");
      t.echo.release();
      assert.equal(t.echo.runs[4], inputOf([6, 6, 6, 6]), "the other poster's later job before the suspect poster's older one");
      assert.ok(first > 0n);
    } finally {
      await t.close();
    }
  });
});
