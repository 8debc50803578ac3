/**
 * The provider worker's claims (offchain/provider/worker.ts, its `claims` CallGroup: offchain/chain/call-group.ts
 * with `skipFailures` and `leaveWhenIdle`). A claim leaves at once when none of ours is in flight; the claims that
 * come while one is wait for it and leave together in one JobMarket `tryMulticall`, where a rival's claim mined
 * ahead of the group in the same block skips only that job's call: the worker pays for no reverted transaction,
 * commits the others, records the lost claim as failed, ends the job as a lost race and frees its stake.
 *
 * A real worker on the in-process chain (test/helpers/in-process-worker.ts). The chain automines, so a claim
 * would be mined before the next one came and nothing would ever wait: each test turns automining off for the
 * burst, so that the first claim stays in the pool (in flight) while the others come, and mines by hand.
 *
 * Run alone: `npx hardhat test mocha --no-compile test/offchain/provider-claims.test.ts`.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { decodeEventLog, decodeFunctionData, isAddressEqual, parseEther, parseGwei, type Hex } from "viem";

import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { JobStatus } from "../../offchain/chain/jobs.js";
import { MODEL_COLLATERAL } from "../helpers/fixture.js";
import { inProcessWorker, inputOf, type InProcessWorker } from "../helpers/in-process-worker.js";

const connection = await network.create();
const { networkHelpers } = connection;

const setAutomine = (on: boolean) => connection.provider.request({ method: "evm_setAutomine", params: [on] });

/**
 * The job ids a transaction claims, and how: one claim alone (`claimAndCommit`, or `claim` in claim-first mode),
 * or the calls of a `tryMulticall`, every one of them `claim` (the `claim` of a claim-first worker, else `claimAndCommit`).
 */
function claimsIn(input: Hex, claim: "claimAndCommit" | "claim" = "claimAndCommit"): { functionName: string; jobIds: bigint[] } {
  const call = decodeFunctionData({ abi: jobMarketAbi, data: input });
  if (call.functionName === "tryMulticall") {
    const inner = (call.args[0] as readonly Hex[]).map((data) => decodeFunctionData({ abi: jobMarketAbi, data }));
    assert.ok(inner.every((c) => c.functionName === claim), `a claim group holds only ${claim} calls: ${inner.map((c) => c.functionName).join(", ")}`);
    return { functionName: call.functionName, jobIds: inner.map((c) => c.args![0] as bigint) };
  }
  return { functionName: call.functionName, jobIds: call.functionName === claim ? [call.args[0] as bigint] : [] };
}

describe("provider worker: claims grouped in a tryMulticall", function () {
  this.timeout(120_000);

  /** Each job's claimAndCommit as the worker's journal holds it (undefined: not begun). */
  const claimOf = (t: InProcessWorker, jobId: bigint) => t.journal.getAction({ jobId, action: "claimAndCommit" });
  const claimStates = (t: InProcessWorker, jobIds: bigint[]) => jobIds.map((jobId) => claimOf(t, jobId)?.state);

  /**
   * Posts `inputs` as jobs while the runner holds every run, then, automining off, lets the first run finish and
   * waits for its claim to be in the pool, then lets the others finish and waits until each one's claim has begun.
   * With none of ours in flight the first claim leaves alone; the others come while it is in the pool and wait
   * for it (a `maxClaimWaitMs` longer than the test keeps them from leaving on a timer instead). Returns the job
   * ids; automining is still off.
   */
  async function burstBehindOneClaim(t: InProcessWorker, inputs: Hex[]): Promise<bigint[]> {
    t.echo.hold();
    const jobIds: bigint[] = [];
    for (const input of inputs) jobIds.push(await t.post(input));
    await t.turnsUntil(() => t.echo.held === inputs.length, "the worker runs every job at once");
    await setAutomine(false);
    t.echo.releaseNext();
    await t.turnsUntil(() => claimStates(t, jobIds).includes("sent"), "the first claim is in the pool");
    t.echo.release();
    await t.turnsUntil(() => claimStates(t, jobIds).every((state) => state !== undefined), "every job's claim has begun");
    return jobIds;
  }

  /** Turns automining back on and mines what is left in the pool: the worker's steps in flight can finish. */
  const automine = async () => {
    await setAutomine(true);
    await networkHelpers.mine(1);
  };

  it("a burst of six jobs is claimed in two transactions: the first claim alone, the five that came while it was in flight in one tryMulticall; each job committed by us with its own commitment", async () => {
    const inputs = [1, 2, 3, 4, 5, 6].map((i) => inputOf([i, i, i, i]));
    // Prefetch 6: the worker's default (4 with the echo runner's one thread) would run only four at once.
    const t = await inProcessWorker(connection, { prefetch: inputs.length, maxClaimWaitMs: 60_000 });
    try {
      let jobIds: bigint[];
      try {
        jobIds = await burstBehindOneClaim(t, inputs);
        assert.deepEqual(claimStates(t, jobIds).sort(), ["pending", "pending", "pending", "pending", "pending", "sent"], "one claim in flight, the other five waiting for it");
      } finally {
        await automine();
      }
      // Ours in the journal: the worker has read its claims' receipts (the chain may show them a moment before).
      await t.turnsUntil(() => jobIds.every((jobId) => t.journal.getJob(jobId)?.status === "active"), "every job is ours in the worker's journal");

      // The transactions the journal names, as the chain holds them.
      const hashes = [...new Set(jobIds.map((jobId) => claimOf(t, jobId)!.txHash!))];
      const transactions = await Promise.all(hashes.map(async (hash) => ({ hash, ...claimsIn((await t.publicClient.getTransaction({ hash })).input) })));
      assert.ok(transactions.length < jobIds.length, `${jobIds.length} claims in ${transactions.length} transactions`);
      assert.deepEqual(
        transactions.map(({ functionName, jobIds: claimed }) => [functionName, claimed.length]).sort(([, a], [, b]) => Number(a) - Number(b)),
        [
          ["claimAndCommit", 1],
          ["tryMulticall", 5],
        ],
      );
      for (const jobId of jobIds) {
        const { jobIds: claimed } = transactions.find(({ hash }) => hash === claimOf(t, jobId)!.txHash)!;
        assert.ok(claimed.includes(jobId), `the transaction the journal names for job ${jobId} claims it`);
      }
      assert.deepEqual(transactions.flatMap(({ jobIds: claimed }) => claimed).sort(), [...jobIds].sort(), "each job claimed in exactly one transaction");

      // Two blocks so far (the first claim's, the group's): no reveal can be due yet (the seed is 2 blocks on).
      for (const [i, jobId] of jobIds.entries()) {
        const { job } = await t.read(jobId);
        assert.equal(job.status, JobStatus.Committed, `job ${jobId}`);
        assert.ok(isAddressEqual(job.provider, t.sys.provider.account.address), `job ${jobId} is ours`);
        assert.equal(job.result, await t.commitmentTo(jobId, inputs[i]!), `job ${jobId} is committed to its own input's output`);
        const claim = claimOf(t, jobId);
        assert.equal(claim?.state, "confirmed", `job ${jobId}'s claimAndCommit is confirmed in the journal`);
        assert.equal(claim.attempts, 1, `job ${jobId} was claimed once`);
      }
      assert.deepEqual(t.journal.pendingActions().filter((a) => a.action === "claimAndCommit"), [], "no claim left unsettled");
      assert.equal(t.sender.stats().reverted, 0, "none of the worker's transactions reverted");
    } finally {
      await t.close();
    }
  });

  it("claim-first: the claims of a burst share tryMulticalls of claims too (those due together leave together, those that come while one is in flight wait for it); each job then committed by us", async () => {
    const inputs = [1, 2, 3, 4].map((i) => inputOf([i, i, i, i]));
    const t = await inProcessWorker(connection, { claimMode: "claim-first", prefetch: inputs.length, maxClaimWaitMs: 60_000 });
    const claimAction = (jobId: bigint) => t.journal.getAction({ jobId, action: "claim" });
    try {
      const jobIds: bigint[] = [];
      for (const input of inputs) jobIds.push(await t.post(input));
      try {
        // A claim-first worker claims as soon as it holds the (inline) input, before any run: the claims come
        // together, or while the first group is in the pool.
        await setAutomine(false);
        await t.turnsUntil(() => jobIds.every((jobId) => claimAction(jobId) !== undefined), "every job's claim has begun");
      } finally {
        await automine();
      }
      await t.turnsUntil(async () => (await Promise.all(jobIds.map((jobId) => t.read(jobId)))).every(({ job }) => job.status >= JobStatus.Committed), "every job is committed");

      const hashes = [...new Set(jobIds.map((jobId) => claimAction(jobId)!.txHash!))];
      const transactions = await Promise.all(hashes.map(async (hash) => claimsIn((await t.publicClient.getTransaction({ hash })).input, "claim")));
      assert.ok(transactions.length < jobIds.length, `${jobIds.length} claims in ${transactions.length} transactions`);
      assert.ok(transactions.some(({ functionName, jobIds: claimed }) => functionName === "tryMulticall" && claimed.length > 1), "claims grouped in a tryMulticall");
      assert.deepEqual(transactions.flatMap(({ jobIds: claimed }) => claimed).sort(), [...jobIds].sort(), "each job claimed in exactly one transaction");
      for (const [i, jobId] of jobIds.entries()) {
        const { job } = await t.read(jobId);
        assert.ok(isAddressEqual(job.provider, t.sys.provider.account.address), `job ${jobId} is ours`);
        assert.equal(job.result, await t.commitmentTo(jobId, inputs[i]!), `job ${jobId} is committed to its own input's output`);
        assert.equal(claimAction(jobId)?.state, "confirmed");
        assert.equal(claimAction(jobId)?.attempts, 1);
      }
      assert.equal(t.sender.stats().reverted, 0, "none of the worker's transactions reverted");
    } finally {
      await t.close();
    }
  });

  it("a rival's claim mined just ahead of our group in the same block skips only that job: the group lands and commits the others, the lost claim is recorded failed, the job ends lost, and its stake is free for the next job", async () => {
    const inputs = [1, 2, 3, 4].map((i) => inputOf([i, i, i, i]));
    // Stake for exactly the four jobs: three end up locked by our commits, so the job posted afterwards can be
    // claimed only with the lost job's reservation given back.
    const t = await inProcessWorker(connection, { prefetch: inputs.length, maxClaimWaitMs: 60_000, providerStake: BigInt(inputs.length) * MODEL_COLLATERAL, rivalStake: parseEther("1000") });
    const rival = t.sys.provider2.account;
    try {
      let jobIds: bigint[];
      let group: { hash: Hex; functionName: string; jobIds: bigint[] };
      let lost: bigint;
      let rivalHash: Hex;
      try {
        jobIds = await burstBehindOneClaim(t, inputs);
        assert.equal((await t.read(jobIds[0]!)).job.collateral, MODEL_COLLATERAL);
        const waited = jobIds.filter((jobId) => claimOf(t, jobId)!.state === "pending");
        assert.equal(waited.length, inputs.length - 1, "the other claims wait for the first");
        // The first claim is mined; the three that waited for it leave as one tryMulticall, into the pool.
        await networkHelpers.mine(1);
        await t.turnsUntil(() => waited.every((jobId) => claimOf(t, jobId)?.state === "sent"), "the group is in the pool");
        const hash = claimOf(t, waited[0]!)!.txHash!;
        const tx = await t.publicClient.getTransaction({ hash });
        group = { hash, ...claimsIn(tx.input) };
        assert.equal(group.functionName, "tryMulticall");
        assert.deepEqual([...group.jobIds].sort(), [...waited].sort());
        // The rival claims the group's middle job with a higher tip: ahead of ours in the next block. Its gas is
        // given: an estimate against the pending block would meet our claim there and fail.
        lost = group.jobIds[1]!;
        const { job } = await t.read(lost);
        rivalHash = await t.sys.market.write.claim([lost, job], { account: rival, gas: 500_000n, maxPriorityFeePerGas: parseGwei("100"), maxFeePerGas: parseGwei("200") });
        await networkHelpers.mine(1);
      } finally {
        await automine();
      }
      const won = group.jobIds.filter((jobId) => jobId !== lost);
      await t.turnsUntil(() => t.journal.getJob(lost)?.status === "lost_race", "the worker ends the lost job");
      await t.turnsUntil(() => won.every((jobId) => t.journal.getJob(jobId)?.status === "active"), "the group's other jobs are ours in the worker's journal");

      // One block: the rival's claim, then our group, mined and not reverted, with the lost job's call skipped.
      const ours = await t.publicClient.getTransactionReceipt({ hash: group.hash });
      const theirs = await t.publicClient.getTransactionReceipt({ hash: rivalHash });
      assert.equal(ours.status, "success", "our group is not reverted");
      assert.equal(ours.blockNumber, theirs.blockNumber, "the same block");
      assert.ok(theirs.transactionIndex < ours.transactionIndex, "the rival's claim first");
      const skipped = ours.logs
        .filter((l) => isAddressEqual(l.address, t.sys.market.address))
        .map((l) => decodeEventLog({ abi: jobMarketAbi, data: l.data, topics: l.topics }))
        .flatMap((e) => (e.eventName === "CallSkipped" ? [group.jobIds[Number(e.args.index)]] : []));
      assert.deepEqual(skipped, [lost], "only the lost job's call skipped");

      // Three blocks so far (the first claim's, the group's, automine's empty one): the first job's reveal is not
      // due yet (its seed is 2 blocks after its commit), so every job we won is still Committed.
      for (const jobId of jobIds.filter((jobId) => jobId !== lost)) {
        const { job } = await t.read(jobId);
        assert.equal(job.status, JobStatus.Committed, `job ${jobId}`);
        assert.ok(isAddressEqual(job.provider, t.sys.provider.account.address), `job ${jobId} is ours`);
        assert.equal(job.result, await t.commitmentTo(jobId, inputs[jobIds.indexOf(jobId)]!));
        assert.equal(claimOf(t, jobId)?.state, "confirmed", `job ${jobId}'s claimAndCommit`);
      }
      for (const jobId of won) assert.equal(claimOf(t, jobId)?.txHash, group.hash, `job ${jobId} was claimed in the group`);

      const { job: lostJob } = await t.read(lost);
      assert.ok(isAddressEqual(lostJob.provider, rival.address), "the rival keeps its claim");
      const lostClaim = claimOf(t, lost);
      assert.equal(lostClaim?.state, "failed", "the lost claim is recorded failed");
      assert.equal(lostClaim.error, "JobMismatch");
      assert.equal(lostClaim.txHash, group.hash, "in the group's transaction");
      assert.deepEqual(t.journal.pendingActions().filter((a) => a.action === "claimAndCommit"), [], "no claim left unsettled");

      // Our free stake is now one job's collateral, the lost job's: a reservation kept for it would hold the next job.
      const next = await t.post(inputOf([9, 9, 9, 9]));
      await t.turnsUntil(async () => (await t.read(next)).job.status === JobStatus.Committed, "the job posted afterwards is committed");
      assert.ok(isAddressEqual((await t.read(next)).job.provider, t.sys.provider.account.address));
      assert.equal(t.sender.stats().reverted, 0, "none of the worker's transactions reverted");
    } finally {
      await t.close();
    }
  });
});
