/**
 * JobMarket behaviour: every external function, every custom error of IJobMarket, exact amounts.
 * The Ignition deployment (`deploySystem`) for the job lifecycle; a second market with a wallet in
 * the Verification slot (`hooksSystem`) for the dispute hooks.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { anyValue } from "@nomicfoundation/hardhat-viem-assertions/predicates";
import { artifacts, network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, keccak256, parseEther, parseSignature, toHex, type Address, type Hex } from "viem";

import { hashJob, JobStatus, type Job } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import {
  deploySystem,
  FEE,
  MODEL_COLLATERAL,
  PRICE_FLOOR,
  ROLE_PROVIDER,
  ROLE_VERIFIER,
  setUpMarket,
  stake,
  type Connection,
  type System,
} from "../helpers/fixture.js";
import {
  expiryPenalty,
  feeOnTransferSystem,
  feeSplit,
  hooksSystem,
  inlineRoot,
  MARKET_PARAMS,
  marketDriver,
  STAKING_PARAMS,
  ZERO_ADDRESS,
  ZERO_HASH,
  type MarketParams,
  type Wallet,
} from "../helpers/market.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const address = (wallet: Wallet) => getAddress(wallet.account.address);
const bytesOf = (length: number, seed = 7) => toHex(Uint8Array.from({ length }, (_, i) => (i * 31 + seed) % 256));

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  return sys;
}

/** The Ignition deployment plus a GoodConsumer (contracts/test) funded to post jobs. */
async function deployedWithConsumer(conn: Connection) {
  const sys = await deployed(conn);
  const consumer = await conn.viem.deployContract("GoodConsumer", [sys.market.address, sys.token.address]);
  await sys.token.write.mint([consumer.address, parseEther("1000")]);
  return { ...sys, consumer };
}

async function load() {
  const sys = await networkHelpers.loadFixture(deployed);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

async function loadWithConsumer() {
  const sys = await networkHelpers.loadFixture(deployedWithConsumer);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

async function loadHooks() {
  const sys = await networkHelpers.loadFixture(hooksSystem);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

/** An EIP-2612 permit for `value` of the test token from `owner` to `spender`, signed with signTypedData. */
async function signPermit(sys: System, owner: Wallet, spender: Address, value: bigint, deadline: bigint) {
  const { token, publicClient } = sys;
  const signature = await owner.signTypedData({
    account: owner.account,
    domain: {
      name: await token.read.name(),
      version: "1",
      chainId: await publicClient.getChainId(),
      verifyingContract: token.address,
    },
    types: {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Permit",
    message: { owner: owner.account.address, spender, value, nonce: await token.read.nonces([owner.account.address]), deadline },
  });
  const { v, r, s } = parseSignature(signature);
  return { v: Number(v), r, s };
}

describe("JobMarket", () => {
  describe("postJob", () => {
    it("escrows the fee and stores the hash of a job posted with an input hash and URI", async () => {
      const { market, token, dapp, d } = await load();
      const t = (await d.now()) + 10n;
      const request = { ...(await d.request()), claimBy: t + 600n };
      const dappBefore = await token.read.balanceOf([dapp.account.address]);
      assert.equal((await market.simulate.postJob([request], { account: dapp.account.address })).result, 1n);

      await d.at(t);
      const { transactionHash } = await d.jobs.send(market.write.postJob([request], { account: dapp.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobPosted", [
        1n, 1n, address(dapp), FEE, MODEL_COLLATERAL, t + 600n, 0, request.inputHash, request.inputURI, "0x",
      ]);
      assert.equal(await token.read.balanceOf([dapp.account.address]), dappBefore - FEE);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
      assert.equal(await market.read.jobCount(), 1n);
      const expected: Job = {
        poster: address(dapp),
        modelId: 1,
        fee: FEE,
        collateral: MODEL_COLLATERAL,
        callbackGasLimit: 0,
        status: JobStatus.Posted,
        deadline: Number(t + 600n),
        provider: ZERO_ADDRESS,
        commitBlock: 0n,
        result: ZERO_HASH,
        inlineOutput: false,
        sampled: false,
      };
      assert.deepEqual(d.jobs.job(1n), expected);
      assert.equal(await market.read.jobHash([1n]), hashJob(expected));
    });

    it("hashes an inline input itself and logs its bytes", async () => {
      const { market, dapp, d } = await load();
      const input = bytesOf(100);
      const { transactionHash } = await d.jobs.send(
        market.write.postJob([await d.request({ inlineInput: input, inputHash: ZERO_HASH, inputURI: "" })], { account: dapp.account }),
      );
      await assertions.emitWithArgs(transactionHash, market, "JobPosted", [
        1n, 1n, address(dapp), FEE, MODEL_COLLATERAL, anyValue, 0, keccak256(input), "", input,
      ]);
      assert.equal(d.jobs.records.get(1n)?.inputHash, keccak256(input));
    });

    it("accepts an inline input of exactly 4096 bytes given with its own hash", async () => {
      const { d } = await load();
      const input = bytesOf(4096);
      const jobId = await d.post({ inlineInput: input, inputHash: keccak256(input), inputURI: "" });
      assert.equal(d.jobs.records.get(jobId)?.inlineInput, input);
    });

    it("reverts when neither an inline input nor an input hash is given", async () => {
      const { market, dapp, d } = await load();
      const request = await d.request({ inputHash: ZERO_HASH, inputURI: "" });
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([request], { account: dapp.account }),
        market,
        "MissingInput",
        [],
      );
    });

    it("reverts when the inline input is over 4096 bytes", async () => {
      const { market, dapp, d } = await load();
      const request = await d.request({ inlineInput: bytesOf(4097), inputHash: ZERO_HASH, inputURI: "" });
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([request], { account: dapp.account }),
        market,
        "InputTooLarge",
        [4097n, 4096n],
      );
    });

    it("reverts when an inline input comes with an input URI", async () => {
      const { market, dapp, d } = await load();
      const request = await d.request({ inlineInput: bytesOf(10), inputHash: ZERO_HASH });
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([request], { account: dapp.account }),
        market,
        "InputUriWithInlineInput",
        [],
      );
    });

    it("reverts when the given input hash is not the inline input's hash", async () => {
      const { market, dapp, d } = await load();
      const input = bytesOf(10);
      const wrong = keccak256(toHex("another blob"));
      const request = await d.request({ inlineInput: input, inputHash: wrong, inputURI: "" });
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([request], { account: dapp.account }),
        market,
        "InputHashMismatch",
        [wrong, keccak256(input)],
      );
    });

    it("reverts for a model that is unknown or deactivated", async () => {
      const { market, registry, owner, dapp, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ modelId: 99n })], { account: dapp.account }),
        market,
        "ModelInactive",
        [99n],
      );
      await registry.write.setActive([1n, false], { account: owner.account });
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request()], { account: dapp.account }),
        market,
        "ModelInactive",
        [1n],
      );
    });

    it("reverts for a model id that does not fit 32 bits", async () => {
      const { market, dapp, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ modelId: 2n ** 32n })], { account: dapp.account }),
        market,
        "ModelIdTooLarge",
        [2n ** 32n],
      );
    });

    it("reverts for a fee below the model's price floor and accepts the floor itself", async () => {
      const { market, dapp, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ fee: PRICE_FLOOR - 1n })], { account: dapp.account }),
        market,
        "FeeBelowFloor",
        [PRICE_FLOOR - 1n, PRICE_FLOOR],
      );
      const jobId = await d.post({ fee: PRICE_FLOOR });
      assert.equal(d.jobs.job(jobId).fee, PRICE_FLOOR);
    });

    it("reverts for a fee that does not fit 96 bits", async () => {
      const { market, dapp, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ fee: 2n ** 96n })], { account: dapp.account }),
        market,
        "FeeTooLarge",
        [2n ** 96n],
      );
    });

    it("accepts claimBy in (now, now + maxClaimDelay] and reverts outside it", async () => {
      const { market, dapp, d } = await load();
      const t = (await d.now()) + 10n;
      const latest = t + BigInt(MARKET_PARAMS.maxClaimDelay);
      for (const claimBy of [t, latest + 1n]) {
        await d.at(t);
        await assertions.revertWithCustomErrorWithArgs(
          market.write.postJob([await d.request({ claimBy })], { account: dapp.account }),
          market,
          "InvalidClaimBy",
          [claimBy, t + 1n, latest],
        );
      }
      await d.at(t);
      const first = await d.post({ claimBy: t + 1n });
      await d.at(t + 1n);
      const second = await d.post({ claimBy: latest + 1n });
      assert.equal(d.jobs.job(first).deadline, Number(t + 1n));
      assert.equal(d.jobs.job(second).deadline, Number(latest + 1n));
    });

    it("reverts when a callback asks for more gas than the protocol allows", async () => {
      const { market, dapp, d } = await load();
      const max = MARKET_PARAMS.callbackGasLimit;
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ callbackGasLimit: max + 1 })], { account: dapp.account }),
        market,
        "CallbackGasTooHigh",
        [BigInt(max + 1), BigInt(max)],
      );
    });

    it("reverts when an account without code asks for a callback", async () => {
      const { market, dapp, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ callbackGasLimit: 1 })], { account: dapp.account }),
        market,
        "CallbackNeedsContract",
        [address(dapp)],
      );
    });

    it("reverts when the poster has not approved the fee", async () => {
      const { market, token, stranger, d } = await load();
      await token.write.mint([stranger.account.address, FEE]);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request()], { account: stranger.account }),
        token,
        "ERC20InsufficientAllowance",
        [market.address, 0n, FEE],
      );
    });

    it("reverts with TokenTransferMismatch on a token that takes a fee on transfer", async () => {
      const sys = await networkHelpers.loadFixture(feeOnTransferSystem);
      const request = await marketDriver({ connection, ...sys }).request();
      await assertions.revertWithCustomErrorWithArgs(
        sys.market.write.postJob([request], { account: sys.dapp.account }),
        sys.market,
        "TokenTransferMismatch",
        [FEE, FEE - FEE / 100n],
      );
    });
  });

  describe("postJobWithPermit", () => {
    it("posts with the poster's EIP-2612 permit, spending exactly the fee", async () => {
      const sys = await load();
      const { market, token, stranger, d } = sys;
      await token.write.mint([stranger.account.address, FEE]);
      const deadline = (await d.now()) + 3600n;
      const { v, r, s } = await signPermit(sys, stranger, market.address, FEE, deadline);
      const jobId = await d.posted(market.write.postJobWithPermit([await d.request(), deadline, v, r, s], { account: stranger.account }));
      assert.equal(d.jobs.job(jobId).poster, address(stranger));
      assert.equal(await token.read.nonces([stranger.account.address]), 1n);
      assert.equal(await token.read.allowance([stranger.account.address, market.address]), 0n);
      assert.equal(await token.read.balanceOf([stranger.account.address]), 0n);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
    });

    it("still posts when a front-runner spent the permit first and the allowance exists", async () => {
      const sys = await load();
      const { market, token, stranger, keeper, d } = sys;
      await token.write.mint([stranger.account.address, FEE]);
      const deadline = (await d.now()) + 3600n;
      const { v, r, s } = await signPermit(sys, stranger, market.address, FEE, deadline);
      await token.write.permit([stranger.account.address, market.address, FEE, deadline, v, r, s], { account: keeper.account });

      const jobId = await d.posted(market.write.postJobWithPermit([await d.request(), deadline, v, r, s], { account: stranger.account }));
      assert.equal(d.jobs.job(jobId).poster, address(stranger));
      assert.equal(await token.read.allowance([stranger.account.address, market.address]), 0n);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
    });

    it("ignores a permit that fails when the allowance is there anyway", async () => {
      const sys = await load();
      const { market, token, dapp, d } = sys;
      const deadline = (await d.now()) + 3600n;
      const { v, r, s } = await signPermit(sys, dapp, market.address, FEE, deadline);
      const tampered = { v, r, s: keccak256(s) };
      const jobId = await d.posted(
        market.write.postJobWithPermit([await d.request(), deadline, tampered.v, tampered.r, tampered.s], { account: dapp.account }),
      );
      assert.equal(d.jobs.job(jobId).poster, address(dapp));
      assert.equal(await token.read.nonces([dapp.account.address]), 0n);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
    });

    it("reverts when the permit was already used and no allowance is left", async () => {
      const sys = await load();
      const { market, token, stranger, d } = sys;
      await token.write.mint([stranger.account.address, 2n * FEE]);
      const deadline = (await d.now()) + 3600n;
      const { v, r, s } = await signPermit(sys, stranger, market.address, FEE, deadline);
      await d.posted(market.write.postJobWithPermit([await d.request(), deadline, v, r, s], { account: stranger.account }));
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJobWithPermit([await d.request(), deadline, v, r, s], { account: stranger.account }),
        token,
        "ERC20InsufficientAllowance",
        [market.address, 0n, FEE],
      );
    });
  });

  describe("claim", () => {
    it("locks the model's collateral from the provider and opens the commit window", async () => {
      const { market, staking, provider, d } = await load();
      const jobId = await d.post();
      const t = (await d.now()) + 5n;
      await d.at(t);
      const { transactionHash } = await d.claim(jobId);
      const commitBy = t + BigInt(MARKET_PARAMS.commitTimeout);
      await assertions.emitWithArgs(transactionHash, market, "JobClaimed", [jobId, address(provider), commitBy]);
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Claimed);
      assert.equal(job.provider, address(provider));
      assert.equal(await market.read.jobHash([jobId]), hashJob(job));
      const account = await staking.read.account([provider.account.address]);
      assert.equal(account.stake, parseEther("1000"));
      assert.equal(account.locked, MODEL_COLLATERAL);
      assert.equal(await staking.read.availableStake([provider.account.address]), parseEther("900"));
    });

    it("reverts when the provider has not staked, or staked as a verifier only", async () => {
      const sys = await load();
      const { market, staking, stranger, verifier, d } = sys;
      const jobId = await d.post();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claim([jobId, d.jobs.job(jobId)], { account: stranger.account }),
        staking,
        "NotProvider",
        [address(stranger)],
      );
      await stake(sys, verifier.account.address, parseEther("1000"), ROLE_VERIFIER);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claim([jobId, d.jobs.job(jobId)], { account: verifier.account }),
        staking,
        "NotProvider",
        [address(verifier)],
      );
    });

    it("reverts when the provider's unlocked stake is below the collateral", async () => {
      const sys = await load();
      const { market, staking, provider2, d } = sys;
      await stake(sys, provider2.account.address, parseEther("50"), ROLE_PROVIDER);
      const jobId = await d.post();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claim([jobId, d.jobs.job(jobId)], { account: provider2.account }),
        staking,
        "InsufficientUnlockedStake",
        [address(provider2), parseEther("50"), MODEL_COLLATERAL],
      );
    });

    it("reverts for an unknown job id", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claim([99n, d.jobs.job(jobId)], { account: provider.account }),
        market,
        "JobNotFound",
        [99n],
      );
    });

    it("reverts when the job state passed is not the stored one", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      for (const forged of [{ fee: 1n }, { collateral: 1n }, { deadline: d.jobs.job(jobId).deadline + 1000 }]) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.claim([jobId, { ...d.jobs.job(jobId), ...forged }], { account: provider.account }),
          market,
          "JobMismatch",
          [jobId],
        );
      }
    });

    it("reverts for a job already claimed", async () => {
      const { market, provider2, d } = await load();
      const jobId = await d.claimed();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claim([jobId, d.jobs.job(jobId)], { account: provider2.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Claimed],
      );
    });

    it("claims at claimBy and reverts one second later", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      const claimBy = BigInt(d.jobs.job(jobId).deadline);
      await d.at(claimBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claim([jobId, d.jobs.job(jobId)], { account: provider.account }),
        market,
        "DeadlinePassed",
        [jobId, claimBy, claimBy + 1n],
      );
      await d.at(claimBy);
      await d.claim(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Claimed);
    });
  });

  describe("commit", () => {
    it("records the commitment and its block and opens the reveal window", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.claimed();
      const t = (await d.now()) + 5n;
      await d.at(t);
      const receipt = await d.commit(jobId);
      const c = await d.commitmentOf(jobId, d.outputOf(jobId));
      await assertions.emitWithArgs(receipt.transactionHash, market, "ResultCommitted", [
        jobId, address(provider), c, t + BigInt(MARKET_PARAMS.revealTimeout),
      ]);
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Committed);
      assert.equal(job.result, c);
      assert.equal(job.commitBlock, receipt.blockNumber);
      assert.equal(await market.read.jobHash([jobId]), hashJob(job));
    });

    it("reverts for anyone but the claiming provider", async () => {
      const { market, provider2, d } = await load();
      const jobId = await d.claimed();
      const c = await d.commitmentOf(jobId, { ...d.outputOf(jobId), by: provider2 });
      await assertions.revertWithCustomErrorWithArgs(
        market.write.commit([jobId, d.jobs.job(jobId), c], { account: provider2.account }),
        market,
        "NotJobProvider",
        [jobId, address(provider2)],
      );
    });

    it("reverts for a zero commitment", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.claimed();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.commit([jobId, d.jobs.job(jobId), ZERO_HASH], { account: provider.account }),
        market,
        "ZeroCommitment",
        [],
      );
    });

    it("reverts for a job that is not claimed", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.commit([jobId, d.jobs.job(jobId), keccak256("0x01")], { account: provider.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Posted],
      );
    });

    it("commits at commitBy and reverts one second later", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.claimed();
      const commitBy = BigInt(d.jobs.job(jobId).deadline);
      const c = await d.commitmentOf(jobId, d.outputOf(jobId));
      await d.at(commitBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.commit([jobId, d.jobs.job(jobId), c], { account: provider.account }),
        market,
        "DeadlinePassed",
        [jobId, commitBy, commitBy + 1n],
      );
      await d.at(commitBy);
      await d.commit(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Committed);
    });
  });

  describe("claimAndCommit", () => {
    it("claims a posted job and commits in one transaction: collateral locked, one ResultCommitted event", async () => {
      const { market, staking, provider, publicClient, d } = await load();
      const jobId = await d.post();
      const t = (await d.now()) + 5n;
      await d.at(t);
      const receipt = await d.claimAndCommit(jobId);
      const c = await d.commitmentOf(jobId, d.outputOf(jobId));
      const revealBy = t + BigInt(MARKET_PARAMS.revealTimeout);
      await assertions.emitWithArgs(receipt.transactionHash, market, "ResultCommitted", [jobId, address(provider), c, revealBy]);
      const claimedTopic = keccak256(toHex("JobClaimed(uint256,address,uint256)"));
      const { logs } = await publicClient.getTransactionReceipt({ hash: receipt.transactionHash });
      assert.equal(logs.filter((log) => log.topics[0] === claimedTopic).length, 0, "no JobClaimed event");
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Committed);
      assert.equal(job.provider, address(provider));
      assert.equal(job.result, c);
      assert.equal(job.deadline, Number(revealBy));
      assert.equal(job.commitBlock, receipt.blockNumber);
      assert.equal(await market.read.jobHash([jobId]), hashJob(job));
      assert.equal((await staking.read.account([provider.account.address])).locked, MODEL_COLLATERAL);
      // and the job goes on as any committed job
      await d.reveal(jobId);
      await d.finalize(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal((await staking.read.account([provider.account.address])).locked, 0n);
    });

    it("reverts on a job already claimed, for a zero commitment, and without unlocked stake", async () => {
      const sys = await load();
      const { market, staking, provider, provider2, d } = sys;
      const jobId = await d.post();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claimAndCommit([jobId, d.jobs.job(jobId), ZERO_HASH], { account: provider.account }),
        market,
        "ZeroCommitment",
        [],
      );
      await stake(sys, provider2.account.address, parseEther("50"), ROLE_PROVIDER);
      await assertions.revertWithCustomErrorWithArgs(
        d.claimAndCommit(jobId, { by: provider2 }),
        staking,
        "InsufficientUnlockedStake",
        [address(provider2), parseEther("50"), MODEL_COLLATERAL],
      );
      await d.claim(jobId);
      await assertions.revertWithCustomErrorWithArgs(d.claimAndCommit(jobId), market, "WrongStatus", [jobId, JobStatus.Claimed]);
    });

    it("is allowed up to claimBy and refused one second after", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      const claimBy = BigInt(d.jobs.job(jobId).deadline);
      const c = await d.commitmentOf(jobId, d.outputOf(jobId));
      await d.at(claimBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.claimAndCommit([jobId, d.jobs.job(jobId), c], { account: provider.account }),
        market,
        "DeadlinePassed",
        [jobId, claimBy, claimBy + 1n],
      );
      const fresh = (await load()).d;
      const other = await fresh.post();
      await fresh.at(BigInt(fresh.jobs.job(other).deadline));
      await fresh.claimAndCommit(other);
      assert.equal(fresh.jobs.job(other).status, JobStatus.Committed);
    });
  });

  describe("sampling", () => {
    async function sampledEverything(conn: Connection) {
      const sys = await deploySystem(conn, { marketParams: { samplingPpm: 1_000_000 } });
      await setUpMarket(sys);
      return sys;
    }
    async function loadSampled() {
      const sys = await networkHelpers.loadFixture(sampledEverything);
      return { ...sys, d: marketDriver({ connection, ...sys }) };
    }

    it("marks a job sampled at reveal when keccak256(seed, jobId) % 1e6 < samplingPpm, in the event and the state", async () => {
      const { market, provider, publicClient, d } = await loadSampled();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1); // views run at the latest block: the seed block must be behind it
      const commitBlock = d.jobs.job(jobId).commitBlock;
      const [seed, sampled] = await market.read.samplingOf([jobId, commitBlock]);
      const seedBlock = await publicClient.getBlock({ blockNumber: commitBlock + BigInt(MARKET_PARAMS.seedDelay) });
      assert.equal(seed, seedBlock.hash, "the default seed is the seed block's hash");
      assert.equal(sampled, true);
      const receipt = await d.reveal(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, market, "ResultRevealed", [
        jobId, address(provider), anyValue, anyValue, anyValue, "0x", true,
      ]);
      assert.equal(d.jobs.job(jobId).sampled, true);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("has no seed before the seed block, and a seed out of blockhash reach samples the job", async () => {
      const { market, d } = await loadSampled();
      const jobId = await d.committed();
      const commitBlock = d.jobs.job(jobId).commitBlock;
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock]), [ZERO_HASH, false]);
      await networkHelpers.mine(300);
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock]), [ZERO_HASH, true]);
    });

    it("samples nothing with samplingPpm 0, even once the seed is out of reach", async () => {
      const { market, d } = await load();
      const jobId = await d.committed();
      await networkHelpers.mine(260); // one second a block: still inside the 300 s reveal window
      assert.deepEqual(await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock]), [ZERO_HASH, false]);
      await d.reveal(jobId);
      assert.equal(d.jobs.job(jobId).sampled, false);
    });

    it("samples about samplingPpm of the jobs", async () => {
      // 200 job ids against one seed: the count is binomial(200, 0.25), inside [25, 75] with
      // probability > 1 - 1e-6; a modulus or comparison bug (0 or 200) lands far outside.
      const { market, d } = await load();
      await market.write.setParams([{ ...MARKET_PARAMS, samplingPpm: 250_000 }]);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const commitBlock = d.jobs.job(jobId).commitBlock;
      let sampled = 0;
      for (let id = 1n; id <= 200n; id++) if ((await market.read.samplingOf([id, commitBlock]))[1]) sampled++;
      assert.ok(sampled >= 25 && sampled <= 75, `sampled ${sampled} of 200 at 25%`);
    });
  });

  describe("reveal", () => {
    it("reveals an output root with its URI and opens the challenge window", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const t = (await d.now()) + 5n;
      await d.at(t);
      const { outputRoot: root } = d.outputOf(jobId);
      const receipt = await d.reveal(jobId, { outputURI: "ipfs://output" });
      await assertions.emitWithArgs(receipt.transactionHash, market, "ResultRevealed", [
        jobId, address(provider), root, t + BigInt(MARKET_PARAMS.challengeWindow), "ipfs://output", "0x", false,
      ]);
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Revealed);
      assert.equal(job.result, root);
      assert.equal(job.inlineOutput, false);
      assert.equal(await market.read.jobHash([jobId]), hashJob(job));
    });

    it("recomputes the root of an inline output as keccak256(uint32(0) || output)", async () => {
      const { market, provider, d } = await load();
      const output = bytesOf(300);
      const root = inlineRoot(output);
      assert.equal(root, outputRoot(Buffer.from(output.slice(2), "hex")));
      const jobId = await d.committed({}, { inlineOutput: output });
      const receipt = await d.reveal(jobId, { inlineOutput: output });
      await assertions.emitWithArgs(receipt.transactionHash, market, "ResultRevealed", [
        jobId, address(provider), root, anyValue, "", output, false,
      ]);
      const job = d.jobs.job(jobId);
      assert.equal(job.result, root);
      assert.equal(job.inlineOutput, true);
      assert.equal(await market.read.jobHash([jobId]), hashJob(job));
    });

    it("reverts when the inline output does not hash to the revealed root", async () => {
      const { market, provider, d } = await load();
      const output = bytesOf(300);
      const jobId = await d.committed({}, { inlineOutput: output });
      await d.waitForSeed(jobId);
      const other = bytesOf(300, 8);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId, { inlineOutput: other }), { account: provider.account }),
        market,
        "OutputRootMismatch",
        [inlineRoot(output), inlineRoot(other)],
      );
    });

    it("reverts for an inline output over 4096 bytes", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId, { inlineOutput: bytesOf(4097) }), { account: provider.account }),
        market,
        "OutputTooLarge",
        [4097n, 4096n],
      );
    });

    it("reverts for a zero output root", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId, { outputRoot: ZERO_HASH }), { account: provider.account }),
        market,
        "ZeroOutputRoot",
        [],
      );
    });

    it("reverts until the block after the seed block (commit block + seedDelay)", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.claimed();
      const { blockNumber: commitBlock } = await d.commit(jobId);
      const seedBlock = commitBlock + BigInt(MARKET_PARAMS.seedDelay);
      for (let pending = commitBlock + 1n; pending <= seedBlock; pending++) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
          market,
          "SeedNotReady",
          [jobId, seedBlock, pending],
        );
        await networkHelpers.mine();
      }
      const receipt = await d.reveal(jobId, { waitSeed: false });
      assert.equal(receipt.blockNumber, seedBlock + 1n);
    });

    it("reverts when the root or the salt differ from the commitment", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      for (const wrong of [{ salt: keccak256("0x01") }, { outputRoot: keccak256("0x02") }]) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.reveal(d.revealArgs(jobId, wrong), { account: provider.account }),
          market,
          "CommitmentMismatch",
          [jobId],
        );
      }
    });

    it("reverts for anyone but the committing provider", async () => {
      const { market, provider2, d } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider2.account }),
        market,
        "NotJobProvider",
        [jobId, address(provider2)],
      );
    });

    it("reverts for a job that is not committed", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.claimed();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Claimed],
      );
    });

    it("reveals at revealBy and reverts one second later", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const revealBy = BigInt(d.jobs.job(jobId).deadline);
      await d.at(revealBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
        market,
        "DeadlinePassed",
        [jobId, revealBy, revealBy + 1n],
      );
      await d.at(revealBy);
      await d.reveal(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Revealed);
    });
  });

  describe("finalize", () => {
    it("pays the provider the fee less the protocol fee and audit levy, and unlocks the collateral", async () => {
      const { market, staking, token, provider, keeper, d } = await load();
      const jobId = await d.revealed();
      assert.equal((await staking.read.account([provider.account.address])).locked, MODEL_COLLATERAL);
      const { payout, protocolFee, auditLevy } = feeSplit(FEE);
      assert.equal(payout, FEE - (FEE * 200n) / 10_000n - (FEE * 300n) / 10_000n);

      const receipt = await d.finalize(jobId, keeper);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.credits([provider.account.address]), payout);
      assert.equal(await market.read.credits([keeper.account.address]), 0n);
      assert.equal(await market.read.protocolFees(), protocolFee);
      assert.equal(await market.read.auditPool(), auditLevy);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
      const account = await staking.read.account([provider.account.address]);
      assert.equal(account.locked, 0n);
      assert.equal(account.stake, parseEther("1000"));
      assert.equal(await market.read.jobHash([jobId]), hashJob({ ...d.jobs.job(jobId), status: JobStatus.Finalized }));
    });

    it("rounds each share down and gives the provider the rest", async () => {
      const { market, provider, d } = await load();
      const fee = 12_345_678_901_234_567_891n;
      const { payout, protocolFee, auditLevy } = feeSplit(fee);
      assert.equal(payout + protocolFee + auditLevy, fee);
      const jobId = await d.revealed({ fee });
      const receipt = await d.finalize(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.protocolFees(), 246_913_578_024_691_357n);
      assert.equal(await market.read.auditPool(), 370_370_367_037_037_036n);
      assert.equal(await market.read.credits([provider.account.address]), fee - 246_913_578_024_691_357n - 370_370_367_037_037_036n);
    });

    it("reverts until the challenge window is over", async () => {
      const { market, keeper, d } = await load();
      const jobId = await d.revealed();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "DeadlineNotPassed",
        [jobId, end, end],
      );
    });

    it("reverts for a job that is not revealed", async () => {
      const { market, keeper, d } = await load();
      const jobId = await d.committed();
      await d.pastDeadline(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Committed],
      );
    });
  });

  describe("finalizeWithOutput and consumer callbacks", () => {
    const CALLBACK_GAS = 300_000;

    it("hands the inline output and its root to the consumer", async () => {
      const { market, consumer, keeper, provider, d } = await loadWithConsumer();
      const output = bytesOf(500);
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: CALLBACK_GAS })])), {
        inlineOutput: output,
      });
      await d.pastDeadline(jobId);
      const { transactionHash } = await d.jobs.send(
        market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), output], { account: keeper.account }),
      );
      await assertions.emitWithArgs(transactionHash, consumer, "ResultReceived", [jobId, inlineRoot(output), output]);
      await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), feeSplit(FEE).payout]);
      assert.equal(await consumer.read.calls(), 1n);
      assert.equal(await consumer.read.lastOutputHash(), keccak256(output));
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("hands the root and empty bytes to a consumer whose output was revealed by URI", async () => {
      const { consumer, d } = await loadWithConsumer();
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: CALLBACK_GAS })])));
      const { transactionHash } = await d.finalize(jobId);
      await assertions.emitWithArgs(transactionHash, consumer, "ResultReceived", [jobId, d.outputOf(jobId).outputRoot, "0x"]);
      assert.equal(await consumer.read.lastOutputLength(), 0n);
    });

    it("requires the inline output to finalize a consumer job revealed inline", async () => {
      const { market, consumer, keeper, d } = await loadWithConsumer();
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: CALLBACK_GAS })])), {
        inlineOutput: bytesOf(64),
      });
      await d.pastDeadline(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "InlineOutputRequired",
        [jobId],
      );
    });

    it("reverts when the output handed over is not the revealed one", async () => {
      const { market, consumer, keeper, d } = await loadWithConsumer();
      const output = bytesOf(64);
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: CALLBACK_GAS })])), {
        inlineOutput: output,
      });
      await d.pastDeadline(jobId);
      const other = bytesOf(64, 9);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), other], { account: keeper.account }),
        market,
        "OutputRootMismatch",
        [inlineRoot(output), inlineRoot(other)],
      );
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), bytesOf(4097)], { account: keeper.account }),
        market,
        "OutputTooLarge",
        [4097n, 4096n],
      );
    });

    it("reverts when the keeper sends too little gas for the callback", async () => {
      const { market, consumer, keeper, d } = await loadWithConsumer();
      const limit = BigInt(MARKET_PARAMS.callbackGasLimit);
      const required = limit + limit / 63n + 10_000n;
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: Number(limit) })])));
      await d.pastDeadline(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account, gas: 400_000n }),
        market,
        "InsufficientGasForCallback",
        [required, (available: bigint) => available < required],
      );
      assert.equal(await consumer.read.calls(), 0n);
    });

    it("finalizes a job without a callback whatever output is handed over", async () => {
      const { market, provider, keeper, d } = await load();
      const jobId = await d.revealed();
      await d.pastDeadline(jobId);
      const { transactionHash } = await d.jobs.send(
        market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), bytesOf(10)], { account: keeper.account }),
      );
      await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), feeSplit(FEE).payout]);
    });
  });

  describe("expire", () => {
    const stages = [
      { name: "Posted", from: JobStatus.Posted, reach: (d: ReturnType<typeof marketDriver>) => d.post() },
      { name: "Claimed", from: JobStatus.Claimed, reach: (d: ReturnType<typeof marketDriver>) => d.claimed() },
      { name: "Committed", from: JobStatus.Committed, reach: (d: ReturnType<typeof marketDriver>) => d.committed() },
    ];
    for (const { name, from, reach } of stages) {
      const penalty = from === JobStatus.Posted ? 0n : expiryPenalty(MODEL_COLLATERAL);
      it(`refunds the fee${penalty ? " and credits the poster the provider's penalty" : ""} when a ${name} job expires`, async () => {
        const { market, staking, token, dapp, provider, keeper, d } = await load();
        const jobId = await reach(d);
        await d.pastDeadline(jobId);
        const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));

        await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, from, FEE, penalty]);
        await assertions.emitWithArgs(transactionHash, market, "Credited", [address(dapp), FEE]);
        assert.equal(await market.read.credits([dapp.account.address]), FEE + penalty);
        assert.equal(await token.read.balanceOf([market.address]), FEE + penalty);
        const account = await staking.read.account([provider.account.address]);
        assert.equal(account.stake, parseEther("1000") - penalty);
        assert.equal(account.locked, 0n);
        if (penalty !== 0n) {
          assert.equal(penalty, parseEther("10"));
          await assertions.emitWithArgs(transactionHash, market, "Credited", [address(dapp), penalty]);
          await assertions.emitWithArgs(transactionHash, staking, "Slashed", [address(provider), penalty, penalty, market.address]);
        }
        assert.equal(d.jobs.job(jobId).status, JobStatus.Expired);
        assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
      });
    }

    it("reverts at the deadline itself", async () => {
      const { market, keeper, d } = await load();
      const jobId = await d.claimed();
      const deadline = BigInt(d.jobs.job(jobId).deadline);
      await d.at(deadline);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "DeadlineNotPassed",
        [jobId, deadline, deadline],
      );
    });

    it("reverts for a revealed or finalized job", async () => {
      const { market, keeper, d } = await load();
      const jobId = await d.revealed();
      await d.pastDeadline(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Revealed],
      );
      await d.finalize(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Finalized],
      );
    });
  });

  describe("withdraw", () => {
    it("pays out the caller's credits once, then reverts with NothingToWithdraw", async () => {
      const { market, token, dapp, keeper, d } = await load();
      const jobId = await d.post();
      await d.pastDeadline(jobId);
      await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      const before = await token.read.balanceOf([dapp.account.address]);
      assert.equal((await market.simulate.withdraw({ account: dapp.account.address })).result, FEE);

      const hash = await market.write.withdraw({ account: dapp.account });
      await assertions.emitWithArgs(hash, market, "Withdrawal", [address(dapp), FEE]);
      assert.equal(await token.read.balanceOf([dapp.account.address]), before + FEE);
      assert.equal(await token.read.balanceOf([market.address]), 0n);
      assert.equal(await market.read.credits([dapp.account.address]), 0n);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.withdraw({ account: dapp.account }),
        market,
        "NothingToWithdraw",
        [address(dapp)],
      );
    });
  });

  describe("verification hooks (a wallet in the Verification slot)", () => {
    it("refuse every caller but the verification contract", async () => {
      const { market, stranger, challenger, d } = await loadHooks();
      const jobId = await d.revealed();
      const job = d.jobs.job(jobId);
      const calls = [
        () => market.write.openDispute([jobId, job], { account: stranger.account }),
        () => market.write.settleDispute([jobId, job, true, challenger.account.address, "0x"], { account: stranger.account }),
        () => market.write.payAuditReward([stranger.account.address, 1n], { account: stranger.account }),
      ];
      for (const call of calls) {
        await assertions.revertWithCustomErrorWithArgs(call(), market, "NotVerification", [address(stranger)]);
      }
    });

    it("openDispute puts a revealed job under dispute, which finalize and expire then refuse", async () => {
      const { market, hook, keeper, d } = await loadHooks();
      const jobId = await d.revealed();
      const { transactionHash } = await d.jobs.send(market.write.openDispute([jobId, d.jobs.job(jobId)], { account: hook.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobDisputed", [jobId]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));

      await d.pastDeadline(jobId);
      for (const call of [
        () => market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        () => market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
      ]) {
        await assertions.revertWithCustomErrorWithArgs(call(), market, "WrongStatus", [jobId, JobStatus.Disputed]);
      }
    });

    it("openDispute reverts for a job not revealed or past its challenge window", async () => {
      const { market, hook, d } = await loadHooks();
      const committed = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.openDispute([committed, d.jobs.job(committed)], { account: hook.account }),
        market,
        "WrongStatus",
        [committed, JobStatus.Committed],
      );
      const jobId = await d.revealed();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.openDispute([jobId, d.jobs.job(jobId)], { account: hook.account }),
        market,
        "DeadlinePassed",
        [jobId, end, end + 1n],
      );
    });

    it("settleDispute upheld pays the provider as finalize does", async () => {
      const { market, staking, hook, provider, challenger, d } = await loadHooks();
      const jobId = await d.revealed();
      await d.jobs.send(market.write.openDispute([jobId, d.jobs.job(jobId)], { account: hook.account }));
      const args = [jobId, d.jobs.job(jobId), false, challenger.account.address, "0x"] as const;
      assert.equal((await market.simulate.settleDispute(args, { account: hook.account.address })).result, 0n);

      const { transactionHash } = await d.jobs.send(market.write.settleDispute(args, { account: hook.account }));
      const { payout, protocolFee, auditLevy } = feeSplit(FEE);
      await assertions.emitWithArgs(transactionHash, market, "DisputeSettled", [jobId, false, 0n]);
      await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.credits([provider.account.address]), payout);
      assert.equal(await market.read.protocolFees(), protocolFee);
      assert.equal(await market.read.auditPool(), auditLevy);
      assert.deepEqual(
        { ...(await staking.read.account([provider.account.address])) },
        { stake: parseEther("1000"), locked: 0n, unbonding: 0n, unbondingEnd: 0n, roles: ROLE_PROVIDER, inVerifierSet: false },
      );
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("settleDispute faulted refunds the poster and slashes the collateral to the recipient", async () => {
      const { market, staking, token, hook, dapp, provider, challenger, d } = await loadHooks();
      const jobId = await d.revealed();
      await d.jobs.send(market.write.openDispute([jobId, d.jobs.job(jobId)], { account: hook.account }));
      const args = [jobId, d.jobs.job(jobId), true, challenger.account.address, "0x"] as const;
      assert.equal((await market.simulate.settleDispute(args, { account: hook.account.address })).result, MODEL_COLLATERAL);
      const recipientBefore = await token.read.balanceOf([challenger.account.address]);

      const { transactionHash } = await d.jobs.send(market.write.settleDispute(args, { account: hook.account }));
      await assertions.emitWithArgs(transactionHash, market, "DisputeSettled", [jobId, true, MODEL_COLLATERAL]);
      await assertions.emitWithArgs(transactionHash, market, "Credited", [address(dapp), FEE]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [
        address(provider), MODEL_COLLATERAL, MODEL_COLLATERAL, address(challenger),
      ]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), recipientBefore + MODEL_COLLATERAL);
      assert.equal(await market.read.credits([dapp.account.address]), FEE);
      assert.equal(await market.read.credits([provider.account.address]), 0n);
      assert.equal(await market.read.protocolFees(), 0n);
      const account = await staking.read.account([provider.account.address]);
      assert.equal(account.stake, parseEther("900"));
      assert.equal(account.locked, 0n);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("settleDispute reverts for a job not under dispute", async () => {
      const { market, hook, challenger, d } = await loadHooks();
      const jobId = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.settleDispute([jobId, d.jobs.job(jobId), true, challenger.account.address, "0x"], { account: hook.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Revealed],
      );
    });

    it("payAuditReward credits from the audit pool and never more than it holds", async () => {
      const { market, hook, challenger: auditor, d } = await loadHooks();
      await d.finalize(await d.revealed());
      const pool = feeSplit(FEE).auditLevy;
      assert.equal(await market.read.auditPool(), pool);
      const reward = pool / 3n;

      const hash = await market.write.payAuditReward([auditor.account.address, reward], { account: hook.account });
      await assertions.emitWithArgs(hash, market, "AuditRewardPaid", [address(auditor), reward]);
      await assertions.emitWithArgs(hash, market, "Credited", [address(auditor), reward]);
      assert.equal(await market.read.credits([auditor.account.address]), reward);
      assert.equal(await market.read.auditPool(), pool - reward);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.payAuditReward([auditor.account.address, pool], { account: hook.account }),
        market,
        "AuditPoolExhausted",
        [pool, pool - reward],
      );
    });
  });

  describe("withdrawProtocolFees", () => {
    it("sends the accrued protocol fees to the given address and zeroes them", async () => {
      const { market, token, owner, stranger: treasury, d } = await load();
      await d.finalize(await d.revealed());
      const { protocolFee } = feeSplit(FEE);
      const { result } = await market.simulate.withdrawProtocolFees([treasury.account.address], { account: owner.account.address });
      assert.equal(result, protocolFee);

      const hash = await market.write.withdrawProtocolFees([treasury.account.address], { account: owner.account });
      await assertions.emitWithArgs(hash, market, "ProtocolFeesWithdrawn", [address(treasury), protocolFee]);
      assert.equal(await token.read.balanceOf([treasury.account.address]), protocolFee);
      assert.equal(await market.read.protocolFees(), 0n);
      assert.equal(await market.read.auditPool(), feeSplit(FEE).auditLevy);
    });

    it("reverts for a non-owner, a zero address, or nothing accrued", async () => {
      const { market, owner, stranger, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.withdrawProtocolFees([owner.account.address], { account: owner.account }),
        market,
        "NothingToWithdraw",
        [address(owner)],
      );
      await d.finalize(await d.revealed());
      await assertions.revertWithCustomErrorWithArgs(
        market.write.withdrawProtocolFees([stranger.account.address], { account: stranger.account }),
        market,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      await assertions.revertWithCustomErrorWithArgs(
        market.write.withdrawProtocolFees([ZERO_ADDRESS], { account: owner.account }),
        market,
        "ZeroAddress",
        [],
      );
    });
  });

  describe("setParams", () => {
    const DAY = 86_400;
    const lifetime = (p: MarketParams) => p.maxClaimDelay + p.commitTimeout + p.revealTimeout + p.challengeWindow + p.disputeDuration;
    const slack = Number(STAKING_PARAMS.unbondingPeriod) - lifetime(MARKET_PARAMS);
    const invalid: [string, Partial<MarketParams>][] = [
      ["maxClaimDelay", { maxClaimDelay: 0 }],
      ["maxClaimDelay", { maxClaimDelay: 30 * DAY + 1 }],
      ["commitTimeout", { commitTimeout: 0 }],
      ["commitTimeout", { commitTimeout: 7 * DAY + 1 }],
      ["revealTimeout", { revealTimeout: 0 }],
      ["revealTimeout", { revealTimeout: 7 * DAY + 1 }],
      ["challengeWindow", { challengeWindow: 0 }],
      ["challengeWindow", { challengeWindow: 7 * DAY + 1 }],
      ["disputeDuration", { disputeDuration: 0 }],
      ["disputeDuration", { disputeDuration: 30 * DAY + 1 }],
      ["callbackGasLimit", { callbackGasLimit: 2_000_001 }],
      ["protocolFeeBps+auditLevyBps", { protocolFeeBps: 2_500, auditLevyBps: 2_501 }],
      ["expiryPenaltyBps", { expiryPenaltyBps: 10_001 }],
      ["seedDelay", { seedDelay: 0 }],
      ["seedDelay", { seedDelay: 65 }],
      ["Staking.unbondingPeriod shorter than the job lifetime", { disputeDuration: MARKET_PARAMS.disputeDuration + slack + 1 }],
    ];

    it("reverts with InvalidParams naming each bad parameter", async () => {
      const { market, owner } = await load();
      for (const [reason, bad] of invalid) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.setParams([{ ...MARKET_PARAMS, ...bad }], { account: owner.account }),
          market,
          "InvalidParams",
          [reason],
        );
      }
    });

    it("accepts the boundary values, emits ParamsSet and reads them back", async () => {
      const { market, owner } = await load();
      const edge: MarketParams = {
        ...MARKET_PARAMS,
        disputeDuration: MARKET_PARAMS.disputeDuration + slack,
        callbackGasLimit: 2_000_000,
        protocolFeeBps: 2_500,
        auditLevyBps: 2_500,
        expiryPenaltyBps: 10_000,
        seedDelay: 64,
      };
      assert.equal(lifetime(edge), Number(STAKING_PARAMS.unbondingPeriod));
      const hash = await market.write.setParams([edge], { account: owner.account });
      await assertions.emitWithArgs(hash, market, "ParamsSet", [edge]);
      assert.deepEqual({ ...(await market.read.params()) }, edge);
      assert.equal(await market.read.requiredUnbondingPeriod(), STAKING_PARAMS.unbondingPeriod);
    });

    it("applies new parameters to the next job", async () => {
      const { market, owner, provider, d } = await load();
      await market.write.setParams([{ ...MARKET_PARAMS, commitTimeout: 100 }], { account: owner.account });
      const jobId = await d.post();
      const t = (await d.now()) + 5n;
      await d.at(t);
      const { transactionHash } = await d.claim(jobId);
      await assertions.emitWithArgs(transactionHash, market, "JobClaimed", [jobId, address(provider), t + 100n]);
    });

    it("reverts for anyone but the owner", async () => {
      const { market, stranger } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.setParams([MARKET_PARAMS], { account: stranger.account }),
        market,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
    });
  });

  describe("setVerification", () => {
    it("sets the verification contract once, by the owner, never to zero", async () => {
      const { token, staking, registry, owner, stranger, verifier: hook } = await load();
      const market = await viem.deployContract("JobMarket", [
        token.address,
        staking.address,
        registry.address,
        ZERO_ADDRESS,
        owner.account.address,
        MARKET_PARAMS,
      ]);
      assert.equal(await market.read.verification(), ZERO_ADDRESS);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.setVerification([hook.account.address], { account: stranger.account }),
        market,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      await assertions.revertWithCustomErrorWithArgs(market.write.setVerification([ZERO_ADDRESS]), market, "ZeroAddress", []);

      const hash = await market.write.setVerification([hook.account.address]);
      await assertions.emitWithArgs(hash, market, "VerificationSet", [address(hook)]);
      assert.equal(await market.read.verification(), address(hook));
      await assertions.revertWithCustomErrorWithArgs(
        market.write.setVerification([stranger.account.address]),
        market,
        "VerificationAlreadySet",
        [],
      );
    });

    it("is already set, to the Verification contract, in the Ignition deployment", async () => {
      const { market, verification, owner } = await load();
      assert.equal(await market.read.verification(), verification.address);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.setVerification([owner.account.address], { account: owner.account }),
        market,
        "VerificationAlreadySet",
        [],
      );
    });
  });

  describe("deployment", () => {
    it("reverts on a zero token, staking or registry address and on invalid parameters", async () => {
      const { token, staking, registry, market, owner } = await load();
      const { abi, bytecode } = await artifacts.readArtifact("JobMarket");
      const deploy = (args: readonly [Address, Address, Address, Address, Address, MarketParams]) =>
        owner.deployContract({ abi, bytecode: bytecode as Hex, args, account: owner.account });
      const o = owner.account.address;
      for (const args of [
        [ZERO_ADDRESS, staking.address, registry.address, ZERO_ADDRESS, o, MARKET_PARAMS],
        [token.address, ZERO_ADDRESS, registry.address, ZERO_ADDRESS, o, MARKET_PARAMS],
        [token.address, staking.address, ZERO_ADDRESS, ZERO_ADDRESS, o, MARKET_PARAMS],
      ] as const) {
        await assertions.revertWithCustomErrorWithArgs(deploy(args), market, "ZeroAddress", []);
      }
      await assertions.revertWithCustomErrorWithArgs(
        deploy([token.address, staking.address, registry.address, ZERO_ADDRESS, o, { ...MARKET_PARAMS, seedDelay: 0 }]),
        market,
        "InvalidParams",
        ["seedDelay"],
      );
      await assertions.revertWithCustomErrorWithArgs(
        deploy([token.address, staking.address, registry.address, ZERO_ADDRESS, o, { ...MARKET_PARAMS, samplingPpm: 1_000_001 }]),
        market,
        "InvalidParams",
        ["samplingPpm"],
      );
    });
  });

  describe("views", () => {
    it("hashJob equals the off-chain hashJob, and jobHash is zero for an unknown id", async () => {
      const { market, dapp, provider } = await load();
      const job: Job = {
        poster: address(dapp),
        modelId: 0xfedcba98,
        fee: 2n ** 96n - 1n,
        collateral: 123_456_789n,
        callbackGasLimit: 77_777,
        status: JobStatus.Revealed,
        deadline: 0xfffffff0,
        provider: address(provider),
        commitBlock: 2n ** 64n - 2n,
        result: keccak256(toHex("root")),
        inlineOutput: true,
        sampled: true,
      };
      assert.equal(await market.read.hashJob([job]), hashJob(job));
      assert.notEqual(await market.read.hashJob([{ ...job, inlineOutput: false }]), hashJob(job));
      assert.equal(await market.read.jobHash([1n]), ZERO_HASH);
    });

    it("reads back the deployment's parameters, lifetime and wiring", async () => {
      const { market, token, staking, registry } = await load();
      assert.deepEqual({ ...(await market.read.params()) }, MARKET_PARAMS);
      assert.equal(await market.read.requiredUnbondingPeriod(), 4_860n);
      assert.equal(await market.read.jobCount(), 0n);
      assert.equal(await market.read.token(), token.address);
      assert.equal(await market.read.staking(), staking.address);
      assert.equal(await market.read.registry(), registry.address);
      assert.equal(await market.read.MAX_INLINE_BYTES(), 4096n);
    });
  });

  it("asserts every custom error of IJobMarket somewhere in this file", async () => {
    const { abi } = await artifacts.readArtifact("IJobMarket");
    const source = readFileSync(fileURLToPath(import.meta.url), "utf8");
    const missing = abi.filter((item) => item.type === "error" && !source.includes(`"${item.name}"`)).map((item) => item.name);
    assert.deepEqual(missing, []);
  });
});
