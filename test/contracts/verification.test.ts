/**
 * Verification behaviour (IVerification, docs/PROTOCOL.md section 7), on the Ignition deployment with the
 * local terms: blind audits drawn from the verifier set frozen at the commit block, held reveals, missed and
 * unrevealed audits, rechecks, challenges, committee draws and reseeds, commit-reveal votes, and the exact
 * settlement of every verdict. Every deadline is tried at its boundary and one second past it.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import {
  encodeAbiParameters,
  getAddress,
  keccak256,
  parseAbiParameters,
  parseEther,
  parseEventLogs,
  toHex,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";

import { hashJob, JobStatus } from "../../offchain/chain/jobs.js";
import {
  deploySystem,
  FEE,
  MODEL_COLLATERAL,
  modelSpec,
  ROLE_PROVIDER,
  ROLE_VERIFIER,
  setUpMarket,
  stake,
  stakeVerifiers,
  VERIFIER_STAKE,
  type Connection,
} from "../helpers/fixture.js";
import { feeSplit, LOCAL_MARKET_PARAMS, marketDriver, ZERO_ADDRESS, ZERO_HASH, type Wallet } from "../helpers/market.js";
import {
  absentAuditPenalty,
  AuditState,
  auditDrawSeed,
  auditRewardOf,
  challengeSeatPay,
  committeeDrawSeed,
  DisputeReason,
  DisputeState,
  drawFrom,
  faultedSplit,
  isRechecked,
  split,
  Verdict,
  VERIFICATION_PARAMS,
  verificationDriver,
  Vote,
  voterRewardOf,
  type WeightEntry,
} from "../helpers/verification.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const address = (wallet: Wallet) => getAddress(wallet.account.address);
/**
 * The local verification terms with smaller audit and voter pay: every fixture here samples every job
 * (or none), and ProtocolTerms refuses pay the audit levy could not cover at 100% sampling
 * (samplingPpm x (auditRewardBps + recheckPpm x committeeSize x voterRewardBps) <= auditLevyBps), even
 * with every Agree rechecked.
 */
const PAY = { auditRewardBps: 100, voterRewardBps: 200 };
const P = { ...VERIFICATION_PARAMS, ...PAY };
const M = LOCAL_MARKET_PARAMS;
const SEED_DELAY = BigInt(M.seedDelay);
const REVEAL_TIMEOUT = BigInt(M.revealTimeout);
const DISPUTE_DURATION = BigInt(M.disputeDuration);
const AUDIT_COMMIT_TIMEOUT = BigInt(P.auditCommitTimeout);
const VOTE_COMMIT_TIMEOUT = BigInt(P.voteCommitTimeout);
const VOTE_REVEAL_TIMEOUT = BigInt(P.voteRevealTimeout);
/** blockhash reaches 256 blocks back. */
const BLOCKHASH_REACH = 256n;
/** What each set-up puts in the audit pool, so that rewards and voter pay are paid in full. */
const POOL = parseEther("1000");
const { payout: PAYOUT } = feeSplit(FEE);
/** What an Agree that stands, and each seat voting the outcome, is paid for a job of FEE. */
const AUDIT_REWARD = auditRewardOf(FEE, P);
const VOTER_REWARD = voterRewardOf(FEE, P);

type SetUp = {
  samplingPpm: number;
  verifiers: number;
  pool?: bigint;
  providerVerifies?: boolean;
  challengerVerifies?: boolean;
  posterVerifies?: boolean;
};

/** The Ignition deployment with a provider, a challenger and a stranger funded for bonds, `verifiers` staked verifiers and a funded audit pool. */
async function deployWith(
  conn: Connection,
  { samplingPpm, verifiers, pool = POOL, providerVerifies = false, challengerVerifies = false, posterVerifies = false }: SetUp,
) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm }, verificationParams: PAY });
  await setUpMarket(sys);
  for (const who of [sys.challenger, sys.stranger]) {
    await sys.token.write.mint([who.account.address, parseEther("1000")]);
    await sys.token.write.approve([sys.verification.address, parseEther("1000")], { account: who.account });
  }
  if (providerVerifies) await sys.staking.write.setRoles([ROLE_PROVIDER | ROLE_VERIFIER], { account: sys.provider.account });
  if (challengerVerifies) await stake(sys, sys.challenger.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
  if (posterVerifies) await stake(sys, sys.dapp.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
  if (pool !== 0n) await sys.market.write.fundAuditPool([pool], { account: sys.dapp.account });
  return { ...sys, ...(await stakeVerifiers(conn, sys, verifiers)) };
}

// loadFixture keys its snapshots on the function: one named fixture per set-up.
const unsampled = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 6 });
const sampled = (conn: Connection) => deployWith(conn, { samplingPpm: 1_000_000, verifiers: 6 });
const sampledEmptyPool = (conn: Connection) => deployWith(conn, { samplingPpm: 1_000_000, verifiers: 6, pool: 0n });
const unsampledEmptyPool = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 6, pool: 0n });
const sampledNoVerifiers = (conn: Connection) => deployWith(conn, { samplingPpm: 1_000_000, verifiers: 0 });
/** Eight verifiers: the provider, the poster, the challenger and five others. */
const everyoneVerifies = (conn: Connection) =>
  deployWith(conn, { samplingPpm: 1_000_000, verifiers: 5, providerVerifies: true, challengerVerifies: true, posterVerifies: true });
const twoVerifiers = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 2 });
const noVerifiers = (conn: Connection) => deployWith(conn, { samplingPpm: 0, verifiers: 0 });

async function load(fixture: (conn: Connection) => ReturnType<typeof deployWith> = unsampled) {
  const sys = await networkHelpers.loadFixture(fixture);
  const d = marketDriver({ connection, ...sys });
  const v = verificationDriver({ connection, sys, d, wallets: sys.wallets });
  const { market, verification, staking, publicClient } = sys;
  const blockTime = async (receipt: TransactionReceipt) => (await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
  const stakeOf = async (who: Wallet | Address) => (await staking.read.account([typeof who === "string" ? who : who.account.address])).stake;

  /** A revealed job challenged by the challenger; returns its id and the challenge receipt. */
  const challenged = async () => {
    const jobId = await d.revealed();
    const receipt = await v.challenge(jobId, sys.challenger);
    return { jobId, receipt, openedAt: await blockTime(receipt) };
  };
  /**
   * A sampled job (with these request overrides: `{ fee }`) whose auditor committed blind to the provider's
   * root (`agree`) or its own, revealed by the provider.
   */
  const audited = async ({ agree = true, request = {} }: { agree?: boolean; request?: Record<string, unknown> } = {}) => {
    const jobId = await d.committed(request);
    await v.auditedReveal(jobId, { output: v.auditOutput(jobId, { agree }) });
    return { jobId, auditor: await v.auditor(jobId) };
  };
  /** A sampled job whose auditor disagreed: the dispute is the auditor's. */
  const disagreed = async () => {
    const { jobId, auditor } = await audited({ agree: false });
    const receipt = await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }), verdict: Verdict.Disagree });
    return { jobId, auditor, receipt };
  };

  /**
   * Plays `step` until `wanted()` holds: when the chain's randomness went the other way, rewinds the chain
   * (and the job tracker) and plays it again one block later, with another seed.
   */
  async function until(step: () => Promise<unknown>, wanted: () => Promise<boolean>, tries = 100) {
    for (let attempt = 0; attempt < tries; attempt++) {
      const snapshot = await networkHelpers.takeSnapshot();
      const saved = new Map([...d.jobs.records].map(([id, r]) => [id, structuredClone(r)]));
      await step();
      if (await wanted()) return;
      await snapshot.restore();
      d.jobs.records.clear();
      for (const [id, r] of saved) d.jobs.records.set(id, r);
      await networkHelpers.mine(1, { interval: 0 });
    }
    throw new Error(`nothing wanted in ${tries} worlds`);
  }

  /**
   * A dispute made by `make` whose committee, drawn now, has three distinct members (seats are drawn with
   * replacement, so a member may hold two or three); returns it with its members.
   */
  async function seated<T extends { jobId: bigint }>(make: () => Promise<T>) {
    let made: T | undefined;
    await until(
      async () => {
        made = await make();
        await v.drawCommittee(made.jobId);
      },
      async () => (await v.members(made!.jobId)).length === 3,
    );
    const drawn = await v.members(made!.jobId);
    return { ...made!, members: drawn.map((m) => m.wallet) as [Wallet, Wallet, Wallet] };
  }

  /** What each named account holds in the protocol (market credits, Verification credits, stake), and the two pools. */
  async function ledger(who: Record<string, Wallet | Address>) {
    const accounts: Record<string, { market: bigint; verification: bigint; stake: bigint }> = {};
    for (const [name, w] of Object.entries(who)) {
      const a = typeof w === "string" ? w : w.account.address;
      accounts[name] = {
        market: await market.read.credits([a]),
        verification: await verification.read.credits([a]),
        stake: await stakeOf(a),
      };
    }
    return { accounts, treasury: await verification.read.treasury(), pool: await market.read.auditPool() };
  }
  type Ledger = Awaited<ReturnType<typeof ledger>>;
  /** The change of every figure of `ledger` between two readings. */
  function change(before: Ledger, after: Ledger) {
    const accounts: Record<string, { market: bigint; verification: bigint; stake: bigint }> = {};
    for (const name of Object.keys(after.accounts)) {
      const [b, a] = [before.accounts[name], after.accounts[name]];
      accounts[name] = { market: a.market - b.market, verification: a.verification - b.verification, stake: a.stake - b.stake };
    }
    return { accounts, treasury: after.treasury - before.treasury, pool: after.pool - before.pool };
  }
  const none = { market: 0n, verification: 0n, stake: 0n };

  /**
   * The verifier set at `snapshot` as a weight table in slot order (read now: call it before anyone
   * leaves, since a freed slot's next owner would be listed), for `drawFrom` (Staking.drawVerifier restated).
   */
  async function weightTable(snapshot: bigint): Promise<WeightEntry[]> {
    const slots = await staking.read.verifierSlotCount();
    const table: WeightEntry[] = [];
    for (let slot = 0n; slot < slots; slot++) {
      const account = await staking.read.verifierAt([slot]);
      table.push({ account, weight: account === ZERO_ADDRESS ? 0n : await staking.read.verifierWeightAt([account, snapshot]) });
    }
    return table;
  }
  /** The sampling seed of a committed job (once its seed block is mined). */
  async function seedOf(jobId: bigint) {
    const job = d.jobs.job(jobId);
    const [seed] = await market.read.samplingOf([jobId, job.commitBlock, BigInt(job.terms)]);
    return seed;
  }

  return { ...sys, d, v, blockTime, stakeOf, challenged, audited, disagreed, until, seated, ledger, change, none, weightTable, seedOf };
}

describe("Verification", () => {
  describe("deployment", () => {
    it("is deployed by Ignition, wired to the market, staking and the market's terms and seed source, with no parameters of its own", async () => {
      const { verification, market, staking, token, terms, owner } = await load();
      assert.equal(getAddress(await market.read.verification()), getAddress(verification.address));
      assert.equal(getAddress(await staking.read.verification()), getAddress(verification.address));
      assert.equal(getAddress(await verification.read.market()), getAddress(market.address));
      assert.equal(getAddress(await verification.read.staking()), getAddress(staking.address));
      assert.equal(getAddress(await verification.read.token()), getAddress(token.address));
      assert.equal(getAddress(await verification.read.terms()), getAddress(terms.address));
      assert.equal(await verification.read.randomness(), ZERO_ADDRESS);
      assert.equal(getAddress(await verification.read.owner()), address(owner));
      assert.equal(await verification.read.MAX_COMMITTEE_SIZE(), 13n);
      assert.equal(await verification.read.treasury(), 0n);
      // Every rule a job is judged by is its terms version's: the local terms are version 1.
      assert.deepEqual({ ...(await terms.read.verificationParamsOf([1n])) }, P);
      assert.equal(await market.read.termsVersion(), 1);
    });

    it("refuses to deploy with a zero token, market or staking address", async () => {
      const { market, staking, token, owner } = await load();
      for (const args of [
        [ZERO_ADDRESS, market.address, staking.address],
        [token.address, ZERO_ADDRESS, staking.address],
        [token.address, market.address, ZERO_ADDRESS],
      ] as const) {
        await assert.rejects(viem.deployContract("Verification", [...args, owner.account.address]), (e: Error) =>
          /custom error 'ZeroAddress\(\)'/.test(e.message),
        );
      }
    });
  });

  describe("auditorOf and auditCommitBy", () => {
    it("is nobody before the seed block, then the stake-weighted draw from the commit block's set without the provider and the poster", async () => {
      const sys = await load(sampled);
      const { staking, verifiers, d, v, weightTable, seedOf } = sys;
      // Unequal stakes: the draw is weighted by stake, not by account.
      await stake(sys, verifiers[0].account.address, parseEther("1800"), ROLE_VERIFIER);
      await stake(sys, verifiers[1].account.address, parseEther("600"), ROLE_VERIFIER);
      for (let i = 0; i < 4; i++) {
        const jobId = await d.committed();
        const job = d.jobs.job(jobId);
        assert.equal(await v.auditorOf(jobId), ZERO_ADDRESS, "no auditor before the seed block");
        const table = await weightTable(job.commitBlock);
        assert.deepEqual(
          table.map((e) => e.weight),
          [parseEther("2000"), parseEther("800"), ...Array(4).fill(VERIFIER_STAKE)],
        );
        await v.mineBeyond(job.commitBlock + SEED_DELAY);
        const seed = await seedOf(jobId);
        const expected = drawFrom(table, auditDrawSeed(seed, jobId), [job.provider, job.poster]);
        assert.equal(getAddress(await v.auditorOf(jobId)), expected);
        assert.equal(await staking.read.drawVerifier([auditDrawSeed(seed, jobId), job.commitBlock, [job.provider, job.poster]]), expected);
      }
    });

    it("is frozen at the commit block: stake, unbonding and role changes after the commit do not change it", async () => {
      const sys = await load(sampled);
      const { staking, stranger, verifiers, d, v, weightTable, seedOf } = sys;
      const jobId = await d.committed();
      const job = d.jobs.job(jobId);
      const table = await weightTable(job.commitBlock);
      await v.mineBeyond(job.commitBlock + SEED_DELAY);
      const drawn = getAddress(await v.auditorOf(jobId));
      assert.equal(drawn, drawFrom(table, auditDrawSeed(await seedOf(jobId), jobId), [job.provider, job.poster]));

      // Once the seed is public, everyone moves: a whale joins, the drawn auditor leaves the set, the
      // others unbond or restake. The auditor stays the one drawn from the commit block's set.
      await stake(sys, stranger.account.address, parseEther("100000"), ROLE_VERIFIER);
      assert.equal(getAddress(await v.auditorOf(jobId)), drawn);
      await staking.write.setRoles([ROLE_PROVIDER], { account: v.wallet(drawn).account });
      assert.equal(await staking.read.isVerifier([drawn]), false);
      assert.equal(getAddress(await v.auditorOf(jobId)), drawn);
      for (const w of verifiers.filter((w) => address(w) !== drawn)) {
        await staking.write.requestUnbond([VERIFIER_STAKE], { account: w.account });
        assert.equal(getAddress(await v.auditorOf(jobId)), drawn);
      }
      await stake(sys, verifiers[0].account.address, parseEther("5000"), ROLE_VERIFIER);
      assert.equal(getAddress(await v.auditorOf(jobId)), drawn);

      // The drawn auditor, out of the set now, still audits; nobody else can.
      await assertions.revertWithCustomErrorWithArgs(
        sys.verification.write.commitAudit([jobId, d.jobs.job(jobId), keccak256(toHex("x"))], { account: stranger.account }),
        sys.verification,
        "NotAuditor",
        [jobId, address(stranger)],
      );
      await v.commitAudit(jobId, { by: v.wallet(drawn) });
      assert.equal(getAddress((await sys.verification.read.audit([jobId])).auditor), drawn);
    });

    it("is nobody for a job that is not sampled or has no verifier to draw, and the recorded auditor once recorded", async () => {
      const u = await load();
      const plain = await u.d.committed();
      await u.v.mineBeyond(u.d.jobs.job(plain).commitBlock + SEED_DELAY);
      assert.equal(await u.v.auditorOf(plain), ZERO_ADDRESS);

      const e = await load(sampledNoVerifiers);
      const lonely = await e.d.committed();
      await e.v.mineBeyond(e.d.jobs.job(lonely).commitBlock + SEED_DELAY);
      assert.equal(await e.v.auditorOf(lonely), ZERO_ADDRESS);

      const s = await load(sampled);
      const { jobId, auditor } = await s.audited();
      assert.equal(s.d.jobs.job(jobId).status, JobStatus.Revealed);
      assert.equal(getAddress(await s.v.auditorOf(jobId)), address(auditor));
      await assertions.revertWithCustomErrorWithArgs(
        s.verification.read.auditorOf([jobId, { ...s.d.jobs.job(jobId), fee: 1n }]),
        s.verification,
        "JobMismatch",
        [jobId],
      );
    });

    it("never draws the provider or the poster, even when they hold verifier stake", async () => {
      const { provider, dapp, d, v } = await load(everyoneVerifies);
      const drawn = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const jobId = await d.committed();
        const auditor = address(await v.auditor(jobId));
        assert.notEqual(auditor, address(provider));
        assert.notEqual(auditor, address(dapp));
        drawn.add(auditor);
      }
      // The others (the challenger among them) are drawn in turn.
      assert.ok(drawn.size > 1);
    });

    it("auditCommitBy is the commit time plus the job's auditCommitTimeout, at most one second before the reveal deadline", async () => {
      const { verification, terms, owner, d, blockTime } = await load(sampled);
      const jobId = await d.claimed();
      const committedAt = await blockTime(await d.commit(jobId));
      const job = d.jobs.job(jobId);
      assert.equal(BigInt(job.deadline), committedAt + REVEAL_TIMEOUT);
      assert.equal(await verification.read.auditCommitBy([job]), committedAt + AUDIT_COMMIT_TIMEOUT);

      // The longest audit window the terms accept ends one second before the reveal deadline.
      await terms.write.setVerificationParams([{ ...P, auditCommitTimeout: M.revealTimeout - 1 }], { account: owner.account });
      const later = await d.claimed();
      const at = await blockTime(await d.commit(later));
      assert.equal(await verification.read.auditCommitBy([d.jobs.job(later)]), at + REVEAL_TIMEOUT - 1n);
      assert.equal(await verification.read.auditCommitBy([d.jobs.job(later)]), BigInt(d.jobs.job(later).deadline) - 1n);
      // The job committed under version 1 keeps its window.
      assert.equal(await verification.read.auditCommitBy([job]), committedAt + AUDIT_COMMIT_TIMEOUT);
    });
  });

  describe("commitAudit", () => {
    it("records the drawn auditor's blind commitment with its block and emits AuditCommitted", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      const auditor = await v.auditor(jobId);
      const commitment = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
      const receipt = await v.commitAudit(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "AuditCommitted", [jobId, address(auditor), commitment]);
      assert.deepEqual(
        { ...(await verification.read.audit([jobId])) },
        { auditor: address(auditor), state: AuditState.Committed, commitBlock: receipt.blockNumber, commitment, outputRoot: ZERO_HASH },
      );
    });

    it("commits at auditCommitBy and reverts with AuditClosed one second later", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      const auditor = await v.auditor(jobId);
      const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
      const c = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
      const snapshot = await networkHelpers.takeSnapshot();
      await d.at(commitBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: auditor.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
      await snapshot.restore();
      await d.at(commitBy);
      await v.commitAudit(jobId);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Committed);
    });

    it("reverts for a zero commitment, a wrong job state, a job not committed, before the seed block and for a job not sampled", async () => {
      const { verification, verifiers, d } = await load(sampled);
      const jobId = await d.committed();
      const job = d.jobs.job(jobId);
      const c = keccak256(toHex("commitment"));
      const [someone] = verifiers;
      const as = (id: bigint, j: typeof job, commitment: Hex) =>
        verification.write.commitAudit([id, j, commitment], { account: someone.account });
      await assertions.revertWithCustomErrorWithArgs(as(jobId, job, ZERO_HASH), verification, "ZeroCommitment", []);
      await assertions.revertWithCustomErrorWithArgs(as(jobId, { ...job, fee: 1n }, c), verification, "JobMismatch", [jobId]);
      await assertions.revertWithCustomErrorWithArgs(as(jobId, job, c), verification, "SeedNotReady", [
        jobId,
        job.commitBlock + SEED_DELAY,
        (await d.latestBlock()) + 1n,
      ]);
      const posted = await d.post();
      await assertions.revertWithCustomErrorWithArgs(as(posted, d.jobs.job(posted), c), verification, "WrongJobStatus", [
        posted,
        JobStatus.Posted,
      ]);

      const u = await load();
      const plain = await u.d.committed();
      const asPlain = () => u.verification.write.commitAudit([plain, u.d.jobs.job(plain), c], { account: u.verifiers[0].account });
      await assertions.revertWithCustomErrorWithArgs(asPlain(), u.verification, "SeedNotReady", [
        plain,
        u.d.jobs.job(plain).commitBlock + SEED_DELAY,
        (await u.d.latestBlock()) + 1n,
      ]);
      await u.v.mineBeyond(u.d.jobs.job(plain).commitBlock + SEED_DELAY);
      await assertions.revertWithCustomErrorWithArgs(asPlain(), u.verification, "NotSampled", [plain]);
    });

    it("reverts with NotAuditor for anyone but the drawn auditor, and WrongAuditState on a second commitment", async () => {
      const { verification, verifiers, provider, dapp, d, v } = await load(sampled);
      const jobId = await d.committed();
      const auditor = await v.auditor(jobId);
      const c = keccak256(toHex("commitment"));
      for (const other of [...verifiers.filter((w) => address(w) !== address(auditor)), provider, dapp]) {
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

    it("reverts with AuditClosed once the seed is out of reach, even before auditCommitBy", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      const auditor = await v.auditor(jobId);
      await networkHelpers.mine(BLOCKHASH_REACH, { interval: 0 });
      assert.ok((await d.now()) <= (await verification.read.auditCommitBy([d.jobs.job(jobId)])));
      const c = await v.auditCommitment(jobId, auditor, v.auditOutput(jobId));
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: auditor.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
      assert.equal(await v.auditorOf(jobId), ZERO_ADDRESS);
    });
  });

  describe("onSampledReveal (through JobMarket.reveal) and onSampledFinalize", () => {
    it("revert with NotMarket for any other caller", async () => {
      const { verification, stranger, d } = await load(sampled);
      const jobId = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.onSampledReveal([jobId, d.jobs.job(jobId), ZERO_HASH], { account: stranger.account }),
        verification,
        "NotMarket",
        [address(stranger)],
      );
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.onSampledFinalize([jobId, d.jobs.job(jobId)], { account: stranger.account }),
        verification,
        "NotMarket",
        [address(stranger)],
      );
    });

    it("holds the reveal with AuditPending until auditCommitBy, then penalizes the missed auditor and sends the job to a committee", async () => {
      const { market, verification, staking, provider, d, v, blockTime, ledger, change, none } = await load(sampled);
      const jobId = await d.committed();
      const auditor = await v.auditor(jobId);
      const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
      await d.at(commitBy);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.reveal(d.revealArgs(jobId), { account: provider.account }),
        verification,
        "AuditPending",
        [jobId, commitBy],
      );
      const before = await ledger({ auditor, provider });
      // At FEE the replacing committee's pay (3 x 2% of 10 = 0.6) is below auditorPenalty: the flat penalty holds.
      assert.equal(absentAuditPenalty(P.auditorPenalty, FEE, P), P.auditorPenalty);
      await d.at(commitBy + 1n);
      const receipt = await d.reveal(jobId);
      const { transactionHash } = receipt;
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), P.auditorPenalty, AuditState.Missed]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [address(auditor), P.auditorPenalty, P.auditorPenalty, getAddress(verification.address)]);
      await assertions.emitWithArgs(transactionHash, verification, "ChallengeOpened", [jobId, ZERO_ADDRESS, 0n, DisputeReason.AuditMissed]);
      await assertions.emitWithArgs(transactionHash, market, "JobDisputed", [jobId]);
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Disputed);
      assert.equal(job.sampled, true);
      assert.equal(await market.read.jobHash([jobId]), hashJob(job));
      assert.deepEqual(
        { ...(await verification.read.audit([jobId])) },
        { auditor: address(auditor), state: AuditState.Missed, commitBlock: 0n, commitment: ZERO_HASH, outputRoot: ZERO_HASH },
      );
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual(
        { ...dispute, committee: [...dispute.committee] },
        {
          challenger: ZERO_ADDRESS,
          bond: 0n,
          state: DisputeState.Open,
          reason: DisputeReason.AuditMissed,
          openedBlock: receipt.blockNumber,
          openedAt: await blockTime(receipt),
          seedBlock: receipt.blockNumber + SEED_DELAY,
          voteCommitBy: 0n,
          voteRevealBy: 0n,
          outcome: Vote.None,
          providerFaulted: false,
          committee: [],
        },
      );
      assert.deepEqual(change(before, await ledger({ auditor, provider })), {
        accounts: { auditor: { ...none, stake: -P.auditorPenalty }, provider: none },
        treasury: P.auditorPenalty,
        pool: 0n,
      });
    });

    it("lets the provider reveal at once after the auditor committed", async () => {
      const { verification, d, audited } = await load(sampled);
      const { jobId } = await audited();
      const job = d.jobs.job(jobId);
      assert.equal(job.status, JobStatus.Revealed);
      assert.equal(job.sampled, true);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Committed);
    });

    it("lets the reveal through, records nothing and pays the job on finalize when no verifier can be drawn", async () => {
      const { market, verification, provider, d } = await load(sampledNoVerifiers);
      const jobId = await d.committed();
      const receipt = await d.reveal(jobId);
      assert.equal(d.jobs.job(jobId).sampled, true);
      assert.equal(receipt.logs.filter((l) => l.address.toLowerCase() === verification.address.toLowerCase()).length, 0);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.None);
      await d.finalize(jobId);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal(await market.read.credits([provider.account.address]), PAYOUT);
    });

    it("onSampledFinalize pays an Agree that stands, once, and nothing at revealAudit", async () => {
      const { market, verification, d, v, audited, ledger, change, none } = await load(sampled);
      const { jobId, auditor } = await audited();
      const before = await ledger({ auditor });
      const { transactionHash } = await v.revealAudit(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditRevealed", [
        jobId,
        address(auditor),
        d.outputOf(jobId).outputRoot,
        Verdict.Agree,
        `http://auditor/outputs/${d.outputOf(jobId).outputRoot}`,
        false,
      ]);
      assert.deepEqual(change(before, await ledger({ auditor })), { accounts: { auditor: none }, treasury: 0n, pool: 0n });
      const finalized = await d.finalize(jobId);
      await assertions.emitWithArgs(finalized.transactionHash, market, "AuditRewardPaid", [address(auditor), AUDIT_REWARD]);
      // The pool pays the reward first, then takes the job's levy.
      assert.deepEqual(change(before, await ledger({ auditor })), {
        accounts: { auditor: { ...none, market: AUDIT_REWARD } },
        treasury: 0n,
        pool: feeSplit(FEE).auditLevy - AUDIT_REWARD,
      });
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("pays an Agree what the pool holds when that is less than auditRewardBps of the fee", async () => {
      const { market, d, v, audited, ledger, change, none } = await load(sampledEmptyPool);
      // An empty pool pays nothing; the job's levy comes in after the reward.
      const { jobId: first, auditor: firstAuditor } = await audited();
      await v.revealAudit(first);
      const before = await ledger({ firstAuditor });
      await d.finalize(first);
      assert.deepEqual(change(before, await ledger({ firstAuditor })), { accounts: { firstAuditor: none }, treasury: 0n, pool: feeSplit(FEE).auditLevy });
      // A job of ten times the fee is owed more than the pool's 0.7.
      const pool = await market.read.auditPool();
      const big = parseEther("100");
      assert.ok(pool < auditRewardOf(big, P));
      const jobId = await d.committed({ fee: big });
      await v.auditedReveal(jobId);
      const auditor = await v.auditor(jobId);
      await v.revealAudit(jobId);
      const owed = await market.read.credits([auditor.account.address]);
      const { transactionHash } = await d.finalize(jobId);
      await assertions.emitWithArgs(transactionHash, market, "AuditRewardPaid", [address(auditor), pool]);
      assert.equal(await market.read.credits([auditor.account.address]), owed + pool);
      assert.equal(await market.read.auditPool(), feeSplit(big).auditLevy);
    });

    it("an audit committed and never revealed costs challengeBond at finalize and sends the job to a committee", async () => {
      const { market, verification, provider, d, audited, ledger, change, none, blockTime } = await load(sampled);
      const { jobId, auditor } = await audited();
      const blind = await verification.read.audit([jobId]);
      assert.deepEqual([getAddress(blind.auditor), blind.state], [address(auditor), AuditState.Committed]);
      const before = await ledger({ auditor, provider });
      const receipt = await d.finalize(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "AuditorPenalized", [
        jobId,
        address(auditor),
        P.challengeBond,
        AuditState.Unrevealed,
      ]);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "ChallengeOpened", [jobId, ZERO_ADDRESS, 0n, DisputeReason.AuditUnrevealed]);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobDisputed", [jobId]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Unrevealed);
      const dispute = await verification.read.dispute([jobId]);
      assert.equal(dispute.openedAt, await blockTime(receipt));
      assert.equal(dispute.reason, DisputeReason.AuditUnrevealed);
      // Nobody was paid: the provider waits for the committee.
      assert.deepEqual(change(before, await ledger({ auditor, provider })), {
        accounts: { auditor: { ...none, stake: -P.challengeBond }, provider: none },
        treasury: P.challengeBond,
        pool: 0n,
      });
    });

    it("a missed audit costs at least the pay of the committee that replaces it: committeeSize x voterRewardBps of the fee when that exceeds auditorPenalty", async () => {
      const { verification, staking, provider, d, v, ledger, change, none } = await load(sampled);
      // 3 seats x 2% of 300 = 18 > auditorPenalty (5): with the flat penalty an auditor would gain by
      // skipping the audit to seat its own accounts on the committee that replaces it.
      const big = parseEther("300");
      const penalty = absentAuditPenalty(P.auditorPenalty, big, P);
      assert.equal(penalty, parseEther("18"));
      const jobId = await d.committed({ fee: big });
      const auditor = await v.auditor(jobId);
      await d.at((await verification.read.auditCommitBy([d.jobs.job(jobId)])) + 1n);
      const before = await ledger({ auditor, provider });
      const { transactionHash } = await d.reveal(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), penalty, AuditState.Missed]);
      await assertions.emitWithArgs(transactionHash, staking, "Slashed", [address(auditor), penalty, penalty, getAddress(verification.address)]);
      await assertions.emitWithArgs(transactionHash, verification, "ChallengeOpened", [jobId, ZERO_ADDRESS, 0n, DisputeReason.AuditMissed]);
      assert.deepEqual(change(before, await ledger({ auditor, provider })), {
        accounts: { auditor: { ...none, stake: -penalty }, provider: none },
        treasury: penalty,
        pool: 0n,
      });
    });

    it("an unrevealed audit costs at least the pay of the committee that replaces it: committeeSize x voterRewardBps of the fee when that exceeds challengeBond", async () => {
      const { verification, provider, d, audited, ledger, change, none } = await load(sampled);
      // 3 seats x 2% of 1000 = 60 > challengeBond (50); at FEE the bond holds.
      const big = parseEther("1000");
      const penalty = absentAuditPenalty(P.challengeBond, big, P);
      assert.equal(penalty, parseEther("60"));
      assert.equal(absentAuditPenalty(P.challengeBond, FEE, P), P.challengeBond);
      const { jobId, auditor } = await audited({ request: { fee: big } });
      const before = await ledger({ auditor, provider });
      const receipt = await d.finalize(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), penalty, AuditState.Unrevealed]);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "ChallengeOpened", [jobId, ZERO_ADDRESS, 0n, DisputeReason.AuditUnrevealed]);
      assert.deepEqual(change(before, await ledger({ auditor, provider })), {
        accounts: { auditor: { ...none, stake: -penalty }, provider: none },
        treasury: penalty,
        pool: 0n,
      });
    });
  });

  describe("revealAudit", () => {
    it("waits for the block seedDelay after the auditor's commit, and reveals until the end of the challenge window", async () => {
      const { verification, d, v } = await load(sampled);
      const jobId = await d.committed();
      await d.waitForSeed(jobId);
      const { blockNumber: commitBlock } = await v.commitAudit(jobId);
      await d.reveal(jobId);
      const auditor = await v.auditor(jobId);
      const args = v.revealAuditArgs(jobId, v.auditOutput(jobId), Verdict.Agree);
      assert.equal(await d.latestBlock(), commitBlock + 1n);
      await networkHelpers.mine(SEED_DELAY - 2n);
      // The next block is commitBlock + seedDelay: its seed is not known inside it.
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealAudit(args, { account: auditor.account }),
        verification,
        "SeedNotReady",
        [jobId, commitBlock + SEED_DELAY, commitBlock + SEED_DELAY],
      );
      await networkHelpers.mine();
      const end = BigInt(d.jobs.job(jobId).deadline);
      const snapshot = await networkHelpers.takeSnapshot();
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealAudit(args, { account: auditor.account }),
        verification,
        "AuditClosed",
        [jobId],
      );
      await snapshot.restore();
      await d.at(end);
      await v.revealAudit(jobId, { waitSeed: false });
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Agreed);
    });

    it("treats equal roots as an Agree whatever the verdict: no dispute, no recheck", async () => {
      const { verification, d, v, audited } = await load(sampled);
      const { jobId, auditor } = await audited();
      const { transactionHash } = await v.revealAudit(jobId, { verdict: Verdict.Disagree });
      await assertions.emitWithArgs(transactionHash, verification, "AuditRevealed", [
        jobId,
        address(auditor),
        d.outputOf(jobId).outputRoot,
        Verdict.Agree,
        `http://auditor/outputs/${d.outputOf(jobId).outputRoot}`,
        false,
      ]);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Agreed);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.None);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Revealed);
    });

    it("Disagree opens a dispute with the auditor as challenger and no bond", async () => {
      const { market, verification, token, d, v, disagreed, blockTime } = await load(sampled);
      const held = await token.read.balanceOf([verification.address]);
      const { jobId, auditor, receipt } = await disagreed();
      const output = v.auditOutput(jobId, { agree: false });
      await assertions.emitWithArgs(receipt.transactionHash, verification, "ChallengeOpened", [jobId, address(auditor), 0n, DisputeReason.AuditDisagreed]);
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
          reason: DisputeReason.AuditDisagreed,
          openedBlock: receipt.blockNumber,
          openedAt: await blockTime(receipt),
          seedBlock: receipt.blockNumber + SEED_DELAY,
          voteCommitBy: 0n,
          voteRevealBy: 0n,
          outcome: Vote.None,
          providerFaulted: false,
          committee: [],
        },
      );
      assert.equal(await token.read.balanceOf([verification.address]), held);
    });

    it("an Agree with another root is rechecked exactly when the seed of the block seedDelay after the audit commit draws it", async () => {
      const { verification, publicClient, d, v, audited } = await load(sampled);
      for (let i = 0; i < 3; i++) {
        const { jobId, auditor } = await audited({ agree: false });
        const output = v.auditOutput(jobId, { agree: false });
        const receipt = await v.revealAudit(jobId, { output, verdict: Verdict.Agree });
        const { commitBlock } = await verification.read.audit([jobId]);
        const seed = (await publicClient.getBlock({ blockNumber: commitBlock + SEED_DELAY })).hash;
        const recheck = isRechecked(seed, jobId, P.recheckPpm);
        await assertions.emitWithArgs(receipt.transactionHash, verification, "AuditRevealed", [
          jobId,
          address(auditor),
          output.outputRoot,
          Verdict.Agree,
          `http://auditor/outputs/${output.outputRoot}`,
          recheck,
        ]);
        assert.equal((await verification.read.dispute([jobId])).reason, recheck ? DisputeReason.Recheck : DisputeReason.Challenge);
        assert.equal((await verification.read.dispute([jobId])).state, recheck ? DisputeState.Open : DisputeState.None);
        assert.equal(d.jobs.job(jobId).status, recheck ? JobStatus.Disputed : JobStatus.Revealed);
      }
    });

    it("recheckPpm of the job's terms decides: all rechecked at 100%, none at 0", async () => {
      const { verification, terms, owner, d, v, audited } = await load(sampled);
      await terms.write.setVerificationParams([{ ...P, recheckPpm: 1_000_000 }], { account: owner.account });
      const { jobId: always } = await audited({ agree: false });
      const { transactionHash } = await v.revealAudit(always, { output: v.auditOutput(always, { agree: false }) });
      await assertions.emitWithArgs(transactionHash, verification, "ChallengeOpened", [always, ZERO_ADDRESS, 0n, DisputeReason.Recheck]);
      assert.equal(d.jobs.job(always).status, JobStatus.Disputed);

      await terms.write.setVerificationParams([{ ...P, recheckPpm: 0 }], { account: owner.account });
      const { jobId: never } = await audited({ agree: false });
      await v.revealAudit(never, { output: v.auditOutput(never, { agree: false }) });
      assert.equal(d.jobs.job(never).status, JobStatus.Revealed);
      assert.equal((await verification.read.audit([never])).state, AuditState.Agreed);
    });

    it("rechecks an Agree with another root whose recheck seed went out of reach: waiting never helps the auditor", async () => {
      const { verification, terms, owner, d, v, audited } = await load(sampled);
      // One Agree in a million is rechecked: one whose seed is out of reach always is.
      await terms.write.setVerificationParams([{ ...P, recheckPpm: 1 }], { account: owner.account });
      const { jobId } = await audited({ agree: false });
      // 259 blocks inside the challenge window.
      await networkHelpers.mine(BLOCKHASH_REACH + SEED_DELAY + 1n, { interval: 0 });
      const { transactionHash } = await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }) });
      await assertions.emitWithArgs(transactionHash, verification, "ChallengeOpened", [jobId, ZERO_ADDRESS, 0n, DisputeReason.Recheck]);
    });

    it("reverts for another account, a wrong salt, a zero root, a wrong job, a second reveal and a job not revealed", async () => {
      const { verification, stranger, d, v, audited } = await load(sampled);
      const { jobId, auditor } = await audited();
      await v.waitForRecheckSeed(jobId);
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
      await v.commitAudit(pending);
      const blind = await v.auditor(pending);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.revealAudit(v.revealAuditArgs(pending, v.auditOutput(pending), Verdict.Agree), { account: blind.account }),
        verification,
        "WrongJobStatus",
        [pending, JobStatus.Committed],
      );
    });

    it("records the verdict without a second dispute when someone already challenged", async () => {
      const { verification, challenger, d, v, audited } = await load(sampled);
      const { jobId } = await audited({ agree: false });
      await v.challenge(jobId, challenger);
      await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }), verdict: Verdict.Disagree });
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Disagreed);
      const dispute = await verification.read.dispute([jobId]);
      assert.equal(dispute.challenger, address(challenger));
      assert.equal(dispute.reason, DisputeReason.Challenge);
      assert.equal(dispute.bond, P.challengeBond);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Disputed);
    });
  });

  describe("challenge", () => {
    it("pulls the bond, records the dispute and puts the job under dispute", async () => {
      const { market, verification, token, challenger, blockTime, challenged } = await load();
      const before = await token.read.balanceOf([challenger.account.address]);
      const { jobId, receipt } = await challenged();
      await assertions.emitWithArgs(receipt.transactionHash, verification, "ChallengeOpened", [
        jobId,
        address(challenger),
        P.challengeBond,
        DisputeReason.Challenge,
      ]);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobDisputed", [jobId]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before - P.challengeBond);
      assert.equal(await token.read.balanceOf([verification.address]), P.challengeBond);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual(
        { ...dispute, committee: [...dispute.committee] },
        {
          challenger: address(challenger),
          bond: P.challengeBond,
          state: DisputeState.Open,
          reason: DisputeReason.Challenge,
          openedBlock: receipt.blockNumber,
          openedAt: await blockTime(receipt),
          seedBlock: receipt.blockNumber + SEED_DELAY,
          voteCommitBy: 0n,
          voteRevealBy: 0n,
          outcome: Vote.None,
          providerFaulted: false,
          committee: [],
        },
      );
    });

    it("reverts with DisputeExists on a second challenge and after an auditor's Disagree", async () => {
      const { verification, stranger, v, challenged } = await load();
      const { jobId } = await challenged();
      await assertions.revertWithCustomErrorWithArgs(v.challenge(jobId, stranger), verification, "DisputeExists", [jobId]);

      const s = await load(sampled);
      const { jobId: audited } = await s.disagreed();
      await assertions.revertWithCustomErrorWithArgs(s.v.challenge(audited, s.stranger), s.verification, "DisputeExists", [audited]);
    });

    it("challenges at the end of the window and fails one second later with the market's DeadlinePassed", async () => {
      const { market, verification, challenger, d, v } = await load();
      const jobId = await d.revealed();
      const end = BigInt(d.jobs.job(jobId).deadline);
      const snapshot = await networkHelpers.takeSnapshot();
      await d.at(end + 1n);
      await assertions.revertWithCustomErrorWithArgs(v.challenge(jobId, challenger), market, "DeadlinePassed", [jobId, end, end + 1n]);
      await snapshot.restore();
      await d.at(end);
      await v.challenge(jobId, challenger);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Open);
    });

    it("reverts for a job not revealed, a wrong job state, and without an allowance for the bond", async () => {
      const { market, token, verification, challenger, provider2, d, v } = await load();
      const committed = await d.committed();
      await assertions.revertWithCustomErrorWithArgs(v.challenge(committed, challenger), market, "WrongStatus", [committed, JobStatus.Committed]);
      const jobId = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.challenge([jobId, { ...d.jobs.job(jobId), fee: 1n }], { account: challenger.account }),
        market,
        "JobMismatch",
        [jobId],
      );
      await assertions.revertWithCustomErrorWithArgs(v.challenge(jobId, provider2), token, "ERC20InsufficientAllowance", [
        getAddress(verification.address),
        0n,
        P.challengeBond,
      ]);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.None);
    });
  });

  describe("drawCommittee", () => {
    it("draws each seat stake-weighted, with replacement, from the job's commit block's set with its own seed, excluding the provider, the poster, the challenger and the auditor", async () => {
      const sys = await load(everyoneVerifies);
      const { verification, staking, publicClient, provider, dapp, challenger, stranger, verifiers, d, v, weightTable, blockTime } = sys;
      const { jobId, auditor } = await sys.audited();
      // The set the committee is drawn from: the one of the commit block, read before anyone leaves.
      const commitBlock = d.jobs.job(jobId).commitBlock;
      const table = await weightTable(commitBlock);
      // After the commit (once the provider knows it is audited), before the dispute: a whale joins with over 90%
      // of the verifier stake, members unbond or restake. None of it reaches the committee.
      await stake(sys, stranger.account.address, parseEther("100000"), ROLE_VERIFIER);
      for (const w of verifiers.slice(0, 2)) await staking.write.requestUnbond([VERIFIER_STAKE], { account: w.account });
      await stake(sys, verifiers[2].account.address, parseEther("5000"), ROLE_VERIFIER);
      const receipt = await v.challenge(jobId, challenger);
      const seedBlock = receipt.blockNumber + SEED_DELAY;
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([jobId], { account: stranger.account }),
        verification,
        "CommitteeSeedNotReady",
        [jobId, seedBlock],
      );
      await v.revealAudit(jobId);
      // Once the seed is known nothing counts either: the whale doubles, another member leaves.
      await v.mineBeyond(seedBlock);
      await stake(sys, stranger.account.address, parseEther("100000"), ROLE_VERIFIER);
      await staking.write.requestUnbond([VERIFIER_STAKE], { account: verifiers[3].account });

      const drawnReceipt = await v.drawCommittee(jobId);
      const seed = (await publicClient.getBlock({ blockNumber: seedBlock })).hash;
      const excluded: Address[] = [provider.account.address, dapp.account.address, challenger.account.address, auditor.account.address];
      // Seat i: its own seed, with replacement (a member may hold several seats).
      const expected: Address[] = [];
      for (let i = 0; i < P.committeeSize; i++) {
        const member = drawFrom(table, committeeDrawSeed(seed, jobId, i), excluded);
        if (member !== ZERO_ADDRESS) expected.push(member);
      }
      assert.equal(expected.length, P.committeeSize);
      const at = await blockTime(drawnReceipt);
      await assertions.emitWithArgs(drawnReceipt.transactionHash, verification, "CommitteeDrawn", [
        jobId,
        expected,
        at + VOTE_COMMIT_TIMEOUT,
        at + VOTE_COMMIT_TIMEOUT + VOTE_REVEAL_TIMEOUT,
      ]);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual([...dispute.committee], expected);
      assert.equal(dispute.state, DisputeState.Voting);
      for (const a of excluded) assert.ok(!expected.includes(getAddress(a)), `${a} is excluded`);
      assert.ok(!expected.includes(address(stranger)), "stake added after the commit holds no seat");
      // At the dispute's opening block the whale held over 90% of the verifier stake; at the commit block, nothing.
      const whale = (block: bigint) => staking.read.verifierWeightAt([stranger.account.address, block]);
      assert.deepEqual([await whale(commitBlock), await whale(receipt.blockNumber)], [0n, parseEther("100000")]);
    });

    it("draws until openedAt + disputeDuration - voteCommitTimeout - voteRevealTimeout, then reverts with VotingClosed", async () => {
      const { verification, keeper, d, v, challenged } = await load();
      const { jobId, openedAt } = await challenged();
      const drawBy = openedAt + DISPUTE_DURATION - VOTE_COMMIT_TIMEOUT - VOTE_REVEAL_TIMEOUT;
      await v.mineBeyond((await verification.read.dispute([jobId])).seedBlock);
      const snapshot = await networkHelpers.takeSnapshot();
      await d.at(drawBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([jobId], { account: keeper.account }),
        verification,
        "VotingClosed",
        [jobId, drawBy, drawBy + 1n],
      );
      await snapshot.restore();
      await d.at(drawBy);
      await v.drawCommittee(jobId);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Voting);
    });

    it("replaces a seed gone out of reach by the seed of the block seedDelay ahead, draws nothing then, and draws from the new seed", async () => {
      const { verification, keeper, d, v, challenged } = await load();
      const { jobId } = await challenged();
      const { seedBlock } = await verification.read.dispute([jobId]);
      await networkHelpers.mine(seedBlock + BLOCKHASH_REACH - 1n - (await d.latestBlock()), { interval: 0 });
      // The next block is the last one the seed is in reach in: a draw there uses it.
      const inReach = await networkHelpers.takeSnapshot();
      await v.drawCommittee(jobId);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Voting);
      await inReach.restore();
      await networkHelpers.mine(1, { interval: 0 });
      const receipt = await d.jobs.send(verification.write.drawCommittee([jobId], { account: keeper.account }));
      const next = receipt.blockNumber + SEED_DELAY;
      await assertions.emitWithArgs(receipt.transactionHash, verification, "CommitteeReseeded", [jobId, next]);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual([dispute.state, dispute.seedBlock, dispute.committee.length], [DisputeState.Open, next, 0]);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.drawCommittee([jobId], { account: keeper.account }),
        verification,
        "CommitteeSeedNotReady",
        [jobId, next],
      );
      await v.drawCommittee(jobId);
      assert.equal((await verification.read.dispute([jobId])).committee.length, P.committeeSize);
    });

    it("reverts with NoDispute without a dispute and WrongDisputeState once drawn", async () => {
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

    it("with two eligible verifiers the three seats go to them: a member's vote, pay and penalty count once per seat", async () => {
      const { verification, v, challenged, until, ledger, change, none } = await load(twoVerifiers);
      let jobId = 0n;
      await until(
        async () => {
          ({ jobId } = await challenged());
          await v.drawCommittee(jobId);
        },
        async () => (await v.members(jobId)).length === 2,
      );
      const drawn = await v.members(jobId);
      assert.deepEqual(drawn.map((m) => m.seats).sort(), [1, 2]);
      assert.equal((await verification.read.dispute([jobId])).committee.length, 3);
      const double = drawn.find((m) => m.seats === 2)!.wallet;
      const single = drawn.find((m) => m.seats === 1)!.wallet;
      const before = await ledger({ double, single });
      // The member holding two seats of three is a quorum on its own.
      await v.vote(jobId, (member) => (member === double ? Vote.ProviderWrong : Vote.None));
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, true, MODEL_COLLATERAL, Vote.ProviderWrong, 0n, 2n, 0n]);
      // A challenge's committee is paid out of the bond, per seat.
      assert.deepEqual(change(before, await ledger({ double, single })).accounts, {
        double: { ...none, verification: 2n * challengeSeatPay(3, P) },
        single: { ...none, stake: -P.voterPenalty },
      });
    });

    it("with nobody eligible, draws nobody, stays open and resolves as no quorum after disputeDuration", async () => {
      const { market, verification, provider, challenger, d, v, challenged } = await load(noVerifiers);
      const { jobId, openedAt } = await challenged();
      const receipt = await v.drawCommittee(jobId);
      await assertions.emitWithArgs(receipt.transactionHash, verification, "CommitteeDrawn", [jobId, [], 0n, 0n]);
      assert.equal((await verification.read.dispute([jobId])).state, DisputeState.Open);
      const end = openedAt + DISPUTE_DURATION;
      await d.at(end);
      await assertions.revertWithCustomErrorWithArgs(v.resolve(jobId, { wait: false }), verification, "DisputeStillOpen", [jobId, end, end]);
      const resolved = await v.resolve(jobId);
      await assertions.emitWithArgs(resolved.transactionHash, verification, "DisputeResolved", [jobId, false, 0n, Vote.None, 0n, 0n, 0n]);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
      assert.equal(await market.read.credits([provider.account.address]), PAYOUT);
      assert.equal(await verification.read.credits([challenger.account.address]), P.challengeBond);
    });
  });

  describe("commitVote and revealVote", () => {
    async function voting() {
      const sys = await load();
      const { jobId, members } = await sys.seated(sys.challenged);
      const dispute = await sys.verification.read.dispute([jobId]);
      return { ...sys, jobId, members, commitBy: dispute.voteCommitBy, revealBy: dispute.voteRevealBy };
    }

    it("records a member's commitment until voteCommitBy and reverts with VotingClosed one second later", async () => {
      const { verification, d, v, jobId, members, commitBy } = await voting();
      const [a, b] = members;
      const c = await v.voteCommitmentOf(jobId, a, Vote.ProviderCorrect);
      await d.at(commitBy);
      const { transactionHash } = await v.commitVote(jobId, a, Vote.ProviderCorrect);
      await assertions.emitWithArgs(transactionHash, verification, "VoteCommitted", [jobId, address(a), c]);
      assert.deepEqual([...(await verification.read.voteOf([jobId, a.account.address]))], [c, Vote.None]);
      await d.at(commitBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(v.commitVote(jobId, b, Vote.ProviderCorrect), verification, "VotingClosed", [
        jobId,
        commitBy,
        commitBy + 1n,
      ]);
    });

    it("refuses commitments from non-members, a second commitment, a zero one, and before the draw", async () => {
      const { verification, stranger, provider, challenger, v, jobId, members } = await voting();
      for (const outsider of [stranger, provider, challenger]) {
        await assertions.revertWithCustomErrorWithArgs(v.commitVote(jobId, outsider, Vote.ProviderWrong), verification, "NotCommitteeMember", [
          jobId,
          address(outsider),
        ]);
      }
      await v.commitVote(jobId, members[0], Vote.ProviderWrong);
      await assertions.revertWithCustomErrorWithArgs(v.commitVote(jobId, members[0], Vote.ProviderCorrect), verification, "VoteAlreadyCommitted", [
        jobId,
        address(members[0]),
      ]);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.commitVote([jobId, ZERO_HASH], { account: members[1].account }),
        verification,
        "ZeroCommitment",
        [],
      );

      const s = await load();
      const { jobId: open } = await s.challenged();
      await assertions.revertWithCustomErrorWithArgs(s.v.commitVote(open, s.verifiers[0], Vote.ProviderWrong), s.verification, "WrongDisputeState", [
        open,
        DisputeState.Open,
      ]);
      const plain = await s.d.revealed();
      await assertions.revertWithCustomErrorWithArgs(s.v.commitVote(plain, s.verifiers[0], Vote.ProviderWrong), s.verification, "NoDispute", [plain]);
    });

    it("opens reveals after voteCommitBy, or as soon as every member committed", async () => {
      const { verification, d, v, jobId, members, commitBy } = await voting();
      const [a, b, c] = members;
      await v.commitVote(jobId, a, Vote.ProviderWrong);
      await v.commitVote(jobId, b, Vote.AuditorWrong);
      const now = await d.now();
      await d.at(now + 1n);
      await assertions.revertWithCustomErrorWithArgs(v.revealVote(jobId, a, Vote.ProviderWrong), verification, "VotingStillOpen", [
        jobId,
        commitBy,
        now + 1n,
      ]);
      await v.commitVote(jobId, c, Vote.ProviderCorrect);
      // Every member committed: reveals open before voteCommitBy.
      assert.ok((await d.now()) < commitBy);
      for (const [member, vote] of [
        [a, Vote.ProviderWrong],
        [b, Vote.AuditorWrong],
        [c, Vote.ProviderCorrect],
      ] as const) {
        const { transactionHash } = await v.revealVote(jobId, member, vote);
        await assertions.emitWithArgs(transactionHash, verification, "VoteRevealed", [jobId, address(member), vote]);
        assert.equal((await verification.read.voteOf([jobId, member.account.address]))[1], vote);
      }

      const s = await voting();
      await s.v.commitVote(s.jobId, s.members[0], Vote.ProviderCorrect);
      await s.d.at(s.commitBy + 1n);
      await s.v.revealVote(s.jobId, s.members[0], Vote.ProviderCorrect);
    });

    it("reveals until voteRevealBy and reverts with VotingClosed one second later", async () => {
      const { verification, d, v, jobId, members, revealBy } = await voting();
      const [a, b] = members;
      await v.commitVote(jobId, a, Vote.ProviderCorrect);
      await v.commitVote(jobId, b, Vote.ProviderCorrect);
      await d.at(revealBy);
      await v.revealVote(jobId, a, Vote.ProviderCorrect);
      await d.at(revealBy + 1n);
      await assertions.revertWithCustomErrorWithArgs(v.revealVote(jobId, b, Vote.ProviderCorrect), verification, "VotingClosed", [
        jobId,
        revealBy,
        revealBy + 1n,
      ]);
    });

    it("refuses a reveal that does not open the commitment, a second reveal, Vote.None and non-members", async () => {
      const { verification, stranger, d, v, jobId, members, commitBy } = await voting();
      const [a, b, c] = members;
      await v.commitVote(jobId, a, Vote.ProviderWrong);
      await v.commitVote(jobId, b, Vote.ProviderWrong);
      await d.at(commitBy + 1n);
      const mismatch = (member: Wallet, vote: number, salt?: Hex) =>
        assertions.revertWithCustomErrorWithArgs(v.revealVote(jobId, member, vote, salt), verification, "VoteCommitmentMismatch", [
          jobId,
          address(member),
        ]);
      await mismatch(a, Vote.ProviderCorrect);
      await mismatch(a, Vote.ProviderWrong, keccak256(toHex("another salt")));
      // A member that never committed has nothing to open.
      await mismatch(c, Vote.ProviderWrong);
      await assertions.revertWithCustomErrorWithArgs(v.revealVote(jobId, a, Vote.None), verification, "InvalidVote", []);
      await assertions.revertWithCustomErrorWithArgs(v.revealVote(jobId, stranger, Vote.ProviderWrong), verification, "NotCommitteeMember", [
        jobId,
        address(stranger),
      ]);
      await v.revealVote(jobId, a, Vote.ProviderWrong);
      await assertions.revertWithCustomErrorWithArgs(v.revealVote(jobId, a, Vote.ProviderWrong), verification, "VoteAlreadyRevealed", [
        jobId,
        address(a),
      ]);
    });
  });

  describe("resolve", () => {
    it("waits for voteRevealBy while votes are missing, and no longer once every member revealed", async () => {
      const { verification, keeper, d, v, challenged, seated } = await load();
      const { jobId, members } = await seated(challenged);
      for (const m of members.slice(0, 2)) await v.commitVote(jobId, m, Vote.ProviderCorrect);
      const { voteCommitBy, voteRevealBy } = await verification.read.dispute([jobId]);
      await d.at(voteCommitBy + 1n);
      for (const m of members.slice(0, 2)) await v.revealVote(jobId, m, Vote.ProviderCorrect);
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

      const s = await load();
      const { jobId: quick } = await s.challenged();
      await s.v.drawCommittee(quick);
      await s.v.vote(quick, () => Vote.ProviderCorrect);
      assert.ok((await s.d.now()) < (await s.verification.read.dispute([quick])).voteRevealBy);
      await s.v.resolve(quick, { wait: false });
      assert.equal((await s.verification.read.dispute([quick])).state, DisputeState.Resolved);
    });

    it("reverts with NoDispute without one, WrongDisputeState once resolved, and the market's JobMismatch for another state", async () => {
      const { market, verification, keeper, d, v, challenged } = await load();
      const plain = await d.revealed();
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([plain, d.jobs.job(plain), "0x"], { account: keeper.account }),
        verification,
        "NoDispute",
        [plain],
      );
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      await v.vote(jobId, () => Vote.ProviderWrong);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, { ...d.jobs.job(jobId), result: ZERO_HASH }, "0x"], { account: keeper.account }),
        market,
        "JobMismatch",
        [jobId],
      );
      await v.resolve(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: keeper.account }),
        verification,
        "WrongDisputeState",
        [jobId, DisputeState.Resolved],
      );
    });

    it("a quorum is more than half of the committee: one revealed ProviderWrong of three does not slash, two do", async () => {
      const { market, verification, provider, d, v, challenged, seated, stakeOf } = await load();
      const { jobId: lone } = await seated(challenged);
      await v.vote(lone, [Vote.ProviderWrong, Vote.None, Vote.None]);
      const resolved = await v.resolve(lone);
      await assertions.emitWithArgs(resolved.transactionHash, verification, "DisputeResolved", [lone, false, 0n, Vote.None, 0n, 1n, 0n]);
      assert.equal(d.jobs.job(lone).status, JobStatus.Finalized);
      assert.equal(await market.read.credits([provider.account.address]), PAYOUT);

      const { jobId: two } = await seated(challenged);
      await v.vote(two, [Vote.ProviderWrong, Vote.ProviderWrong, Vote.None]);
      const faulted = await v.resolve(two);
      await assertions.emitWithArgs(faulted.transactionHash, verification, "DisputeResolved", [two, true, MODEL_COLLATERAL, Vote.ProviderWrong, 0n, 2n, 0n]);
      assert.equal(d.jobs.job(two).status, JobStatus.Slashed);
      assert.equal(await stakeOf(provider), parseEther("1000") - MODEL_COLLATERAL);
    });
  });

  describe("settlement", () => {
    it("faulted after the auditor's Disagree: the auditor is the finder, the poster is refunded, voters are paid from the pool", async () => {
      const { market, verification, provider, dapp, d, v, disagreed, ledger, change, none, seated } = await load(sampled);
      const {
        jobId,
        auditor,
        members: [m0, m1, m2],
      } = await seated(disagreed);
      const who = { provider, poster: dapp, auditor, m0, m1, m2 };
      const before = await ledger(who);
      await v.vote(jobId, () => Vote.ProviderWrong);
      const { transactionHash } = await v.resolve(jobId);
      const { lead, rest } = split(MODEL_COLLATERAL, P.challengerRewardBps);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, true, MODEL_COLLATERAL, Vote.ProviderWrong, 0n, 3n, 0n]);
      await assertions.emitWithArgs(transactionHash, market, "DisputeSettled", [jobId, true, MODEL_COLLATERAL]);
      const paid = { ...none, market: VOTER_REWARD };
      assert.deepEqual(change(before, await ledger(who)), {
        accounts: {
          provider: { ...none, stake: -MODEL_COLLATERAL },
          poster: { ...none, market: FEE },
          auditor: { ...none, verification: lead },
          m0: paid,
          m1: paid,
          m2: paid,
        },
        treasury: rest,
        pool: -3n * VOTER_REWARD,
      });
      assert.equal(lead, parseEther("40"));
      assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
      const dispute = await verification.read.dispute([jobId]);
      assert.deepEqual([dispute.state, dispute.outcome, dispute.providerFaulted], [DisputeState.Resolved, Vote.ProviderWrong, true]);
    });

    it("faulted after a bonded challenge without an audit: the committee is paid out of the bond, the poster's finder share comes first from the slash, the rest reimburses the challenger", async () => {
      const { verification, provider, dapp, challenger, v, challenged, ledger, change, none, seated } = await load();
      const {
        jobId,
        members: [m0, m1, m2],
      } = await seated(challenged);
      const who = { provider, poster: dapp, challenger, m0, m1, m2 };
      const before = await ledger(who);
      await v.vote(jobId, [Vote.ProviderWrong, Vote.ProviderWrong, Vote.None]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "VoterPenalized", [jobId, address(m2), P.voterPenalty]);
      // Each paid seat: 50 x (1 - 50%) / 3 seats = 8.33 out of the bond. The slash of 100 pays the finder 40%
      // of itself first (40), then what is left (60) pays the bond back (16.67), and the treasury the rest.
      const seatPay = challengeSeatPay(3, P);
      assert.equal(seatPay, 8_333_333_333_333_333_333n);
      await assertions.emitWithArgs(transactionHash, verification, "VoterPaid", [jobId, address(m0), seatPay]);
      const { reimbursed, finder, treasury } = faultedSplit(MODEL_COLLATERAL, 2n * seatPay, P);
      assert.deepEqual([finder, reimbursed, treasury], [parseEther("40"), 2n * seatPay, parseEther("60") - 2n * seatPay]);
      assert.deepEqual(change(before, await ledger(who)), {
        accounts: {
          provider: { ...none, stake: -MODEL_COLLATERAL },
          poster: { ...none, market: FEE, verification: finder },
          // bond - what it paid the committee + the reimbursement = the whole bond
          challenger: { ...none, verification: P.challengeBond },
          m0: { ...none, verification: seatPay },
          m1: { ...none, verification: seatPay },
          m2: { ...none, stake: -P.voterPenalty },
        },
        treasury: treasury + P.voterPenalty,
        pool: 0n,
      });
    });

    it("an auditor that challenged and revealed its Disagree is the finder; one that challenged and kept quiet is not, and loses challengeBond", async () => {
      const { verification, token, provider, dapp, v, audited, ledger, change, none } = await load(sampled);
      // Every seat votes the outcome and is paid out of the auditor's bond, which the slash makes good.
      const { finder: lead } = faultedSplit(MODEL_COLLATERAL, 3n * challengeSeatPay(3, P), P);
      for (const reveals of [true, false]) {
        const { jobId, auditor } = await audited({ agree: false });
        await token.write.mint([auditor.account.address, P.challengeBond]);
        await token.write.approve([verification.address, P.challengeBond], { account: auditor.account });
        await v.challenge(jobId, auditor);
        if (reveals) await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }), verdict: Verdict.Disagree });
        await v.drawCommittee(jobId);
        const before = await ledger({ provider, poster: dapp, auditor });
        await v.vote(jobId, () => Vote.ProviderWrong);
        await v.resolve(jobId);
        assert.deepEqual(
          change(before, await ledger({ provider, poster: dapp, auditor })).accounts,
          reveals
            ? {
                provider: { ...none, stake: -MODEL_COLLATERAL },
                poster: { ...none, market: FEE },
                auditor: { ...none, verification: lead + P.challengeBond },
              }
            : {
                provider: { ...none, stake: -MODEL_COLLATERAL },
                poster: { ...none, market: FEE, verification: lead },
                auditor: { ...none, verification: P.challengeBond, stake: -P.challengeBond },
              },
          reveals ? "revealed" : "kept quiet",
        );
      }
    });

    it("faulted while the auditor agreed: the agreeing auditor loses challengeBond and is not paid; the poster is the finder", async () => {
      const { verification, provider, dapp, challenger, v, audited, ledger, change, none, seated } = await load(sampled);
      const { jobId, auditor } = await audited();
      await v.revealAudit(jobId);
      await v.challenge(jobId, challenger);
      await v.drawCommittee(jobId);
      const who = { provider, poster: dapp, auditor, challenger };
      const before = await ledger(who);
      await v.vote(jobId, () => Vote.ProviderWrong);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), P.challengeBond, AuditState.Agreed]);
      const { finder, treasury } = faultedSplit(MODEL_COLLATERAL, 3n * challengeSeatPay(3, P), P);
      const after = change(before, await ledger(who));
      assert.deepEqual(after.accounts, {
        provider: { ...none, stake: -MODEL_COLLATERAL },
        poster: { ...none, market: FEE, verification: finder },
        auditor: { ...none, stake: -P.challengeBond },
        challenger: { ...none, verification: P.challengeBond },
      });
      assert.equal(after.treasury, treasury + P.challengeBond);
      // The committee of a challenge is paid out of the bond: the audit pool pays nobody.
      assert.equal(after.pool, 0n);
    });

    it("upheld against a bonded challenge: the provider is paid and gets providerRewardBps of the bond, the voters are paid out of the rest, a dissenter is penalized", async () => {
      const { market, verification, provider, dapp, challenger, staking, d, v, challenged, ledger, change, none, seated } = await load();
      const {
        jobId,
        members: [m0, m1, m2],
      } = await seated(challenged);
      const who = { provider, poster: dapp, challenger, m0, m1, m2 };
      const before = await ledger(who);
      const { locked } = await staking.read.account([provider.account.address]);
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderCorrect, Vote.ProviderWrong]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, Vote.ProviderCorrect, 2n, 1n, 0n]);
      await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), PAYOUT]);
      const { lead, rest } = split(P.challengeBond, P.providerRewardBps);
      const seatPay = challengeSeatPay(3, P);
      assert.deepEqual(change(before, await ledger(who)), {
        accounts: {
          provider: { ...none, market: PAYOUT, verification: lead },
          poster: none,
          challenger: none,
          m0: { ...none, verification: seatPay },
          m1: { ...none, verification: seatPay },
          m2: { ...none, stake: -P.voterPenalty },
        },
        treasury: rest - 2n * seatPay + P.voterPenalty,
        // The pool gains the levy of the paid job and pays nobody.
        pool: feeSplit(FEE).auditLevy,
      });
      assert.equal((await staking.read.account([provider.account.address])).locked, locked - MODEL_COLLATERAL);
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("upheld against the auditor's Disagree: the auditor loses challengeBond, split between the provider and the treasury", async () => {
      const { verification, provider, v, disagreed, ledger, change, none, seated } = await load(sampled);
      const { jobId, auditor } = await disagreed();
      await v.drawCommittee(jobId);
      const before = await ledger({ provider, auditor });
      await v.vote(jobId, () => Vote.ProviderCorrect);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), P.challengeBond, AuditState.Disagreed]);
      const { lead, rest } = split(P.challengeBond, P.providerRewardBps);
      const after = change(before, await ledger({ provider, auditor }));
      assert.deepEqual(after.accounts, {
        provider: { ...none, market: PAYOUT, verification: lead },
        auditor: { ...none, stake: -P.challengeBond },
      });
      assert.equal(after.treasury, rest);
    });

    it("a recheck with an AuditorWrong quorum: the provider is paid, the lazy auditor loses challengeBond to the treasury and is not paid", async () => {
      const { verification, terms, owner, provider, v, audited, ledger, change, none, seated } = await load(sampled);
      await terms.write.setVerificationParams([{ ...P, recheckPpm: 1_000_000 }], { account: owner.account });
      const rechecked = async () => {
        const made = await audited({ agree: false });
        await v.revealAudit(made.jobId, { output: v.auditOutput(made.jobId, { agree: false }), verdict: Verdict.Agree });
        return made;
      };
      const {
        jobId,
        auditor,
        members: [m0, m1, m2],
      } = await seated(rechecked);
      const who = { provider, auditor, m0, m1, m2 };
      const before = await ledger(who);
      await v.vote(jobId, [Vote.AuditorWrong, Vote.AuditorWrong, Vote.ProviderCorrect]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, Vote.AuditorWrong, 1n, 0n, 2n]);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), P.challengeBond, AuditState.Agreed]);
      const after = change(before, await ledger(who));
      assert.deepEqual(after.accounts, {
        provider: { ...none, market: PAYOUT },
        auditor: { ...none, stake: -P.challengeBond },
        m0: { ...none, market: VOTER_REWARD },
        m1: { ...none, market: VOTER_REWARD },
        m2: { ...none, stake: -P.voterPenalty },
      });
      assert.equal(after.treasury, P.challengeBond + P.voterPenalty);
    });

    it("a recheck with a ProviderCorrect quorum: both outputs stand and the auditor is paid at settlement", async () => {
      const { terms, owner, provider, v, audited, ledger, change, none, seated } = await load(sampled);
      await terms.write.setVerificationParams([{ ...P, recheckPpm: 1_000_000 }], { account: owner.account });
      const { jobId, auditor } = await audited({ agree: false });
      await v.revealAudit(jobId, { output: v.auditOutput(jobId, { agree: false }), verdict: Verdict.Agree });
      await v.drawCommittee(jobId);
      const before = await ledger({ provider, auditor });
      await v.vote(jobId, () => Vote.ProviderCorrect);
      await v.resolve(jobId);
      const after = change(before, await ledger({ provider, auditor }));
      assert.deepEqual(after.accounts, { provider: { ...none, market: PAYOUT }, auditor: { ...none, market: AUDIT_REWARD } });
      assert.equal(after.treasury, 0n);
    });

    it("without an auditor's output under judgement, AuditorWrong votes count as 'provider right'", async () => {
      const { verification, v, challenged, ledger, change, none, seated } = await load();
      const {
        jobId,
        members: [m0, m1, m2],
      } = await seated(challenged);
      const before = await ledger({ m0, m1, m2 });
      await v.vote(jobId, [Vote.AuditorWrong, Vote.ProviderCorrect, Vote.ProviderWrong]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, Vote.ProviderCorrect, 1n, 1n, 1n]);
      assert.deepEqual(change(before, await ledger({ m0, m1, m2 })).accounts, {
        m0: { ...none, verification: challengeSeatPay(3, P) },
        m1: { ...none, verification: challengeSeatPay(3, P) },
        m2: { ...none, stake: -P.voterPenalty },
      });
    });

    it("no quorum: the provider is upheld, the bond returned, only absent members penalized, nobody's vote paid", async () => {
      const { verification, provider, challenger, v, challenged, ledger, change, none, seated } = await load();
      const {
        jobId,
        members: [m0, m1, m2],
      } = await seated(challenged);
      const who = { provider, challenger, m0, m1, m2 };
      const before = await ledger(who);
      await v.vote(jobId, [Vote.ProviderCorrect, Vote.ProviderWrong, Vote.None]);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "DisputeResolved", [jobId, false, 0n, Vote.None, 1n, 1n, 0n]);
      const after = change(before, await ledger(who));
      assert.deepEqual(after.accounts, {
        provider: { ...none, market: PAYOUT },
        challenger: { ...none, verification: P.challengeBond },
        m0: none,
        m1: none,
        m2: { ...none, stake: -P.voterPenalty },
      });
      assert.equal(after.treasury, P.voterPenalty);
    });

    it("the voters of a dispute the protocol opened are paid from the audit pool, as much as it holds", async () => {
      const { market, verification, dapp, v, disagreed, ledger, change, none, seated } = await load(sampledEmptyPool);
      await market.write.fundAuditPool([VOTER_REWARD + VOTER_REWARD / 2n], { account: dapp.account });
      const {
        jobId,
        members: [m0, m1, m2],
      } = await seated(disagreed);
      const before = await ledger({ m0, m1, m2 });
      await v.vote(jobId, () => Vote.ProviderWrong);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "VoterPaid", [jobId, address(m2), 0n]);
      assert.deepEqual(change(before, await ledger({ m0, m1, m2 })).accounts, {
        m0: { ...none, market: VOTER_REWARD },
        m1: { ...none, market: VOTER_REWARD / 2n },
        m2: none,
      });
      assert.equal(await market.read.auditPool(), 0n);
    });

    it("a challenge's committee is paid the same out of the bond for either verdict, and the audit pool pays nothing, even when empty", async () => {
      const { market, verification, challenger, v, challenged, ledger, change, none, seated } = await load(unsampledEmptyPool);
      const seatPay = challengeSeatPay(3, P);
      const paid = { ...none, verification: seatPay };
      for (const verdict of [Vote.ProviderWrong, Vote.ProviderCorrect]) {
        const {
          jobId,
          members: [m0, m1, m2],
        } = await seated(challenged);
        const before = await ledger({ challenger, m0, m1, m2 });
        await v.vote(jobId, () => verdict);
        const { transactionHash } = await v.resolve(jobId);
        for (const m of [m0, m1, m2]) await assertions.emitWithArgs(transactionHash, verification, "VoterPaid", [jobId, address(m), seatPay]);
        const after = change(before, await ledger({ challenger, m0, m1, m2 }));
        const faulted = verdict === Vote.ProviderWrong;
        assert.deepEqual(
          after.accounts,
          // Faulted: the slash reimburses the challenger the 3 seats its bond paid. Upheld: the bond is forfeited.
          { challenger: faulted ? { ...none, verification: P.challengeBond } : none, m0: paid, m1: paid, m2: paid },
          faulted ? "faulted" : "upheld",
        );
        // The pool only ever gains the levy of a job that is paid.
        assert.equal(after.pool, faulted ? 0n : feeSplit(FEE).auditLevy, faulted ? "faulted" : "upheld");
      }
      assert.equal(await market.read.auditPool(), feeSplit(FEE).auditLevy);
    });

    it("a faulted challenge whose committee cost more than the slash: the poster's finder share still comes first, the challenger is reimbursed only what is left", async () => {
      const { registry, owner, challenger, dapp, d, v, ledger, change, none, until } = await load();
      // A second model whose collateral (10) is below what the bond pays a committee (3 x 8.33 = 25): the
      // finder takes 40% of it (4), the challenger the other 6 of the 25 its bond paid.
      const small = parseEther("10");
      await registry.write.register([modelSpec({ modelHash: keccak256(toHex("small model")), minCollateral: small })], { account: owner.account });
      let jobId = 0n;
      await until(
        async () => {
          jobId = await d.revealed({ modelId: 2n });
          await v.challenge(jobId, challenger);
          await v.drawCommittee(jobId);
        },
        async () => (await v.members(jobId)).length === 3,
      );
      const before = await ledger({ challenger, poster: dapp });
      await v.vote(jobId, () => Vote.ProviderWrong);
      await v.resolve(jobId);
      const bondPaid = 3n * challengeSeatPay(3, P);
      const { reimbursed, finder, treasury } = faultedSplit(small, bondPaid, P);
      assert.deepEqual([finder, reimbursed, treasury], [parseEther("4"), parseEther("6"), 0n]);
      assert.deepEqual(change(before, await ledger({ challenger, poster: dapp })).accounts, {
        challenger: { ...none, verification: P.challengeBond - bondPaid + parseEther("6") },
        poster: { ...none, market: FEE, verification: parseEther("4") },
      });
      assert.equal(change(before, await ledger({ challenger, poster: dapp })).treasury, 0n, "nothing of the slash is left for the treasury");
    });

    it("a missed audit's committee: the poster is the finder when the provider is faulted", async () => {
      const { verification, provider, dapp, d, v, ledger, change, none, seated } = await load(sampled);
      const jobId = await d.committed();
      const auditor = await v.auditor(jobId);
      await d.at((await verification.read.auditCommitBy([d.jobs.job(jobId)])) + 1n);
      await d.reveal(jobId);
      await v.drawCommittee(jobId);
      assert.ok(!(await v.committee(jobId)).some((m) => address(m) === address(auditor)), "the missed auditor is not on the committee");
      const before = await ledger({ provider, poster: dapp, auditor });
      await v.vote(jobId, () => Vote.ProviderWrong);
      await v.resolve(jobId);
      const { lead, rest } = split(MODEL_COLLATERAL, P.challengerRewardBps);
      const after = change(before, await ledger({ provider, poster: dapp, auditor }));
      assert.deepEqual(after.accounts, {
        provider: { ...none, stake: -MODEL_COLLATERAL },
        poster: { ...none, market: FEE, verification: lead },
        auditor: none,
      });
      assert.equal(after.treasury, rest);
    });

    it("an unrevealed audit's committee upholds the provider without a second penalty or a reward for the auditor", async () => {
      const { verification, provider, d, v, audited, ledger, change, none, seated } = await load(sampled);
      const { jobId, auditor } = await audited();
      await d.finalize(jobId);
      await v.drawCommittee(jobId);
      const before = await ledger({ provider, auditor });
      await v.vote(jobId, () => Vote.ProviderCorrect);
      const { logs } = await v.resolve(jobId);
      const events = parseEventLogs({ abi: verification.abi, logs }).map((l) => l.eventName);
      assert.ok(events.includes("DisputeResolved") && !events.includes("AuditorPenalized"), events.join(", "));
      assert.deepEqual(change(before, await ledger({ provider, auditor })).accounts, {
        provider: { ...none, market: PAYOUT },
        auditor: none,
      });
      assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    });

    it("an audit committed and still unrevealed when another party's dispute resolves costs challengeBond then", async () => {
      const { verification, challenger, v, audited, stakeOf, seated } = await load(sampled);
      const { jobId, auditor } = await audited();
      await v.challenge(jobId, challenger);
      await v.drawCommittee(jobId);
      await v.vote(jobId, () => Vote.ProviderCorrect);
      const before = await stakeOf(auditor);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), P.challengeBond, AuditState.Unrevealed]);
      assert.equal(await stakeOf(auditor), before - P.challengeBond);
      assert.equal((await verification.read.audit([jobId])).state, AuditState.Unrevealed);
    });

    it("an audit still unrevealed when another party's dispute resolves costs at least the replacing committee's pay when that exceeds challengeBond", async () => {
      const { verification, challenger, v, audited, stakeOf } = await load(sampled);
      // 3 seats x 2% of 1000 = 60 > challengeBond (50).
      const big = parseEther("1000");
      const penalty = absentAuditPenalty(P.challengeBond, big, P);
      assert.equal(penalty, parseEther("60"));
      const { jobId, auditor } = await audited({ request: { fee: big } });
      await v.challenge(jobId, challenger);
      await v.drawCommittee(jobId);
      await v.vote(jobId, () => Vote.ProviderCorrect);
      const before = await stakeOf(auditor);
      const { transactionHash } = await v.resolve(jobId);
      await assertions.emitWithArgs(transactionHash, verification, "AuditorPenalized", [jobId, address(auditor), penalty, AuditState.Unrevealed]);
      assert.equal(await stakeOf(auditor), before - penalty);
    });

    it("still delivers the inline result to a consumer whose job the committee upheld", async () => {
      const { market, token, challenger, d, v, seated } = await load();
      const consumer = await viem.deployContract("GoodConsumer", [market.address, token.address]);
      await token.write.mint([consumer.address, FEE]);
      const output = toHex("upheld output bytes");
      const jobId = await d.posted(consumer.write.post([await d.request({ callbackGasLimit: 300_000, inlineOutput: true })]));
      await d.revealed(jobId, { inlineOutput: output });
      await v.challenge(jobId, challenger);
      await v.drawCommittee(jobId);
      await v.vote(jobId, () => Vote.ProviderCorrect);
      await v.resolve(jobId, { inlineOutput: output });
      assert.equal(await consumer.read.calls(), 1n);
      assert.equal(await consumer.read.lastOutputHash(), keccak256(output));
    });

    it("a job under dispute cannot be finalized or expired by the market, even after its challenge window", async () => {
      const { market, keeper, d, challenged, seated } = await load();
      const { jobId } = await challenged();
      await d.pastDeadline(jobId);
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Disputed],
      );
      await assertions.revertWithCustomErrorWithArgs(
        market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
        market,
        "WrongStatus",
        [jobId, JobStatus.Disputed],
      );
    });
  });

  describe("withdraw and the treasury", () => {
    it("pays an account its credits once, then reverts with NothingToWithdraw", async () => {
      const { verification, token, challenger, v, challenged } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      await v.vote(jobId, () => Vote.ProviderWrong);
      await v.resolve(jobId);
      const before = await token.read.balanceOf([challenger.account.address]);
      const hash = await verification.write.withdraw({ account: challenger.account });
      await assertions.emitWithArgs(hash, verification, "Withdrawal", [address(challenger), P.challengeBond]);
      assert.equal(await token.read.balanceOf([challenger.account.address]), before + P.challengeBond);
      assert.equal(await verification.read.credits([challenger.account.address]), 0n);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdraw({ account: challenger.account }),
        verification,
        "NothingToWithdraw",
        [address(challenger)],
      );
    });

    it("lets only the owner withdraw the treasury, to a nonzero address, once", async () => {
      const { verification, token, owner, stranger, v, challenged } = await load();
      const { jobId } = await challenged();
      await v.drawCommittee(jobId);
      await v.vote(jobId, () => Vote.ProviderWrong);
      await v.resolve(jobId);
      const { treasury: rest } = faultedSplit(MODEL_COLLATERAL, 3n * challengeSeatPay(3, P), P);
      assert.equal(await verification.read.treasury(), rest);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdrawTreasury([stranger.account.address], { account: stranger.account }),
        verification,
        "OwnableUnauthorizedAccount",
        [address(stranger)],
      );
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdrawTreasury([ZERO_ADDRESS], { account: owner.account }),
        verification,
        "ZeroAddress",
        [],
      );
      const hash = await verification.write.withdrawTreasury([stranger.account.address], { account: owner.account });
      await assertions.emitWithArgs(hash, verification, "TreasuryWithdrawn", [address(stranger), rest]);
      assert.equal(await token.read.balanceOf([stranger.account.address]), parseEther("1000") + rest);
      await assertions.revertWithCustomErrorWithArgs(
        verification.write.withdrawTreasury([stranger.account.address], { account: owner.account }),
        verification,
        "NothingToWithdraw",
        [address(stranger)],
      );
    });
  });
});
