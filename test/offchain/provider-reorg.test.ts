/**
 * The provider worker (offchain/provider/worker.ts) across a reorg that gives a job id another input. Job ids are
 * a counter and the market's job hash does not cover the input, so the same poster posting two jobs with the same
 * terms can, reordered by a reorg, give id N the other input under the very same hash. The worker must then commit
 * the output of the input the chain now holds, never the one it ran for the replaced post.
 *
 * A real worker on the in-process chain (test/helpers/in-process-worker.ts: its poller, journal, stores and sender,
 * with a runner that echoes its input as the output, so each input has its own output root), and a reorg made
 * with evm_snapshot/evm_revert.
 *
 * Run alone: `npx hardhat test mocha --no-compile test/offchain/provider-reorg.test.ts`.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { isAddressEqual, type Hex } from "viem";

import { BatchStatus } from "../../offchain/chain/batches.js";
import { hexToBytes } from "../../offchain/codec/hex.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { JobStatus } from "../../offchain/chain/jobs.js";
import { FEE, MODEL_COLLATERAL } from "../helpers/fixture.js";
import { inProcessWorker, inputOf, outputOf, type InProcessWorker, type InProcessWorkerParameters } from "../helpers/in-process-worker.js";

const connection = await network.create();
const { networkHelpers } = connection;

describe("provider worker: a reorg that gives a job id another input", function () {
  this.timeout(120_000);

  const setUp = (options?: InProcessWorkerParameters) => inProcessWorker(connection, options);

  const A = inputOf([1, 2, 3, 4]);
  const B = inputOf([5, 6, 7, 8]);
  /** Second inputs for batches of two. */
  const A2 = inputOf([1, 2, 3, 5]);
  const B2 = inputOf([5, 6, 7, 9]);

  /** A point to reorg back to: what is mined after it is the branch `revertTo` replaces. */
  const snapshot = async () => (await connection.provider.request({ method: "evm_snapshot", params: [] })) as string;
  const revertTo = (point: string) => connection.provider.request({ method: "evm_revert", params: [point] });
  const committed = (t: InProcessWorker, jobId: bigint, what = "the job is committed") =>
    t.turnsUntil(async () => (await t.read(jobId)).job.status === JobStatus.Committed, what);
  const batchCommitted = (t: InProcessWorker, batchId: bigint, what = "the batch is committed") =>
    t.turnsUntil(async () => (await t.readBatch(batchId)).batch.status === BatchStatus.Committed, what);
  /** The worker's seat of a redundant job, if it holds one. */
  const ourSeat = async (t: InProcessWorker, replicaJobId: bigint) =>
    (await t.readReplica(replicaJobId)).seats.find((seat) => isAddressEqual(seat.provider, t.sys.provider.account.address));
  /** Posts input A from a fresh snapshot and lets the worker start its run of A, held there: the snapshot and the job id. */
  async function runningA(t: InProcessWorker): Promise<{ point: string; jobId: bigint }> {
    const point = await snapshot();
    t.echo.hold();
    const jobId = await t.post(A);
    await t.turnsUntil(() => t.echo.runs.length === 1, "the worker runs input A");
    return { point, jobId };
  }

  it("a reorg before the worker ran the job, its new post in an earlier block: the job is read from there and committed with the new input's output", async () => {
    const t = await setUp();
    try {
      await t.poll(); // the poller remembers the block the reorg forks from
      const point = await snapshot();
      await networkHelpers.mine(3);
      const jobId = await t.post(A);
      await t.poll(); // seen (a candidate), not taken up yet

      await revertTo(point);
      assert.equal(await t.post(B), jobId, "the same job id, posted 3 blocks earlier");
      await networkHelpers.mine(6);

      await committed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
      assert.deepEqual(t.echo.runs, [B]);
    } finally {
      await t.close();
    }
  });

  for (const { title, fee } of [
    { title: "the same job hash", fee: FEE },
    { title: "another job hash (another fee): the old commit is refused", fee: FEE + 1n },
  ]) {
    it(`a reorg while the worker runs the old input, ${title}: the job is committed with the new input's output, not the old one's`, async () => {
      const t = await setUp();
      try {
        const { point, jobId } = await runningA(t);
        assert.equal(t.echo.runs[0], A);

        // The post is replaced: the same id and poster, input B.
        await revertTo(point);
        assert.equal(await t.post(B, { fee }), jobId, "the same job id");
        await t.turn(); // the poller sees the reorg and delivers B's post while the run of A is still going
        t.echo.release();

        await committed(t, jobId);
        const { job } = await t.read(jobId);
        assert.ok(isAddressEqual(job.provider, t.sys.provider.account.address));
        assert.notEqual(job.result, await t.commitmentTo(jobId, A), "not committed to the output of input A");
        assert.equal(job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
        assert.deepEqual(t.echo.runs, [A, B], "B was run after the reorg");
      } finally {
        await t.close();
      }
    });
  }

  it("a reorg to another input and one back to the first while the worker runs it: the job is committed with the first input's output", async () => {
    const t = await setUp();
    try {
      const { point, jobId } = await runningA(t);
      // B replaces A (the same id and job hash) while A runs: its reset waits for the step's end.
      await revertTo(point);
      const replaced = await snapshot();
      assert.equal(await t.post(B), jobId, "the same job id");
      await t.turn();
      // Another reorg brings A back, as the journal holds it: nothing is left to take up afresh.
      await revertTo(replaced);
      assert.equal(await t.post(A), jobId, "the same job id");
      await networkHelpers.mine(1);
      await t.turn();
      t.echo.release();

      await committed(t, jobId);
      const { job, inputHash } = await t.read(jobId);
      assert.equal((t.journal.getJob(jobId)!.data as { inputHash?: Hex }).inputHash, inputHash, "the journal names the chain's input");
      assert.equal(job.result, await t.commitmentTo(jobId, A), "committed to the output of input A, the chain's input");
      assert.deepEqual(t.echo.runs, [A], "A's run stands: nothing was taken up afresh");
    } finally {
      await t.close();
    }
  });

  it("a reorg while the claim waits for its group (another claim of ours in flight): the claim is withdrawn unsent, and the job is committed with the new input's output", async () => {
    const t = await setUp({ maxClaimWaitMs: 60_000 });
    try {
      // The first job's claim is held in flight (before it is sent), so that the next claim waits for it.
      const send = t.sender.send.bind(t.sender);
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let holding = false;
      t.sender.send = (async (parameters: Parameters<typeof send>[0]) => {
        if (!holding) {
          holding = true;
          await held;
        }
        return send(parameters);
      }) as typeof t.sender.send;
      const C = inputOf([9, 9, 9, 9]);
      const first = await t.post(C);
      await t.turnsUntil(() => holding, "the first job's claim is in flight");

      const point = await snapshot();
      const jobId = await t.post(A);
      await t.turnsUntil(() => t.journal.pendingActions({ jobId }).length > 0, "the claim of A's output is begun");
      await sleep(100); // queued in the claims group, waiting for the claim in flight
      // The post is replaced (the same id and job hash, input B) while that claim waits.
      await revertTo(point);
      assert.equal(await t.post(B), jobId, "the same job id");
      await t.turn();
      release();

      await committed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
      assert.equal((await t.read(first)).job.result, await t.commitmentTo(first, C), "the claim in flight went through");
      assert.deepEqual(t.echo.runs, [C, A, B], "B was run after the reorg");
    } finally {
      await t.close();
    }
  });

  it("a reorg while the job's output waits for free stake (run, journaled, unclaimable: our unbonding took the stake meanwhile): the output is dropped with its post, and the job committed with the new input's output", async () => {
    const t = await setUp({ providerStake: 2n * MODEL_COLLATERAL });
    const provider = t.sys.provider.account.address;
    try {
      const C = inputOf([9, 9, 9, 9]);
      const first = await t.post(C);
      await committed(t, first, "the first job is committed, its collateral locking half our stake");

      const { point, jobId } = await runningA(t);
      // While A runs, the other half of our stake starts unbonding: A's output then waits for free stake.
      await t.sys.staking.write.requestUnbond([MODEL_COLLATERAL], { account: provider });
      t.echo.release();
      await t.turnsUntil(() => (t.journal.getJob(jobId)?.data as { outputRoot?: Hex } | undefined)?.outputRoot !== undefined, "A's output is journaled");
      await t.turn();
      assert.equal((await t.read(jobId)).job.status, JobStatus.Posted, "not claimed: no free stake");

      // The post is replaced (the same id and job hash, input B), and the unbonding with it: the stake is free again.
      const replacedHead = await t.publicClient.getBlockNumber();
      await revertTo(point);
      assert.equal(await t.post(B), jobId, "the same job id");
      // The new branch grows past the replaced one's height, as a chain does (the worker takes no head below the last).
      await networkHelpers.mine(Number(replacedHead - (await t.publicClient.getBlockNumber())) + 1);

      await committed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, B), "committed to the output of input B, not A's waiting one");
      assert.deepEqual(t.echo.runs, [C, A, B], "B was run after the reorg");
    } finally {
      await t.close();
    }
  });

  it("a reorg while the worker runs a batch's old inputs (the batch hash does not cover them): the batch is committed with the new inputs' outputs", async () => {
    const t = await setUp();
    try {
      await t.fundBatches();
      await t.poll(); // the poller remembers the block the reorg forks from
      const point = await snapshot();
      t.echo.hold();
      const batchId = await t.postBatch([A, A2]);
      await t.turnsUntil(() => t.echo.runs.length === 1, "the worker runs the batch's first input");

      // The post is replaced: the same batch id, poster, fee and count (the same batch hash), other inputs.
      await revertTo(point);
      assert.equal(await t.postBatch([B, B2]), batchId, "the same batch id");
      await t.turn();
      t.echo.release();

      await batchCommitted(t, batchId);
      const { batch } = await t.readBatch(batchId);
      assert.notEqual(batch.result, await t.batchCommitmentTo(batchId, [A, A2]), "not committed to the outputs of A and A2");
      assert.equal(batch.result, await t.batchCommitmentTo(batchId, [B, B2]), "committed to the outputs of B and B2");
      assert.deepEqual(t.echo.runs, [A, A2, B, B2], "B and B2 were run after the reorg");
    } finally {
      await t.close();
    }
  });

  it("a reorg while the worker runs a redundant job's old input (a seat's commit names the id alone): its seat is committed with the new input's output", async () => {
    const t = await setUp();
    try {
      await t.poll();
      const point = await snapshot();
      t.echo.hold();
      const replicaJobId = await t.postReplica(A);
      await t.turnsUntil(() => t.echo.runs.length === 1, "the worker runs the redundant job's input");

      await revertTo(point);
      assert.equal(await t.postReplica(B), replicaJobId, "the same redundant job id");
      await t.turn();
      t.echo.release();

      await t.turnsUntil(async () => (await ourSeat(t, replicaJobId)) !== undefined, "the worker takes a seat");
      const seat = (await ourSeat(t, replicaJobId))!;
      assert.notEqual(seat.commitment, await t.replicaCommitmentTo(replicaJobId, A), "not committed to the output of input A");
      assert.equal(seat.commitment, await t.replicaCommitmentTo(replicaJobId, B), "committed to the output of input B");
      assert.deepEqual(t.echo.runs, [A, B], "B was run after the reorg");
    } finally {
      await t.close();
    }
  });

  it("a reorg that moves a batch's and a redundant job's post to an earlier block, other inputs: both are read from there and committed with the new inputs' outputs", async () => {
    const t = await setUp();
    try {
      await t.fundBatches();
      await t.poll(); // the poller remembers the block the reorg forks from
      const point = await snapshot();
      await networkHelpers.mine(3);
      t.echo.hold(); // seen and taken up, not run yet: the outputs come after the reorg
      const batchId = await t.postBatch([A, A2]);
      const replicaJobId = await t.postReplica(A);
      await t.turn();

      await revertTo(point);
      assert.equal(await t.postBatch([B, B2]), batchId, "the same batch id, posted 3 blocks earlier");
      assert.equal(await t.postReplica(B), replicaJobId, "the same redundant job id, posted 3 blocks earlier");
      await networkHelpers.mine(6);
      await t.turn();
      t.echo.release();

      await batchCommitted(t, batchId);
      await t.turnsUntil(async () => (await ourSeat(t, replicaJobId)) !== undefined, "the worker takes a seat");
      assert.equal((await t.readBatch(batchId)).batch.result, await t.batchCommitmentTo(batchId, [B, B2]), "the batch committed to the outputs of B and B2");
      assert.equal((await ourSeat(t, replicaJobId))!.commitment, await t.replicaCommitmentTo(replicaJobId, B), "the seat committed to the output of B");
    } finally {
      await t.close();
    }
  });

  it("a reorg that takes the worker's mined batch commit away, the batch posted again with other inputs: the batch is committed again, with the new inputs' outputs", async () => {
    const t = await setUp();
    try {
      await t.fundBatches();
      await t.poll();
      const point = await snapshot();
      const batchId = await t.postBatch([A, A2]);
      await batchCommitted(t, batchId);
      assert.equal((await t.readBatch(batchId)).batch.result, await t.batchCommitmentTo(batchId, [A, A2]));

      // The post and our commit are replaced: the same id and batch hash, inputs B and B2; the chain grows past the old head.
      await revertTo(point);
      assert.equal(await t.postBatch([B, B2]), batchId, "the same batch id");
      await networkHelpers.mine(3);
      assert.equal((await t.readBatch(batchId)).batch.status, BatchStatus.Posted);

      await batchCommitted(t, batchId, "the batch is committed again");
      assert.equal((await t.readBatch(batchId)).batch.result, await t.batchCommitmentTo(batchId, [B, B2]), "committed to the outputs of B and B2");
      assert.deepEqual(t.echo.runs, [A, A2, B, B2]);
    } finally {
      await t.close();
    }
  });

  it("a reorg that takes the worker's mined commit away: the job is committed again, with the new input's output", async () => {
    const t = await setUp();
    try {
      const point = await snapshot();
      const jobId = await t.post(A);
      await committed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, A));
      await t.turnsUntil(() => t.journal.getJob(jobId)?.status === "active", "the job is ours in the journal");

      // The post and our commit are replaced: the same id and job hash, input B; the chain grows past the old head.
      // Our commit is gone from this chain, and its nonce with it: the sender finds that out itself.
      await revertTo(point);
      assert.equal(await t.post(B), jobId, "the same job id");
      await networkHelpers.mine(3);
      assert.equal((await t.read(jobId)).job.status, JobStatus.Posted);

      await committed(t, jobId, "the job is committed again");
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
      assert.deepEqual(t.echo.runs, [A, B]);
    } finally {
      await t.close();
    }
  });

  /**
   * Mines blocks past `replacedHead` (a reorged chain grows past the branch it replaced: the worker takes no head below
   * the last), one at a time: blocks hardhat_mine makes several at once right after an evm_revert name a zero parent
   * hash, which the poller takes for a chain that keeps moving.
   */
  const growPast = async (replacedHead: bigint) => {
    while ((await connection.provider.request({ method: "eth_blockNumber", params: [] }).then(BigInt)) <= replacedHead + 1n) await networkHelpers.mine(1);
  };
  const revealed = (t: InProcessWorker, jobId: bigint, what = "the job is revealed") =>
    t.turnsUntil(async () => {
      await networkHelpers.mine(1); // past the seed block
      return (await t.read(jobId)).job.status === JobStatus.Revealed;
    }, what);

  it("a reorg that takes the worker's mined commit away and leaves its post as it was: the job is committed again, and revealed", async () => {
    const t = await setUp();
    try {
      const jobId = await t.post(A);
      const point = await snapshot(); // the post stays: only what is mined after it is replaced
      await committed(t, jobId);
      await t.turnsUntil(() => t.journal.getJob(jobId)?.status === "active", "the job is ours in the journal");
      const lost = t.journal.getAction({ jobId, action: "claimAndCommit" });
      assert.equal(lost?.state, "confirmed");

      // Our commit is gone (the node does not put it back in its pool), the post is the same block and input; no resyncNonce.
      const replacedHead = await t.publicClient.getBlockNumber();
      await revertTo(point);
      await growPast(replacedHead);
      await assert.rejects(t.publicClient.getTransaction({ hash: lost!.txHash! }), "the commit is neither mined nor pooled");
      assert.equal((await t.read(jobId)).job.status, JobStatus.Posted);

      await committed(t, jobId, "the job is committed again");
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, A), "committed to the output of input A");
      const again = t.journal.getAction({ jobId, action: "claimAndCommit" });
      assert.equal(again?.state, "confirmed");
      assert.equal((await t.publicClient.getTransactionReceipt({ hash: again!.txHash! })).status, "success", "the journal names the commit mined now");
      await revealed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, outputRoot(outputOf(hexToBytes(A))), "revealed the output of input A");
    } finally {
      await t.close();
    }
  });

  it("a reorg that takes the worker's mined reveal away and leaves its commit: the job is revealed again before its deadline", async () => {
    const t = await setUp();
    try {
      const jobId = await t.post(A);
      await committed(t, jobId);
      const point = await snapshot(); // the post and the commit stay
      await revealed(t, jobId);
      const lost = t.journal.getAction({ jobId, action: "reveal" });
      assert.equal(lost?.state, "confirmed");

      // Our reveal is gone (not put back in the pool); no resyncNonce, and no chain time passes: the job sleeps for its
      // challenge window, which the reorg must cut short.
      const replacedHead = await t.publicClient.getBlockNumber();
      await revertTo(point);
      await growPast(replacedHead);
      await assert.rejects(t.publicClient.getTransaction({ hash: lost!.txHash! }), "the reveal is neither mined nor pooled");
      const { job } = await t.read(jobId);
      assert.equal(job.status, JobStatus.Committed);
      const revealBy = BigInt(job.deadline);

      await t.turnsUntil(async () => (await t.read(jobId)).job.status === JobStatus.Revealed, "the job is revealed again");
      // Sent again (the same call at the same nonce may be the very same bytes, so the same hash): mined now.
      const again = await t.publicClient.getTransactionReceipt({ hash: t.journal.getAction({ jobId, action: "reveal" })!.txHash! });
      assert.equal(again.status, "success");
      assert.ok((await t.publicClient.getBlock({ blockNumber: again.blockNumber })).timestamp <= revealBy, "revealed by its reveal deadline");
    } finally {
      await t.close();
    }
  });

  it("a reorg that takes the worker's mined batch reveal away and leaves its commit: the batch is revealed again before its deadline", async () => {
    const t = await setUp();
    try {
      await t.fundBatches();
      await t.poll();
      const batchId = await t.postBatch([A, A2]);
      await batchCommitted(t, batchId);
      const point = await snapshot(); // the post and the commit stay
      await t.turnsUntil(async () => {
        await networkHelpers.mine(1); // past the seed block
        return (await t.readBatch(batchId)).batch.status === BatchStatus.Revealed;
      }, "the batch is revealed");

      // The batch's reveal is gone (not put back in the pool), and no chain time passes: the batch sleeps for its
      // challenge window, which the reorg must cut short.
      const replacedHead = await t.publicClient.getBlockNumber();
      await revertTo(point);
      await growPast(replacedHead);
      const { batch } = await t.readBatch(batchId);
      assert.equal(batch.status, BatchStatus.Committed);
      const revealBy = BigInt(batch.deadline);

      await t.turnsUntil(async () => (await t.readBatch(batchId)).batch.status === BatchStatus.Revealed, "the batch is revealed again");
      assert.ok((await t.publicClient.getBlock()).timestamp <= revealBy, "revealed by its reveal deadline");
    } finally {
      await t.close();
    }
  });
});
