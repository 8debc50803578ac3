/**
 * Verification behaviour: challenges with a bond, the dispute lifecycle through the market's hooks,
 * pull payments and parameters, on the Ignition deployment.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, parseEther } from "viem";

import { hashJob, JobStatus } from "../../offchain/chain/jobs.js";
import { deploySystem, FEE, MODEL_COLLATERAL, setUpMarket, type Connection, type System } from "../helpers/fixture.js";
import { CHALLENGE_BOND, feeSplit, MARKET_PARAMS, marketDriver, type Wallet } from "../helpers/market.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const address = (wallet: Wallet) => getAddress(wallet.account.address);
const DISPUTE_DURATION = BigInt(MARKET_PARAMS.disputeDuration);

/** Mints `who` enough for a few bonds and approves the Verification contract for them. */
async function fundChallenger(sys: System, who: Wallet) {
  await sys.token.write.mint([who.account.address, parseEther("1000")]);
  await sys.token.write.approve([sys.verification.address, parseEther("1000")], { account: who.account });
}

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  await fundChallenger(sys, sys.challenger);
  return sys;
}

async function load() {
  const sys = await networkHelpers.loadFixture(deployed);
  const d = marketDriver({ connection, ...sys });
  /** Challenges job `jobId` as `by` (the funded challenger by default) and tracks the market's events. */
  const challenge = (jobId: bigint, by: Wallet = sys.challenger) =>
    d.jobs.send(sys.verification.write.challenge([jobId, d.jobs.job(jobId)], { account: by.account }));
  /** A revealed job under dispute; returns its id and the time the dispute opened. */
  const disputed = async () => {
    const jobId = await d.revealed();
    const receipt = await challenge(jobId);
    const { timestamp } = await sys.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    return { jobId, openedAt: timestamp };
  };
  const resolve = (jobId: bigint, by: Wallet = sys.keeper) =>
    d.jobs.send(sys.verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: by.account }));
  return { ...sys, d, challenge, disputed, resolve };
}

describe("Verification", () => {
  describe("challenge", () => {
    it("pulls the bond, records the dispute and puts the job under dispute", async () => {
      const { market, verification, token, challenger, d, challenge } = await load();
      const jobId = await d.revealed();
      const before = await token.read.balanceOf([challenger.account.address]);
      const t = (await d.now()) + 5n;
      await d.at(t);

      const { transactionHash } = await challenge(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "ChallengeOpened", [jobId, address(challenger), CHALLENGE_BOND]);
      await assertions.emitWithArgs(transactionHash, market, "JobDisputed", [jobId]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before - CHALLENGE_BOND);
      assert.equal(await token.read.balanceOf([verification.address]), CHALLENGE_BOND);
      assert.deepEqual(
        { ...(await verification.read.dispute([jobId])) },
        { challenger: address(challenger), bond: CHALLENGE_BOND, openedAt: t, resolved: false },
      );
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("reverts with DisputeExists on a second challenge", async () => {
      const sys = await load();
      const { verification, keeper, d, disputed } = sys;
      await fundChallenger(sys, keeper);
      const { jobId } = await disputed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        verification,
        "DisputeExists",
        [jobId],
      );
    });

    it("challenges at the end of the window and fails one second later with the market's DeadlinePassed", async () => {
      const { market, verification, challenger, d, challenge } = await load();
      const jobId = await d.revealed();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: challenger.account }),
        market,
        "DeadlinePassed",
        [jobId, end, end + 1n],
      );
      assert.equal((await verification.read.dispute([jobId])).challenger, "0x0000000000000000000000000000000000000000");
      await d.at(end);
      await challenge(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
    });

    it("reverts for a job not revealed or a job state that is not the stored one", async () => {
      const { market, verification, challenger, d } = await load();
      const jobId = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: challenger.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Committed],
      );
      await d.reveal(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, { ...d.jobs.job(jobId), result: d.outputOf(99n).outputRoot }], {
          account: challenger.account,
        }),
        market,
        "JobMismatch",
        [jobId],
      );
    });

    it("reverts when the challenger has not approved the bond", async () => {
      const { verification, token, stranger, d } = await load();
      await token.write.mint([stranger.account.address, CHALLENGE_BOND]);
      const jobId = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: stranger.account }),
        token,
        "ERC20InsufficientAllowance",
        [verification.address, 0n, CHALLENGE_BOND],
      );
    });
  });

  describe("resolve", () => {
    it("reverts with NoDispute for a job never challenged", async () => {
      const { verification, keeper, d } = await load();
      const jobId = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "NoDispute",
        [jobId],
      );
    });

    it("reverts with DisputeStillOpen until disputeDuration has passed since the challenge", async () => {
      const { verification, keeper, d, disputed, resolve } = await load();
      const { jobId, openedAt } = await disputed();
      const resolvableAt = openedAt + DISPUTE_DURATION;
      await d.at(resolvableAt);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "DisputeStillOpen",
        [jobId, resolvableAt, resolvableAt],
      );
      await d.at(resolvableAt + 1n);
      await resolve(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("upholds the provider: pays it as finalize does and credits the bond back to the challenger", async () => {
      const { market, verification, staking, token, provider, challenger, d, disputed, resolve } = await load();
      const { jobId, openedAt } = await disputed();
      assert.equal((await staking.read.account([provider.account.address])).locked, MODEL_COLLATERAL);
      await d.at(openedAt + DISPUTE_DURATION + 1n);

      const { transactionHash } = await resolve(jobId);
      const { payout, protocolFee, auditLevy } = feeSplit(FEE);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n]);
      await assertions.emitWithArgs(transactionHash, verification, "Credited", [address(challenger), CHALLENGE_BOND]);
      await assertions.emitWithArgs(transactionHash, market, "DisputeSettled", [jobId, false, 0n]);
      await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.credits([provider.account.address]), payout);
      assert.equal(await market.read.protocolFees(), protocolFee);
      assert.equal(await market.read.auditPool(), auditLevy);
      assert.equal((await staking.read.account([provider.account.address])).locked, 0n);
      assert.equal(await verification.read.credits([challenger.account.address]), CHALLENGE_BOND);
      assert.equal(await token.read.balanceOf([verification.address]), CHALLENGE_BOND);
      assert.equal((await verification.read.dispute([jobId])).resolved, true);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("reverts with NoDispute once the dispute is resolved", async () => {
      const { verification, keeper, d, disputed, resolve } = await load();
      const { jobId, openedAt } = await disputed();
      await d.at(openedAt + DISPUTE_DURATION + 1n);
      await resolve(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "NoDispute",
        [jobId],
      );
    });

    it("reverts with the market's JobMismatch for a job state that is not the disputed one", async () => {
      const { market, verification, keeper, d, disputed } = await load();
      const { jobId, openedAt } = await disputed();
      await d.at(openedAt + DISPUTE_DURATION + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, { ...d.jobs.job(jobId), status: JobStatus.Revealed }, "0x"], { account: keeper.account }),
        market,
        "JobMismatch",
        [jobId],
      );
      assert.equal((await verification.read.dispute([jobId])).resolved, false);
    });
  });

  describe("withdraw", () => {
    it("pays the challenger its bond back once, then reverts with NothingToWithdraw", async () => {
      const { verification, token, challenger, d, disputed, resolve } = await load();
      const { jobId, openedAt } = await disputed();
      await d.at(openedAt + DISPUTE_DURATION + 1n);
      await resolve(jobId);
      const before = await token.read.balanceOf([challenger.account.address]);
      assert.equal((await verification.simulate.withdraw({ account: challenger.account.address })).result, CHALLENGE_BOND);

      const hash = await verification.write.withdraw({ account: challenger.account });
      await assertions.emitWithArgs(hash, verification, "Withdrawal", [address(challenger), CHALLENGE_BOND]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before + CHALLENGE_BOND);
      assert.equal(await token.read.balanceOf([verification.address]), 0n);
      assert.equal(await verification.read.credits([challenger.account.address]), 0n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdraw({ account: challenger.account }),
        verification,
        "NothingToWithdraw",
        [address(challenger)],
      );
    });
  });

  describe("setParams", () => {
    it("sets the bond that the next challenge pulls", async () => {
      const { verification, token, owner, challenger, d, challenge } = await load();
      const bond = parseEther("75");
      const hash = await verification.write.setParams([{ challengeBond: bond }], { account: owner.account });
      await assertions.emitWithArgs(hash, verification, "ParamsSet", [{ challengeBond: bond }]);
      assert.deepEqual({ ...(await verification.read.params()) }, { challengeBond: bond });

      const jobId = await d.revealed();
      const before = await token.read.balanceOf([challenger.account.address]);
      await challenge(jobId);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before - bond);
      assert.equal((await verification.read.dispute([jobId])).bond, bond);
    });

    it("reverts for a zero bond and for anyone but the owner", async () => {
      const { verification, owner, stranger } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.setParams([{ challengeBond: 0n }], { account: owner.account }),
        verification,
        "InvalidParams",
        ["challengeBond"],
      );
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.setParams([{ challengeBond: 1n }], { account: stranger.account }),
        verification,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      assert.equal((await verification.read.params()).challengeBond, CHALLENGE_BOND);
    });
  });

  describe("a job under dispute", () => {
    it("cannot be finalized or expired by the market, even after its challenge window", async () => {
      const { market, keeper, d, disputed } = await load();
      const { jobId } = await disputed();
      await d.pastDeadline(jobId);
      for (const call of [
        () => market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        () => market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        () => market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
      ]) {
        await assertions.revertWithCustomErrorWithArgs(call(), market, "WrongStatus", [jobId, JobStatus.Disputed]);
      }
      assert.equal(await market.read.credits([d.jobs.job(jobId).provider]), 0n);
    });

    it("is finalized once only: the market refuses to finalize it after the dispute upheld it", async () => {
      const { market, keeper, provider, d, disputed, resolve } = await load();
      const { jobId, openedAt } = await disputed();
      await d.at(openedAt + DISPUTE_DURATION + 1n);
      await resolve(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Finalized],
      );
      assert.equal(await market.read.credits([provider.account.address]), feeSplit(FEE).payout);
    });

    // Known failing: JobMarket.settleDispute's upheld branch pays the provider and marks the job
    // Finalized without calling the consumer back (IDinferConsumer: "Called by the JobMarket when a job
    // the consumer posted is finalized"). Since the bond comes back when no committee judges, anyone can
    // suppress any consumer's callback for free by challenging its job. See the report for the patch.
    it("still delivers the result callback to a consumer whose job the dispute upheld", async () => {
      const sys = await load();
      const { token, market, d, challenge, resolve } = sys;
      const consumer = await viem.deployContract("GoodConsumer", [market.address, token.address]);
      await token.write.mint([consumer.address, FEE]);
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: 300_000 })])));
      const receipt = await challenge(jobId);
      const { timestamp: openedAt } = await sys.publicClient.getBlock({ blockNumber: receipt.blockNumber });
      await d.at(openedAt + DISPUTE_DURATION + 1n);
      await resolve(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal(await consumer.read.calls(), 1n, "the consumer of a finalized job was never called back");
      assert.equal(await consumer.read.lastOutputRoot(), d.outputOf(jobId).outputRoot);
    });
  });
});
