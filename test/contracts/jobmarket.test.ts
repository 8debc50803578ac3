/**
 * JobMarket behaviour: every external function, every custom error it can revert with, exact amounts, every
 * deadline at its last second and one second past it (docs/PROTOCOL.md section 4).
 * The Ignition deployment (`deploySystem`) for the job lifecycle, terms versions and withheld reveals
 * (with the real Verification contract); a second market with a wallet in the Verification slot
 * (`hooksSystem`) for the dispute hooks.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { anyValue } from "@nomicfoundation/hardhat-viem-assertions/predicates";
import { artifacts, network } from "hardhat";
import { describe, it } from "mocha";
import {
  encodeFunctionData,
  getAddress,
  getContract,
  keccak256,
  parseAbi,
  parseEther,
  parseEventLogs,
  parseSignature,
  sha256,
  toHex,
  type Address,
  type Hex,
} from "viem";

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
  stakeVerifiers,
  type Connection,
  type System,
} from "../helpers/fixture.js";
import {
  deployMarketOn,
  expiryPenalty,
  feeOnTransferSystem,
  feeSplit,
  hooksSystem,
  inlineRoot,
  MARKET_PARAMS,
  marketDriver,
  STAKING_PARAMS,
  stakeOn,
  ZERO_ADDRESS,
  ZERO_HASH,
  type MarketDriver,
  type MarketParams,
  type Wallet,
} from "../helpers/market.js";
import { isSampled, VERIFICATION_PARAMS, verificationDriver } from "../helpers/verification.js";

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

/**
 * Audit pay the local levy (7% of each fee) covers even with every job sampled: ProtocolTerms refuses a
 * version whose samplingPpm x (auditRewardBps + recheckPpm x committeeSize x voterRewardBps) exceeds the
 * levy, and the local audit reward (100% of the fee) only fits the local 5% sampling.
 */
const CHEAP_AUDITS = { auditRewardBps: 500, voterRewardBps: 500 };

/** The local terms with CHEAP_AUDITS, sampling off: tests that set versions sampling more. */
async function cheapAudits(conn: Connection) {
  const sys = await deploySystem(conn, { verificationParams: CHEAP_AUDITS });
  await setUpMarket(sys);
  return sys;
}

async function loadCheap() {
  const sys = await networkHelpers.loadFixture(cheapAudits);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

/** Every job sampled (samplingPpm 1e6), no verifier staked: a sampled reveal finds no auditor and goes on. */
async function sampledEverything(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 1_000_000 }, verificationParams: CHEAP_AUDITS });
  await setUpMarket(sys);
  return sys;
}

async function loadSampled() {
  const sys = await networkHelpers.loadFixture(sampledEverything);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

/** Every job sampled, with three verifiers staked: a sampled job gets an auditor. */
async function sampledWithVerifiers(conn: Connection) {
  const sys = await sampledEverything(conn);
  const { wallets } = await stakeVerifiers(conn, sys, 3);
  return { ...sys, wallets };
}

async function loadAudited() {
  const sys = await networkHelpers.loadFixture(sampledWithVerifiers);
  const d = marketDriver({ connection, ...sys });
  return { ...sys, d, v: verificationDriver({ connection, sys, d, wallets: sys.wallets }) };
}

/** REVEAL_TIMEOUT outlasts the seed's 256-block reach (one second a block): the reach decides, not the clock. */
const REVEAL_TIMEOUT = 1_000;

/**
 * A reveal window longer than the seed's reach, and sampling at 1 ppm (so a job is almost never sampled
 * by its seed, and the tests check that it is not): the cases where only the seed's reach decides.
 */
async function slowReveal(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 1, revealTimeout: REVEAL_TIMEOUT } });
  await setUpMarket(sys);
  return sys;
}

async function loadSlowReveal() {
  const sys = await networkHelpers.loadFixture(slowReveal);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

/** blockhash's reach: a reveal must come within this many blocks of its seed block. */
const BLOCKHASH_REACH = 256n;

/** An IRandomness source whose seeds a test sets by hand (zero until set: randomness not delivered yet). */
const MANUAL_RANDOMNESS = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;
contract ManualRandomness {
    mapping(uint256 => bytes32) public seedOf;
    function set(uint256 blockNumber, bytes32 seed) external { seedOf[blockNumber] = seed; }
}
`;
const manualRandomnessAbi = parseAbi([
  "function seedOf(uint256) view returns (bytes32)",
  "function set(uint256 blockNumber, bytes32 seed)",
]);

/** Deploys ManualRandomness, compiled here with the project's solc (a test double, kept out of contracts/). */
async function deployManualRandomness(conn: Connection) {
  const solc = createRequire(import.meta.url)("solc");
  const input = {
    language: "Solidity",
    sources: { "ManualRandomness.sol": { content: MANUAL_RANDOMNESS } },
    settings: { outputSelection: { "*": { ManualRandomness: ["evm.bytecode.object"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const bytecode = `0x${output.contracts["ManualRandomness.sol"].ManualRandomness.evm.bytecode.object}` as Hex;
  const [deployer] = await conn.viem.getWalletClients();
  const publicClient = await conn.viem.getPublicClient();
  const hash = await deployer!.deployContract({ abi: manualRandomnessAbi, bytecode, account: deployer!.account });
  const { contractAddress } = await publicClient.waitForTransactionReceipt({ hash });
  return getContract({ address: contractAddress!, abi: manualRandomnessAbi, client: { public: publicClient, wallet: deployer! } });
}

/**
 * The market with ManualRandomness as its seed source and every job sampled (a wallet as Verification: see
 * `deployMarketOn`), a funded dApp and a staked provider.
 */
async function manualSeeds(conn: Connection) {
  const randomness = await deployManualRandomness(conn);
  const token = await conn.viem.deployContract("DinferTestToken");
  const sys = {
    token,
    randomness,
    ...(await deployMarketOn(conn, token.address, {
      marketParams: { ...MARKET_PARAMS, samplingPpm: 1_000_000 },
      verificationParams: CHEAP_AUDITS,
      randomness: randomness.address,
    })),
  };
  await token.write.mint([sys.dapp.account.address, parseEther("1000")]);
  await token.write.approve([sys.market.address, parseEther("1000")], { account: sys.dapp.account });
  await stakeOn(sys, sys.provider, parseEther("1000"));
  return sys;
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
        1n, 1n, address(dapp), request.inputURI, "0x", FEE, t + 600n, 0, false, MODEL_COLLATERAL, request.inputHash, 1,
      ]);
      assert.equal(await token.read.balanceOf([dapp.account.address]), dappBefore - FEE);
      assert.equal(await token.read.balanceOf([market.address]), FEE);
      assert.equal(await market.read.jobCount(), 1n);
      const expected: Job = {
        poster: address(dapp),
        modelId: 1,
        terms: 1,
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

    it("hashes an inline input itself (SHA-256, the blob id) and logs its bytes", async () => {
      const { market, dapp, d } = await load();
      const input = bytesOf(100);
      const { transactionHash } = await d.jobs.send(
        market.write.postJob([await d.request({ inlineInput: input, inputHash: ZERO_HASH, inputURI: "" })], { account: dapp.account }),
      );
      await assertions.emitWithArgs(transactionHash, market, "JobPosted", [
        1n, 1n, address(dapp), "", input, FEE, anyValue, 0, false, MODEL_COLLATERAL, sha256(input), 1,
      ]);
      assert.equal(d.jobs.records.get(1n)?.inputHash, sha256(input));
    });

    it("records a poster's demand for an inline output in the event and the job state", async () => {
      const { market, dapp, d } = await load();
      const request = await d.request({ inlineOutput: true });
      const { transactionHash } = await d.jobs.send(market.write.postJob([request], { account: dapp.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobPosted", [
        1n, 1n, address(dapp), request.inputURI, "0x", FEE, request.claimBy, 0, true, MODEL_COLLATERAL, request.inputHash, 1,
      ]);
      assert.equal(d.jobs.job(1n).inlineOutput, true);
      assert.equal(await market.read.jobHash([1n]), hashJob(d.jobs.job(1n)));
    });

    it("accepts an inline input of exactly 4096 bytes given with its own hash", async () => {
      const { d } = await load();
      const input = bytesOf(4096);
      const jobId = await d.post({ inlineInput: input, inputHash: sha256(input), inputURI: "" });
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
        [wrong, sha256(input)],
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

    it("reverts with JobMismatch when any one of the job's thirteen fields differs from the stored state", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      const job = d.jobs.job(jobId);
      const forgeries: Partial<Job>[] = [
        { poster: address(provider) },
        { modelId: 2 },
        { terms: 2 },
        { fee: 1n },
        { collateral: 1n },
        { callbackGasLimit: 1 },
        { status: JobStatus.Claimed },
        { deadline: job.deadline + 1000 },
        { provider: address(provider) },
        { commitBlock: 1n },
        { result: keccak256("0x01") },
        { inlineOutput: true },
        { sampled: true },
      ];
      assert.deepEqual(forgeries.map((f) => Object.keys(f)[0]), Object.keys(job), "one forgery per field, in order");
      for (const forged of forgeries) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.claim([jobId, { ...job, ...forged }], { account: provider.account }),
          market,
          "JobMismatch",
          [jobId],
        );
      }
    });

    it("reverts with JobMismatch for the stored state encoded with dirty bits (only the canonical encoding matches)", async () => {
      const { market, provider, d } = await load();
      const jobId = await d.post();
      const data = encodeFunctionData({ abi: market.abi, functionName: "claim", args: [jobId, d.jobs.job(jobId)] });
      // Selector, jobId, then the job's words: word 0 is the poster (an address), word 11 inlineOutput (a bool).
      const word = (i: number) => 2 + 8 + 64 * (1 + i);
      const dirtyPoster = `${data.slice(0, word(0))}ff${data.slice(word(0) + 2)}` as Hex;
      const dirtyBool = `${data.slice(0, word(11) + 62)}02${data.slice(word(11) + 64)}` as Hex;
      for (const dirty of [dirtyPoster, dirtyBool]) {
        assert.notEqual(dirty, data);
        await assertions.revertWithCustomErrorWithArgs(
          provider.sendTransaction({ account: provider.account, to: market.address, data: dirty }),
          market,
          "JobMismatch",
          [jobId],
        );
      }
      await d.claim(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Claimed);
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
    it("marks a job sampled at reveal when keccak256(seed, jobId) % 1e6 < samplingPpm, in the event and the state", async () => {
      const { market, provider, publicClient, d } = await loadSampled();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1); // views run at the latest block: the seed block must be behind it
      const commitBlock = d.jobs.job(jobId).commitBlock;
      const [seed, sampled] = await market.read.samplingOf([jobId, commitBlock, 1n]);
      const seedBlock = await publicClient.getBlock({ blockNumber: commitBlock + BigInt(MARKET_PARAMS.seedDelay) });
      assert.equal(seed, seedBlock.hash, "the default seed is the seed block's hash");
      assert.equal(sampled, true);
      assert.equal(isSampled(seed, jobId, 1_000_000), true);
      const receipt = await d.reveal(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, market, "ResultRevealed", [
        jobId, address(provider), anyValue, anyValue, anyValue, "0x", true,
      ]);
      assert.equal(d.jobs.job(jobId).sampled, true);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("samplingOf has no seed before the seed block, and counts a seed out of blockhash reach as sampled", async () => {
      const { market, d } = await loadSampled();
      const jobId = await d.committed();
      const commitBlock = d.jobs.job(jobId).commitBlock;
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock, 1n]), [ZERO_HASH, false]);
      await networkHelpers.mine(300);
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock, 1n]), [ZERO_HASH, true]);
    });

    it("samples nothing with samplingPpm 0, even once the seed is out of reach", async () => {
      const { market, d } = await load();
      const jobId = await d.committed();
      const commitBlock = d.jobs.job(jobId).commitBlock;
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const [seed, sampled] = await market.read.samplingOf([jobId, commitBlock, 1n]);
      assert.notEqual(seed, ZERO_HASH);
      assert.equal(sampled, false);
      await networkHelpers.mine(300);
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock, 1n]), [ZERO_HASH, false]);
    });

    it("samples about samplingPpm of the jobs", async () => {
      // 200 job ids against one seed: the count is binomial(200, 0.25), inside [25, 75] with
      // probability > 1 - 1e-6; a modulus or comparison bug (0 or 200) lands far outside.
      const { market, terms, owner, d } = await loadCheap();
      await terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: 250_000 }], { account: owner.account });
      const jobId = await d.committed();
      assert.equal(d.jobs.job(jobId).terms, 2);
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const commitBlock = d.jobs.job(jobId).commitBlock;
      let sampled = 0;
      for (let id = 1n; id <= 200n; id++) if ((await market.read.samplingOf([id, commitBlock, 2n]))[1]) sampled++;
      assert.ok(sampled >= 25 && sampled <= 75, `sampled ${sampled} of 200 at 25%`);
    });

    it("samplingOf reads the rate and seed delay of the version it is given", async () => {
      const { market, terms, owner, publicClient, d } = await loadCheap();
      await terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: 1_000_000, seedDelay: 5 }], { account: owner.account });
      const jobId = await d.committed();
      const commitBlock = d.jobs.job(jobId).commitBlock;
      await networkHelpers.mine(3); // past version 1's seed block (commit + 2), not version 2's (commit + 5)
      const v1Seed = (await publicClient.getBlock({ blockNumber: commitBlock + 2n })).hash;
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock, 1n]), [v1Seed, false]);
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock, 2n]), [ZERO_HASH, false]);
      await networkHelpers.mine(3);
      const v2Seed = (await publicClient.getBlock({ blockNumber: commitBlock + 5n })).hash;
      assert.deepEqual(await market.read.samplingOf([jobId, commitBlock, 2n]), [v2Seed, true]);
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

    it("recomputes the root of an inline output as sha256(uint32(0) || output)", async () => {
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

    it("reverts with InlineOutputRequired when the poster asked for an inline output and the reveal names a URI only", async () => {
      const { market, provider, d } = await load();
      const output = bytesOf(64);
      const jobId = await d.committed({ inlineOutput: true }, { inlineOutput: output });
      await d.waitForSeed(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId, { outputURI: "ipfs://output" }), { account: provider.account }),
        market,
        "InlineOutputRequired",
        [jobId],
      );
      await d.reveal(jobId, { inlineOutput: output });
      assert.equal(d.jobs.job(jobId).status, JobStatus.Revealed);
      assert.equal(d.jobs.job(jobId).inlineOutput, true);
      assert.equal(d.jobs.records.get(jobId)?.inlineOutput, output);
    });

    it("reveals in the last block its seed is in reach (seed block + 256), and reverts with SeedOutOfReach one block later", async () => {
      // Two jobs committed in consecutive blocks: the block that is one past job A's reach is the last
      // one of job B's. A reverted call mines nothing, so both calls below run at the same block number.
      const { market, provider, d } = await loadSlowReveal();
      const a = await d.claimed();
      const b = await d.claimed();
      await d.commit(a);
      await d.commit(b);
      const seedA = await d.seedBlockOf(a);
      const seedB = await d.seedBlockOf(b);
      assert.equal(seedB, seedA + 1n);
      await networkHelpers.mine(seedA + BLOCKHASH_REACH - (await d.latestBlock()));
      assert.ok((await d.now()) < BigInt(d.jobs.job(b).deadline), "still before revealBy");
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(a), { account: provider.account }),
        market,
        "SeedOutOfReach",
        [a, seedA, seedA + BLOCKHASH_REACH],
      );
      const receipt = await d.reveal(b, { waitSeed: false });
      assert.equal(receipt.blockNumber, seedB + BLOCKHASH_REACH);
      assert.equal(d.jobs.job(b).status, JobStatus.Revealed);
      assert.equal(d.jobs.job(a).status, JobStatus.Committed);
    });
  });

  describe("finalize", () => {
    it("pays the provider the fee less the protocol fee and audit levy, and unlocks the collateral", async () => {
      const { market, staking, token, provider, keeper, d } = await load();
      const jobId = await d.revealed();
      assert.equal((await staking.read.account([provider.account.address])).locked, MODEL_COLLATERAL);
      const { payout, protocolFee, auditLevy } = feeSplit(FEE);
      const { protocolFeeBps, auditLevyBps } = MARKET_PARAMS;
      assert.equal(payout, FEE - (FEE * BigInt(protocolFeeBps)) / 10_000n - (FEE * BigInt(auditLevyBps)) / 10_000n);
      assert.ok(protocolFee > 0n && auditLevy > 0n, "the local terms take both shares");

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
      // Each share floor(fee x bps / 10000), written out: neither share is a whole number of wei here.
      const protocolFee = (fee * BigInt(MARKET_PARAMS.protocolFeeBps)) / 10_000n;
      const auditLevy = (fee * BigInt(MARKET_PARAMS.auditLevyBps)) / 10_000n;
      assert.notEqual((fee * BigInt(MARKET_PARAMS.protocolFeeBps)) % 10_000n, 0n);
      assert.notEqual((fee * BigInt(MARKET_PARAMS.auditLevyBps)) % 10_000n, 0n);
      const payout = fee - protocolFee - auditLevy;
      const jobId = await d.revealed({ fee });
      const receipt = await d.finalize(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.protocolFees(), protocolFee);
      assert.equal(await market.read.auditPool(), auditLevy);
      assert.equal(await market.read.credits([provider.account.address]), payout);
    });

    it("reverts at the challenge window's last second and finalizes one second later", async () => {
      const { market, keeper, publicClient, d } = await load();
      const jobId = await d.revealed();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "DeadlineNotPassed",
        [jobId, end, end],
      );
      const receipt = await d.finalize(jobId);
      assert.equal((await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp, end + 1n);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
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
      { name: "Posted", from: JobStatus.Posted, reach: (d: MarketDriver) => d.post() },
      { name: "Claimed", from: JobStatus.Claimed, reach: (d: MarketDriver) => d.claimed() },
      { name: "Committed", from: JobStatus.Committed, reach: (d: MarketDriver) => d.committed() },
    ];
    for (const { name, from, reach } of stages) {
      const penalty = from === JobStatus.Posted ? 0n : expiryPenalty(MODEL_COLLATERAL);
      it(`refunds the fee${penalty ? " and credits the poster the provider's penalty" : ""} when a ${name} job expires`, async () => {
        const { market, staking, token, dapp, provider, keeper, d } = await load();
        const jobId = await reach(d);
        await d.pastDeadline(jobId);
        const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));

        await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, from, FEE, penalty, false]);
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

      it(`reverts at a ${name} job's deadline and expires it one second later`, async () => {
        const { market, keeper, d } = await load();
        const jobId = await reach(d);
        const deadline = BigInt(d.jobs.job(jobId).deadline);
        await d.at(deadline);
        await assertions.revertWithCustomErrorWithArgs(
          market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
          market,
          "DeadlineNotPassed",
          [jobId, deadline, deadline],
        );
        await d.at(deadline + 1n);
        await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
        assert.equal(d.jobs.job(jobId).status, JobStatus.Expired);
      });
    }

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

  describe("expire of a committed job (a withheld reveal)", () => {
    /** Expires a job as the keeper from the next block on; returns the receipt. */
    const expire = (sys: { market: System["market"]; keeper: Wallet; d: MarketDriver }, jobId: bigint) =>
      sys.d.jobs.send(sys.market.write.expire([jobId, sys.d.jobs.job(jobId)], { account: sys.keeper.account }));

    it("costs only the expiry penalty when the job's seed is in reach and does not sample it (JobExpired.sampled false)", async () => {
      const sys = await loadSlowReveal();
      const { market, staking, dapp, provider, d } = sys;
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const [seed, sampled] = await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock, 1n]);
      assert.notEqual(seed, ZERO_HASH);
      assert.equal(sampled, false, "the seed does not sample this job at 1 ppm");
      await d.pastDeadline(jobId);
      const { transactionHash } = await expire(sys, jobId);
      const penalty = expiryPenalty(MODEL_COLLATERAL);
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, penalty, false]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [address(provider), penalty, penalty, market.address]);
      assert.equal(await market.read.credits([dapp.account.address]), FEE + penalty);
      assert.equal(await market.read.auditPool(), 0n);
      assert.deepEqual(
        [(await staking.read.account([provider.account.address])).stake, (await staking.read.account([provider.account.address])).locked],
        [parseEther("1000") - penalty, 0n],
      );
    });

    it("slashes the whole collateral of a sampled job: the expiry penalty's share to the poster, the rest to the audit pool", async () => {
      const sys = await loadSampled();
      const { market, staking, token, dapp, provider, d } = sys;
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await d.pastDeadline(jobId);
      const { transactionHash } = await expire(sys, jobId);
      const toPoster = expiryPenalty(MODEL_COLLATERAL);
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, MODEL_COLLATERAL, true]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [address(provider), MODEL_COLLATERAL, MODEL_COLLATERAL, market.address]);
      await assertions.emitWithArgs(transactionHash, market, "Credited", [address(dapp), toPoster]);
      assert.equal(await market.read.credits([dapp.account.address]), FEE + toPoster);
      assert.equal(await market.read.auditPool(), MODEL_COLLATERAL - toPoster);
      assert.equal(await token.read.balanceOf([market.address]), FEE + MODEL_COLLATERAL, "the slashed collateral is in the market");
      const account = await staking.read.account([provider.account.address]);
      assert.deepEqual([account.stake, account.locked], [parseEther("1000") - MODEL_COLLATERAL, 0n]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Expired);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("pays the auditor that committed blind the finder's share of a withheld sampled reveal", async () => {
      const sys = await loadAudited();
      const { market, dapp, v, d } = sys;
      const jobId = await d.committed();
      await v.commitAudit(jobId);
      const auditor = await v.auditor(jobId);
      await d.pastDeadline(jobId);
      const { transactionHash } = await expire(sys, jobId);
      const toPoster = expiryPenalty(MODEL_COLLATERAL);
      const toAuditor = (MODEL_COLLATERAL * BigInt(VERIFICATION_PARAMS.challengerRewardBps)) / 10_000n;
      assert.equal(toAuditor, parseEther("40"));
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, MODEL_COLLATERAL, true]);
      await assertions.emitWithArgs(transactionHash, market, "Credited", [address(auditor), toAuditor]);
      assert.equal(await market.read.credits([auditor.account.address]), toAuditor);
      assert.equal(await market.read.credits([dapp.account.address]), FEE + toPoster);
      assert.equal(await market.read.auditPool(), MODEL_COLLATERAL - toPoster - toAuditor);
    });

    it("caps the auditor's share at what the poster's share leaves when the two add up to more than the collateral", async () => {
      const sys = await loadAudited();
      const { market, terms, owner, dapp, v, d } = sys;
      await terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: 1_000_000, expiryPenaltyBps: 8_000 }], { account: owner.account });
      const jobId = await d.committed();
      assert.equal(d.jobs.job(jobId).terms, 2);
      await v.commitAudit(jobId);
      const auditor = await v.auditor(jobId);
      await d.pastDeadline(jobId);
      await expire(sys, jobId);
      // 80% to the poster first, then the auditor's 40% capped at the 20% left; nothing to the pool.
      assert.equal(await market.read.credits([dapp.account.address]), FEE + parseEther("80"));
      assert.equal(await market.read.credits([auditor.account.address]), parseEther("20"));
      assert.equal(await market.read.auditPool(), 0n);
    });

    it("counts a seed out of reach as sampled, and lets the job expire before revealBy as soon as it is out of reach", async () => {
      const sys = await loadSlowReveal();
      const { market, keeper, dapp, d } = sys;
      const jobId = await d.committed();
      const seedBlock = await d.seedBlockOf(jobId);
      await networkHelpers.mine(seedBlock + BLOCKHASH_REACH - 1n - (await d.latestBlock()));
      assert.equal((await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock, 1n]))[1], false, "in reach, its seed does not sample it");
      const revealBy = BigInt(d.jobs.job(jobId).deadline);
      // The next block is the seed's last in reach: the reveal is still possible, so expiry waits for revealBy.
      await assertions.revertWithCustomErrorWithArgs(
        market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "DeadlineNotPassed",
        [jobId, revealBy, anyValue],
      );
      await networkHelpers.mine(1);
      const { transactionHash, blockNumber } = await expire(sys, jobId);
      assert.equal(blockNumber, seedBlock + BLOCKHASH_REACH + 1n);
      assert.ok((await d.now()) < revealBy, "before revealBy");
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, MODEL_COLLATERAL, true]);
      assert.equal(await market.read.credits([dapp.account.address]), FEE + expiryPenalty(MODEL_COLLATERAL));
      assert.equal(await market.read.auditPool(), MODEL_COLLATERAL - expiryPenalty(MODEL_COLLATERAL));
    });

    it("counts a job as not sampled when it expires before its seed block is past (nobody could know)", async () => {
      const sys = await loadSampled();
      const { market, dapp, d } = sys;
      const jobId = await d.committed();
      const seedBlock = await d.seedBlockOf(jobId);
      await networkHelpers.mine(seedBlock - 1n - (await d.latestBlock()));
      await d.pastDeadline(jobId);
      const { transactionHash, blockNumber } = await expire(sys, jobId);
      assert.equal(blockNumber, seedBlock, "expired in the seed block itself");
      const penalty = expiryPenalty(MODEL_COLLATERAL);
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, penalty, false]);
      assert.equal(await market.read.credits([dapp.account.address]), FEE + penalty);
      assert.equal(await market.read.auditPool(), 0n);
    });

    it("counts the same job as sampled from the block after its seed block (samplingPpm 1e6)", async () => {
      const sys = await loadSampled();
      const { market, d } = sys;
      const jobId = await d.committed();
      const seedBlock = await d.seedBlockOf(jobId);
      await networkHelpers.mine(seedBlock - (await d.latestBlock()));
      await d.pastDeadline(jobId);
      const { transactionHash, blockNumber } = await expire(sys, jobId);
      assert.equal(blockNumber, seedBlock + 1n);
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, MODEL_COLLATERAL, true]);
    });

    it("counts a job as not sampled while its randomness source has not delivered the seed (the reveal is refused meanwhile)", async () => {
      const sys = await networkHelpers.loadFixture(manualSeeds);
      const { market, randomness, staking, provider, keeper, dapp } = sys;
      const d = marketDriver({ connection, ...sys });
      const jobId = await d.committed();
      const seedBlock = await d.seedBlockOf(jobId);
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
        market,
        "SeedNotReady",
        [jobId, seedBlock, anyValue],
      );
      assert.deepEqual(await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock, 1n]), [ZERO_HASH, false]);
      // Once delivered, the same seed samples it (samplingPpm 1e6): the source's delay decided the expiry.
      await d.pastDeadline(jobId);
      const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      const penalty = expiryPenalty(MODEL_COLLATERAL);
      await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, penalty, false]);
      assert.equal(await market.read.credits([dapp.account.address]), FEE + penalty);
      assert.equal((await staking.read.account([provider.account.address])).stake, parseEther("1000") - penalty);
      await randomness.write.set([seedBlock, keccak256(toHex("late randomness"))]);
      assert.deepEqual(await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock, 1n]), [keccak256(toHex("late randomness")), true]);
    });

    it("never makes withholding a sampled reveal cheaper than a fault: both cost the whole collateral", async () => {
      const sys = await loadSampled();
      const { staking, provider, d } = sys;
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await d.pastDeadline(jobId);
      const before = (await staking.read.account([provider.account.address])).stake;
      await expire(sys, jobId);
      const lost = before - (await staking.read.account([provider.account.address])).stake;
      // A faulted dispute slashes `job.collateral` (settleDispute); withholding now costs the same.
      assert.equal(lost, MODEL_COLLATERAL, `withheld: lost ${lost}, a fault costs ${MODEL_COLLATERAL}`);
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

  describe("fundAuditPool", () => {
    it("pulls the amount from anyone into the audit pool and emits AuditPoolFunded", async () => {
      const { market, token, stranger, d } = await load();
      await d.finalize(await d.revealed());
      const levy = feeSplit(FEE).auditLevy;
      const amount = parseEther("25");
      await token.write.mint([stranger.account.address, amount]);
      await token.write.approve([market.address, amount], { account: stranger.account });
      const balance = await token.read.balanceOf([market.address]);
      const hash = await market.write.fundAuditPool([amount], { account: stranger.account });
      await assertions.emitWithArgs(hash, market, "AuditPoolFunded", [address(stranger), amount]);
      assert.equal(await market.read.auditPool(), levy + amount);
      assert.equal(await token.read.balanceOf([market.address]), balance + amount);
      assert.equal(await token.read.balanceOf([stranger.account.address]), 0n);
      assert.equal(await market.read.credits([stranger.account.address]), 0n, "a gift, not a credit");
    });

    it("reverts with ZeroAmount for nothing, and with the token's error without an allowance", async () => {
      const { market, token, stranger } = await load();
      await assertions.revertWithCustomErrorWithArgs(market.write.fundAuditPool([0n], { account: stranger.account }), market, "ZeroAmount", []);
      await token.write.mint([stranger.account.address, 1n]);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.fundAuditPool([1n], { account: stranger.account }),
        token,
        "ERC20InsufficientAllowance",
        [market.address, 0n, 1n],
      );
      assert.equal(await market.read.auditPool(), 0n);
    });

    it("reverts with TokenTransferMismatch on a token that takes a fee on transfer", async () => {
      const sys = await networkHelpers.loadFixture(feeOnTransferSystem);
      const amount = parseEther("100");
      await assertions.revertWithCustomErrorWithArgs(
        sys.market.write.fundAuditPool([amount], { account: sys.dapp.account }),
        sys.market,
        "TokenTransferMismatch",
        [amount, amount - amount / 100n],
      );
    });

    it("funds what Verification pays from (payAuditReward)", async () => {
      const { market, token, hook, dapp, challenger: auditor } = await loadHooks();
      await market.write.fundAuditPool([parseEther("3")], { account: dapp.account });
      await market.write.payAuditReward([auditor.account.address, parseEther("3")], { account: hook.account });
      assert.equal(await market.read.auditPool(), 0n);
      await market.write.withdraw({ account: auditor.account });
      assert.equal(await token.read.balanceOf([auditor.account.address]), parseEther("3"));
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
        { stake: parseEther("1000"), locked: 0n, unbonding: 0n, unbondingEnd: 0n, roles: ROLE_PROVIDER, inVerifierSet: false, verifierWeight: 0n },
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

    it("payAuditReward pays min(amount, pool) from the audit pool, returns what it paid, and pays nothing from an empty pool", async () => {
      const { market, hook, challenger: auditor, d } = await loadHooks();
      await d.finalize(await d.revealed());
      const pool = feeSplit(FEE).auditLevy;
      assert.equal(await market.read.auditPool(), pool);
      const pay = async (amount: bigint) => {
        const { result } = await market.simulate.payAuditReward([auditor.account.address, amount], { account: hook.account.address });
        return { result, hash: await market.write.payAuditReward([auditor.account.address, amount], { account: hook.account }) };
      };

      // Less than the pool holds: paid in full.
      const reward = pool / 3n;
      const first = await pay(reward);
      assert.equal(first.result, reward);
      await assertions.emitWithArgs(first.hash, market, "AuditRewardPaid", [address(auditor), reward]);
      await assertions.emitWithArgs(first.hash, market, "Credited", [address(auditor), reward]);
      assert.equal(await market.read.credits([auditor.account.address]), reward);
      assert.equal(await market.read.auditPool(), pool - reward);

      // More than the pool holds: what is left, and the pool is empty.
      const second = await pay(pool);
      assert.equal(second.result, pool - reward);
      await assertions.emitWithArgs(second.hash, market, "AuditRewardPaid", [address(auditor), pool - reward]);
      assert.equal(await market.read.credits([auditor.account.address]), pool);
      assert.equal(await market.read.auditPool(), 0n);

      // An empty pool pays nothing, logs nothing and never reverts.
      const third = await pay(reward);
      assert.equal(third.result, 0n);
      const { logs } = await d.jobs.send(Promise.resolve(third.hash));
      assert.deepEqual(parseEventLogs({ abi: market.abi, logs }).map((l) => l.eventName), []);
      assert.equal(await market.read.credits([auditor.account.address]), pool);
      assert.equal(await market.read.auditPool(), 0n);
    });
  });

  describe("announceOutput", () => {
    it("lets the job's provider announce another location while the job is Revealed or Disputed, storing nothing", async () => {
      const { market, hook, provider, d } = await loadHooks();
      const jobId = await d.revealed();
      const stored = await market.read.jobHash([jobId]);
      const announce = (uri: string) => market.write.announceOutput([jobId, d.jobs.job(jobId), uri], { account: provider.account });
      const first = await announce("https://mirror.example/out");
      await assertions.emitWithArgs(first, market, "OutputAnnounced", [jobId, address(provider), "https://mirror.example/out"]);
      const { logs } = await d.jobs.send(Promise.resolve(first));
      assert.deepEqual(parseEventLogs({ abi: market.abi, logs }).map((l) => l.eventName), ["OutputAnnounced"]);
      assert.equal(await market.read.jobHash([jobId]), stored, "nothing stored");

      await d.jobs.send(market.write.openDispute([jobId, d.jobs.job(jobId)], { account: hook.account }));
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
      // During the dispute, even after the challenge window: members fetch the output until their deadline.
      await d.pastDeadline(jobId);
      await assertions.emitWithArgs(announce("ipfs://bafyoutput"), market, "OutputAnnounced", [jobId, address(provider), "ipfs://bafyoutput"]);
    });

    it("reverts with NotJobProvider for anyone else, the poster included, and JobMismatch for a state that is not the stored one", async () => {
      const { market, provider, provider2, dapp, stranger, d } = await loadHooks();
      const jobId = await d.revealed();
      for (const who of [dapp, stranger, provider2]) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.announceOutput([jobId, d.jobs.job(jobId), "https://attacker.example/garbage"], { account: who.account }),
          market,
          "NotJobProvider",
          [jobId, address(who)],
        );
      }
      // A forged state naming the caller as provider is refused before the caller is checked against it.
      await assertions.revertWithCustomErrorWithArgs(
        market.write.announceOutput([jobId, { ...d.jobs.job(jobId), provider: stranger.account.address }, "x"], { account: stranger.account }),
        market,
        "JobMismatch",
        [jobId],
      );
      await assertions.revertWithCustomErrorWithArgs(
        market.write.announceOutput([jobId + 1n, d.jobs.job(jobId), "x"], { account: provider.account }),
        market,
        "JobNotFound",
        [jobId + 1n],
      );
    });

    it("reverts with WrongStatus before the reveal and once the job is final", async () => {
      const { market, hook, provider, challenger, d } = await loadHooks();
      const committed = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.announceOutput([committed, d.jobs.job(committed), "x"], { account: provider.account }),
        market,
        "WrongStatus",
        [committed, JobStatus.Committed],
      );
      const finalized = await d.revealed();
      await d.finalize(finalized);
      const slashed = await d.revealed();
      await d.jobs.send(market.write.openDispute([slashed, d.jobs.job(slashed)], { account: hook.account }));
      await d.jobs.send(market.write.settleDispute([slashed, d.jobs.job(slashed), true, challenger.account.address, "0x"], { account: hook.account }));
      for (const [jobId, status] of [[finalized, JobStatus.Finalized], [slashed, JobStatus.Slashed]] as const) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.announceOutput([jobId, d.jobs.job(jobId), "x"], { account: provider.account }),
          market,
          "WrongStatus",
          [jobId, status],
        );
      }
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

  describe("terms versions: a job keeps the version it was posted under", () => {
    /** Has governance set a second version: MARKET_PARAMS with `changes`. */
    async function secondVersion(sys: { terms: System["terms"]; owner: Wallet }, changes: Partial<MarketParams>) {
      const next = { ...MARKET_PARAMS, ...changes };
      await sys.terms.write.setParams([next], { account: sys.owner.account });
      return next;
    }

    it("records the version current at post in the job and in JobPosted", async () => {
      const sys = await load();
      const { market, dapp, d } = sys;
      const old = await d.post();
      await secondVersion(sys, { commitTimeout: 100 });
      const request = await d.request();
      const { transactionHash } = await d.jobs.send(market.write.postJob([request], { account: dapp.account }));
      await assertions.emitWithArgs(transactionHash, market, "JobPosted", [
        2n, 1n, address(dapp), request.inputURI, "0x", FEE, request.claimBy, 0, false, MODEL_COLLATERAL, request.inputHash, 2,
      ]);
      assert.deepEqual([d.jobs.job(old).terms, d.jobs.job(2n).terms], [1, 2]);
      assert.equal(await market.read.jobHash([old]), hashJob(d.jobs.job(old)));
    });

    it("times its commit, reveal and challenge windows by its own version when a new one changes them", async () => {
      const sys = await load();
      const { d } = sys;
      const old = await d.post();
      const v2 = await secondVersion(sys, { commitTimeout: 100, revealTimeout: 120, challengeWindow: 30 });
      const fresh = await d.post();
      const expected = { [String(old)]: MARKET_PARAMS, [String(fresh)]: v2 };
      for (const jobId of [old, fresh]) {
        const p = expected[String(jobId)]!;
        let t = (await d.now()) + 5n;
        await d.at(t);
        await d.claim(jobId);
        assert.equal(d.jobs.job(jobId).deadline, Number(t + BigInt(p.commitTimeout)), `job ${jobId} commitBy`);
        t += 10n;
        await d.at(t);
        await d.commit(jobId);
        assert.equal(d.jobs.job(jobId).deadline, Number(t + BigInt(p.revealTimeout)), `job ${jobId} revealBy`);
        await d.waitForSeed(jobId);
        t = (await d.now()) + 5n;
        await d.at(t);
        await d.reveal(jobId, { waitSeed: false });
        assert.equal(d.jobs.job(jobId).deadline, Number(t + BigInt(p.challengeWindow)), `job ${jobId} challenge end`);
      }
    });

    it("splits its fee by its own version when a new one changes the protocol fee and the audit levy", async () => {
      const sys = await load();
      const { market, provider, d } = sys;
      const old = await d.revealed();
      const v2 = await secondVersion(sys, { protocolFeeBps: 1_000, auditLevyBps: 1_500 });
      const fresh = await d.revealed();
      const paidOld = feeSplit(FEE, MARKET_PARAMS);
      const paidFresh = feeSplit(FEE, v2);
      assert.notEqual(paidOld.payout, paidFresh.payout);
      const receiptOld = await d.finalize(old);
      await assertions.emitWithArgs(receiptOld.transactionHash, market, "JobFinalized", [old, address(provider), paidOld.payout]);
      const receiptFresh = await d.finalize(fresh);
      await assertions.emitWithArgs(receiptFresh.transactionHash, market, "JobFinalized", [fresh, address(provider), paidFresh.payout]);
      assert.equal(await market.read.protocolFees(), paidOld.protocolFee + paidFresh.protocolFee);
      assert.equal(await market.read.auditPool(), paidOld.auditLevy + paidFresh.auditLevy);
      assert.equal(await market.read.credits([provider.account.address]), paidOld.payout + paidFresh.payout);
    });

    it("takes its own expiry penalty when a new version changes expiryPenaltyBps", async () => {
      const sys = await load();
      const { market, keeper, d } = sys;
      const old = await d.claimed();
      const v2 = await secondVersion(sys, { expiryPenaltyBps: 5_000 });
      const fresh = await d.claimed();
      for (const [jobId, p] of [[old, MARKET_PARAMS], [fresh, v2]] as const) {
        await d.pastDeadline(jobId);
        const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }));
        await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Claimed, FEE, expiryPenalty(MODEL_COLLATERAL, p), false]);
      }
      assert.deepEqual([expiryPenalty(MODEL_COLLATERAL, MARKET_PARAMS), expiryPenalty(MODEL_COLLATERAL, v2)], [parseEther("10"), parseEther("50")]);
    });

    it("is sampled at its own version's rate when a new version changes samplingPpm", async () => {
      const sys = await loadCheap();
      const { market, d } = sys;
      const old = await d.committed();
      await secondVersion(sys, { samplingPpm: 1_000_000 });
      const fresh = await d.committed();
      await d.reveal(old);
      await d.reveal(fresh);
      assert.equal(d.jobs.job(old).sampled, false, "version 1 samples nothing");
      assert.equal(d.jobs.job(fresh).sampled, true, "version 2 samples everything");
      const { commitBlock } = d.jobs.job(old);
      assert.equal((await market.read.samplingOf([old, commitBlock, 1n]))[1], false);
      assert.equal((await market.read.samplingOf([old, commitBlock, 2n]))[1], true, "the same job under version 2 would be");
    });

    it("waits for its own version's seed delay when a new version changes seedDelay", async () => {
      const sys = await load();
      const { market, provider, d } = sys;
      const old = await d.claimed();
      await secondVersion(sys, { seedDelay: 10 });
      const fresh = await d.claimed();
      for (const jobId of [old, fresh]) {
        const { blockNumber: commitBlock } = await d.commit(jobId);
        await networkHelpers.mine(2); // the next block is commitBlock + 3: past version 1's seed block only
        if (jobId === fresh) {
          await assertions.revertWithCustomErrorWithArgs(
            market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
            market,
            "SeedNotReady",
            [jobId, commitBlock + 10n, commitBlock + 3n],
          );
          await networkHelpers.mine(8);
        }
        const receipt = await d.reveal(jobId, { waitSeed: false });
        assert.equal(receipt.blockNumber, commitBlock + (jobId === old ? 3n : 11n));
      }
    });

    it("takes the claim window and callback cap of the version current at post", async () => {
      const sys = await load();
      const { market, dapp, d } = sys;
      await secondVersion(sys, { maxClaimDelay: 60, callbackGasLimit: 1_000 });
      const t = (await d.now()) + 10n;
      await d.at(t);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ claimBy: t + 61n })], { account: dapp.account }),
        market,
        "InvalidClaimBy",
        [t + 61n, t + 1n, t + 60n],
      );
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJob([await d.request({ claimBy: t + 60n, callbackGasLimit: 1_001 })], { account: dapp.account }),
        market,
        "CallbackGasTooHigh",
        [1_001n, 1_000n],
      );
    });
  });

  describe("adoptTerms", () => {
    it("reverts with NotTerms for anyone but the terms contract, which hands each new version over", async () => {
      const { market, terms, owner, stranger } = await load();
      for (const caller of [owner, stranger]) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.adoptTerms([2, { ...MARKET_PARAMS, samplingPpm: 1_000_000 }], { account: caller.account }),
          market,
          "NotTerms",
          [address(caller)],
        );
      }
      assert.equal(await market.read.termsVersion(), 1);
      const v2 = { ...MARKET_PARAMS, commitTimeout: 77 };
      const hash = await terms.write.setParams([v2], { account: owner.account });
      await assertions.emitWithArgs(hash, market, "TermsAdopted", [2]);
      assert.equal(await market.read.termsVersion(), 2);
      assert.deepEqual({ ...(await market.read.params()) }, v2);
    });
  });

  describe("setVerification", () => {
    it("sets the verification contract once, by the owner, never to zero", async () => {
      const { token, staking, registry, terms, owner, stranger, verifier: hook } = await load();
      const market = await viem.deployContract("JobMarket", [
        token.address,
        staking.address,
        registry.address,
        ZERO_ADDRESS,
        terms.address,
        owner.account.address,
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

  describe("batch hooks and deposits", () => {
    it("sets the batch market once, by the owner, never to zero", async () => {
      const { token, staking, registry, terms, owner, stranger, verifier: hook, market: deployedMarket, batchMarket } = await load();
      const market = await viem.deployContract("JobMarket", [
        token.address,
        staking.address,
        registry.address,
        ZERO_ADDRESS,
        terms.address,
        owner.account.address,
      ]);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.setBatchMarket([hook.account.address], { account: stranger.account }),
        market,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      await assertions.revertWithCustomErrorWithArgs(market.write.setBatchMarket([ZERO_ADDRESS]), market, "ZeroAddress", []);
      await assertions.emitWithArgs(market.write.setBatchMarket([hook.account.address]), market, "BatchMarketSet", [address(hook)]);
      await assertions.revertWithCustomErrorWithArgs(market.write.setBatchMarket([stranger.account.address]), market, "BatchMarketAlreadySet", []);
      assert.equal(await deployedMarket.read.batchMarket(), batchMarket.address);
    });

    it("lets only the batch market reserve ids and import jobs, and imports only reserved ids, once", async () => {
      const { market, batchMarket, stranger, d } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reserveJobIds([3n], { account: stranger.account }),
        market,
        "NotBatchMarket",
        [address(stranger)],
      );
      const posted = await d.post();
      const job = d.jobs.job(posted);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.importJob([posted, job], { account: stranger.account }),
        market,
        "NotBatchMarket",
        [address(stranger)],
      );
      await networkHelpers.impersonateAccount(batchMarket.address);
      await networkHelpers.setBalance(batchMarket.address, parseEther("1"));
      await market.write.reserveJobIds([3n], { account: batchMarket.address });
      assert.equal(await market.read.jobCount(), posted + 3n);
      // A posted job has a state: it is no reserved id.
      await assertions.revertWithCustomErrorWithArgs(market.write.importJob([posted, job], { account: batchMarket.address }), market, "JobNotReserved", [posted]);
      // Past the reserved ids.
      await assertions.revertWithCustomErrorWithArgs(
        market.write.importJob([posted + 4n, job], { account: batchMarket.address }),
        market,
        "JobNotReserved",
        [posted + 4n],
      );
      const imported = { ...job, status: JobStatus.Committed, result: keccak256("0x01") };
      await assertions.emit(market.write.importJob([posted + 2n, imported], { account: batchMarket.address }), market, "JobImported");
      assert.equal(await market.read.jobHash([posted + 2n]), hashJob(imported));
      await assertions.revertWithCustomErrorWithArgs(
        market.write.importJob([posted + 2n, imported], { account: batchMarket.address }),
        market,
        "JobNotReserved",
        [posted + 2n],
      );
      await networkHelpers.stopImpersonatingAccount(batchMarket.address);
    });

    it("posts from a deposit without moving tokens, refuses more than the deposit holds, and gives the rest back", async () => {
      const { market, token, dapp, d } = await load();
      await market.write.deposit([FEE + 1n], { account: dapp.account });
      const escrow = await token.read.balanceOf([market.address]);
      const jobId = await d.posted(market.write.postJobFromDeposit([await d.request()], { account: dapp.account }));
      assert.equal(await market.read.deposits([address(dapp)]), 1n);
      assert.equal(await token.read.balanceOf([market.address]), escrow);
      assert.equal(d.jobs.job(jobId).fee, FEE);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.postJobFromDeposit([await d.request()], { account: dapp.account }),
        market,
        "InsufficientDeposit",
        [address(dapp), 1n, FEE],
      );
      await assertions.revertWithCustomErrorWithArgs(market.write.withdrawDeposit([2n], { account: dapp.account }), market, "InsufficientDeposit", [
        address(dapp),
        1n,
        2n,
      ]);
      await assertions.revertWithCustomErrorWithArgs(market.write.deposit([0n], { account: dapp.account }), market, "ZeroAmount", []);
      const balance = await token.read.balanceOf([address(dapp)]);
      await market.write.withdrawDeposit([1n], { account: dapp.account });
      assert.equal(await token.read.balanceOf([address(dapp)]), balance + 1n);
    });
  });

  describe("deployment", () => {
    it("reverts on a zero token, staking, registry or terms address", async () => {
      const { token, staking, registry, terms, market, owner } = await load();
      const { abi, bytecode } = await artifacts.readArtifact("JobMarket");
      const deploy = (args: readonly [Address, Address, Address, Address, Address, Address]) =>
        owner.deployContract({ abi, bytecode: bytecode as Hex, args, account: owner.account });
      const o = owner.account.address;
      for (const args of [
        [ZERO_ADDRESS, staking.address, registry.address, ZERO_ADDRESS, terms.address, o],
        [token.address, ZERO_ADDRESS, registry.address, ZERO_ADDRESS, terms.address, o],
        [token.address, staking.address, ZERO_ADDRESS, ZERO_ADDRESS, terms.address, o],
        [token.address, staking.address, registry.address, ZERO_ADDRESS, ZERO_ADDRESS, o],
      ] as const) {
        await assertions.revertWithCustomErrorWithArgs(deploy(args), market, "ZeroAddress", []);
      }
    });

    it("starts at the terms version current when it is deployed, emitting TermsAdopted", async () => {
      const { token, staking, registry, terms, owner } = await load();
      const v2 = { ...MARKET_PARAMS, challengeWindow: 99 };
      await terms.write.setParams([v2], { account: owner.account });
      const market = await viem.deployContract("JobMarket", [
        token.address,
        staking.address,
        registry.address,
        ZERO_ADDRESS,
        terms.address,
        owner.account.address,
      ]);
      assert.equal(await market.read.termsVersion(), 2);
      assert.deepEqual({ ...(await market.read.params()) }, v2);
      const [adopted] = await market.getEvents.TermsAdopted({}, { fromBlock: 0n });
      assert.equal(adopted?.args.version, 2);
    });
  });

  describe("views", () => {
    it("jobHash is zero for an unknown id and keccak256(abi.encode(job)) of the state for a known one", async () => {
      const { market, d } = await load();
      assert.equal(await market.read.jobHash([1n]), ZERO_HASH);
      const jobId = await d.revealed({ inlineOutput: true }, { inlineOutput: bytesOf(32) });
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
      assert.equal(await market.read.jobHash([jobId + 1n]), ZERO_HASH);
    });

    it("reads back the deployment's terms, wiring and counters", async () => {
      const { market, token, staking, registry, terms, verification } = await load();
      assert.deepEqual({ ...(await market.read.params()) }, MARKET_PARAMS);
      assert.equal(await market.read.termsVersion(), 1);
      assert.equal(await market.read.jobCount(), 0n);
      assert.equal(await market.read.protocolFees(), 0n);
      assert.equal(await market.read.auditPool(), 0n);
      assert.equal(await market.read.token(), token.address);
      assert.equal(await market.read.staking(), staking.address);
      assert.equal(await market.read.registry(), registry.address);
      assert.equal(await market.read.terms(), terms.address);
      assert.equal(await market.read.verification(), verification.address);
      assert.equal(await market.read.randomness(), ZERO_ADDRESS);
      assert.equal(await market.read.MAX_INLINE_BYTES(), 4096n);
    });
  });

  it("asserts every protocol error JobMarket can revert with somewhere in this file (or, for signed requests, in signed-jobs.test.ts)", async () => {
    // Its ABI lists the errors it can revert with; the protocol's are those of contracts/errors/Errors.sol.
    const { abi } = await artifacts.readArtifact("JobMarket");
    const declared = readFileSync(fileURLToPath(new URL("../../contracts/errors/Errors.sol", import.meta.url)), "utf8");
    const source =
      readFileSync(fileURLToPath(import.meta.url), "utf8") + readFileSync(fileURLToPath(new URL("./signed-jobs.test.ts", import.meta.url)), "utf8");
    const ours = abi.flatMap((item) => (item.type === "error" && declared.includes(`error ${item.name}(`) ? [item.name] : []));
    assert.ok(ours.length > 3, `only ${ours.length} protocol errors in JobMarket's ABI`);
    const missing = ours.filter((name) => !source.includes(`"${name}"`));
    assert.deepEqual(missing, []);
  });
});
