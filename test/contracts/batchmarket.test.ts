/**
 * BatchMarket (contracts/BatchMarket.sol): deposits, posting, the batch lifecycle and its errors, inclusion
 * proofs, and the per-job paths through the JobMarket: a sampled job split out, audited blind and revealed
 * there while its batch-mates finalize; a wrong result inside a batch split out, challenged and slashed; a
 * withheld batch reveal. The attacker's best moves against batches are at the end, each with its figures.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { encodeAbiParameters, keccak256, parseEther, toHex, type Hex } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { BatchStatus, batchDriver, leafOf, proofOf } from "../helpers/batch.js";
import {
  deploySystem,
  MODEL_COLLATERAL,
  modelSpec,
  setUpMarket,
  stake,
  stakeVerifiers,
  ROLE_PROVIDER,
  type Connection,
} from "../helpers/fixture.js";
import { feeSplit, LOCAL_MARKET_PARAMS, MARKET_PARAMS, marketDriver, type MarketParams } from "../helpers/market.js";
import { Verdict, verificationDriver, Vote } from "../helpers/verification.js";

const connection = await network.create();
const { viem } = connection;
const FEE = parseEther("10");
const BPS = 10_000n;

/** Sampling at 50% (the audit levy raised to fund it), so a batch of 8 holds sampled and unsampled jobs. */
const SAMPLED_MARKET: MarketParams = { ...LOCAL_MARKET_PARAMS, samplingPpm: 500_000, auditLevyBps: 3000 };
const SAMPLED_VERIFICATION = { auditRewardBps: 5000, recheckPpm: 0 };

async function setUp(conn: Connection, { sampling = false, verifiers = 0 } = {}) {
  const sys = await deploySystem(conn, sampling ? { marketParams: SAMPLED_MARKET, verificationParams: SAMPLED_VERIFICATION } : {});
  const { modelId } = await setUpMarket(sys, { providerStake: parseEther("10000") });
  const d = marketDriver({ connection: conn, ...sys });
  const b = batchDriver({ connection: conn, sys, d, modelId });
  const wallets = await conn.viem.getWalletClients();
  if (verifiers) await stakeVerifiers(conn, sys, verifiers);
  const v = verificationDriver({ connection: conn, sys, d, wallets });
  await b.fund(parseEther("10000"));
  const params = sampling ? SAMPLED_MARKET : MARKET_PARAMS;
  return { ...sys, d, b, v, modelId, params };
}

/** JobMarket.finalize now (the job's window is known to be over). */
const finalizeNow = (sys: Awaited<ReturnType<typeof setUp>>, jobId: bigint, by = sys.keeper) =>
  sys.d.jobs.send(sys.market.write.finalize([jobId, sys.d.jobs.job(jobId)], { account: by.account }));

const locked = async (sys: Awaited<ReturnType<typeof setUp>>) => (await sys.staking.read.account([sys.provider.account.address])).locked;

describe("BatchMarket", () => {
  describe("deposits and posting", () => {
    it("debits a batch's fees from the deposit, reserves contiguous JobMarket ids and logs every input", async () => {
      const sys = await setUp(connection);
      const { b, batchMarket, market, dapp } = sys;
      await sys.d.post(); // an ordinary job first: the batch's ids follow it
      const before = await batchMarket.read.deposits([dapp.account.address]);
      const request = await b.request(5);
      const receipt = await b.send(batchMarket.write.postBatch([request], { account: dapp.account }));
      assert.equal(await batchMarket.read.deposits([dapp.account.address]), before - 5n * FEE);
      assert.equal(await market.read.jobCount(), 6n);
      const batch = b.batch(1n);
      assert.equal(batch.firstJobId, 2n);
      assert.equal(batch.count, 5);
      assert.equal(batch.collateralPerJob, MODEL_COLLATERAL);
      const logs = await batchMarket.getEvents.BatchPosted({}, { blockHash: receipt.blockHash });
      assert.deepEqual(logs[0]!.args.inputHashes, request.inputHashes);
      assert.deepEqual(logs[0]!.args.inputURIs, request.inputURIs);
      assert.equal(request.inputURIs[0]!.length, 66);
      // No per-job state: the ids are reserved, not stored.
      assert.equal(await market.read.jobHash([2n]), `0x${"0".repeat(64)}`);
    });

    it("posts batches of two models in one transaction, each with its own model, fee and collateral", async () => {
      const sys = await setUp(connection);
      const { b, batchMarket, registry, owner, dapp } = sys;
      await registry.write.register([modelSpec({ modelHash: keccak256(toHex("model two")), minCollateral: parseEther("50") })], {
        account: owner.account,
      });
      const r1 = await b.request(3);
      const r2 = await b.request(4, { modelId: 2n, feePerJob: parseEther("2") });
      const before = await batchMarket.read.deposits([dapp.account.address]);
      await b.send(batchMarket.write.postBatches([[r1, r2]], { account: dapp.account }));
      assert.equal(await batchMarket.read.batchCount(), 2n);
      assert.equal(await batchMarket.read.deposits([dapp.account.address]), before - 3n * FEE - 4n * parseEther("2"));
      assert.equal(b.batch(1n).modelId, 1);
      assert.equal(b.batch(2n).modelId, 2);
      assert.equal(b.batch(2n).collateralPerJob, parseEther("50"));
      assert.equal(b.batch(2n).firstJobId, b.batch(1n).firstJobId + 3n);
    });

    it("withdraws the unspent deposit, and never more", async () => {
      const { batchMarket, dapp, token } = await setUp(connection);
      const deposit = await batchMarket.read.deposits([dapp.account.address]);
      const balance = await token.read.balanceOf([dapp.account.address]);
      await batchMarket.write.withdrawDeposit([parseEther("1")], { account: dapp.account });
      assert.equal(await token.read.balanceOf([dapp.account.address]), balance + parseEther("1"));
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.withdrawDeposit([deposit], { account: dapp.account }),
        batchMarket,
        "InsufficientDeposit",
        [dapp.account.address, deposit - parseEther("1"), deposit],
      );
      await viem.assertions.revertWithCustomError(batchMarket.write.withdrawDeposit([0n], { account: dapp.account }), batchMarket, "ZeroAmount");
    });

    it("rejects what _post rejects: no deposit, sizes 0 and 257, lengths that differ, a zero input hash, a low fee, a bad claimBy, an inactive model", async () => {
      const { b, batchMarket, dapp, stranger } = await setUp(connection);
      const post = async (overrides: Record<string, unknown>, count = 2, by = dapp) =>
        batchMarket.write.postBatch([await b.request(count, overrides)], { account: by.account });
      await viem.assertions.revertWithCustomErrorWithArgs(post({}, 2, stranger), batchMarket, "InsufficientDeposit", [
        stranger.account.address,
        0n,
        2n * FEE,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({}, 0), batchMarket, "BatchSizeInvalid", [0n, 256n]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({ feePerJob: parseEther("1") }, 257), batchMarket, "BatchSizeInvalid", [257n, 256n]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({ inputURIs: ["ipfs://a"] }), batchMarket, "LengthMismatch", [2n, 1n]);
      await viem.assertions.revertWithCustomError(post({ inputHashes: [keccak256("0x01"), `0x${"0".repeat(64)}`] }), batchMarket, "MissingInput");
      await viem.assertions.revertWithCustomError(post({ feePerJob: 1n }), batchMarket, "FeeBelowFloor");
      await viem.assertions.revertWithCustomError(post({ claimBy: 1n }), batchMarket, "InvalidClaimBy");
      await viem.assertions.revertWithCustomErrorWithArgs(post({ modelId: 9n }), batchMarket, "ModelInactive", [9n]);
    });

    it("a poster cannot take back a posted batch's fees through its deposit (they were debited at post)", async () => {
      const { b, batchMarket, dapp } = await setUp(connection);
      const deposit = await batchMarket.read.deposits([dapp.account.address]);
      await b.post(8);
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.withdrawDeposit([deposit], { account: dapp.account }),
        batchMarket,
        "InsufficientDeposit",
        [dapp.account.address, deposit - 8n * FEE, deposit],
      );
    });
  });

  describe("lifecycle", () => {
    it("claims, commits, reveals and finalizes a batch: one credit for the provider, fees split, collateral locked then released", async () => {
      const sys = await setUp(connection);
      const { b, batchMarket, provider, keeper } = sys;
      const batchId = await b.post(8);
      await b.claim(batchId);
      assert.equal(await locked(sys), 8n * MODEL_COLLATERAL);
      await b.commit(batchId);
      await b.waitForSeed(batchId);
      await b.reveal(batchId);
      assert.equal(b.batch(batchId).status, BatchStatus.Revealed);
      assert.equal(await batchMarket.read.batchHash([batchId]), keccak256(encodeBatch(b.batch(batchId))));
      await viem.assertions.revertWithCustomError(
        batchMarket.write.finalizeBatch([batchId, b.batch(batchId)], { account: keeper.account }),
        batchMarket,
        "BatchDeadlineNotPassed",
      );
      await b.finalize(batchId);
      const split = feeSplit(8n * FEE);
      assert.equal(await batchMarket.read.credits([provider.account.address]), split.payout);
      assert.equal(await batchMarket.read.protocolFees(), split.protocolFee);
      assert.equal(await batchMarket.read.auditLevyOwed(), split.auditLevy);
      assert.equal(await locked(sys), 0n);
      // The audit levy reaches the JobMarket's audit pool when swept.
      const pool = await sys.market.read.auditPool();
      await batchMarket.write.sweepAuditLevy({ account: keeper.account });
      assert.equal(await sys.market.read.auditPool(), pool + split.auditLevy);
      const balance = await sys.token.read.balanceOf([provider.account.address]);
      await batchMarket.write.withdraw({ account: provider.account });
      assert.equal(await sys.token.read.balanceOf([provider.account.address]), balance + split.payout);
    });

    it("guards every step: deadlines on both sides, the provider, the seed, the commitment, the state", async () => {
      const sys = await setUp(connection);
      const { b, batchMarket, provider, provider2, d } = sys;
      await stake(sys, provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
      const batchId = await b.post(4);
      const stale = b.batch(batchId);
      await b.claim(batchId);
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.claimBatch([batchId, stale], { account: provider2.account }),
        batchMarket,
        "BatchMismatch",
        [batchId],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.claimBatch([batchId, b.batch(batchId)], { account: provider2.account }),
        batchMarket,
        "WrongBatchStatus",
        [batchId, BatchStatus.Claimed],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.commitBatch([batchId, b.batch(batchId), keccak256("0x01")], { account: provider2.account }),
        batchMarket,
        "NotBatchProvider",
        [batchId, provider2.account.address],
      );
      await viem.assertions.revertWithCustomError(
        batchMarket.write.commitBatch([batchId, b.batch(batchId), `0x${"0".repeat(64)}`], { account: provider.account }),
        batchMarket,
        "ZeroCommitment",
      );
      await b.commit(batchId);
      const [, , roots, salt, uri] = b.revealArgs(batchId);
      // The seed block is not mined yet.
      await viem.assertions.revertWithCustomError(
        batchMarket.write.revealBatch([batchId, b.batch(batchId), roots, salt, uri], { account: provider.account }),
        batchMarket,
        "BatchSeedNotReady",
      );
      await b.waitForSeed(batchId);
      const wrongRoots = [...roots];
      wrongRoots[2] = keccak256("0x02");
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.revealBatch([batchId, b.batch(batchId), roots, keccak256("0x02"), uri], { account: provider.account }),
        batchMarket,
        "BatchCommitmentMismatch",
        [batchId],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.revealBatch([batchId, b.batch(batchId), wrongRoots, salt, uri], { account: provider.account }),
        batchMarket,
        "BatchCommitmentMismatch",
        [batchId],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.revealBatch([batchId, b.batch(batchId), roots.slice(1), salt, uri], { account: provider.account }),
        batchMarket,
        "LengthMismatch",
        [4n, 3n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.revealBatch([batchId, b.batch(batchId), roots, salt, uri], { account: provider2.account }),
        batchMarket,
        "NotBatchProvider",
        [batchId, provider2.account.address],
      );
      // Past revealBy the reveal is closed, and the batch expires.
      await b.pastDeadline(batchId);
      await viem.assertions.revertWithCustomError(
        batchMarket.write.revealBatch([batchId, b.batch(batchId), roots, salt, uri], { account: provider.account }),
        batchMarket,
        "BatchDeadlinePassed",
      );
      // Claim deadline on the other side.
      const late = await b.post(2);
      await d.at(b.batch(late).deadline + 1);
      await viem.assertions.revertWithCustomError(
        batchMarket.write.claimBatch([late, b.batch(late)], { account: provider.account }),
        batchMarket,
        "BatchDeadlinePassed",
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.claimBatch([99n, b.batch(late)], { account: provider.account }),
        batchMarket,
        "BatchNotFound",
        [99n],
      );
    });

    it("expires a posted batch with a full refund, and a claimed one with the expiry penalty per job", async () => {
      const sys = await setUp(connection);
      const { b, batchMarket, dapp, d } = sys;
      const posted = await b.post(3);
      await viem.assertions.revertWithCustomError(b.expire(posted), batchMarket, "BatchDeadlineNotPassed");
      await d.at(b.batch(posted).deadline + 1);
      await b.expire(posted);
      assert.equal(await batchMarket.read.credits([dapp.account.address]), 3n * FEE);
      const claimed = await b.post(4);
      await b.claim(claimed);
      await b.pastDeadline(claimed);
      await b.expire(claimed);
      const penalty = 4n * ((MODEL_COLLATERAL * BigInt(MARKET_PARAMS.expiryPenaltyBps)) / BPS);
      assert.equal(await batchMarket.read.credits([dapp.account.address]), 3n * FEE + 4n * FEE + penalty);
      assert.equal(await locked(sys), 0n);
      await viem.assertions.revertWithCustomErrorWithArgs(b.expire(claimed), batchMarket, "WrongBatchStatus", [claimed, BatchStatus.Expired]);
    });
  });

  describe("inclusion proofs", () => {
    it("rejects a wrong leaf, a wrong index and a proof for another batch; accepts the right one", async () => {
      const sys = await setUp(connection);
      const { b, batchMarket, keeper } = sys;
      const one = await b.post(5);
      await b.claimAndCommit(one);
      await b.waitForSeed(one);
      await b.reveal(one);
      const other = await b.post(5);
      await b.claimAndCommit(other);
      await b.waitForSeed(other);
      await b.reveal(other);
      const leaves = b.resultLeaves(one);
      const first = b.batch(one).firstJobId;
      const root2 = b.outputRootOf(first + 2n);
      const split = (index: bigint, root: Hex, proof: Hex[]) =>
        batchMarket.write.splitRevealed([one, b.batch(one), index, root, proof], { account: keeper.account });
      // A wrong output root for job 2.
      await viem.assertions.revertWithCustomErrorWithArgs(split(2n, keccak256("0xbad0"), proofOf(leaves, 2)), batchMarket, "InvalidProof", [
        one,
        first + 2n,
      ]);
      // Job 2's root and proof, claimed for index 3 (the sorted-pair tree alone would not notice).
      await viem.assertions.revertWithCustomErrorWithArgs(split(3n, root2, proofOf(leaves, 2)), batchMarket, "InvalidProof", [one, first + 3n]);
      // Job 3's leaf with job 2's proof.
      await viem.assertions.revertWithCustomError(split(3n, b.outputRootOf(first + 3n), proofOf(leaves, 2)), batchMarket, "InvalidProof");
      // A proof from the other batch.
      const otherLeaves = b.resultLeaves(other);
      const otherFirst = b.batch(other).firstJobId;
      await viem.assertions.revertWithCustomError(split(2n, b.outputRootOf(otherFirst + 2n), proofOf(otherLeaves, 2)), batchMarket, "InvalidProof");
      await viem.assertions.revertWithCustomErrorWithArgs(split(5n, root2, []), batchMarket, "JobIndexOutOfRange", [one, 5n, 5n]);
      await b.splitRevealed(one, 2);
      await viem.assertions.revertWithCustomErrorWithArgs(split(2n, root2, proofOf(leaves, 2)), batchMarket, "JobAlreadySplit", [one, first + 2n]);
      // The odd last leaf (index 4 of 5 is carried up) proves too.
      await b.splitRevealed(one, 4);
      assert.equal(await batchMarket.read.splitBitmap([one]), (1n << 2n) | (1n << 4n));
      assert.deepEqual(leafOf(first, b.outputRootOf(first)), leaves[0]);
    });
  });

  describe("per-job paths through the JobMarket", () => {
    it("samples each job as JobMarket.samplingOf does, and refuses a batch reveal until every sampled job is split out", async () => {
      const sys = await setUp(connection, { sampling: true });
      const { b, batchMarket, market, provider, keeper } = sys;
      // A mix of sampled and unsampled jobs (one batch in 128 has all or none sampled: another follows).
      const { batchId, sampled } = await b.postSampled({ wanted: (indices) => indices.length > 0 && indices.length < 8 });
      const batch = b.batch(batchId);
      for (let i = 0; i < 8; i++) {
        const [, s] = await market.read.samplingOf([batch.firstJobId + BigInt(i), batch.commitBlock, BigInt(batch.terms)]);
        assert.equal(s, sampled.includes(i), `job index ${i}`);
      }
      assert.ok(sampled.length > 0 && sampled.length < 8, `sampled ${sampled.length} of 8 in eight batches running`);
      const unsampled = [...Array(8).keys()].find((i) => !sampled.includes(i))!;
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.splitSampled(
          [batchId, batch, BigInt(unsampled), keccak256("0x01"), proofOf(await b.commitmentLeaves(batchId), unsampled)],
          { account: keeper.account },
        ),
        batchMarket,
        "NotSampled",
        [batch.firstJobId + BigInt(unsampled)],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        batchMarket.write.revealBatch(b.revealArgs(batchId), { account: provider.account }),
        batchMarket,
        "SampledJobNotSplit",
        [batchId, batch.firstJobId + BigInt(sampled[0]!)],
      );
    });

    it("a sampled job is split out, audited blind and revealed through the JobMarket while its batch-mates finalize", async () => {
      const sys = await setUp(connection, { sampling: true, verifiers: 4 });
      const { b, d, v, batchMarket, market, provider, token } = sys;
      await sys.token.write.mint([sys.owner.account.address, parseEther("1000")]);
      await sys.token.write.approve([market.address, parseEther("1000")], { account: sys.owner.account });
      await market.write.fundAuditPool([parseEther("1000")], { account: sys.owner.account });
      const { batchId, sampled } = await b.postSampled();
      const escrow = await token.read.balanceOf([market.address]);
      for (const i of sampled) await b.splitSampled(batchId, i);
      assert.equal(await token.read.balanceOf([market.address]), escrow + BigInt(sampled.length) * FEE);
      const jobId = b.batch(batchId).firstJobId + BigInt(sampled[0]!);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Committed);
      // Ordinary rules from here: the reveal waits for the auditor's blind commit.
      await viem.assertions.revertWithCustomError(d.reveal(jobId, { salt: b.saltOf(jobId) }), sys.verification, "AuditPending");
      for (const i of sampled) {
        const id = b.batch(batchId).firstJobId + BigInt(i);
        await v.commitAudit(id);
        await d.reveal(id, { salt: b.saltOf(id) });
        assert.equal(d.jobs.job(id).sampled, true);
      }
      await b.reveal(batchId);
      for (const i of sampled) await v.revealAudit(b.batch(batchId).firstJobId + BigInt(i), { verdict: Verdict.Agree });
      await b.finalize(batchId);
      // Their own windows ended before the batch's (they were revealed first).
      for (const i of sampled) await finalizeNow(sys, b.batch(batchId).firstJobId + BigInt(i));
      const perJob = feeSplit(FEE, SAMPLED_MARKET).payout;
      assert.equal(await batchMarket.read.credits([provider.account.address]), BigInt(8 - sampled.length) * perJob);
      assert.equal(await market.read.credits([provider.account.address]), BigInt(sampled.length) * perJob);
      assert.equal(await locked(sys), 0n);
    });

    it("a wrong result inside a batch is split out by a challenger and slashed through Verification while its batch-mates finalize", async () => {
      const sys = await setUp(connection, { verifiers: 5 });
      const { b, d, v, batchMarket, market, provider, challenger, dapp, token } = sys;
      const bond = BigInt((await sys.terms.read.verificationParams()).challengeBond);
      await token.write.mint([challenger.account.address, bond]);
      await token.write.approve([sys.verification.address, bond], { account: challenger.account });
      const batchId = await b.post(8);
      const cheat = b.batch(batchId).firstJobId + 5n;
      await b.claimAndCommit(batchId, { wrong: new Map([[cheat, keccak256(toHex("a wrong output"))]]) });
      await b.waitForSeed(batchId);
      await b.reveal(batchId);
      const stakeBefore = (await sys.staking.read.account([provider.account.address])).stake;
      await b.splitRevealed(batchId, 5, challenger);
      assert.equal(d.jobs.job(cheat).status, JobStatus.Revealed);
      await v.challenge(cheat, challenger);
      await v.drawCommittee(cheat);
      await v.vote(cheat, () => Vote.ProviderWrong);
      // The batch-mates do not wait for the dispute.
      await b.finalize(batchId);
      assert.equal(await batchMarket.read.credits([provider.account.address]), 7n * feeSplit(FEE).payout);
      await v.resolve(cheat);
      assert.equal(d.jobs.job(cheat).status, JobStatus.Slashed);
      assert.equal((await sys.staking.read.account([provider.account.address])).stake, stakeBefore - MODEL_COLLATERAL);
      assert.equal(await locked(sys), 0n);
      // The poster is refunded the cheated job's fee by the market.
      assert.ok((await market.read.credits([dapp.account.address])) >= FEE);
    });

    it("a withheld reveal of a batch with sampled jobs costs the whole collateral of each sampled one", async () => {
      const sys = await setUp(connection, { sampling: true });
      const { b, batchMarket, provider, dapp } = sys;
      const batchId = await b.post(8);
      await b.claimAndCommit(batchId);
      await b.waitForSeed(batchId);
      const sampled = BigInt((await b.sampled(batchId)).length);
      const stakeBefore = (await sys.staking.read.account([provider.account.address])).stake;
      await b.pastDeadline(batchId);
      await b.expire(batchId);
      const plain = (MODEL_COLLATERAL * BigInt(SAMPLED_MARKET.expiryPenaltyBps)) / BPS;
      const penalty = sampled * MODEL_COLLATERAL + (8n - sampled) * plain;
      assert.equal((await sys.staking.read.account([provider.account.address])).stake, stakeBefore - penalty);
      const toPoster = (8n - sampled) * plain + (sampled * MODEL_COLLATERAL * BigInt(SAMPLED_MARKET.expiryPenaltyBps)) / BPS;
      assert.equal(await batchMarket.read.credits([dapp.account.address]), 8n * FEE + toPoster);
      assert.equal(await batchMarket.read.auditLevyOwed(), penalty - toPoster);
      assert.equal(await locked(sys), 0n);
    });
  });

  describe("the attacker's best moves", () => {
    it("a provider that never splits its sampled job cannot reveal its batch, and expiry costs it more than honest work earns", async () => {
      const sys = await setUp(connection, { sampling: true });
      const { b, batchMarket, provider } = sys;
      const { batchId, sampled: indices } = await b.postSampled();
      const sampled = BigInt(indices.length);
      await viem.assertions.revertWithCustomError(
        batchMarket.write.revealBatch(b.revealArgs(batchId), { account: provider.account }),
        batchMarket,
        "SampledJobNotSplit",
      );
      const stakeBefore = (await sys.staking.read.account([provider.account.address])).stake;
      await b.pastDeadline(batchId);
      await b.expire(batchId);
      const lost = stakeBefore - (await sys.staking.read.account([provider.account.address])).stake;
      const honest = 8n * feeSplit(FEE, SAMPLED_MARKET).payout;
      // Figures: it loses at least one whole collateral (100) and earns nothing; honest work earned 8 x 8.2.
      assert.ok(lost >= sampled * MODEL_COLLATERAL && sampled >= 1n, `lost ${lost}`);
      assert.ok(lost > honest, `lost ${lost} vs honest ${honest}`);
      assert.equal(await batchMarket.read.credits([provider.account.address]), 0n);
    });

    it("a provider hiding a wrong result in a batch is slashed its whole collateral for it; an honest batch-mate earns its fee", async () => {
      const sys = await setUp(connection, { verifiers: 5 });
      const { b, d, v, provider, challenger, token } = sys;
      const bond = BigInt((await sys.terms.read.verificationParams()).challengeBond);
      await token.write.mint([challenger.account.address, bond]);
      await token.write.approve([sys.verification.address, bond], { account: challenger.account });
      const batchId = await b.post(4);
      const cheat = b.batch(batchId).firstJobId;
      await b.claimAndCommit(batchId, { wrong: new Map([[cheat, keccak256(toHex("cheap guess"))]]) });
      await b.waitForSeed(batchId);
      await b.reveal(batchId);
      const before = (await sys.staking.read.account([provider.account.address])).stake;
      await b.splitRevealed(batchId, 0, challenger);
      await v.challenge(cheat, challenger);
      await v.drawCommittee(cheat);
      await v.vote(cheat, () => Vote.ProviderWrong);
      await v.resolve(cheat);
      const lost = before - (await sys.staking.read.account([provider.account.address])).stake;
      // Figures: cheating one job cost 100 of collateral against the 8.2 it would have earned.
      assert.equal(lost, MODEL_COLLATERAL);
      assert.ok(lost > feeSplit(FEE).payout * 10n);
      assert.equal(d.jobs.job(cheat).status, JobStatus.Slashed);
    });

    it("a third party splitting a batch's jobs to grief its provider pays more gas than it costs the provider, and moves no funds wrongly", async () => {
      const sys = await setUp(connection);
      const { b, d, batchMarket, market, provider, stranger, dapp } = sys;
      const batchId = await b.post(8);
      await b.claimAndCommit(batchId);
      await b.waitForSeed(batchId);
      await b.reveal(batchId);
      const split = await b.splitRevealed(batchId, 3, stranger);
      const jobId = b.batch(batchId).firstJobId + 3n;
      await b.finalize(batchId);
      const finalize = await finalizeNow(sys, jobId, provider);
      // Figures: the griefer's split vs the provider's one extra finalize.
      assert.ok(split.gasUsed > finalize.gasUsed, `split ${split.gasUsed} vs finalize ${finalize.gasUsed}`);
      const payout = feeSplit(FEE).payout;
      assert.equal(await batchMarket.read.credits([provider.account.address]), 7n * payout);
      assert.equal(await market.read.credits([provider.account.address]), payout);
      assert.equal(await batchMarket.read.credits([stranger.account.address]), 0n);
      assert.equal(await market.read.credits([stranger.account.address]), 0n);
      assert.equal(await batchMarket.read.credits([dapp.account.address]), 0n);
      assert.equal(await locked(sys), 0n);
    });
  });
});

/** `abi.encode(batch)` of IBatchMarket.Batch. */
function encodeBatch(batch: ReturnType<ReturnType<typeof batchDriver>["batch"]>): Hex {
  return encodeAbiParameters(
    [
      {
        type: "tuple",
        components: [
          { name: "poster", type: "address" },
          { name: "modelId", type: "uint32" },
          { name: "terms", type: "uint32" },
          { name: "feePerJob", type: "uint96" },
          { name: "collateralPerJob", type: "uint96" },
          { name: "count", type: "uint16" },
          { name: "firstJobId", type: "uint64" },
          { name: "status", type: "uint8" },
          { name: "deadline", type: "uint32" },
          { name: "provider", type: "address" },
          { name: "commitBlock", type: "uint64" },
          { name: "result", type: "bytes32" },
        ],
      },
    ],
    [batch],
  );
}
