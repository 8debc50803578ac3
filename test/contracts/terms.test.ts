/**
 * ProtocolTerms behaviour (docs/PROTOCOL.md section 3): numbered versions, each checked as a whole when it
 * is set (every parameter's range and every combination the game depends on), handed to the JobMarket,
 * and the requirements Staking must keep covering (they only grow). Every custom error ProtocolTerms can revert
 * with is asserted here. How a job keeps its version through its life is in jobmarket.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { artifacts, network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, parseEther, type Address } from "viem";

import { deploySystem, LOCAL_PARAMETERS, type Connection } from "../helpers/fixture.js";
import { MARKET_PARAMS, STAKING_PARAMS, ZERO_ADDRESS, type MarketParams, type Wallet } from "../helpers/market.js";
import { VERIFICATION_PARAMS, type VerificationParams } from "../helpers/verification.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const DAY = 86_400;
/** The local sampling rate (MARKET_PARAMS turns sampling off for the tests). */
const LOCAL_SAMPLING_PPM: number = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal.marketParams.samplingPpm;
const YEAR = 365 * DAY;
const address = (wallet: Wallet) => getAddress(wallet.account.address);

/** maxClaimDelay + commitTimeout + revealTimeout + challengeWindow + disputeDuration: what unbonding must cover. */
const lifetime = (p: MarketParams) => p.maxClaimDelay + p.commitTimeout + p.revealTimeout + p.challengeWindow + p.disputeDuration;

/** The Ignition deployment with the local terms (sampling off): version 1, adopted by the market. */
async function deployed(conn: Connection) {
  return deploySystem(conn);
}

/**
 * Verification terms whose audit pay the local levy covers at any sampling rate and committee size: a version
 * at the edge of one range then never trips the audit-pay rule.
 */
const ROOMY_VERIFICATION: VerificationParams = { ...VERIFICATION_PARAMS, auditRewardBps: 500, voterRewardBps: 50 };

/**
 * The local terms with ROOMY_VERIFICATION, a year of unbonding (a version at the edge of every range still
 * fits the lifetime rule) and a minimum verifier stake of 10,000 tokens (the bond rule never decides).
 */
async function roomy(conn: Connection) {
  return deploySystem(conn, {
    verificationParams: ROOMY_VERIFICATION,
    stakingParams: { unbondingPeriod: YEAR, minVerifierStake: parseEther("10000") },
  });
}

/** What audits cost the pool per job, in bps of the fee: auditRewardBps + recheckPpm x committeeSize x voterRewardBps / 1e6. */
const auditPay = (v: VerificationParams) => v.auditRewardBps + Math.floor((v.recheckPpm * v.committeeSize * v.voterRewardBps) / 1_000_000);

/** Staking and a ProtocolTerms that no market has been set on yet. */
async function unwired(conn: Connection) {
  const [owner, stranger, fakeMarket] = await conn.viem.getWalletClients();
  const token = await conn.viem.deployContract("DinferTestToken");
  const staking = await conn.viem.deployContract("Staking", [token.address, owner.account.address, STAKING_PARAMS]);
  const terms = await conn.viem.deployContract("ProtocolTerms", [staking.address, owner.account.address, MARKET_PARAMS, VERIFICATION_PARAMS]);
  return { token, staking, terms, owner, stranger, fakeMarket };
}

describe("ProtocolTerms", () => {
  describe("deployment", () => {
    it("starts at version 1 with the constructor's terms, emitting TermsSet, and the market adopts it", async () => {
      const { terms, market, publicClient } = await networkHelpers.loadFixture(deployed);
      assert.equal(await terms.read.termsVersion(), 1);
      const [marketHalf, verificationHalf] = await terms.read.termsOf([1n]);
      assert.deepEqual({ ...marketHalf }, MARKET_PARAMS);
      assert.deepEqual({ ...verificationHalf }, VERIFICATION_PARAMS);
      assert.deepEqual({ ...(await terms.read.params()) }, MARKET_PARAMS);
      assert.deepEqual({ ...(await terms.read.verificationParams()) }, VERIFICATION_PARAMS);
      assert.deepEqual({ ...(await terms.read.verificationParamsOf([1n])) }, VERIFICATION_PARAMS);
      const [set] = await terms.getEvents.TermsSet({}, { fromBlock: 0n });
      assert.deepEqual([set!.args.version, set!.args.market, set!.args.verification], [1, MARKET_PARAMS, VERIFICATION_PARAMS]);
      // The market read version 1 when it was deployed.
      assert.equal(await market.read.termsVersion(), 1);
      assert.deepEqual({ ...(await market.read.params()) }, MARKET_PARAMS);
      const adopted = await publicClient.getContractEvents({ address: market.address, abi: market.abi, eventName: "TermsAdopted", fromBlock: 0n });
      assert.deepEqual(adopted.map((e) => e.args.version), [1]);
    });

    it("is wired by Ignition: the market is set, the owner is the deployer, Staking is the one deployed", async () => {
      const { terms, market, staking, owner } = await networkHelpers.loadFixture(deployed);
      assert.equal(getAddress(await terms.read.market()), getAddress(market.address));
      assert.equal(getAddress(await terms.read.staking()), getAddress(staking.address));
      assert.equal(getAddress(await terms.read.owner()), address(owner));
      assert.equal(getAddress(await market.read.terms()), getAddress(terms.address));
      assert.equal(await terms.read.MAX_COMMITTEE_SIZE(), 13n);
    });

    it("reverts with ZeroAddress for a zero Staking, and checks the first version as setParams does", async () => {
      const { terms, staking, owner } = await networkHelpers.loadFixture(unwired);
      const { abi, bytecode } = await artifacts.readArtifact("ProtocolTerms");
      const deploy = (args: readonly [Address, Address, MarketParams, VerificationParams]) =>
        owner.deployContract({ abi, bytecode: bytecode as `0x${string}`, args, account: owner.account });
      await assertions.revertWithCustomErrorWithArgs(
        deploy([ZERO_ADDRESS, owner.account.address, MARKET_PARAMS, VERIFICATION_PARAMS]),
        terms,
        "ZeroAddress",
        [],
      );
      await assertions.revertWithCustomErrorWithArgs(
        deploy([staking.address, owner.account.address, { ...MARKET_PARAMS, seedDelay: 0 }, VERIFICATION_PARAMS]),
        terms,
        "InvalidParams",
        ["seedDelay"],
      );
      await assertions.revertWithCustomErrorWithArgs(
        deploy([staking.address, owner.account.address, MARKET_PARAMS, { ...VERIFICATION_PARAMS, committeeSize: 4 }]),
        terms,
        "InvalidParams",
        ["committeeSize"],
      );
    });
  });

  describe("versions", () => {
    it("setParams makes a new version with these market terms and the current verification terms", async () => {
      const { terms, market, owner } = await networkHelpers.loadFixture(deployed);
      const next = { ...MARKET_PARAMS, commitTimeout: 100, samplingPpm: 10_000 };
      const hash = await terms.write.setParams([next], { account: owner.account });
      await assertions.emitWithArgs(hash, terms, "TermsSet", [2, next, VERIFICATION_PARAMS]);
      await assertions.emitWithArgs(hash, market, "TermsAdopted", [2]);
      assert.equal(await terms.read.termsVersion(), 2);
      const [marketHalf, verificationHalf] = await terms.read.termsOf([2n]);
      assert.deepEqual([{ ...marketHalf }, { ...verificationHalf }], [next, VERIFICATION_PARAMS]);
      assert.deepEqual({ ...(await terms.read.params()) }, next);
      // Version 1 is kept as it was: jobs posted under it are still judged by it.
      assert.deepEqual({ ...(await terms.read.termsOf([1n]))[0] }, MARKET_PARAMS);
      assert.equal(await market.read.termsVersion(), 2);
      assert.deepEqual({ ...(await market.read.params()) }, next);
    });

    it("setVerificationParams makes a new version with these verification terms and the current market terms", async () => {
      const { terms, market, owner } = await networkHelpers.loadFixture(deployed);
      const next = { ...VERIFICATION_PARAMS, voterPenalty: parseEther("3"), challengerRewardBps: 3_000 };
      const hash = await terms.write.setVerificationParams([next], { account: owner.account });
      await assertions.emitWithArgs(hash, terms, "TermsSet", [2, MARKET_PARAMS, next]);
      await assertions.emitWithArgs(hash, market, "TermsAdopted", [2]);
      assert.deepEqual({ ...(await terms.read.verificationParamsOf([2n])) }, next);
      assert.deepEqual({ ...(await terms.read.verificationParams()) }, next);
      assert.deepEqual({ ...(await terms.read.verificationParamsOf([1n])) }, VERIFICATION_PARAMS);
      assert.deepEqual({ ...(await terms.read.termsOf([2n]))[0] }, MARKET_PARAMS);
      assert.equal(await market.read.termsVersion(), 2);
    });

    it("numbers versions one by one, each half carried over from the last version", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const m2 = { ...MARKET_PARAMS, challengeWindow: 90 };
      const v3 = { ...VERIFICATION_PARAMS, providerRewardBps: 4_000 };
      const m4 = { ...m2, expiryPenaltyBps: 2_000 };
      await terms.write.setParams([m2], { account: owner.account });
      await terms.write.setVerificationParams([v3], { account: owner.account });
      await terms.write.setParams([m4], { account: owner.account });
      assert.equal(await terms.read.termsVersion(), 4);
      const halves = [];
      for (let v = 1n; v <= 4n; v++) {
        const [m, ver] = await terms.read.termsOf([v]);
        halves.push([{ ...m }, { ...ver }]);
      }
      assert.deepEqual(halves, [
        [MARKET_PARAMS, VERIFICATION_PARAMS],
        [m2, VERIFICATION_PARAMS],
        [m2, v3],
        [m4, v3],
      ]);
    });

    it("reverts with UnknownTerms for version 0 and for a version not set yet", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      for (const version of [0n, 2n]) {
        await assertions.revertWithCustomErrorWithArgs(terms.read.termsOf([version]), terms, "UnknownTerms", [version]);
        await assertions.revertWithCustomErrorWithArgs(terms.read.verificationParamsOf([version]), terms, "UnknownTerms", [version]);
      }
      await terms.write.setParams([MARKET_PARAMS], { account: owner.account });
      assert.deepEqual({ ...(await terms.read.termsOf([2n]))[0] }, MARKET_PARAMS);
      await assertions.revertWithCustomErrorWithArgs(terms.read.termsOf([3n]), terms, "UnknownTerms", [3n]);
    });

    it("lets only the owner set terms or the market, and transfers ownership in two steps", async () => {
      const { terms, owner, stranger } = await networkHelpers.loadFixture(deployed);
      for (const call of [
        () => terms.write.setParams([MARKET_PARAMS], { account: stranger.account }),
        () => terms.write.setVerificationParams([VERIFICATION_PARAMS], { account: stranger.account }),
        () => terms.write.setMarket([stranger.account.address], { account: stranger.account }),
      ]) {
        await assertions.revertWithCustomErrorWithArgs(call(), terms, "OwnableUnauthorizedAccount", [address(stranger)]);
      }
      await terms.write.transferOwnership([stranger.account.address], { account: owner.account });
      assert.equal(getAddress(await terms.read.owner()), address(owner), "not before the new owner accepts");
      await terms.write.acceptOwnership({ account: stranger.account });
      await terms.write.setParams([MARKET_PARAMS], { account: stranger.account });
      assert.equal(await terms.read.termsVersion(), 2);
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setParams([MARKET_PARAMS], { account: owner.account }),
        terms,
        "OwnableUnauthorizedAccount",
        [address(owner)],
      );
    });
  });

  describe("setMarket and adoption", () => {
    it("sets the market once, never to zero, emitting MarketSet", async () => {
      const { terms, owner, fakeMarket, stranger } = await networkHelpers.loadFixture(unwired);
      assert.equal(await terms.read.market(), ZERO_ADDRESS);
      await assertions.revertWithCustomErrorWithArgs(terms.write.setMarket([ZERO_ADDRESS], { account: owner.account }), terms, "ZeroAddress", []);
      const hash = await terms.write.setMarket([fakeMarket.account.address], { account: owner.account });
      await assertions.emitWithArgs(hash, terms, "MarketSet", [address(fakeMarket)]);
      assert.equal(getAddress(await terms.read.market()), address(fakeMarket));
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setMarket([stranger.account.address], { account: owner.account }),
        terms,
        "MarketAlreadySet",
        [],
      );
    });

    it("refuses a second version with MarketNotSet until a market can adopt it", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(unwired);
      for (const call of [
        () => terms.write.setParams([MARKET_PARAMS], { account: owner.account }),
        () => terms.write.setVerificationParams([VERIFICATION_PARAMS], { account: owner.account }),
      ]) {
        await assertions.revertWithCustomErrorWithArgs(call(), terms, "MarketNotSet", []);
      }
      assert.equal(await terms.read.termsVersion(), 1);
    });

    it("is the only caller the market takes new terms from (NotTerms)", async () => {
      const { terms, market, owner, stranger } = await networkHelpers.loadFixture(deployed);
      for (const caller of [owner, stranger]) {
        await assertions.revertWithCustomErrorWithArgs(
          market.write.adoptTerms([2, { ...MARKET_PARAMS, samplingPpm: 1_000_000 }], { account: caller.account }),
          market,
          "NotTerms",
          [address(caller)],
        );
      }
      assert.equal(await market.read.termsVersion(), 1);
      assert.equal(await terms.read.termsVersion(), 1);
    });
  });

  describe("validation", () => {
    // [reason, the bad value] and [the edge value it accepts], for each range of each half.
    const marketCases: [string, Partial<MarketParams>, Partial<MarketParams>][] = [
      ["maxClaimDelay", { maxClaimDelay: 0 }, { maxClaimDelay: 1 }],
      ["maxClaimDelay", { maxClaimDelay: 30 * DAY + 1 }, { maxClaimDelay: 30 * DAY }],
      ["commitTimeout", { commitTimeout: 0 }, { commitTimeout: 1 }],
      ["commitTimeout", { commitTimeout: 7 * DAY + 1 }, { commitTimeout: 7 * DAY }],
      ["revealTimeout", { revealTimeout: 0 }, { revealTimeout: VERIFICATION_PARAMS.auditCommitTimeout + 1 }],
      ["revealTimeout", { revealTimeout: 7 * DAY + 1 }, { revealTimeout: 7 * DAY }],
      ["challengeWindow", { challengeWindow: 0 }, { challengeWindow: 1 }],
      ["challengeWindow", { challengeWindow: 7 * DAY + 1 }, { challengeWindow: 7 * DAY }],
      ["disputeDuration", { disputeDuration: 0 }, { disputeDuration: 2 * (VERIFICATION_PARAMS.voteCommitTimeout + VERIFICATION_PARAMS.voteRevealTimeout) }],
      ["disputeDuration", { disputeDuration: 30 * DAY + 1 }, { disputeDuration: 30 * DAY }],
      ["callbackGasLimit", { callbackGasLimit: 2_000_001 }, { callbackGasLimit: 2_000_000 }],
      ["protocolFeeBps+auditLevyBps", { protocolFeeBps: 2_500, auditLevyBps: 2_501 }, { protocolFeeBps: 2_500, auditLevyBps: 2_500 }],
      ["protocolFeeBps+auditLevyBps", { protocolFeeBps: 5_001, auditLevyBps: 0 }, { protocolFeeBps: 5_000, auditLevyBps: 0 }],
      ["expiryPenaltyBps", { expiryPenaltyBps: 10_001 }, { expiryPenaltyBps: 10_000 }],
      ["seedDelay", { seedDelay: 0 }, { seedDelay: 1 }],
      ["seedDelay", { seedDelay: 65 }, { seedDelay: 64 }],
      ["samplingPpm", { samplingPpm: 1_000_001 }, { samplingPpm: 1_000_000 }],
    ];
    const verificationCases: [string, Partial<VerificationParams>, Partial<VerificationParams>][] = [
      ["challengeBond", { challengeBond: 0n }, { challengeBond: 1n }],
      ["auditCommitTimeout: above zero and below revealTimeout", { auditCommitTimeout: 0 }, { auditCommitTimeout: 1 }],
      ["voteCommitTimeout+voteRevealTimeout: at most half of disputeDuration", { voteCommitTimeout: 0 }, { voteCommitTimeout: 1 }],
      ["voteCommitTimeout+voteRevealTimeout: at most half of disputeDuration", { voteRevealTimeout: 0 }, { voteRevealTimeout: 1 }],
      ["committeeSize", { committeeSize: 0 }, { committeeSize: 1 }],
      ["committeeSize", { committeeSize: 2 }, { committeeSize: 3 }],
      ["committeeSize", { committeeSize: 14 }, { committeeSize: 13 }],
      ["committeeSize", { committeeSize: 15 }, { committeeSize: 13 }],
      ["challengerRewardBps", { challengerRewardBps: 10_000 }, { challengerRewardBps: 9_999 }],
      ["providerRewardBps", { providerRewardBps: 10_000 }, { providerRewardBps: 9_999 }],
      ["recheckPpm", { recheckPpm: 1_000_001 }, { recheckPpm: 1_000_000 }],
      ["auditRewardBps", { auditRewardBps: 20_001 }, { auditRewardBps: 20_000 }],
      ["voterRewardBps", { voterRewardBps: 20_001 }, { voterRewardBps: 20_000 }],
    ];

    for (const [reason, bad, edge] of marketCases) {
      it(`setParams reverts with InvalidParams("${reason}") for ${JSON.stringify(bad)} and accepts ${JSON.stringify(edge)}`, async () => {
        const { terms, market, owner } = await networkHelpers.loadFixture(roomy);
        await assertions.revertWithCustomErrorWithArgs(
          terms.write.setParams([{ ...MARKET_PARAMS, ...bad }], { account: owner.account }),
          terms,
          "InvalidParams",
          [reason],
        );
        assert.equal(await terms.read.termsVersion(), 1, "nothing was set");
        await terms.write.setParams([{ ...MARKET_PARAMS, ...edge }], { account: owner.account });
        assert.deepEqual({ ...(await market.read.params()) }, { ...MARKET_PARAMS, ...edge });
      });
    }

    for (const [reason, bad, edge] of verificationCases) {
      it(`setVerificationParams reverts with InvalidParams("${reason}") for ${JSON.stringify(bad, bigints)} and accepts ${JSON.stringify(edge, bigints)}`, async () => {
        const { terms, owner } = await networkHelpers.loadFixture(roomy);
        await assertions.revertWithCustomErrorWithArgs(
          terms.write.setVerificationParams([{ ...ROOMY_VERIFICATION, ...bad }], { account: owner.account }),
          terms,
          "InvalidParams",
          [reason],
        );
        await terms.write.setVerificationParams([{ ...ROOMY_VERIFICATION, ...edge }], { account: owner.account });
        assert.deepEqual({ ...(await terms.read.verificationParams()) }, { ...ROOMY_VERIFICATION, ...edge });
      });
    }

    it("refuses an audit commit window that does not end before the reveal window: auditCommitTimeout < revealTimeout", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const reason = "auditCommitTimeout: above zero and below revealTimeout";
      const { auditCommitTimeout } = VERIFICATION_PARAMS;
      // From the market half: a reveal window equal to the audit window.
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setParams([{ ...MARKET_PARAMS, revealTimeout: auditCommitTimeout }], { account: owner.account }),
        terms,
        "InvalidParams",
        [reason],
      );
      // From the verification half: an audit window equal to the reveal window.
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, auditCommitTimeout: MARKET_PARAMS.revealTimeout }], { account: owner.account }),
        terms,
        "InvalidParams",
        [reason],
      );
      await terms.write.setParams([{ ...MARKET_PARAMS, revealTimeout: auditCommitTimeout + 1 }], { account: owner.account });
      await terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, auditCommitTimeout }], { account: owner.account });
      assert.equal(await terms.read.termsVersion(), 3);
    });

    it("refuses a dispute too short for a vote and a committee draw: 2 x (voteCommitTimeout + voteRevealTimeout) <= disputeDuration", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const reason = "voteCommitTimeout+voteRevealTimeout: at most half of disputeDuration";
      const voting = VERIFICATION_PARAMS.voteCommitTimeout + VERIFICATION_PARAMS.voteRevealTimeout;
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setParams([{ ...MARKET_PARAMS, disputeDuration: 2 * voting - 1 }], { account: owner.account }),
        terms,
        "InvalidParams",
        [reason],
      );
      const half = MARKET_PARAMS.disputeDuration / 2;
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setVerificationParams(
          [{ ...VERIFICATION_PARAMS, voteCommitTimeout: half - VERIFICATION_PARAMS.voteRevealTimeout + 1 }],
          { account: owner.account },
        ),
        terms,
        "InvalidParams",
        [reason],
      );
      await terms.write.setParams([{ ...MARKET_PARAMS, disputeDuration: 2 * voting }], { account: owner.account });
      await terms.write.setParams([MARKET_PARAMS], { account: owner.account });
      await terms.write.setVerificationParams(
        [{ ...VERIFICATION_PARAMS, voteCommitTimeout: half - VERIFICATION_PARAMS.voteRevealTimeout }],
        { account: owner.account },
      );
      assert.equal(await terms.read.termsVersion(), 4);
    });

    it("refuses a levy that does not cover the expected audit pay: samplingPpm x auditPay <= auditLevyBps x 1e6", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const reason = "auditLevyBps below the expected audit pay";
      const pay = auditPay(VERIFICATION_PARAMS);
      const most = Math.floor((MARKET_PARAMS.auditLevyBps * 1_000_000) / pay);
      assert.ok(most >= LOCAL_SAMPLING_PPM, `the local sampling rate (${LOCAL_SAMPLING_PPM} ppm) is covered: up to ${most} ppm`);
      // From the market half: one ppm more sampling than the levy pays for, or a levy one bps short.
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: most + 1 }], { account: owner.account }),
        terms,
        "InvalidParams",
        [reason],
      );
      const levyShort = Math.ceil((most * pay) / 1_000_000) - 1;
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: most, auditLevyBps: levyShort }], { account: owner.account }),
        terms,
        "InvalidParams",
        [reason],
      );
      await terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: most }], { account: owner.account });
      // From the verification half, at that rate: one bps more audit reward, or rechecks that pay voters more.
      for (const bad of [
        { auditRewardBps: VERIFICATION_PARAMS.auditRewardBps + 1 },
        { recheckPpm: VERIFICATION_PARAMS.recheckPpm + 1_000 },
        { committeeSize: VERIFICATION_PARAMS.committeeSize + 2 },
      ]) {
        await assertions.revertWithCustomErrorWithArgs(
          terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, ...bad }], { account: owner.account }),
          terms,
          "InvalidParams",
          [reason],
        );
      }
      // Sampling off, nothing is owed to audits: any audit pay is accepted.
      await terms.write.setParams([{ ...MARKET_PARAMS, samplingPpm: 0 }], { account: owner.account });
      await terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, auditRewardBps: 10_000 }], { account: owner.account });
      assert.equal(await terms.read.termsVersion(), 4);
    });

    it("refuses a challenge bond above Staking's minimum verifier stake (an overturned auditor must be able to pay it)", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const min = STAKING_PARAMS.minVerifierStake;
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, challengeBond: min + 1n }], { account: owner.account }),
        terms,
        "InvalidParams",
        ["challengeBond above minVerifierStake"],
      );
      await terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, challengeBond: min }], { account: owner.account });
      assert.equal((await terms.read.verificationParams()).challengeBond, min);
    });

    it("refuses a job lifetime longer than Staking's unbonding period (no stake may leave before its jobs end)", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const slack = Number(STAKING_PARAMS.unbondingPeriod) - lifetime(MARKET_PARAMS);
      assert.ok(slack > 0, `the local unbonding period covers the local lifetime (${lifetime(MARKET_PARAMS)} s)`);
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setParams([{ ...MARKET_PARAMS, maxClaimDelay: MARKET_PARAMS.maxClaimDelay + slack + 1 }], { account: owner.account }),
        terms,
        "InvalidParams",
        ["unbondingPeriod below the job lifetime"],
      );
      const edge = { ...MARKET_PARAMS, maxClaimDelay: MARKET_PARAMS.maxClaimDelay + slack };
      assert.equal(lifetime(edge), Number(STAKING_PARAMS.unbondingPeriod));
      await terms.write.setParams([edge], { account: owner.account });
      assert.equal(await terms.read.requiredUnbondingPeriod(), STAKING_PARAMS.unbondingPeriod);
    });
  });

  describe("what Staking must cover", () => {
    it("requiredUnbondingPeriod and requiredVerifierStake are the largest lifetime and bond of any version, and only grow", async () => {
      const { terms, owner } = await networkHelpers.loadFixture(deployed);
      const { challengeBond } = VERIFICATION_PARAMS;
      assert.equal(await terms.read.requiredUnbondingPeriod(), BigInt(lifetime(MARKET_PARAMS)));
      assert.equal(await terms.read.requiredVerifierStake(), challengeBond);

      const longer = { ...MARKET_PARAMS, challengeWindow: MARKET_PARAMS.challengeWindow + 1_000 };
      await terms.write.setParams([longer], { account: owner.account });
      await terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, challengeBond: challengeBond * 2n }], { account: owner.account });
      assert.equal(await terms.read.requiredUnbondingPeriod(), BigInt(lifetime(longer)));
      assert.equal(await terms.read.requiredVerifierStake(), challengeBond * 2n);

      // Back to shorter terms: jobs of the versions above may still be open, so nothing shrinks.
      await terms.write.setParams([MARKET_PARAMS], { account: owner.account });
      await terms.write.setVerificationParams([VERIFICATION_PARAMS], { account: owner.account });
      assert.equal(await terms.read.termsVersion(), 5);
      assert.equal(await terms.read.requiredUnbondingPeriod(), BigInt(lifetime(longer)));
      assert.equal(await terms.read.requiredVerifierStake(), challengeBond * 2n);
    });

    it("makes Staking.setParams refuse values that cover the current version but not an older one", async () => {
      const { terms, staking, owner } = await networkHelpers.loadFixture(deployed);
      const { challengeBond } = VERIFICATION_PARAMS;
      const longer = { ...MARKET_PARAMS, challengeWindow: MARKET_PARAMS.challengeWindow + 1_000 };
      await terms.write.setParams([longer], { account: owner.account });
      await terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, challengeBond: challengeBond * 2n }], { account: owner.account });
      await terms.write.setParams([MARKET_PARAMS], { account: owner.account });
      await terms.write.setVerificationParams([VERIFICATION_PARAMS], { account: owner.account });

      // The current version (5) needs lifetime(MARKET_PARAMS) and the local bond; version 2 needs more.
      const required = BigInt(lifetime(longer));
      const shortUnbonding = { ...STAKING_PARAMS, unbondingPeriod: BigInt(lifetime(MARKET_PARAMS)) };
      await assertions.revertWithCustomErrorWithArgs(
        staking.write.setParams([shortUnbonding], { account: owner.account }),
        staking,
        "UnbondingPeriodTooShort",
        [shortUnbonding.unbondingPeriod, required],
      );
      const lowStake = { unbondingPeriod: required, minVerifierStake: challengeBond * 2n - 1n };
      await assertions.revertWithCustomErrorWithArgs(
        staking.write.setParams([lowStake], { account: owner.account }),
        staking,
        "MinVerifierStakeBelowBond",
        [lowStake.minVerifierStake, challengeBond * 2n],
      );
      const exact = { unbondingPeriod: required, minVerifierStake: challengeBond * 2n };
      await staking.write.setParams([exact], { account: owner.account });
      assert.deepEqual(await staking.read.params(), exact);
    });

    it("is checked against Staking's parameters as they are when a version is set", async () => {
      const { terms, staking, owner } = await networkHelpers.loadFixture(deployed);
      // Raising the minimum verifier stake lets a later version raise the bond up to it.
      await staking.write.setParams([{ ...STAKING_PARAMS, minVerifierStake: parseEther("500") }], { account: owner.account });
      await terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, challengeBond: parseEther("500") }], { account: owner.account });
      await assertions.revertWithCustomErrorWithArgs(
        terms.write.setVerificationParams([{ ...VERIFICATION_PARAMS, challengeBond: parseEther("500") + 1n }], { account: owner.account }),
        terms,
        "InvalidParams",
        ["challengeBond above minVerifierStake"],
      );
      assert.equal(await terms.read.requiredVerifierStake(), parseEther("500"));
    });
  });

  it("asserts every protocol error ProtocolTerms can revert with somewhere in this file", async () => {
    // Its ABI lists the errors it can revert with; the protocol's are those of contracts/errors/Errors.sol.
    const { abi } = await artifacts.readArtifact("ProtocolTerms");
    const declared = readFileSync(fileURLToPath(new URL("../../contracts/errors/Errors.sol", import.meta.url)), "utf8");
    const source = readFileSync(fileURLToPath(import.meta.url), "utf8");
    const ours = abi.flatMap((item) => (item.type === "error" && declared.includes(`error ${item.name}(`) ? [item.name] : []));
    assert.ok(ours.length > 3, `only ${ours.length} protocol errors in ProtocolTerms's ABI`);
    const missing = ours.filter((name) => !source.includes(`"${name}"`));
    assert.deepEqual(missing, []);
  });
});

/** JSON.stringify replacer for bigints (test titles). */
function bigints(_key: string, value: unknown) {
  return typeof value === "bigint" ? value.toString() : value;
}
