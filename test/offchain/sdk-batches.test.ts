/**
 * `offchain/sdk/batches.ts` through the dApp client, on the protocol as Ignition deploys it (in-process
 * chain): deposits, `postJobs` (grouping, one transaction, the deposit topped up or a clear refusal before
 * anything is sent) and `waitForResults` (outputs read through the batch's output list and checked against
 * the roots BatchRevealed carries; a job split out followed into the JobMarket; an expired batch reported).
 * The provider side is driven by hand with offchain/chain/batches.ts; real workers run in test/e2e/.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { after, before, describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, keccak256, parseEther, toHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { batchTreeProof, batchTrees, readBatch } from "../../offchain/chain/batches.js";
import { chainFor } from "../../offchain/chain/clients.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { DinferError } from "../../offchain/errors.js";
import { groupJobs, waitForResults } from "../../offchain/sdk/batches.js";
import { createDinferClient } from "../../offchain/sdk/client.js";
import { encodeBatchOutputs } from "../../offchain/storage/batch-outputs.js";
import { fetchBlob } from "../../offchain/storage/fetch.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import { uploadBlob } from "../../offchain/storage/upload.js";
import { deploySystem, deploymentOf, modelSpec, PRICE_FLOOR, setUpMarket, type Connection } from "../helpers/fixture.js";
import { refused } from "../helpers/private-hosts.js";

const connection = await network.create();
const { networkHelpers } = connection;
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const user = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 9 });
const poor = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 10 });
const UPLOAD_TOKEN = "sdk-batch-test-upload-token";
const BATCH_SALT = keccak256(toHex("batch salt"));

const inputOf = (i: number) => ({ tensors: [tensorFromArray({ name: "x", dtype: "float32", values: [i, i + 1], dims: [1, 2] })] });
const outputOf = (jobId: bigint) =>
  encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: [Number(jobId) / 10], dims: [1] })]);

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys, { providerStake: parseEther("10000") });
  // A second model (id 2) with a higher floor, for posts across models.
  await sys.registry.write.register([modelSpec({ modelHash: keccak256(toHex("model two")), priceFloor: parseEther("2") })], { account: sys.owner.account });
  await sys.token.write.mint([user.address, parseEther("1000")]);
  await sys.token.write.mint([poor.address, parseEther("3")]);
  return sys;
}

async function rejection(promise: Promise<unknown>): Promise<DinferError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DinferError, `expected a DinferError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

describe("sdk/batches", () => {
  let blobServer: BlobServer;
  let blobDir: string;

  before(async () => {
    blobDir = mkdtempSync(path.join(tmpdir(), "dinfer-sdk-batch-test-"));
    blobServer = await startBlobServer({ store: new LocalBlobStore({ dir: blobDir }), port: 0, uploadToken: UPLOAD_TOKEN, closeGraceMs: 200 });
  });

  after(async () => {
    await blobServer?.close();
    rmSync(blobDir, { recursive: true, force: true });
  });

  async function load(account = user) {
    const sys = await networkHelpers.loadFixture(deployed);
    const transport = custom({ request: ({ method, params }: { method: string; params?: unknown }) => connection.provider.request({ method, params: params as unknown[] }) });
    const chain = chainFor({ chainId: 31337, rpcUrl: "http://in-process.invalid" });
    const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 });
    const walletClient = createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 20 });
    const sender = new TxSender({ publicClient, walletClient, receiptPollingIntervalMs: 10 });
    const deployment: Deployment = deploymentOf(sys);
    const upload = { serverUrl: blobServer.url, token: UPLOAD_TOKEN };
    const client = createDinferClient({ publicClient, sender, deployment, upload, checkInput: false });
    const read = (batchId: bigint) => readBatch({ client: publicClient, batchMarket: deployment.batchMarket, batchId });

    /** The provider's side of a batch: runs it (outputOf), serves the outputs and the list, commits and reveals. */
    async function serve(batchId: bigint, { wrong }: { wrong?: number } = {}) {
      const posted = await read(batchId);
      const ids = Array.from({ length: posted.batch.count }, (_, i) => posted.batch.firstJobId + BigInt(i));
      const blobs = ids.map(outputOf);
      const roots = blobs.map((b, i) => (i === wrong ? outputRoot(outputOf(999n)) : outputRoot(b)));
      const uris = await Promise.all(blobs.map(async (bytes) => (await uploadBlob({ ...upload, bytes })).url));
      const listUri = (await uploadBlob({ ...upload, bytes: encodeBatchOutputs({ firstJobId: posted.batch.firstJobId, outputs: uris }) })).url;
      const trees = batchTrees({
        chainId: 31337,
        jobMarket: deployment.market,
        provider: sys.provider.account.address,
        firstJobId: posted.batch.firstJobId,
        outputRoots: roots,
        batchSalt: BATCH_SALT,
      });
      await sys.batchMarket.write.claimAndCommitBatch([batchId, posted.batch, trees.commitmentRoot], { account: sys.provider.account });
      const committed = await read(batchId);
      const { seedDelay } = await sys.batchMarket.read.marketTermsOf([BigInt(committed.batch.terms)]);
      await networkHelpers.mine(seedDelay + 1);
      await sys.batchMarket.write.revealBatch([batchId, committed.batch, roots, BATCH_SALT, listUri], { account: sys.provider.account });
      return { roots, trees, blobs };
    }

    async function finalize(batchId: bigint) {
      const { batch } = await read(batchId);
      await networkHelpers.time.setNextBlockTimestamp(batch.deadline + 1);
      await sys.batchMarket.write.finalizeBatch([batchId, batch], { account: sys.keeper.account });
    }

    return { sys, client, sender, publicClient, deployment, read, serve, finalize };
  }

  describe("postJobs", () => {
    it("refuses a batch whose model's lower collateral falls due before its claim deadline, before sending anything", async () => {
      const { sys, client, sender } = await load();
      await sys.registry.write.update([1n, modelSpec({ minCollateral: 1n })], { account: sys.owner.account });
      const [, effectiveAt] = await sys.registry.read.pendingCollateral([1n]);
      await networkHelpers.time.increaseTo(effectiveAt - 60n);
      const before = sender.stats().sent;
      const error = await rejection(client.postJobs([{ modelId: 1, input: inputOf(0) }], { claimWithin: 600 }));
      assert.equal(error.code, "COLLATERAL_DROPS");
      assert.equal(sender.stats().sent, before, "nothing sent");
    });

    it("groups jobs by model and fee into batches posted in one transaction, topping the deposit up by exactly the cost", async () => {
      const { client, read, sender, publicClient, deployment } = await load();
      const jobs = [
        { modelId: 1, input: inputOf(0) },
        { modelId: 2, input: inputOf(1) },
        { modelId: 1, input: inputOf(2) },
        { modelId: 1, input: inputOf(3), fee: parseEther("5") },
      ];
      const before = sender.stats().sent;
      const posted = await client.postJobs(jobs);
      // approve + deposit + postBatches.
      assert.equal(sender.stats().sent - before, 3);
      assert.equal(posted.batchIds.length, 3, "model 1 at the floor, model 2, model 1 at 5 tokens");
      assert.equal(posted.total, 2n * PRICE_FLOOR + parseEther("2") + parseEther("5"));
      assert.equal(posted.toppedUp, posted.total);
      assert.equal(await client.depositBalance(), 0n, "the top-up was spent to the wei");
      const receipt = await publicClient.getTransactionReceipt({ hash: posted.txHash });
      assert.equal(receipt.status, "success");

      for (const [i, job] of posted.jobs.entries()) {
        const record = await read(job.batchId);
        assert.equal(record.batch.modelId, jobs[i]!.modelId);
        assert.equal(record.batch.firstJobId + BigInt(job.index), job.jobId);
        assert.equal(record.inputHashes[job.index], job.inputHash);
        // The uploaded input is served under its hash.
        const bytes = await fetchBlob({ uri: record.inputURIs[job.index]!, expectedHash: job.inputHash });
        assert.equal(blobId(bytes), job.inputHash);
      }
      assert.equal(posted.jobs[0]!.batchId, posted.jobs[2]!.batchId);
      assert.deepEqual(new Set(posted.jobs.map((j) => j.jobId)).size, 4, "distinct job ids");
      assert.equal(deployment.batchMarket, client.deployment.batchMarket);
    });

    it("posts from the deposit without a top-up when it covers the cost", async () => {
      const { client, sender } = await load();
      await client.deposit(parseEther("10"));
      const before = sender.stats().sent;
      const posted = await client.postJobs([{ modelId: 1, input: inputOf(0) }, { modelId: 1, input: inputOf(1) }]);
      assert.equal(sender.stats().sent - before, 1, "only postBatches");
      assert.equal(posted.toppedUp, 0n);
      assert.equal(await client.depositBalance(), parseEther("10") - 2n * PRICE_FLOOR);
    });

    it("refuses, before sending anything, when neither the deposit nor the wallet can pay", async () => {
      const { client, sender } = await load(poor);
      const error = await rejection(client.postJobs([{ modelId: 2, input: inputOf(0) }, { modelId: 2, input: inputOf(1) }]));
      assert.equal(error.code, "INSUFFICIENT_TOKENS");
      assert.match(error.message, /cost 4000000000000000000 .* wallet 3000000000000000000/);
      const noTopUp = await rejection(client.postJobs([{ modelId: 1, input: inputOf(0) }], { topUp: false }));
      assert.equal(noTopUp.code, "INSUFFICIENT_DEPOSIT");
      assert.equal(sender.stats().sent, 0);
    });

    it("refuses a fee under a model's floor, naming the model", async () => {
      const { client, sender } = await load();
      const error = await rejection(client.postJobs([{ modelId: 1, input: inputOf(0) }, { modelId: 2, input: inputOf(1), fee: parseEther("1") }]));
      assert.equal(error.code, "FEE_BELOW_FLOOR");
      assert.equal(error.details?.modelId, "2");
      assert.equal(sender.stats().sent, 0);
    });

    it("splits a model's jobs into batches of at most 256", () => {
      const groups = groupJobs(Array.from({ length: 600 }, () => ({ modelId: 1n, fee: 1n })));
      assert.deepEqual(groups.map((g) => g.indices.length), [256, 256, 88]);
      assert.deepEqual(groups[1]!.indices.slice(0, 2), [256, 257]);
    });
  });

  describe("deposits", () => {
    it("deposits, reports and withdraws, refusing a withdrawal over the balance with the balance named", async () => {
      const { client, sys } = await load();
      const { balance } = await client.deposit(parseEther("7"));
      assert.equal(balance, parseEther("7"));
      assert.equal(await client.depositBalance(user.address), parseEther("7"));
      const error = await rejection(client.withdrawDeposit(parseEther("8")));
      assert.equal(error.code, "INSUFFICIENT_DEPOSIT");
      assert.equal(error.details?.available, parseEther("7").toString());
      await client.withdrawDeposit(parseEther("3"));
      assert.equal(await client.depositBalance(), parseEther("4"));
      assert.equal(await sys.token.read.balanceOf([user.address]), parseEther("996"));
      assert.equal((await rejection(client.deposit(parseEther("5000")))).code, "INSUFFICIENT_TOKENS");
    });
  });

  describe("waitForResults", () => {
    it("returns every job's output once its batch finalizes, checked against the revealed root, through the batch's output list", async () => {
      const { client, serve, finalize } = await load();
      const posted = await client.postJobs([0, 1, 2].map((i) => ({ modelId: 1, input: inputOf(i) })));
      const { roots, blobs } = await serve(posted.batchIds[0]!);
      await finalize(posted.batchIds[0]!);
      const seen: bigint[] = [];
      const results = await client.waitForResults(posted.jobs, { timeoutMs: 10_000, onResult: (r) => void seen.push(r.jobId) });
      assert.deepEqual(seen, posted.jobs.map((j) => j.jobId));
      for (const [i, result] of results.entries()) {
        assert.ok(result.ok);
        assert.deepEqual(result.output, blobs[i]);
        assert.equal(result.outputRoot, roots[i]);
        assert.equal(result.split, false);
        assert.equal(result.tensors()[0]!.name, "y");
      }
      // Bare ids find their batch.
      const again = await client.waitForResults([posted.jobs[1]!.jobId], { timeoutMs: 10_000 });
      assert.ok(again[0]!.ok);
    });

    it("follows a job split out to be challenged into the JobMarket, and reports a wrong output as a root mismatch", async () => {
      const { client, serve, read, sys, finalize, publicClient } = await load();
      const posted = await client.postJobs([0, 1, 2].map((i) => ({ modelId: 1, input: inputOf(i) })));
      const batchId = posted.batchIds[0]!;
      const { roots, trees } = await serve(batchId, { wrong: 2 });
      const revealed = await read(batchId);
      await sys.batchMarket.write.splitRevealed([batchId, revealed.batch, 1n, roots[1]!, batchTreeProof(trees.resultLeaves, 1)], { account: sys.keeper.account });
      await finalize(batchId);
      // The split job finalizes in the JobMarket on its own, after the same window.
      const job = posted.jobs[1]!.jobId;
      const { job: state } = await readJob({ client: publicClient, market: sys.market.address, jobId: job });
      assert.equal(state.status, JobStatus.Revealed);
      await sys.market.write.finalize([job, state], { account: sys.keeper.account });

      const results = await client.waitForResults(posted.jobs.slice(0, 2), { timeoutMs: 10_000 });
      assert.ok(results[0]!.ok && !results[0]!.split);
      assert.ok(results[1]!.ok && results[1]!.split, "the split job's output, from the batch's list");
      assert.equal(results[1]!.outputRoot, roots[1]);
      const error = await rejection(client.waitForResults([posted.jobs[2]!], { timeoutMs: 10_000 }));
      assert.equal(error.code, "OUTPUT_ROOT_MISMATCH");
    });

    it("refuses the batch's output list on 127.0.0.1 off the devnet (the provider chose it) before reading it, and reads it when told allowPrivateHosts", async () => {
      const { client, serve, finalize, publicClient, deployment } = await load();
      const posted = await client.postJobs([0, 1].map((i) => ({ modelId: 1, input: inputOf(i) })));
      const { blobs } = await serve(posted.batchIds[0]!);
      await finalize(posted.batchIds[0]!);
      const loopback = refused(/127\.0\.0\.1 is a private address \(loopback\)/);
      await assert.rejects(waitForResults({ publicClient, deployment, jobs: posted.jobs, timeoutMs: 10_000, allowPrivateHosts: false }), loopback);
      // A node that says chain 8453: the client's default (and the building block's) refuses it too.
      const transport = custom({
        request: ({ method, params }: { method: string; params?: unknown }) =>
          method === "eth_chainId" ? Promise.resolve(toHex(8453)) : connection.provider.request({ method, params: params as unknown[] }),
      });
      const elsewhere = createPublicClient({ chain: chainFor({ chainId: 31337, rpcUrl: "http://in-process.invalid" }), transport, cacheTime: 0, pollingInterval: 20 });
      await assert.rejects(createDinferClient({ publicClient: elsewhere, deployment }).waitForResults(posted.jobs, { timeoutMs: 10_000 }), loopback);
      await assert.rejects(waitForResults({ publicClient: elsewhere, deployment, jobs: posted.jobs, timeoutMs: 10_000 }), loopback);
      const told = await createDinferClient({ publicClient: elsewhere, deployment, allowPrivateHosts: true }).waitForResults(posted.jobs, { timeoutMs: 10_000 });
      assert.deepEqual(told.map((result) => result.ok && result.output), blobs);
    });

    it("reports the jobs of an expired batch as failed, and times out on an open one naming it", async () => {
      const { client, read, sys } = await load();
      const posted = await client.postJobs([{ modelId: 1, input: inputOf(0) }, { modelId: 2, input: inputOf(1) }]);
      const timeout = await rejection(client.waitForResults(posted.jobs, { timeoutMs: 200, pollMs: 50 }));
      assert.equal(timeout.code, "JOB_WAIT_TIMEOUT");
      assert.deepEqual(timeout.details?.jobs, posted.jobs.map((j) => j.jobId.toString()));
      const first = await read(posted.batchIds[0]!);
      await networkHelpers.time.increaseTo(first.batch.deadline + 1);
      for (const batchId of posted.batchIds) {
        const { batch } = await read(batchId);
        await sys.batchMarket.write.expireBatch([batchId, batch], { account: sys.keeper.account });
      }
      const results = await client.waitForResults(posted.jobs, { timeoutMs: 10_000 });
      for (const result of results) {
        assert.ok(!result.ok);
        assert.equal(result.error.code, "JOB_FAILED");
        assert.match(result.error.message, /expired with its batch/);
      }
    });
  });
});
