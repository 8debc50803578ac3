/**
 * Verification behaviour (IVerification), on the Ignition deployment: blind audits of sampled jobs,
 * late audits, auditor penalties, bonded challenges, committee draws, commit-reveal votes, the
 * settlement of every verdict with its exact splits, pull payments, the treasury and the parameters.
 * Every deadline is tried at the boundary and one second after it.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, keccak256, parseEther, toHex, type Address, type Hex, type TransactionReceipt } from "viem";

import { hashJob, JobStatus } from "../../offchain/chain/jobs.js";
import {
  deploySystem,
  FEE,
  MODEL_COLLATERAL,
  ROLE_PROVIDER,
  ROLE_VERIFIER,
  setUpMarket,
  stake,
  stakeVerifiers,
  VERIFIER_STAKE,
  type Connection,
} from "../helpers/fixture.js";
import {
  AuditState,
  auditDrawSeed,
  CHALLENGE_BOND,
  committeeDrawSeed,
  DisputeState,
  feeSplit,
  MARKET_PARAMS,
  marketDriver,
  settlementSplit,
  Verdict,
  VERIFICATION_PARAMS,
  verificationDriver,
  Vote,
  ZERO_ADDRESS,
  ZERO_HASH,
  type Wallet,
} from "../helpers/market.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const address = (wallet: Wallet) => getAddress(wallet.account.address);
const P = VERIFICATION_PARAMS;
const DISPUTE_DURATION = BigInt(MARKET_PARAMS.disputeDuration);
const CHALLENGE_WINDOW = BigInt(MARKET_PARAMS.challengeWindow);
const REVEAL_TIMEOUT = BigInt(MARKET_PARAMS.revealTimeout);
const AUDIT_COMMIT_TIMEOUT = BigInt(P.auditCommitTimeout);
const VOTE_COMMIT_TIMEOUT = BigInt(P.voteCommitTimeout);
const VOTE_REVEAL_TIMEOUT = BigInt(P.voteRevealTimeout);
/** blockhash reaches 256 blocks back. */
const BLOCKHASH_REACH = 256n;

type SetUp = { samplingPpm: number; verifiers: number; providerVerifies?: boolean; challengerVerifies?: boolean };

/** The Ignition deployment with a provider, a challenger funded for bonds and `verifiers` staked verifiers. */
async function deployWith(conn: Connection, { samplingPpm, verifiers, providerVerifies = false, challengerVerifies = false }: SetUp) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm } });
  await setUpMarket(sys);
  for (const who of [sys.challenger, sys.stranger]) {
    await sys.token.write.mint([who.account.address, parseEther("1000")]);
    await sys.token.write.approve([sys.verification.address, parseEther("1000")], { account: who.account });
  }
  if (providerVerifies) await sys.staking.write.setRoles([ROLE_PROVIDER | ROLE_VERIFIER], { account: sys.provider.account });
  if (challengerVerifies) await stake(sys, sys.challenger.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
  return { ...sys, ...(await stakeVerifiers(conn, sys, verifiers)) };
}

// loadFixture keys its snapshots on the function: one named fixture per set-up.
const unsampled = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 6 });
const sampled = (conn: Connection) => deployWith(conn, { samplingPpm: 1_000_000, verifiers: 6 });
const sampledNoVerifiers = (conn: Connection) => deployWith(conn, { samplingPpm: 1_000_000, verifiers: 0 });
/** Seven verifiers: the provider, the challenger and five others, one of whom audits. */
const everyoneVerifies = (conn: Connection) =>
  deployWith(conn, { samplingPpm: 1_000_000, verifiers: 5, providerVerifies: true, challengerVerifies: true });
const twoVerifiers = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 2 });
const noVerifiers = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 0 });

async function load(fixture: (conn: Connection) => ReturnType<typeof deployWith> = unsampled) {
  const sys = await networkHelpers.loadFixture(fixture);
  const d = marketDriver({ connection, ...sys });
  const v = verificationDriver({ connection, sys, d, wallets: sys.wallets });
  const blockTime = async (receipt: TransactionReceipt) =>
    (await sys.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
  const stakeOf = async (who: Wallet | Address) =>
    (await sys.staking.read.account([typeof who === "string" ? who : who.account.address])).stake;
  /** A revealed, unsampled job challenged by the challenger; returns its id and the challenge receipt. */
  const challenged = async () => {
    const jobId = await d.revealed();
    const receipt = await v.challenge(jobId, sys.challenger);
    return { jobId, receipt, openedAt: await blockTime(receipt) };
  };
  /** A sampled job whose auditor committed to `agree`ing or not, revealed by the provider. */
  const audited = async ({ agree = true }: { agree?: boolean } = {}) => {
    const jobId = await d.committed();
    await v.auditedReveal(jobId, { output: v.auditOutput(jobId, { agree }) });
    return { jobId, auditor: await v.auditor(jobId) };
  };
  /** A sampled job whose auditor disagreed: the dispute is the auditor's. */
  const disagreed = async () => {
    const { jobId, auditor } = await audited({ agree: false });
    await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }), verdict: Verdict.Disagree });
    return { jobId, auditor };
  };
  return { ...sys, d, v, blockTime, stakeOf, challenged, audited, disagreed };
}

describe("Verification", () => {
  describe("deployment and parameters", () => {
    it("is deployed by Ignition with the local parameters, wired to the market and staking", async () => {
      const { verification, market, staking, token, owner } = await load();
      assert.deepEqual({ ...(await verification.read.params()) }, P);
      assert.equal(getAddress(await market.read.verification()), getAddress(verification.address));
      assert.equal(getAddress(await staking.read.verification()), getAddress(verification.address));
      assert.equal(getAddress(await verification.read.market()), getAddress(market.address));
      assert.equal(getAddress(await verification.read.staking()), getAddress(staking.address));
      assert.equal(getAddress(await verification.read.token()), getAddress(token.address));
      assert.equal(await verification.read.randomness(), ZERO_ADDRESS);
      assert.equal(getAddress(await verification.read.owner()), address(owner));
      assert.equal(await verification.read.MAX_COMMITTEE_SIZE(), 13n);
      assert.equal(await verification.read.treasury(), 0n);
    });

    it("sets every parameter together and emits ParamsSet", async () => {
      const { verification, owner } = await load();
      const next = {
        ...P,
        challengeBond: parseEther("75"),
        auditReward: parseEther("3"),
        auditorPenalty: 7n,
        voterPenalty: 0n,
        auditCommitTimeout: 299,
        voteCommitTimeout: 300,
        voteRevealTimeout: 299,
        committeeSize: 13,
        challengerRewardBps: 9_999,
        voterRewardBps: 1,
        providerRewardBps: 9_999,
      };
      const hash = await verification.write.setParams([next], { account: owner.account });
      await assertions.emitWithArgs(hash, verification, "ParamsSet", [next]);
      assert.deepEqual({ ...(await verification.read.params()) }, next);
    });

    it("reverts with InvalidParams for each parameter out of its range, checked against the market's", async () => {
      const { verification, owner } = await load();
      const cases: [Partial<typeof P>, string][] = [
        [{ challengeBond: 0n }, "challengeBond"],
        [{ auditCommitTimeout: 0 }, "auditCommitTimeout"],
        [{ auditCommitTimeout: MARKET_PARAMS.revealTimeout }, "auditCommitTimeout"],
        [{ voteCommitTimeout: 0 }, "voteCommitTimeout, voteRevealTimeout"],
        [{ voteRevealTimeout: 0 }, "voteCommitTimeout, voteRevealTimeout"],
        [{ voteCommitTimeout: 300, voteRevealTimeout: 300 }, "voteCommitTimeout, voteRevealTimeout"],
        [{ committeeSize: 0 }, "committeeSize"],
        [{ committeeSize: 2 }, "committeeSize"],
        [{ committeeSize: 15 }, "committeeSize"],
        [{ challengerRewardBps: 10_000, voterRewardBps: 0 }, "rewardBps"],
        [{ providerRewardBps: 10_000, voterRewardBps: 0 }, "rewardBps"],
        [{ challengerRewardBps: 4_000, voterRewardBps: 6_001, providerRewardBps: 0 }, "rewardBps"],
        [{ providerRewardBps: 5_000, voterRewardBps: 5_001, challengerRewardBps: 0 }, "rewardBps"],
      ];
      for (const [change, reason] of cases) {
        await assertions.revertWithCustomErrorWithArgs(
          verification.write.setParams([{ ...P, ...change }], { account: owner.account }),
          verification,
          "InvalidParams",
          [reason],
        );
      }
      // The bounds themselves are valid.
      for (const change of [
        { committeeSize: 1 },
        { challengerRewardBps: 4_000, voterRewardBps: 6_000, providerRewardBps: 4_000 },
        { voteCommitTimeout: 1, voteRevealTimeout: MARKET_PARAMS.disputeDuration - 2 },
      ]) {
        await verification.write.setParams([{ ...P, ...change }], { account: owner.account });
      }
    });

    it("lets only the owner set parameters, and moves ownership in two steps", async () => {
      const { verification, owner, stranger } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.setParams([P], { account: stranger.account }),
        verification,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      await verification.write.transferOwnership([stranger.account.address], { account: owner.account });
      assert.equal(getAddress(await verification.read.owner()), address(owner));
      assert.equal(getAddress(await verification.read.pendingOwner()), address(stranger));
      await verification.write.acceptOwnership({ account: stranger.account });
      assert.equal(getAddress(await verification.read.owner()), address(stranger));
      await verification.write.setParams([P], { account: stranger.account });
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.setParams([P], { account: owner.account }),
        verification,
        "OwnableUnauthorizedAccount",
        [address(owner)],
      );
    });

    it("refuses to deploy with a zero address or invalid parameters", async () => {
      const { verification, market, staking, token, owner } = await load();
      const o = owner.account.address;
      for (const args of [
        [ZERO_ADDRESS, market.address, staking.address],
        [token.address, ZERO_ADDRESS, staking.address],
        [token.address, market.address, ZERO_ADDRESS],
      ] as const) {
        await assertions.revertWithCustomError(viem.deployContract("Verification", [...args, o, P]), verification, "ZeroAddress");
      }
      await assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("Verification", [token.address, market.address, staking.address, o, { ...P, committeeSize: 4 }]),
        verification,
        "InvalidParams",
        ["committeeSize"],
      );
    });
  });

  describe("auditorOf and auditCommitBy", () => {
    it("draws nobody before the seed block, then the verifier drawn with keccak256(seed, jobId, 'audit') without the provider", async () => {
      const { verification, market, staking, provider, verifiers, d, v, stranger } = await load(sampled);
      const jobId = await d.committed();
      assert.equal(await v.auditorOf(jobId), ZERO_ADDRESS);
      await d.waitForSeed(jobId);
      await networkHelpers.mine();

      const job = d.jobs.job(jobId);
      const [seed, isSampled] = await market.read.samplingOf([jobId, job.commitBlock]);
      assert.equal(isSampled, true);
      assert.notEqual(seed, ZERO_HASH);
      const expected = await staking.read.drawVerifier([auditDrawSeed(seed, jobId), [provider.account.address]]);
      const drawn = await v.auditorOf(jobId);
      assert.equal(drawn, expected);
      assert.ok(verifiers.some((w) => address(w) === getAddress(drawn)));

      await assertions.revertWithCustomErrorWithArgs(
        verification.read.auditorOf([jobId, { ...job, provider: stranger.account.address }]),
        verification,
        "JobMismatch",
        [jobId],
      );
    });

    it("is nobody for a job that is not sampled, and the recorded auditor once there is one", async () => {
      const { d, v } = await load();
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine();
      assert.equal(await v.auditorOf(jobId), ZERO_ADDRESS);

      const s = await load(sampled);
      const { jobId: audited, auditor } = await s.audited();
      assert.equal(s.d.jobs.job(audited).status, JobStatus.Revealed);
      assert.equal(getAddress(await s.v.auditorOf(audited)), address(auditor));
    });

    it("never draws the provider, even when it is a verifier", async () => {
      const { provider, d, v } = await load(everyoneVerifies);
      for (let i = 0; i < 6; i++) {
        const jobId = await d.committed();
        await d.waitForSeed(jobId);
        await networkHelpers.mine();
        const drawn = await v.auditorOf(jobId);
        assert.notEqual(drawn, ZERO_ADDRESS);
        assert.notEqual(getAddress(drawn), address(provider));
      }
    });

    it("is the commit time plus auditCommitTimeout, capped one second before the reveal deadline", async () => {
      const { verification, market, owner, d, blockTime } = await load(sampled);
      const jobId = await d.claimed();
      const receipt = await d.commit(jobId);
      const committedAt = await blockTime(receipt);
      const job = d.jobs.job(jobId);
      assert.equal(BigInt(job.deadline), committedAt + REVEAL_TIMEOUT);
      assert.equal(await verification.read.auditCommitBy([job]), committedAt + AUDIT_COMMIT_TIMEOUT);

      // The market's reveal timeout shrinks under the audit timeout: the provider keeps its last second.
      await market.write.setParams([{ ...(await market.read.params()), revealTimeout: 100 }], { account: owner.account });
      assert.equal(await verification.read.auditCommitBy([job]), BigInt(job.deadline) - 1n);
    });
  });

  describe("commitAudit", () => {
    it("records the drawn auditor's blind commitment and emits AuditCommitted", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const auditor = await v.auditor(jobId);
      const commitment = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
      const { transactionHash } = await v.commitAudit(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditCommitted", [jobId, address(auditor), commitment]);
      assert.deepEqual(
        { ...(await verification.read.audit([jobId])) },
        { auditor: address(auditor), state: AuditState.Committed, commitment, outputRoot: ZERO_HASH },
      );
    });

    it("commits at auditCommitBy and reverts with AuditClosed one second later", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const auditor = await v.auditor(jobId);
      const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
      const c = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
      await d.at(commitBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: auditor.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
      await d.at(commitBy);
      await v.commitAudit(jobId);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Committed);
    });

    it("reverts before the seed block, for a job not sampled or not committed, and for a wrong job state", async () => {
      const { verification, verifiers, d } = await load(sampled);
      const jobId = await d.committed();
      const auditorLater = d.jobs.job(jobId);
      const c = keccak256(toHex("commitment"));
      const [someone] = verifiers;
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, auditorLater, c], { account: someone.account }),
        verification,
        "SeedNotReady",
        [jobId],
      );
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, auditorLater, ZERO_HASH], { account: someone.account }),
        verification,
        "ZeroCommitment",
        [],
      );
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, { ...auditorLater, fee: 1n }, c], { account: someone.account }),
        verification,
        "JobMismatch",
        [jobId],
      );
      const posted = await d.post();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([posted, d.jobs.job(posted), c], { account: someone.account }),
        verification,
        "WrongJobStatus",
        [posted, JobStatus.Posted],
      );

      const u = await load();
      const plain = await u.d.committed();
      await u.d.waitForSeed(plain);
      await networkHelpers.mine();
      await assertions.revertWithCustomErrorWithArgs(
        u.verification.write.commitAudit([plain, u.d.jobs.job(plain), c], { account: u.verifiers[0].account }),
        u.verification,
        "NotSampled",
        [plain],
      );
    });

    it("reverts with NotAuditor for any verifier but the drawn one, and WrongAuditState on a second commitment", async () => {
      const { verification, verifiers, provider, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const auditor = await v.auditor(jobId);
      const c = keccak256(toHex("commitment"));
      for (const other of [...verifiers.filter((w) => address(w) !== address(auditor)), provider]) {
        await assertions.revertWithCustomErrorWithArgs(
          verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: other.account }),
          verification,
          "NotAuditor",
          [jobId, address(other)],
        );
      }
      await v.commitAudit(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: auditor.account }),
        verification,
        "WrongAuditState",
        [jobId, AuditState.Committed],
      );
    });

    it("reverts with AuditClosed once the seed is out of reach: the audit will be a late one", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const auditor = await v.auditor(jobId);
      await networkHelpers.mine(BLOCKHASH_REACH + 1n);
      const c = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: auditor.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
    });
  });

  describe("onSampledReveal (through JobMarket.reveal)", () => {
    it("reverts with NotMarket for any other caller", async () => {
      const { verification, stranger, d } = await load(sampled);
      const jobId = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.onSampledReveal([jobId, d.jobs.job(jobId), ZERO_HASH], { account: stranger.account }),
        verification,
        "NotMarket",
        [address(stranger)],
      );
    });

    it("holds the reveal with AuditPending until auditCommitBy, then records the drawn auditor as Missed", async () => {
      const { market, verification, provider, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const auditor = await v.auditor(jobId);
      const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
      await d.at(commitBy);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
        verification,
        "AuditPending",
        [jobId, commitBy],
      );
      await d.at(commitBy + 1n);
      const { transactionHash } = await d.reveal(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorDrawn", [jobId, address(auditor), commitBy, false]);
      assert.equal(d.jobs.job(jobId).sampled, true);
      assert.deepEqual(
        { ...(await verification.read.audit([jobId])) },
        { auditor: address(auditor), state: AuditState.Missed, commitment: ZERO_HASH, outputRoot: ZERO_HASH },
      );
    });

    it("lets the provider reveal at once after the auditor committed", async () => {
      const { verification, d, audited } = await load(sampled);
      const { jobId } = await audited();
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Revealed);
      assert.equal(job.sampled, true);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Committed);
    });

    it("samples a job whose seed went out of reach and draws a late auditor from the previous block", async () => {
      const { verification, staking, provider, publicClient, verifiers, d, v, blockTime } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine(BLOCKHASH_REACH);
      const receipt = await d.reveal(jobId, { waitSeed: false });
      const previous = await publicClient.getBlock({ blockNumber: receipt.blockNumber - 1n });
      const expected = await staking.read.drawVerifier([auditDrawSeed(previous.hash, jobId), [provider.account.address]]);
      assert.notEqual(expected, ZERO_ADDRESS);
      const end = (await blockTime(receipt)) + CHALLENGE_WINDOW;
      await assertions.emitWithArgs(receipt.transactionHash, verification, "AuditorDrawn", [jobId, getAddress(expected), end, true]);
      assert.equal(BigInt(d.jobs.job(jobId).deadline), end);
      assert.equal(d.jobs.job(jobId).sampled, true);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Drawn);

      // The late auditor, and only it, commits and reveals during the challenge window.
      const late = v.wallet(expected);
      const other = verifiers.find((w) => address(w) !== getAddress(expected))!;
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), keccak256(toHex("x"))], { account: other.account }),
        verification,
        "NotAuditor",
        [jobId, address(other)],
      );
      await v.commitAudit(jobId, { by: late });
      await v.revealAudit(jobId, { by: late });
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Agreed);
    });

    it("lets a late auditor commit until the end of the challenge window and not a second later", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      await networkHelpers.mine(BLOCKHASH_REACH);
      await d.reveal(jobId, { waitSeed: false });
      const late = await v.auditor(jobId);
      const end = BigInt(d.jobs.job(jobId).deadline);
      const c = await v.auditCommitment(jobId, late, v.auditOutput(jobId));
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: late.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
      await d.at(end);
      await v.commitAudit(jobId, { by: late });
    });

    it("lets the reveal through and records nothing when no verifier can be drawn", async () => {
      const { verification, d, v } = await load(sampledNoVerifiers);
      const jobId = await d.committed();
      assert.equal(await v.auditorOf(jobId), ZERO_ADDRESS);
      const receipt = await d.reveal(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Revealed);
      assert.equal(d.jobs.job(jobId).sampled, true);
      const drawnLogs = receipt.logs.filter((l) => l.address.toLowerCase() === verification.address.toLowerCase());
      assert.equal(drawnLogs.length, 0);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.None);
    });
  });

  describe("revealAudit", () => {
    it("Agree pays auditReward from the market's audit pool, once the pool holds it", async () => {
      const { market, verification, d, v, audited } = await load(sampled);
      // The first audited job finds the pool empty: the agreement is recorded and nothing is paid.
      const first = await d.post({ fee: parseEther("100") });
      await d.claim(first);
      await d.commit(first);
      await v.auditedReveal(first);
      const firstAuditor = await v.auditor(first);
      const { transactionHash: unpaid } = await v.revealAudit(first);
      await assertions.emitWithArgs(unpaid, verification, "AuditRevealed", [
        first,
        address(firstAuditor),
        d.outputOf(first).outputRoot,
        Verdict.Agree,
        `http://auditor/blobs/${d.outputOf(first).outputRoot}`,
      ]);
      assert.equal(await market.read.credits([firstAuditor.account.address]), 0n);
      await d.finalize(first);
      const pool = feeSplit(parseEther("100")).auditLevy;
      assert.equal(await market.read.auditPool(), pool);

      const { jobId, auditor } = await audited();
      const before = await market.read.credits([auditor.account.address]);
      const { transactionHash } = await v.revealAudit(jobId);
      await assertions.emitWithArgs(transactionHash, market, "AuditRewardPaid", [address(auditor), P.auditReward]);
      assert.equal(await market.read.credits([auditor.account.address]), before + P.auditReward);
      assert.equal(await market.read.auditPool(), pool - P.auditReward);
      const audit = await verification.read.audit([jobId]);
      assert.equal(audit.state, AuditState.Agreed);
      assert.equal(audit.outputRoot, d.outputOf(jobId).outputRoot);
      // The job goes on to finalize as any other.
      await d.finalize(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("Agree pays what the pool holds when that is less than auditReward", async () => {
      const { market, d, v, audited } = await load(sampled);
      const { jobId: first } = await audited();
      await d.finalize(first);
      const pool = feeSplit(FEE).auditLevy;
      assert.ok(pool < P.auditReward);
      const { jobId, auditor } = await audited();
      const { transactionHash } = await v.revealAudit(jobId);
      await assertions.emitWithArgs(transactionHash, market, "AuditRewardPaid", [address(auditor), pool]);
      assert.equal(await market.read.auditPool(), 0n);
    });

    it("treats equal roots as an agreement whatever the verdict", async () => {
      const { verification, d, v, audited } = await load(sampled);
      const { jobId } = await audited();
      await v.revealAudit(jobId, { verdict: Verdict.Disagree });
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Agreed);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.None);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Revealed);
    });

    it("Disagree opens a dispute with the auditor as challenger and no bond", async () => {
      const { market, verification, token, d, v, audited, blockTime } = await load(sampled);
      const { jobId, auditor } = await audited({ agree: false });
      const held = await token.read.balanceOf([verification.address]);
      const output = v.auditOutput(jobId, { agree: false });
      const receipt = await v.revealAudit(jobId, { output, verdict: Verdict.Disagree });
      await assertions.emitWithArgs(receipt.transactionHash, verification, "ChallengeOpened", [jobId, address(auditor), 0n, true]);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobDisputed", [jobId]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
      const audit = await verification.read.audit([jobId]);
      assert.equal(audit.state, AuditState.Disagreed);
      assert.equal(audit.outputRoot, output.outputRoot);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual(
        { ...dispute, committee: [...dispute.committee] },
        {
          challenger: address(auditor),
          bond: 0n,
          state: DisputeState.Open,
          openedBlock: receipt.blockNumber,
          openedAt: await blockTime(receipt),
          voteCommitBy: 0n,
          voteRevealBy: 0n,
          byAuditor: true,
          providerFaulted: false,
          committee: [],
        },
      );
      assert.equal(await token.read.balanceOf([verification.address]), held);
    });

    it("reveals at the end of the challenge window and reverts with AuditClosed one second later", async () => {
      const { verification, d, v, audited } = await load(sampled);
      const { jobId, auditor } = await audited();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealAudit(v.revealAuditArgs(jobId, v.auditOutput(jobId), Verdict.Agree), { account: auditor.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
      await d.at(end);
      await v.revealAudit(jobId);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Agreed);
    });

    it("reverts for another account, a wrong salt, a zero root, a second reveal and a job not revealed", async () => {
      const { verification, stranger, d, v, audited } = await load(sampled);
      const { jobId, auditor } = await audited();
      const output = v.auditOutput(jobId);
      const as = (who: Wallet, o: { outputRoot: Hex; salt: Hex }) =>
        verification.write.revealAudit(v.revealAuditArgs(jobId, o, Verdict.Agree), { account: who.account });
      await assertions.revertWithCustomErrorWithArgs(as(stranger, output), verification, "NotAuditor", [jobId, address(stranger)]);
      await assertions.revertWithCustomErrorWithArgs(
        as(auditor, { ...output, salt: keccak256(toHex("wrong salt")) }),
        verification,
        "AuditCommitmentMismatch",
        [jobId],
      );
      await assertions.revertWithCustomErrorWithArgs(as(auditor, { ...output, outputRoot: ZERO_HASH }), verification, "ZeroOutputRoot", []);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealAudit([jobId, { ...d.jobs.job(jobId), fee: 1n }, output.outputRoot, output.salt, 0, ""], {
          account: auditor.account,
        }),
        verification,
        "JobMismatch",
        [jobId],
      );
      await v.revealAudit(jobId);
      await assertions.revertWithCustomErrorWithArgs(as(auditor, output), verification, "WrongAuditState", [jobId, AuditState.Agreed]);

      // Committed blind, job not revealed yet.
      const pending = await d.committed();
      await d.waitForSeed(pending);
      await v.commitAudit(pending);
      const blind = await v.auditor(pending);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealAudit(v.revealAuditArgs(pending, v.auditOutput(pending), Verdict.Agree), { account: blind.account }),
        verification,
        "WrongJobStatus",
        [pending, JobStatus.Committed],
      );
    });

    it("records a Disagree without opening a second dispute when someone already challenged", async () => {
      const { verification, challenger, d, v, audited } = await load(sampled);
      const { jobId } = await audited({ agree: false });
      await v.challenge(jobId, challenger);
      await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }), verdict: Verdict.Disagree });
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Disagreed);
      const dispute = await verification.read.dispute([jobId]);
      assert.equal(dispute.challenger, address(challenger));
      assert.equal(dispute.byAuditor, false);
      assert.equal(dispute.bond, CHALLENGE_BOND);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
    });
  });

  describe("penalizeAuditor", () => {
    it("penalizes a missed blind commit once: auditorPenalty from the auditor's stake to the treasury", async () => {
      const { verification, staking, token, keeper, d, v, stakeOf } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const auditor = await v.auditor(jobId);
      await d.at((await verification.read.auditCommitBy([d.jobs.job(jobId)])) + 1n);
      await d.reveal(jobId);
      const stakeBefore = await stakeOf(auditor);

      const { transactionHash } = await d.jobs.send(
        verification.write.penalizeAuditor([jobId, d.jobs.job(jobId)], { account: keeper.account }),
      );
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), P.auditorPenalty]);
      await assertions.emitWithArgs(transactionHash, verification, "TreasuryCredited", [P.auditorPenalty]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [
        address(auditor),
        P.auditorPenalty,
        P.auditorPenalty,
        getAddress(verification.address),
      ]);
      assert.equal(await stakeOf(auditor), stakeBefore - P.auditorPenalty);
      assert.equal(await verification.read.treasury(), P.auditorPenalty);
      assert.equal(await token.read.balanceOf([verification.address]), P.auditorPenalty);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Penalized);

      await assertions.revertWithCustomErrorWithArgs(
        verification.write.penalizeAuditor([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        verification,
        "NothingToPenalize",
        [jobId],
      );
    });

    it("penalizes an auditor that committed and did not reveal, from one second after the challenge window, even once finalized", async () => {
      const { verification, keeper, d, audited, stakeOf } = await load(sampled);
      const { jobId, auditor } = await audited();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.penalizeAuditor([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        verification,
        "DeadlineNotPassed",
        [jobId, end, end],
      );
      await d.finalize(jobId);
      const before = await stakeOf(auditor);
      await d.jobs.send(verification.write.penalizeAuditor([jobId, d.jobs.job(jobId)], { account: keeper.account }));
      assert.equal(await stakeOf(auditor), before - P.auditorPenalty);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Penalized);
    });

    it("reverts with NothingToPenalize after an agreement, without an audit, or for a job never revealed", async () => {
      const { verification, market, keeper, d, v, audited } = await load(sampled);
      const penalize = (jobId: bigint) =>
        verification.write.penalizeAuditor([jobId, d.jobs.job(jobId)], { account: keeper.account });
      const { jobId: agreed } = await audited();
      await v.revealAudit(agreed);
      await d.pastDeadline(agreed);
      await assertions.revertWithCustomErrorWithArgs(penalize(agreed), verification, "NothingToPenalize", [agreed]);

      const posted = await d.post();
      await assertions.revertWithCustomErrorWithArgs(penalize(posted), verification, "NothingToPenalize", [posted]);

      // Blind commitment, then the provider never reveals: the job expires and the auditor owes nothing.
      const silent = await d.committed();
      await d.waitForSeed(silent);
      await v.commitAudit(silent);
      await d.pastDeadline(silent);
      await d.jobs.send(market.write.expire([silent, d.jobs.job(silent)], { account: keeper.account }));
      await assertions.revertWithCustomErrorWithArgs(penalize(silent), verification, "NothingToPenalize", [silent]);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.penalizeAuditor([silent, { ...d.jobs.job(silent), status: JobStatus.Revealed }], { account: keeper.account }),
        verification,
        "JobMismatch",
        [silent],
      );
    });
  });

  describe("challenge", () => {
    it("pulls the bond, records the dispute and puts the job under dispute", async () => {
      const { market, verification, token, challenger, d, v, blockTime } = await load();
      const jobId = await d.revealed();
      const before = await token.read.balanceOf([challenger.account.address]);
      const receipt = await v.challenge(jobId, challenger);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "ChallengeOpened", [jobId, address(challenger), CHALLENGE_BOND, false]);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobDisputed", [jobId]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before - CHALLENGE_BOND);
      assert.equal(await token.read.balanceOf([verification.address]), CHALLENGE_BOND);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual(
        { ...dispute, committee: [...dispute.committee] },
        {
          challenger: address(challenger),
          bond: CHALLENGE_BOND,
          state: DisputeState.Open,
          openedBlock: receipt.blockNumber,
          openedAt: await blockTime(receipt),
          voteCommitBy: 0n,
          voteRevealBy: 0n,
          byAuditor: false,
          providerFaulted: false,
          committee: [],
        },
      );
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
      assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
    });

    it("reverts with DisputeExists on a second challenge", async () => {
      const { verification, stranger, d, challenged } = await load();
      const { jobId } = await challenged();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: stranger.account }),
        verification,
        "DisputeExists",
        [jobId],
      );
    });

    it("challenges at the end of the window and fails one second later with the market's DeadlinePassed", async () => {
      const { market, verification, challenger, d, v } = await load();
      const jobId = await d.revealed();
      const end = BigInt(d.jobs.job(jobId).deadline);
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: challenger.account }),
        market,
        "DeadlinePassed",
        [jobId, end, end + 1n],
      );
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.None);
      await d.at(end);
      await v.challenge(jobId, challenger);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
    });

    it("reverts for a job not revealed, a wrong job state, and without an allowance for the bond", async () => {
      const { market, verification, token, challenger, keeper, d } = await load();
      const jobId = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: challenger.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Committed],
      );
      await d.reveal(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, { ...d.jobs.job(jobId), result: d.outputOf(99n).outputRoot }], { account: challenger.account }),
        market,
        "JobMismatch",
        [jobId],
      );
      await token.write.mint([keeper.account.address, CHALLENGE_BOND]);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        token,
        "ERC20InsufficientAllowance",
        [verification.address, 0n, CHALLENGE_BOND],
      );
    });
  });

  describe("drawCommittee", () => {
    it("draws from the seed block after the dispute, one seed per member, excluding the provider, the challenger and the auditor", async () => {
      const { verification, staking, owner, provider, challenger, publicClient, keeper, d, v, audited, blockTime } = await load(everyoneVerifies);
      // Five seats for seven verifiers: only the four that are neither provider, challenger nor auditor are
      // eligible, and the committee is the largest odd number of them. Any of the three let in would make it five.
      await verification.write.setParams([{ ...P, committeeSize: 5 }], { account: owner.account });
      // The challenger is a verifier too: take a job it does not audit (its auditor is a random draw).
      let { jobId, auditor } = await audited();
      for (let i = 0; i < 10 && address(auditor) === address(challenger); i++) ({ jobId, auditor } = await audited());
      assert.notEqual(address(auditor), address(challenger));
      const receipt = await v.challenge(jobId, challenger);
      const seedBlock = receipt.blockNumber + BigInt(MARKET_PARAMS.seedDelay);
      const missing = seedBlock - (await publicClient.getBlockNumber());
      await networkHelpers.mine(missing - 1n);
      // The transaction below is mined in the seed block itself: too early.
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([jobId], { account: keeper.account }),
        verification,
        "CommitteeSeedNotReady",
        [jobId, seedBlock],
      );
      await networkHelpers.mine();
      const drawn = await v.drawCommittee(jobId);
      const drawnAt = await blockTime(drawn);

      // Replay the draw with the same seeds and exclusions: four found, the last one dropped.
      const seed = (await publicClient.getBlock({ blockNumber: seedBlock })).hash;
      const excluded: Address[] = [provider.account.address, challenger.account.address, auditor.account.address];
      const found: Address[] = [];
      for (let i = 0; i < 5; i++) {
        const member = await staking.read.drawVerifier([committeeDrawSeed(seed, jobId, i), [...excluded, ...found]]);
        if (member !== ZERO_ADDRESS) found.push(member);
      }
      assert.equal(found.length, 4);
      const expected = found.slice(0, 3);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual([...dispute.committee], expected);
      const members = new Set(dispute.committee.map((a) => getAddress(a)));
      assert.equal(members.size, 3);
      for (const out of [provider, challenger, auditor]) assert.ok(!members.has(address(out)));
      assert.equal(dispute.state, DisputeState.Voting);
      assert.equal(dispute.voteCommitBy, drawnAt + VOTE_COMMIT_TIMEOUT);
      assert.equal(dispute.voteRevealBy, drawnAt + VOTE_COMMIT_TIMEOUT + VOTE_REVEAL_TIMEOUT);
      await assertions.emitWithArgs(drawn.transactionHash, verification, "CommitteeDrawn", [
        jobId,
        expected.map((a) => getAddress(a)),
        dispute.voteCommitBy,
        dispute.voteRevealBy,
      ]);
    });

    it("draws until the whole vote would no longer fit in disputeDuration, then reverts with VotingClosed", async () => {
      const { verification, keeper, d, v, challenged } = await load();
      const { jobId, openedAt } = await challenged();
      const drawBy = openedAt + DISPUTE_DURATION - VOTE_COMMIT_TIMEOUT - VOTE_REVEAL_TIMEOUT;
      await networkHelpers.mine(MARKET_PARAMS.seedDelay + 1);
      await d.at(drawBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([jobId], { account: keeper.account }),
        verification,
        "VotingClosed",
        [jobId, drawBy, drawBy + 1n],
      );
      await d.at(drawBy);
      await v.drawCommittee(jobId);
      const dispute = await verification.read.dispute([jobId]);
      assert.equal(dispute.state, DisputeState.Voting);
      assert.equal(dispute.voteRevealBy, openedAt + DISPUTE_DURATION);
    });

    it("reverts with NoDispute for a job never challenged and WrongDisputeState once drawn", async () => {
      const { verification, keeper, d, v, challenged } = await load();
      const plain = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([plain], { account: keeper.account }),
        verification,
        "NoDispute",
        [plain],
      );
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([jobId], { account: keeper.account }),
        verification,
        "WrongDisputeState",
        [jobId, DisputeState.Voting],
      );
    });

    it("draws from the previous block's hash once the seed block is out of reach", async () => {
      const { verification, staking, provider, challenger, publicClient, v, challenged } = await load();
      const { jobId, receipt } = await challenged();
      await networkHelpers.mine(BigInt(MARKET_PARAMS.seedDelay) + BLOCKHASH_REACH + 1n);
      const drawn = await v.drawCommittee(jobId);
      const seed = (await publicClient.getBlock({ blockNumber: drawn.blockNumber - 1n })).hash;
      const excluded: Address[] = [provider.account.address, challenger.account.address, ZERO_ADDRESS];
      const expected: Address[] = [];
      for (let i = 0; i < P.committeeSize; i++) {
        expected.push(await staking.read.drawVerifier([committeeDrawSeed(seed, jobId, i), [...excluded, ...expected]]));
      }
      assert.deepEqual([...(await verification.read.dispute([jobId])).committee], expected);
      assert.ok(drawn.blockNumber > receipt.blockNumber + BigInt(MARKET_PARAMS.seedDelay) + BLOCKHASH_REACH);
    });

    it("with fewer eligible verifiers than committeeSize, the committee is the largest odd number of them", async () => {
      const { verification, verifiers, v, challenged } = await load(twoVerifiers);
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      const { committee, state } = await verification.read.dispute([jobId]);
      assert.equal(committee.length, 1);
      assert.ok(verifiers.some((w) => address(w) === getAddress(committee[0])));
      assert.equal(state, DisputeState.Voting);
    });

    it("with nobody eligible, draws nobody and the dispute resolves as no quorum after disputeDuration", async () => {
      const { verification, market, provider, challenger, keeper, d, v, challenged } = await load(noVerifiers);
      const { jobId, openedAt } = await challenged();
      const { transactionHash } = await v.drawCommittee(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "CommitteeDrawn", [jobId, [], 0n, 0n]);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Open);

      const resolvableAt = openedAt + DISPUTE_DURATION;
      await d.at(resolvableAt);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "DisputeStillOpen",
        [jobId, resolvableAt, resolvableAt],
      );
      await d.at(resolvableAt + 1n);
      const resolved = await v.resolve(jobId, { wait: false });
      await assertions.emitWithArgs(resolved.transactionHash, verification, "DisputeResolved", [jobId, false, 0n, 0n, 0n]);
      await assertions.emitWithArgs(resolved.transactionHash, market, "JobFinalized", [jobId, address(provider), feeSplit(FEE).payout]);
      assert.equal(await verification.read.credits([challenger.account.address]), CHALLENGE_BOND);
    });
  });

  describe("commitVote and revealVote", () => {
    /** A challenged job with its committee drawn. */
    async function voting() {
      const sys = await load();
      const { jobId } = await sys.challenged();
      await sys.v.drawCommittee(jobId);
      const members = await sys.v.committee(jobId);
      const dispute = await sys.verification.read.dispute([jobId]);
      return { ...sys, jobId, members, commitBy: dispute.voteCommitBy, revealBy: dispute.voteRevealBy };
    }

    it("records a member's commitment until voteCommitBy and reverts with VotingClosed one second later", async () => {
      const { verification, jobId, members, commitBy, d, v } = await voting();
      const c = await v.voteCommitmentOf(jobId, members[0], Vote.ProviderWrong);
      const { transactionHash } = await v.commitVote(jobId, members[0], Vote.ProviderWrong);
      await assertions.emitWithArgs(transactionHash, verification, "VoteCommitted", [jobId, address(members[0]), c]);
      assert.deepEqual(await verification.read.voteOf([jobId, members[0].account.address]), [c, Vote.None]);

      const late = await v.voteCommitmentOf(jobId, members[1], Vote.ProviderWrong);
      await d.at(commitBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitVote([jobId, late], { account: members[1].account }),
        verification,
        "VotingClosed",
        [jobId, commitBy, commitBy + 1n],
      );
      await d.at(commitBy);
      await v.commitVote(jobId, members[1], Vote.ProviderWrong);
    });

    it("refuses commitments from non-members, a second commitment, a zero one, and before the draw", async () => {
      const { verification, jobId, members, stranger, provider, challenger, keeper, v, challenged } = await voting();
      const c = keccak256(toHex("vote"));
      for (const outsider of [stranger, provider, challenger]) {
        await assertions.revertWithCustomErrorWithArgs(
          verification.write.commitVote([jobId, c], { account: outsider.account }),
          verification,
          "NotCommitteeMember",
          [jobId, address(outsider)],
        );
      }
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitVote([jobId, ZERO_HASH], { account: members[0].account }),
        verification,
        "ZeroCommitment",
        [],
      );
      await v.commitVote(jobId, members[0], Vote.ProviderCorrect);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitVote([jobId, c], { account: members[0].account }),
        verification,
        "VoteAlreadyCommitted",
        [jobId, address(members[0])],
      );
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitVote([999n, c], { account: members[0].account }),
        verification,
        "NoDispute",
        [999n],
      );
      const { jobId: open } = await challenged();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitVote([open, c], { account: keeper.account }),
        verification,
        "WrongDisputeState",
        [open, DisputeState.Open],
      );
    });

    it("opens reveals after voteCommitBy, or as soon as every member committed", async () => {
      const { verification, jobId, members, commitBy, d, v } = await voting();
      await v.commitVote(jobId, members[0], Vote.ProviderWrong);
      await v.commitVote(jobId, members[1], Vote.ProviderCorrect);
      const now = (await d.now()) + 1n;
      await d.at(now);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealVote([jobId, Vote.ProviderWrong, v.voteSalt(jobId, members[0])], { account: members[0].account }),
        verification,
        "VotingStillOpen",
        [jobId, commitBy, now],
      );
      await d.at(commitBy);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealVote([jobId, Vote.ProviderWrong, v.voteSalt(jobId, members[0])], { account: members[0].account }),
        verification,
        "VotingStillOpen",
        [jobId, commitBy, commitBy],
      );
      await d.at(commitBy + 1n);
      const { transactionHash } = await v.revealVote(jobId, members[0], Vote.ProviderWrong);
      await assertions.emitWithArgs(transactionHash, verification, "VoteRevealed", [jobId, address(members[0]), Vote.ProviderWrong]);
      assert.equal((await verification.read.voteOf([jobId, members[0].account.address]))[1], Vote.ProviderWrong);

      // A second dispute: everyone commits, reveals start at once.
      const sys2 = await voting();
      for (const m of sys2.members) await sys2.v.commitVote(sys2.jobId, m, Vote.ProviderCorrect);
      assert.ok((await sys2.d.now()) < sys2.commitBy);
      await sys2.v.revealVote(sys2.jobId, sys2.members[2], Vote.ProviderCorrect);
    });

    it("reveals until voteRevealBy and reverts with VotingClosed one second later", async () => {
      const { verification, jobId, members, revealBy, d, v } = await voting();
      for (const m of members) await v.commitVote(jobId, m, Vote.ProviderCorrect);
      await d.at(revealBy);
      await v.revealVote(jobId, members[0], Vote.ProviderCorrect);
      await d.at(revealBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealVote([jobId, Vote.ProviderCorrect, v.voteSalt(jobId, members[1])], { account: members[1].account }),
        verification,
        "VotingClosed",
        [jobId, revealBy, revealBy + 1n],
      );
    });

    it("refuses a reveal that does not open the commitment, a second reveal, Vote.None and non-members", async () => {
      const { verification, jobId, members, stranger, d, commitBy, v } = await voting();
      await v.commitVote(jobId, members[0], Vote.ProviderWrong);
      await v.commitVote(jobId, members[1], Vote.ProviderWrong);
      await d.at(commitBy + 1n);
      const reveal = (who: Wallet, vote: number, salt: Hex) => verification.write.revealVote([jobId, vote, salt], { account: who.account });
      await assertions.revertWithCustomErrorWithArgs(reveal(members[0], Vote.None, v.voteSalt(jobId, members[0])), verification, "InvalidVote", []);
      await assertions.revertWithCustomErrorWithArgs(
        reveal(members[0], Vote.ProviderCorrect, v.voteSalt(jobId, members[0])),
        verification,
        "VoteCommitmentMismatch",
        [jobId, address(members[0])],
      );
      await assertions.revertWithCustomErrorWithArgs(
        reveal(members[1], Vote.ProviderWrong, keccak256(toHex("other salt"))),
        verification,
        "VoteCommitmentMismatch",
        [jobId, address(members[1])],
      );
      // Never committed.
      await assertions.revertWithCustomErrorWithArgs(
        reveal(members[2], Vote.ProviderWrong, v.voteSalt(jobId, members[2])),
        verification,
        "VoteCommitmentMismatch",
        [jobId, address(members[2])],
      );
      await assertions.revertWithCustomErrorWithArgs(
        reveal(stranger, Vote.ProviderWrong, v.voteSalt(jobId, stranger)),
        verification,
        "NotCommitteeMember",
        [jobId, address(stranger)],
      );
      await v.revealVote(jobId, members[0], Vote.ProviderWrong);
      await assertions.revertWithCustomErrorWithArgs(
        reveal(members[0], Vote.ProviderWrong, v.voteSalt(jobId, members[0])),
        verification,
        "VoteAlreadyRevealed",
        [jobId, address(members[0])],
      );
    });
  });

  describe("resolve", () => {
    it("waits for voteRevealBy while votes are missing, and no longer once every member revealed", async () => {
      const { verification, keeper, d, v, challenged } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderCorrect, Vote.None]);
      const { voteRevealBy } = await verification.read.dispute([jobId]);
      await d.at(voteRevealBy);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "DisputeStillOpen",
        [jobId, voteRevealBy, voteRevealBy],
      );
      await d.at(voteRevealBy + 1n);
      await v.resolve(jobId, { wait: false });
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Resolved);

      const { jobId: fast } = await challenged();
      await v.drawCommittee(fast);
      await v.vote(fast, [Vote.ProviderCorrect, Vote.ProviderCorrect, Vote.ProviderWrong]);
      assert.ok((await d.now()) < (await verification.read.dispute([fast])).voteRevealBy);
      await v.resolve(fast, { wait: false });
      assert.equal(d.jobs.job(fast).status, JobStatus.Finalized);
    });

    it("reverts with NoDispute without one, WrongDisputeState when resolved twice, and the market's JobMismatch", async () => {
      const { market, verification, keeper, d, v, challenged } = await load();
      const plain = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([plain, d.jobs.job(plain), "0x"], { account: keeper.account }),
        verification,
        "NoDispute",
        [plain],
      );
      const { jobId, openedAt } = await challenged();
      await d.at(openedAt + DISPUTE_DURATION + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, { ...d.jobs.job(jobId), status: JobStatus.Revealed }, "0x"], { account: keeper.account }),
        market,
        "JobMismatch",
        [jobId],
      );
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Open);
      await v.resolve(jobId, { wait: false });
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "WrongDisputeState",
        [jobId, DisputeState.Resolved],
      );
    });
  });

  describe("settlement", () => {
    it("an auditor's Disagree upheld by the committee slashes the provider and splits the collateral exactly", async () => {
      const { market, verification, staking, token, dapp, provider, d, v, disagreed, stakeOf } = await load(sampled);
      const { jobId, auditor } = await disagreed();
      await v.drawCommittee(jobId);
      const members = await v.committee(jobId);
      const [wrong1, wrong2, minority] = members;
      const stakes = { provider: await stakeOf(provider), auditor: await stakeOf(auditor), minority: await stakeOf(minority) };
      const dappCredits = await market.read.credits([dapp.account.address]);
      await v.vote(jobId, [Vote.ProviderWrong, Vote.ProviderWrong, Vote.ProviderCorrect]);

      const { transactionHash } = await v.resolve(jobId);
      const split = settlementSplit(MODEL_COLLATERAL, P.challengerRewardBps, P.voterRewardBps, 2);
      assert.deepEqual(split, { lead: parseEther("40"), perVoter: parseEther("15"), rest: parseEther("30") });
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, true, MODEL_COLLATERAL, 1n, 2n]);
      await assertions.emitWithArgs(transactionHash, market, "DisputeSettled", [jobId, true, MODEL_COLLATERAL]);
      await assertions.emitWithArgs(transactionHash, verification, "VoterPenalized", [jobId, address(minority), P.voterPenalty]);
      await assertions.emitWithArgs(transactionHash, verification, "TreasuryCredited", [split.rest + P.voterPenalty]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
      assert.equal(await market.read.credits([dapp.account.address]), dappCredits + FEE);
      assert.equal(await market.read.credits([provider.account.address]), 0n);
      assert.equal(await stakeOf(provider), stakes.provider - MODEL_COLLATERAL);
      assert.equal((await staking.read.account([provider.account.address])).locked, 0n);
      assert.equal(await verification.read.credits([auditor.account.address]), split.lead);
      assert.equal(await stakeOf(auditor), stakes.auditor);
      assert.equal(await verification.read.credits([wrong1.account.address]), split.perVoter);
      assert.equal(await verification.read.credits([wrong2.account.address]), split.perVoter);
      assert.equal(await verification.read.credits([minority.account.address]), 0n);
      assert.equal(await stakeOf(minority), stakes.minority - P.voterPenalty);
      assert.equal(await verification.read.treasury(), split.rest + P.voterPenalty);
      assert.equal(await token.read.balanceOf([verification.address]), MODEL_COLLATERAL + P.voterPenalty);
      const dispute = await verification.read.dispute([jobId]);
      assert.equal(dispute.state, DisputeState.Resolved);
      assert.equal(dispute.providerFaulted, true);
    });

    it("a challenger's bond comes back with its share when the provider is faulted; an absent voter is penalized", async () => {
      const { verification, token, challenger, d, v, challenged, stakeOf } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      const [a, b, absent] = await v.committee(jobId);
      const absentStake = await stakeOf(absent);
      await v.vote(jobId, [Vote.ProviderWrong, Vote.ProviderWrong, Vote.None]);
      const { transactionHash } = await v.resolve(jobId);
      const split = settlementSplit(MODEL_COLLATERAL, P.challengerRewardBps, P.voterRewardBps, 2);
      await assertions.emitWithArgs(transactionHash, verification, "VoterPenalized", [jobId, address(absent), P.voterPenalty]);
      assert.equal(await verification.read.credits([challenger.account.address]), CHALLENGE_BOND + split.lead);
      assert.equal(await verification.read.credits([a.account.address]), split.perVoter);
      assert.equal(await verification.read.credits([b.account.address]), split.perVoter);
      assert.equal(await stakeOf(absent), absentStake - P.voterPenalty);
      assert.equal(await verification.read.treasury(), split.rest + P.voterPenalty);
      assert.equal(
        await token.read.balanceOf([verification.address]),
        CHALLENGE_BOND + MODEL_COLLATERAL + P.voterPenalty,
      );
      assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    });

    it("a false challenge: the provider is paid, the bond goes to the provider, the voters and the treasury", async () => {
      const { market, verification, token, provider, challenger, d, v, challenged } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      const members = await v.committee(jobId);
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderCorrect, Vote.ProviderCorrect]);
      const { transactionHash } = await v.resolve(jobId);

      const split = settlementSplit(CHALLENGE_BOND, P.providerRewardBps, P.voterRewardBps, 3);
      assert.deepEqual(split, { lead: parseEther("25"), perVoter: parseEther("5"), rest: parseEther("10") });
      const { payout, protocolFee, auditLevy } = feeSplit(FEE);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, 3n, 0n]);
      await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.credits([provider.account.address]), payout);
      assert.equal(await market.read.protocolFees(), protocolFee);
      assert.equal(await market.read.auditPool(), auditLevy);
      assert.equal(await verification.read.credits([provider.account.address]), split.lead);
      for (const m of members) assert.equal(await verification.read.credits([m.account.address]), split.perVoter);
      assert.equal(await verification.read.credits([challenger.account.address]), 0n);
      assert.equal(await verification.read.treasury(), split.rest);
      assert.equal(await token.read.balanceOf([verification.address]), CHALLENGE_BOND);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("an auditor's overturned Disagree costs it challengeBond from its stake, split like a bond", async () => {
      const { verification, staking, token, provider, d, v, disagreed, stakeOf } = await load(sampled);
      const { jobId, auditor } = await disagreed();
      await v.drawCommittee(jobId);
      const [a, b, minority] = await v.committee(jobId);
      const auditorStake = await stakeOf(auditor);
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderCorrect, Vote.ProviderWrong]);
      const { transactionHash } = await v.resolve(jobId);

      const bond = P.challengeBond;
      const split = settlementSplit(bond, P.providerRewardBps, P.voterRewardBps, 2);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, bond, 2n, 1n]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [address(auditor), bond, bond, getAddress(verification.address)]);
      assert.equal(await stakeOf(auditor), auditorStake - bond);
      assert.equal(await verification.read.credits([provider.account.address]), split.lead);
      assert.equal(await verification.read.credits([a.account.address]), split.perVoter);
      assert.equal(await verification.read.credits([b.account.address]), split.perVoter);
      assert.equal(await verification.read.credits([minority.account.address]), 0n);
      assert.equal(await verification.read.credits([auditor.account.address]), 0n);
      assert.equal(await verification.read.treasury(), split.rest + P.voterPenalty);
      assert.equal(await token.read.balanceOf([verification.address]), bond + P.voterPenalty);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("a tie upholds the provider and returns the bond; only the silent member is penalized", async () => {
      const { verification, challenger, d, v, challenged, stakeOf } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      const [correct, wrong, silent] = await v.committee(jobId);
      const stakes = await Promise.all([correct, wrong, silent].map((w) => stakeOf(w)));
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderWrong, Vote.None]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, 1n, 1n]);
      await assertions.emitWithArgs(transactionHash, verification, "Credited", [address(challenger), CHALLENGE_BOND]);
      assert.equal(await verification.read.credits([challenger.account.address]), CHALLENGE_BOND);
      assert.equal(await stakeOf(correct), stakes[0]);
      assert.equal(await stakeOf(wrong), stakes[1]);
      assert.equal(await stakeOf(silent), stakes[2] - P.voterPenalty);
      assert.equal(await verification.read.credits([correct.account.address]), 0n);
      assert.equal(await verification.read.treasury(), P.voterPenalty);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("no revealed vote is no quorum: upheld, bond returned, every member penalized", async () => {
      const { verification, token, challenger, d, v, challenged, stakeOf } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      const members = await v.committee(jobId);
      const stakes = await Promise.all(members.map((w) => stakeOf(w)));
      await v.vote(jobId, [Vote.None, Vote.None, Vote.None]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, 0n, 0n]);
      for (const [i, m] of members.entries()) assert.equal(await stakeOf(m), stakes[i] - P.voterPenalty);
      assert.equal(await verification.read.credits([challenger.account.address]), CHALLENGE_BOND);
      assert.equal(await verification.read.treasury(), 3n * P.voterPenalty);
      assert.equal(await token.read.balanceOf([verification.address]), CHALLENGE_BOND + 3n * P.voterPenalty);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("still delivers the result callback to a consumer whose job the committee upheld", async () => {
      const { token, market, challenger, d, v } = await load();
      const consumer = await viem.deployContract("GoodConsumer", [market.address, token.address]);
      await token.write.mint([consumer.address, FEE]);
      const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: 300_000 })])));
      await v.challenge(jobId, challenger);
      await v.drawCommittee(jobId);
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderCorrect, Vote.ProviderCorrect]);
      await v.resolve(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal(await consumer.read.calls(), 1n);
      assert.equal(await consumer.read.lastOutputRoot(), d.outputOf(jobId).outputRoot);
    });

    it("a job under dispute cannot be finalized or expired by the market, even after its challenge window", async () => {
      const { market, keeper, d, challenged } = await load();
      const { jobId } = await challenged();
      await d.pastDeadline(jobId);
      for (const call of [
        () => market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        () => market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        () => market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
      ]) {
        await assertions.revertWithCustomErrorWithArgs(call(), market, "WrongStatus", [jobId, JobStatus.Disputed]);
      }
    });
  });

  describe("withdraw and the treasury", () => {
    it("pays an account its credits once, then reverts with NothingToWithdraw", async () => {
      const { verification, token, challenger, v, challenged } = await load();
      const { jobId } = await challenged();
      await v.resolve(jobId);
      const before = await token.read.balanceOf([challenger.account.address]);
      assert.equal((await verification.simulate.withdraw({ account: challenger.account.address })).result, CHALLENGE_BOND);
      const hash = await verification.write.withdraw({ account: challenger.account });
      await assertions.emitWithArgs(hash, verification, "Withdrawal", [address(challenger), CHALLENGE_BOND]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before + CHALLENGE_BOND);
      assert.equal(await verification.read.credits([challenger.account.address]), 0n);
      assert.equal(await token.read.balanceOf([verification.address]), 0n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdraw({ account: challenger.account }),
        verification,
        "NothingToWithdraw",
        [address(challenger)],
      );
    });

    it("lets only the owner withdraw the treasury, to a nonzero address, once", async () => {
      const { verification, token, owner, stranger, keeper, v, challenged } = await load();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdrawTreasury([keeper.account.address], { account: owner.account }),
        verification,
        "NothingToWithdraw",
        [address(keeper)],
      );
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      await v.vote(jobId, [Vote.None, Vote.None, Vote.None]);
      await v.resolve(jobId);
      const treasury = 3n * P.voterPenalty;
      assert.equal(await verification.read.treasury(), treasury);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdrawTreasury([stranger.account.address], { account: stranger.account }),
        verification,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      await assertions.revertWithCustomError(
        verification.write.withdrawTreasury([ZERO_ADDRESS], { account: owner.account }),
        verification,
        "ZeroAddress",
      );
      const hash = await verification.write.withdrawTreasury([keeper.account.address], { account: owner.account });
      await assertions.emitWithArgs(hash, verification, "TreasuryWithdrawn", [address(keeper), treasury]);
      assert.equal(await token.read.balanceOf([keeper.account.address]), treasury);
      assert.equal(await verification.read.treasury(), 0n);
      // What is left is exactly the bond credited back.
      assert.equal(await token.read.balanceOf([verification.address]), CHALLENGE_BOND);
    });
  });
});

