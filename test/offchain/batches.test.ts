/**
 * offchain/chain/batches.ts against the BatchMarket on the in-process chain: the fold of a batch's events
 * matches the hash the contract stores at every step, and the trees and proofs it builds are the ones the
 * contract accepts (a reveal, a sampled split and a revealed split each check them on-chain).
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { keccak256, parseEther, toHex, type Hex } from "viem";

import {
  BatchStatus,
  batchJob,
  batchJobs,
  batchLeaf,
  batchTreeProof,
  batchTreeRoot,
  batchTrees,
  findBatchOfJob,
  hashBatch,
  readBatch,
  verifyBatchProof,
  withBatchInput,
} from "../../offchain/chain/batches.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { batchDriver } from "../helpers/batch.js";
import { deploySystem, setUpMarket, type Connection } from "../helpers/fixture.js";
import { LOCAL_MARKET_PARAMS, marketDriver } from "../helpers/market.js";

const connection = await network.create();
const BATCH_SALT = keccak256(toHex("a worker's batch salt"));

async function setUp(conn: Connection, { sampling = false } = {}) {
  const sys = await deploySystem(
    conn,
    sampling
      ? { marketParams: { ...LOCAL_MARKET_PARAMS, samplingPpm: 500_000, auditLevyBps: 3000 }, verificationParams: { auditRewardBps: 5000, recheckPpm: 0 } }
      : {},
  );
  const { modelId } = await setUpMarket(sys, { providerStake: parseEther("10000") });
  const d = marketDriver({ connection: conn, ...sys });
  const b = batchDriver({ connection: conn, sys, d, modelId });
  await b.fund(parseEther("10000"));
  const chainId = await sys.publicClient.getChainId();
  const read = (batchId: bigint) => readBatch({ client: sys.publicClient, batchMarket: sys.batchMarket.address, batchId });
  return { ...sys, d, b, chainId, read };
}

type Sys = Awaited<ReturnType<typeof setUp>>;

const outputRootsOf = (count: number, firstJobId: bigint) =>
  Array.from({ length: count }, (_, i) => keccak256(toHex(`output of job ${firstJobId + BigInt(i)}`)));

function treesOf(sys: Sys, firstJobId: bigint, outputRoots: Hex[]) {
  return batchTrees({
    chainId: sys.chainId,
    jobMarket: sys.market.address,
    provider: sys.provider.account.address,
    firstJobId,
    outputRoots,
    batchSalt: BATCH_SALT,
  });
}

/** Posts `count` jobs, then claims and commits them with this module's commitment root. */
async function postAndCommit(sys: Sys, count: number) {
  const batchId = await sys.b.post(count);
  const posted = await sys.read(batchId);
  const outputRoots = outputRootsOf(count, posted.batch.firstJobId);
  const trees = treesOf(sys, posted.batch.firstJobId, outputRoots);
  await sys.b.send(
    sys.batchMarket.write.claimAndCommitBatch([batchId, posted.batch, trees.commitmentRoot], { account: sys.provider.account }),
  );
  return { batchId, outputRoots, trees };
}

async function mineToSeed(sys: Sys, batchId: bigint) {
  const { batch } = await sys.read(batchId);
  const { seedDelay } = await sys.batchMarket.read.marketTermsOf([BigInt(batch.terms)]);
  const missing = batch.commitBlock + BigInt(seedDelay) - (await sys.publicClient.getBlockNumber());
  if (missing >= 0n) await connection.networkHelpers.mine(missing + 1n);
}

describe("offchain/chain/batches", () => {
  describe("trees", () => {
    it("proves every leaf of trees of 1 to 9 leaves and rejects a wrong leaf, index or root", () => {
      for (let n = 1; n <= 9; n++) {
        const leaves = Array.from({ length: n }, (_, i) => batchLeaf(BigInt(100 + i), keccak256(toHex(`v${i}`))));
        const root = batchTreeRoot(leaves);
        for (let i = 0; i < n; i++) {
          const proof = batchTreeProof(leaves, i);
          assert.ok(verifyBatchProof(root, leaves[i]!, proof), `leaf ${i} of ${n}`);
          if (n > 1) {
            assert.ok(!verifyBatchProof(root, leaves[(i + 1) % n]!, proof), `another leaf with leaf ${i}'s proof`);
            assert.ok(!verifyBatchProof(root, batchLeaf(BigInt(100 + i), keccak256(toHex("wrong"))), proof), "a wrong value");
          }
        }
      }
      assert.equal(batchTreeRoot([batchLeaf(1n, BATCH_SALT)]), batchLeaf(1n, BATCH_SALT), "one leaf is its own root");
      assert.throws(() => batchTreeProof([batchLeaf(1n, BATCH_SALT)], 1), { code: "BAD_LEAF_INDEX" });
      assert.throws(() => batchTreeRoot([]), { code: "EMPTY_BATCH_TREE" });
    });
  });

  describe("readBatch against the contract", () => {
    it("folds post, commit, reveal and finalize into the state whose hash the contract stores, with each job's inputs and outputs", async () => {
      const sys = await setUp(connection);
      const request = await sys.b.request(5);
      await sys.b.send(sys.batchMarket.write.postBatch([request], { account: sys.dapp.account }));
      const batchId = await sys.batchMarket.read.batchCount();
      const posted = await sys.read(batchId);
      assert.equal(posted.batch.status, BatchStatus.Posted);
      assert.equal(posted.batch.poster.toLowerCase(), sys.dapp.account.address.toLowerCase());
      assert.deepEqual(posted.inputHashes, request.inputHashes);
      assert.deepEqual(posted.inputURIs, request.inputURIs);
      assert.deepEqual(
        batchJobs(posted).map((j) => [j.jobId, j.status, j.inputURI]),
        request.inputURIs.map((uri, i) => [posted.batch.firstJobId + BigInt(i), "posted", uri]),
      );

      const outputRoots = outputRootsOf(5, posted.batch.firstJobId);
      const trees = treesOf(sys, posted.batch.firstJobId, outputRoots);
      await sys.b.send(sys.batchMarket.write.claimAndCommitBatch([batchId, posted.batch, trees.commitmentRoot], { account: sys.provider.account }));
      const committed = await sys.read(batchId);
      assert.equal(committed.batch.status, BatchStatus.Committed);
      assert.equal(committed.batch.result, trees.commitmentRoot);
      assert.ok(batchJobs(committed).every((j) => j.status === "committed"));

      await mineToSeed(sys, batchId);
      // The contract recomputes the commitment root from these output roots and the salt: our tree is its tree.
      await sys.b.send(
        sys.batchMarket.write.revealBatch([batchId, committed.batch, outputRoots, BATCH_SALT, "http://127.0.0.1:1/blobs/x"], { account: sys.provider.account }),
      );
      const revealed = await sys.read(batchId);
      assert.equal(revealed.batch.status, BatchStatus.Revealed);
      assert.equal(revealed.batch.result, trees.resultRoot);
      assert.equal(revealed.outputURI, "http://127.0.0.1:1/blobs/x");
      assert.deepEqual(batchJobs(revealed).map((j) => j.outputRoot), outputRoots);
      assert.equal(batchJob(revealed, revealed.batch.firstJobId + 4n).status, "revealed");

      await sys.d.at(revealed.batch.deadline + 1);
      await sys.b.send(sys.batchMarket.write.finalizeBatch([batchId, revealed.batch], { account: sys.keeper.account }));
      const finalized = await sys.read(batchId);
      assert.equal(finalized.batch.status, BatchStatus.Finalized);
      assert.ok(finalized.payout! > 0n);
      assert.ok(batchJobs(finalized).every((j) => j.status === "finalized"));
      assert.equal(hashBatch(finalized.batch), await sys.batchMarket.read.batchHash([batchId]));
    });

    it("splits a revealed job with this module's result proof, and the split job is an ordinary JobMarket job", async () => {
      const sys = await setUp(connection);
      const { batchId, outputRoots, trees } = await postAndCommit(sys, 7);
      await mineToSeed(sys, batchId);
      const committed = await sys.read(batchId);
      await sys.b.send(sys.batchMarket.write.revealBatch([batchId, committed.batch, outputRoots, BATCH_SALT, "x"], { account: sys.provider.account }));
      const revealed = await sys.read(batchId);
      // Index 6 is the odd node carried up: its proof skips a level.
      for (const index of [6, 2]) {
        const current = await sys.read(batchId);
        await sys.b.send(
          sys.batchMarket.write.splitRevealed([batchId, current.batch, BigInt(index), outputRoots[index]!, batchTreeProof(trees.resultLeaves, index)], {
            account: sys.keeper.account,
          }),
        );
      }
      // Another job's proof for this index: the contract rejects what verifyBatchProof rejects.
      assert.ok(!verifyBatchProof(revealed.batch.result, trees.resultLeaves[3]!, batchTreeProof(trees.resultLeaves, 4)));
      await assert.rejects(
        sys.batchMarket.write.splitRevealed([batchId, revealed.batch, 3n, outputRoots[3]!, batchTreeProof(trees.resultLeaves, 4)], { account: sys.keeper.account }),
        /InvalidProof/,
      );
      const after = await sys.read(batchId);
      assert.deepEqual([...after.split.entries()].sort(), [[2, JobStatus.Revealed], [6, JobStatus.Revealed]]);
      assert.deepEqual(batchJobs(after).map((j) => j.status), ["revealed", "revealed", "split", "revealed", "revealed", "revealed", "split"]);
      const job = await readJob({ client: sys.publicClient, market: sys.market.address, jobId: after.batch.firstJobId + 6n });
      assert.equal(job.job.status, JobStatus.Revealed);
      assert.equal(job.job.result, outputRoots[6]);
      assert.equal(hashBatch(after.batch), hashBatch(revealed.batch), "a split leaves the batch's state as it was");
    });

    it("splits a sampled job with this module's commitment proof: the JobMarket holds exactly the commitment computed here", async () => {
      const sys = await setUp(connection, { sampling: true });
      const { batchId, outputRoots, trees } = await postAndCommit(sys, 8);
      await mineToSeed(sys, batchId);
      const { batch } = await sys.read(batchId);
      const bits = await sys.batchMarket.read.sampledBitmap([batch]);
      const sampled = Array.from({ length: 8 }, (_, i) => i).filter((i) => (bits >> BigInt(i)) & 1n);
      assert.ok(sampled.length > 0 && sampled.length < 8, `a 50% draw over 8 jobs sampled ${sampled.length}`);
      for (const index of sampled) {
        await sys.b.send(
          sys.batchMarket.write.splitSampled([batchId, batch, BigInt(index), trees.commitments[index]!, batchTreeProof(trees.commitmentLeaves, index)], {
            account: sys.keeper.account,
          }),
        );
        const job = await readJob({ client: sys.publicClient, market: sys.market.address, jobId: batch.firstJobId + BigInt(index) });
        assert.equal(job.job.status, JobStatus.Committed);
        assert.equal(job.job.result, trees.commitments[index]);
      }
      const after = await sys.read(batchId);
      assert.deepEqual([...after.split.keys()].sort(), sampled);
      assert.ok(sampled.every((i) => after.split.get(i) === JobStatus.Committed));

      // A split job's input lives in its batch's BatchPosted: withBatchInput reads it there (what an auditor runs).
      for (const index of sampled) {
        const imported = await readJob({ client: sys.publicClient, market: sys.market.address, jobId: batch.firstJobId + BigInt(index) });
        assert.equal(imported.inputURI, "", "JobImported carries no input");
        const withInput = await withBatchInput({ record: imported, client: sys.publicClient, batchMarket: sys.batchMarket.address });
        assert.deepEqual([withInput.inputHash, withInput.inputURI], [after.inputHashes[index], after.inputURIs[index]]);
      }

      // The batch's reveal takes the split jobs by their commitment (never their output root, which would reach
      // their auditors before their blind commit): batchTrees' revealValues are what the contract accepts.
      const revealing = batchTrees({
        chainId: sys.chainId,
        jobMarket: sys.market.address,
        provider: sys.provider.account.address,
        firstJobId: batch.firstJobId,
        outputRoots,
        batchSalt: BATCH_SALT,
        split: new Set(sampled),
      });
      assert.ok(sampled.every((i) => revealing.revealValues[i] === trees.commitments[i]) && revealing.revealValues.some((v, i) => !sampled.includes(i) && v !== trees.commitments[i]));
      await assert.rejects(
        sys.batchMarket.write.revealBatch([batchId, batch, trees.revealValues, BATCH_SALT, "x"], { account: sys.provider.account }),
        /BatchCommitmentMismatch/,
        "a reveal with the split jobs' output roots is refused",
      );
      await sys.b.send(sys.batchMarket.write.revealBatch([batchId, batch, revealing.revealValues, BATCH_SALT, "x"], { account: sys.provider.account }));
      const revealed = await sys.read(batchId);
      assert.equal(revealed.batch.result, revealing.resultRoot);
      assert.ok(batchJobs(revealed).every((j) => (sampled.includes(j.index) ? j.outputRoot === undefined : j.outputRoot === revealing.revealValues[j.index])));
    });

    it("folds an expired batch with its refund, and finds which batch holds a job id", async () => {
      const sys = await setUp(connection);
      await sys.d.post(); // job 1 is an ordinary job
      const first = await sys.b.post(3);
      const second = await sys.b.post(2);
      const posted = await sys.read(first);
      await sys.d.at(posted.batch.deadline + 1);
      await sys.b.send(sys.batchMarket.write.expireBatch([first, posted.batch], { account: sys.keeper.account }));
      const expired = await sys.read(first);
      assert.equal(expired.batch.status, BatchStatus.Expired);
      assert.equal(expired.refund, 3n * posted.batch.feePerJob);
      assert.ok(batchJobs(expired).every((j) => j.status === "expired"));

      const find = (jobId: bigint) => findBatchOfJob({ client: sys.publicClient, batchMarket: sys.batchMarket.address, jobId });
      assert.equal(await find(1n), undefined, "an ordinary job is in no batch");
      assert.equal(await find(2n), first);
      assert.equal(await find(4n), first);
      assert.equal(await find(5n), second);
      assert.equal(await find(7n), undefined, "past the last reserved id");
      assert.throws(() => batchJob(expired, 5n), { code: "JOB_NOT_IN_BATCH" });
    });

    it("refuses a batch that does not exist", async () => {
      const sys = await setUp(connection);
      await assert.rejects(sys.read(42n), { code: "BATCH_NOT_FOUND" });
    });
  });
});
