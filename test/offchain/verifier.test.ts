/**
 * The verifier's logic (offchain/verifier/decide.ts, judge.ts, views.ts): the step each chain state calls
 * for (audits, committee votes including AuditorWrong, committee reseeds, expiring withheld reveals), the
 * keeper's verifier-weight sync, the salts, the vote commitment, the watchdog's pick, when an output no
 * location serves counts as wrong, the judgement of outputs fetched from several locations, warming the
 * models at start, the journal records the daemon keeps (and how a restart settles them), staking on
 * start, its options, the same commitments, views and sync checked against the real contracts, and the pruning
 * of its blob stores (what its open journal entries name stays, what is old and named by none goes).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { describe, it } from "mocha";
import pino from "pino";
import { concat, decodeEventLog, getAddress, keccak256, pad, parseEther, toHex, type Address, type Hex } from "viem";

import { JobStatus, type Job, type JobRecord } from "../../offchain/chain/jobs.js";
import { TermsReader } from "../../offchain/chain/terms.js";
import { commitment, deriveSalt } from "../../offchain/codec/commitment.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, DEFAULT_MAX_BLOB_BYTES, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { ConfigError, loadOptions } from "../../offchain/config/options.js";
import { MODEL_FILES } from "../../offchain/devnet/devnet.js";
import { InferenceRunError, InferenceTimeoutError } from "../../offchain/inference/errors.js";
import { createInferenceRunner, type InferenceRunner } from "../../offchain/inference/runner.js";
import { hashModel } from "../../offchain/inference/model.js";
import { silentLogger } from "../../offchain/log.js";
import { Journal } from "../../offchain/state/journal.js";
import { BlobTooLargeError } from "../../offchain/storage/errors.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer } from "../../offchain/storage/server.js";
import {
  AuditState,
  auditCommitByOf,
  auditorOutputJudged,
  auditSalt,
  challengeEconomics,
  decideStep,
  DisputeReason,
  FETCH_BUDGET_MS,
  DisputeState,
  isProven,
  journalKey,
  keeperJitter,
  NO_AUDIT,
  NO_DISPUTE,
  provenActions,
  REFUSAL_BACKOFF_SECONDS,
  refusalOf,
  syncStep,
  unservedOutputPolicy,
  Verdict,
  verdictFor,
  Vote,
  voteCommitment,
  voteFor,
  voteSalt,
  watchdogPicks,
  ZERO_ADDRESS,
  ZERO_HASH,
  type DisputeView,
  type JobSnapshot,
  type JobTerms,
  type SyncSnapshot,
} from "../../offchain/verifier/decide.js";
import { fetchOutput } from "../../offchain/storage/output.js";
import { fetchJobInput, fetchProviderOutput, judge, providerOutputLocations, reExecute, warmVerifierModels } from "../../offchain/verifier/judge.js";
import { createVerifierMetrics } from "../../offchain/verifier/metrics.js";
import { VerifierOptionsSchema } from "../../offchain/verifier/options.js";
import { ensureVerifier, verifierBlobPruner } from "../../offchain/verifier/start.js";
import { BATCH_KEY, reconcileActions, type VerifierBatchData, type VerifierDaemonParameters, type VerifierJobData } from "../../offchain/verifier/verifier.js";
import { jobTermsOf, readAudit, readDispute, readOutputLocations } from "../../offchain/verifier/views.js";
import { deploySystem, deploymentOf, LOCAL_PARAMETERS, ROLE_VERIFIER, setUpMarket, stake } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";
import { testVerifierDaemon } from "../helpers/verifier-daemon.js";

const ME = getAddress("0x00000000000000000000000000000000000000a1");
const OTHER = getAddress("0x00000000000000000000000000000000000000b2");
const THIRD = getAddress("0x00000000000000000000000000000000000000c3");
const PROVIDER = getAddress("0x00000000000000000000000000000000000000d4");
const FOURTH = getAddress("0x00000000000000000000000000000000000000e5");
const SECRET: Hex = "0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const ROOT_A = keccak256(toHex("root a"));
const ROOT_B = keccak256(toHex("root b"));
const COMMITMENT = keccak256(toHex("a commitment"));

/** A job's terms: seed 5 blocks after the commit, 300 s to reveal, 10 s for the blind audit, 60 s window, 600 s dispute, 20 + 20 s vote. */
const TERMS: JobTerms = { seedDelay: 5, revealTimeout: 300, challengeWindow: 60, disputeDuration: 600, auditCommitTimeout: 10, voteCommitTimeout: 20, voteRevealTimeout: 20 };

/** A job committed at time 1000 in block 100 (reveal by 1300; seed block 105; audit commit by 1010). */
function job(overrides: Partial<Job> = {}): Job {
  return {
    poster: OTHER,
    modelId: 1,
    terms: 1,
    fee: 10n,
    collateral: 100n,
    callbackGasLimit: 0,
    status: JobStatus.Committed,
    deadline: 1_300,
    provider: PROVIDER,
    commitBlock: 100n,
    result: COMMITMENT,
    inlineOutput: false,
    sampled: false,
    ...overrides,
  };
}

/** A snapshot at block 110, time 1000. */
function snap(overrides: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    me: ME,
    jobId: 1n,
    head: 110n,
    now: 1_000n,
    terms: TERMS,
    job: job(),
    audit: NO_AUDIT,
    dispute: NO_DISPUTE,
    votes: [],
    keeper: true,
    keeperGraceSeconds: 10,
    keepers: [],
    watched: false,
    refused: {},
    ...overrides,
  };
}

/** Revealed at 980, its window open until 1040. */
const revealedJob = (overrides: Partial<Job> = {}) => job({ status: JobStatus.Revealed, deadline: 1_040, result: ROOT_A, sampled: true, ...overrides });
/** A challenge opened at 995 in block 105: its committee seed is block 110. */
const open: DisputeView = { ...NO_DISPUTE, challenger: OTHER, bond: 50n, state: DisputeState.Open, reason: DisputeReason.Challenge, openedBlock: 105n, openedAt: 995n, seedBlock: 110n };
const voting = (overrides: Partial<DisputeView> = {}): DisputeView => ({
  ...open,
  state: DisputeState.Voting,
  voteCommitBy: 1_010n,
  voteRevealBy: 1_020n,
  committee: [ME, THIRD, FOURTH],
  ...overrides,
});

/** A keeper that does not lead a duty does it this many seconds after it is due (grace 10 plus its own delay for job 1). */
const LATE = 10n + keeperJitter({ me: ME, key: 1n, graceSeconds: 10 });

function actionOf(s: JobSnapshot): string {
  const step = decideStep(s);
  return step.kind === "act" ? step.action : step.kind;
}

describe("verifier decisions", () => {
  describe("audits", () => {
    it("waits for the seed block, then commits blind when drawn, until auditCommitBy only", () => {
      assert.equal(auditCommitByOf(job(), TERMS), 1_010n, "committed at 1000 (reveal by 1300 less 300 s), plus 10 s");
      assert.equal(auditCommitByOf(job(), { revealTimeout: 300, auditCommitTimeout: 400 }), 1_299n, "capped a second before the reveal deadline");
      const early = decideStep(snap({ head: 105n, drawnAuditor: ME }));
      assert.deepEqual({ kind: early.kind, block: early.kind === "wait" ? early.block : undefined }, { kind: "wait", block: 106n });
      assert.equal(actionOf(snap({ drawnAuditor: ME })), "commitAudit");
      assert.equal(actionOf(snap({ drawnAuditor: ME, now: 1_010n })), "commitAudit", "the deadline is inclusive");
      assert.equal(actionOf(snap({ drawnAuditor: ME, now: 1_011n })), "wait", "too late to commit blind");
      assert.equal(actionOf(snap({ drawnAuditor: ME, audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Committed, commitBlock: 106n } })), "wait", "committed");
    });

    it("waits for the reveal when another auditor is drawn or none (not sampled), waking for the expiry", () => {
      for (const drawnAuditor of [OTHER, undefined]) {
        const step = decideStep(snap({ drawnAuditor }));
        assert.deepEqual(step.kind === "wait" && [step.block, step.time], [105n + 256n, 1_301n + LATE], "the seed's reach, or the reveal deadline and a keeper's delay");
      }
    });

    it("reveals its audit after the provider's reveal, inside the window, once the block seedDelay after its commit is mined, also under another's dispute until its committee is drawn", () => {
      const mine = { ...NO_AUDIT, auditor: ME, state: AuditState.Committed, commitBlock: 104n, commitment: COMMITMENT };
      assert.equal(actionOf(snap({ job: revealedJob(), audit: mine })), "revealAudit", "block 110 is past the recheck block 109");
      const early = decideStep(snap({ job: revealedJob(), audit: mine, head: 109n }));
      assert.deepEqual(early.kind === "wait" && early.block, 110n, "revealAudit refuses until the block after commitBlock + seedDelay");
      assert.equal(actionOf(snap({ job: revealedJob({ status: JobStatus.Disputed }), audit: mine, dispute: open })), "revealAudit", "another's dispute, its committee not drawn");
      const earlyInDispute = decideStep(snap({ job: revealedJob({ status: JobStatus.Disputed }), audit: mine, dispute: open, head: 109n }));
      assert.deepEqual(
        earlyInDispute.kind === "wait" && earlyInDispute.block,
        110n,
        "in another's dispute opened before our recheck seed, woken for the block after it (not the committee seed block's), to reveal before the draw",
      );
      assert.notEqual(
        actionOf(snap({ job: revealedJob({ status: JobStatus.Disputed }), audit: mine, dispute: voting({ committee: [OTHER] }) })),
        "revealAudit",
        "the committee is drawn: the contract refuses the reveal (AuditClosed), the audit stays unrevealed",
      );
      assert.equal(actionOf(snap({ job: revealedJob({ deadline: 999 }), audit: mine })), "wait", "the window closed: the contract penalizes the silence");
    });

    it("leaves missed and unrevealed audits to the contract (penalties are automatic): no keeper step for them", () => {
      for (const state of [AuditState.Missed, AuditState.Unrevealed]) {
        const audit = { ...NO_AUDIT, auditor: OTHER, state };
        const during = decideStep(snap({ job: revealedJob(), audit, keepers: [ME] }));
        assert.deepEqual(during.kind === "wait" && during.time, 1_041n, "nothing but the end of the window");
        assert.equal(actionOf(snap({ job: revealedJob(), audit, keepers: [ME], now: 1_100n })), "wait", "after the window: the provider finalizes");
        assert.deepEqual(decideStep(snap({ job: revealedJob({ status: JobStatus.Finalized }), audit, now: 1_100n })), { kind: "done", outcome: "finalized" });
      }
    });

    it("expires a withheld reveal: at once as the auditor that committed blind (keeper or not), after its delay as another keeper", () => {
      const blind = (auditor: Address) => ({ ...NO_AUDIT, auditor, state: AuditState.Committed, commitBlock: 106n, commitment: COMMITMENT });
      const due = decideStep(snap({ audit: blind(ME), now: 1_300n }));
      assert.deepEqual(due.kind === "wait" && due.time, 1_301n, "the reveal deadline is inclusive");
      assert.equal(actionOf(snap({ audit: blind(ME), now: 1_301n })), "expire");
      assert.equal(actionOf(snap({ audit: blind(ME), now: 1_301n, keeper: false })), "expire", "it is owed the finder's share: its own business");
      const other = { audit: blind(OTHER), keepers: [OTHER, ME] };
      assert.equal(actionOf(snap({ ...other, now: 1_301n })), "wait", "the blind auditor leads");
      assert.equal(actionOf(snap({ ...other, now: 1_301n + LATE })), "expire");
      assert.equal(actionOf(snap({ ...other, now: 1_301n + LATE, keeper: false })), "wait", "keeper duties off");
      assert.equal(actionOf(snap({ keepers: [ME], now: 1_301n })), "expire", "no audit: a keeper of the set leads (job 1 picks us)");
      // The seed went out of reach (block 105 + 256): the job can only expire, at once, whatever its deadline.
      assert.equal(actionOf(snap({ audit: blind(ME), head: 361n })), "expire");
      assert.equal(actionOf(snap({ audit: blind(OTHER), keepers: [OTHER, ME], head: 361n })), "expire");
      assert.equal(actionOf(snap({ audit: blind(ME), head: 360n })), "wait", "block 361 may still reveal");
    });

    it("closes a job that is over", () => {
      assert.deepEqual(decideStep(snap({ job: revealedJob({ status: JobStatus.Finalized }), now: 2_000n })), { kind: "done", outcome: "finalized" });
      assert.deepEqual(decideStep(snap({ job: revealedJob({ status: JobStatus.Slashed }), now: 2_000n })), { kind: "done", outcome: "slashed" });
      assert.deepEqual(decideStep(snap({ job: job({ status: JobStatus.Expired }) })), { kind: "done", outcome: "expired" });
    });
  });

  describe("disputes", () => {
    const disputed = revealedJob({ status: JobStatus.Disputed });

    it("draws the committee once its seed block is mined: at once as the challenger, after the grace otherwise", () => {
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 110n })), "wait", "seed block 110 not behind the head");
      assert.equal(actionOf(snap({ job: disputed, dispute: { ...open, challenger: ME }, head: 111n, keepers: [OTHER, ME] })), "drawCommittee");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 995n + LATE - 1n })), "wait");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 995n + LATE })), "drawCommittee");
      // A dispute the protocol opened (a missed audit) has no challenger: a verifier of the set leads ((1 + 1) % 2 picks us).
      const missed = { ...open, challenger: ZERO_ADDRESS, bond: 0n, reason: DisputeReason.AuditMissed };
      assert.equal(actionOf(snap({ job: disputed, dispute: missed, head: 111n, keepers: [ME, THIRD] })), "drawCommittee");
      assert.equal(actionOf(snap({ job: disputed, dispute: missed, head: 111n, keepers: [THIRD, ME] })), "wait");
    });

    it("draws again after a reseed: a seed out of reach is replaced, and each seed block is its own journal entry", () => {
      const stale = decideStep(snap({ job: disputed, dispute: open, head: 366n, now: 1_300n }));
      assert.ok(stale.kind === "act" && stale.action === "drawCommittee" && /out of reach/.test(stale.reason), JSON.stringify(stale));
      const reseeded = { ...open, seedBlock: 372n };
      const waiting = decideStep(snap({ job: disputed, dispute: reseeded, head: 367n, now: 1_301n }));
      assert.deepEqual(waiting.kind === "wait" && waiting.block, 373n, "the new seed block");
      assert.equal(actionOf(snap({ job: disputed, dispute: reseeded, head: 373n, now: 1_307n })), "drawCommittee");
      assert.notEqual(journalKey("drawCommittee", { dispute: open }), journalKey("drawCommittee", { dispute: reseeded }));
      assert.equal(journalKey("resolve", { dispute: reseeded }), "resolve");
    });

    it("draws no later than the last moment a whole vote fits, then resolves without a committee after the dispute duration", () => {
      // Draw by 995 + 600 - 20 - 20 = 1555; resolvable from 1596.
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 1_555n })), "drawCommittee");
      const late = decideStep(snap({ job: disputed, dispute: open, head: 111n, now: 1_556n }));
      assert.deepEqual(late.kind === "wait" && late.time, 1_596n + LATE, "too late to draw: wait to resolve");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 1_596n + LATE })), "resolve");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 1_100n, committeeEmpty: true })), "wait", "nobody eligible: drawing again finds nobody");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 1_596n + LATE, committeeEmpty: true })), "resolve");
    });

    it("spreads keepers out: each waits the grace plus a delay of its own, up to the grace", () => {
      const delays = Array.from({ length: 64 }, (_, i) => keeperJitter({ me: ME, key: BigInt(i), graceSeconds: 10 }));
      assert.ok(delays.every((d) => d >= 0n && d <= 10n));
      assert.ok(new Set(delays).size > 5, "delays vary from duty to duty");
      assert.equal(keeperJitter({ me: ME, key: 5n, graceSeconds: 0 }), 0n);
    });

    it("commits its vote, reveals it once the others committed or the commit phase ended, then resolves", () => {
      const none = (voter: Address) => ({ voter, commitment: ZERO_HASH, vote: Vote.None });
      const committed = (voter: Address) => ({ voter, commitment: COMMITMENT, vote: Vote.None });
      const revealed = (voter: Address, vote: Vote = Vote.ProviderWrong) => ({ voter, commitment: COMMITMENT, vote });
      const [a, b, c] = voting().committee as [Address, Address, Address];
      // Job 3: the lead member of the committee (committee[3 % 3]) is us.
      const at = (votes: JobSnapshot["votes"], now = 1_000n, jobId = 3n) => actionOf(snap({ jobId, job: disputed, dispute: voting(), votes, now }));

      assert.equal(at([none(a), none(b), none(c)]), "commitVote");
      assert.equal(at([none(a), none(b), none(c)], 1_011n), "wait", "missed the commit phase");
      assert.equal(at([committed(a), none(b), committed(c)]), "wait", "others still committing: revealing now would leak the vote");
      assert.equal(at([committed(a), committed(b), committed(c)]), "revealVote", "every member committed");
      assert.equal(at([committed(a), none(b), committed(c)], 1_011n), "revealVote", "the commit phase is over");
      assert.equal(at([committed(a), none(b), committed(c)], 1_021n), "resolve", "the reveal deadline passed; we lead");
      assert.equal(at([revealed(a), revealed(b), revealed(c, Vote.AuditorWrong)]), "resolve", "every member revealed; we lead");
      // Job 1: another member leads; we resolve only after the deadline and our delay.
      assert.equal(at([revealed(a), revealed(b), revealed(c)], 1_000n, 1n), "wait");
      assert.equal(at([revealed(a), revealed(b), revealed(c)], 1_021n + LATE - 1n, 1n), "wait");
      assert.equal(at([revealed(a), revealed(b), revealed(c)], 1_021n + LATE, 1n), "resolve");
    });

    it("as a keeper outside the committee, resolves only after the reveal deadline and its delay", () => {
      const outsider = voting({ committee: [OTHER, THIRD, PROVIDER] });
      const votes = outsider.committee.map((voter) => ({ voter, commitment: COMMITMENT, vote: Vote.ProviderWrong }));
      assert.equal(actionOf(snap({ job: disputed, dispute: outsider, votes, now: 1_015n })), "wait");
      assert.equal(actionOf(snap({ job: disputed, dispute: outsider, votes, now: 1_021n + LATE })), "resolve");
    });

    it("rests an action the contract refused in the same chain state, and tries it again later or in another state", () => {
      const s = snap({ job: disputed, dispute: { ...open, challenger: ME }, head: 111n, keepers: [ME] });
      assert.equal(actionOf(s), "drawCommittee");
      const refused = { drawCommittee: refusalOf(s) };
      assert.equal(actionOf({ ...s, refused }), "wait");
      assert.equal(actionOf({ ...s, refused, now: s.now + REFUSAL_BACKOFF_SECONDS }), "drawCommittee", "rested long enough");
      assert.equal(actionOf({ ...s, refused, dispute: { ...s.dispute, seedBlock: 372n }, head: 373n }), "drawCommittee", "a reseed is another state");
    });
  });

  describe("votes", () => {
    it("votes ProviderWrong on a wrong provider output, AuditorWrong on a right one whose agreeing auditor's output is wrong, else ProviderCorrect", () => {
      assert.equal(voteFor({ provider: "disagree" }), Vote.ProviderWrong);
      assert.equal(voteFor({ provider: "disagree", auditor: "disagree" }), Vote.ProviderWrong, "the provider's fault comes first");
      assert.equal(voteFor({ provider: "agree", auditor: "disagree" }), Vote.AuditorWrong);
      assert.equal(voteFor({ provider: "agree", auditor: "agree" }), Vote.ProviderCorrect);
      assert.equal(voteFor({ provider: "agree" }), Vote.ProviderCorrect, "no auditor output under judgement");
    });

    it("judges the auditor's own output only when it agreed with a root other than the provider's", () => {
      const agreed = { ...NO_AUDIT, auditor: OTHER, state: AuditState.Agreed, outputRoot: ROOT_B };
      assert.equal(auditorOutputJudged(agreed, ROOT_A), true);
      assert.equal(auditorOutputJudged({ ...agreed, outputRoot: ROOT_A }, ROOT_A), false, "the same root is the same output");
      assert.equal(auditorOutputJudged({ ...agreed, state: AuditState.Disagreed }, ROOT_A), false, "a Disagree is judged by the provider's vote");
      assert.equal(auditorOutputJudged({ ...agreed, state: AuditState.Committed }, ROOT_A), false);
    });

    it("maps audit judgements to verdicts; equal roots always agree", () => {
      assert.equal(verdictFor({ verdict: "disagree", ownRoot: ROOT_A, providerRoot: ROOT_A.toUpperCase().replace("0X", "0x") as Hex }), Verdict.Agree);
      assert.equal(verdictFor({ verdict: "disagree", ownRoot: ROOT_A, providerRoot: ROOT_B }), Verdict.Disagree);
      assert.equal(verdictFor({ verdict: "agree", ownRoot: ROOT_A, providerRoot: ROOT_B }), Verdict.Agree);
    });
  });

  describe("watchdog", () => {
    it("re-runs a watched unsampled result, challenges it only when judged wrong, never a sampled one", () => {
      const unsampled = revealedJob({ sampled: false });
      assert.equal(actionOf(snap({ job: unsampled, watched: true })), "watch");
      assert.equal(actionOf(snap({ job: unsampled, watched: true, watchJudged: "disagree" })), "challenge");
      assert.equal(actionOf(snap({ job: unsampled, watched: true, watchJudged: "agree" })), "wait");
      assert.equal(actionOf(snap({ job: unsampled, watched: true, watchJudged: "reported" })), "wait", "challenges off: only reported");
      assert.equal(actionOf(snap({ job: revealedJob({ sampled: true }), watched: true })), "wait", "sampled: the auditor's job");
      assert.equal(actionOf(snap({ job: unsampled, watched: false })), "wait");
      assert.equal(actionOf(snap({ job: revealedJob({ sampled: false, deadline: 999 }), watched: true })), "wait", "window closed");
      assert.equal(actionOf(snap({ job: revealedJob({ sampled: false, provider: ME }), watched: true })), "wait", "never our own result");
    });

    it("picks a stable, secret-dependent share of jobs", () => {
      const ids = Array.from({ length: 4_000 }, (_, i) => BigInt(i + 1));
      const picked = ids.filter((jobId) => watchdogPicks({ secret: SECRET, jobId, share: 0.25 }));
      assert.ok(picked.length > 850 && picked.length < 1_150, `${picked.length} of 4000 picked at 25%`);
      assert.deepEqual(ids.filter((jobId) => watchdogPicks({ secret: SECRET, jobId, share: 0.25 })), picked, "deterministic");
      const other = ids.filter((jobId) => watchdogPicks({ secret: keccak256(SECRET), jobId, share: 0.25 }));
      assert.notDeepEqual(other, picked, "another secret picks other jobs");
      assert.equal(ids.filter((jobId) => watchdogPicks({ secret: SECRET, jobId, share: 0 })).length, 0);
      assert.equal(ids.filter((jobId) => watchdogPicks({ secret: SECRET, jobId, share: 1 })).length, ids.length);
    });
  });

  describe("keeper: verifier weights after a slash", () => {
    // OTHER (0x..b2 = 178) is the member; the pool without it is [ME, THIRD]: 178 % 2 = 0 picks us to lead.
    const base: SyncSnapshot = {
      me: ME,
      member: OTHER,
      now: 1_000n,
      since: 1_000n,
      stake: parseEther("490"),
      debt: 0n,
      roles: ROLE_VERIFIER,
      weight: parseEther("500"),
      minVerifierStake: parseEther("100"),
      keeper: true,
      keeperGraceSeconds: 10,
      keepers: [ME, OTHER, THIRD],
    };

    it("syncs a member whose weight exceeds its stake: its lead at once, another keeper after its delay", () => {
      assert.equal(syncStep(base).kind, "act");
      const third = { ...base, me: THIRD };
      const late = 10n + keeperJitter({ me: THIRD, key: BigInt(OTHER), graceSeconds: 10 });
      assert.deepEqual(syncStep(third), { kind: "wait", time: 1_000n + late, reason: "another keeper leads" });
      assert.equal(syncStep({ ...third, now: 1_000n + late }).kind, "act");
    });

    it("brings a member below the minimum stake, or without the verifier role, to zero", () => {
      assert.equal(syncStep({ ...base, stake: parseEther("90") }).kind, "act", "under minVerifierStake");
      assert.equal(syncStep({ ...base, roles: 1 }).kind, "act", "the verifier role dropped");
    });

    it("counts a penalty debt out of the stake: a weight at the stake but above the stake less the debt is synced", () => {
      const owing = { ...base, stake: parseEther("500"), debt: parseEther("50") };
      assert.equal(syncStep(owing).kind, "act");
      assert.equal(syncStep({ ...owing, weight: parseEther("450") }).kind, "done");
      assert.equal(syncStep({ ...owing, debt: parseEther("450"), weight: parseEther("450") }).kind, "act", "50 left: under minVerifierStake");
    });

    it("leaves alone an account outside the set, a weight already at its stake, and everything with keeper duties off", () => {
      assert.equal(syncStep({ ...base, weight: 0n }).kind, "done", "a provider's slash: not a verifier");
      assert.equal(syncStep({ ...base, weight: parseEther("490") }).kind, "done");
      assert.equal(syncStep({ ...base, keeper: false }).kind, "done");
    });

    it("never leads the sync of its own weight", () => {
      const self = { ...base, me: OTHER, keepers: [OTHER] };
      assert.equal(syncStep(self).kind, "wait", "the member is left out of the rotation");
    });
  });

  describe("restarts", () => {
    it("proves from the chain which journaled actions were taken", () => {
      const of = (overrides: Partial<Parameters<typeof provenActions>[0]>) => provenActions({ me: ME, audit: NO_AUDIT, dispute: NO_DISPUTE, votes: [], ...overrides });
      assert.deepEqual(of({ audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Committed } }), ["commitAudit"]);
      assert.deepEqual(of({ audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Unrevealed } }), ["commitAudit"], "committed, never revealed");
      assert.deepEqual(of({ audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Agreed } }), ["commitAudit", "revealAudit"]);
      assert.deepEqual(of({ audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Missed } }), [], "missed: nothing was sent");
      const vote = { voter: ME, commitment: COMMITMENT, vote: Vote.AuditorWrong };
      assert.deepEqual(of({ dispute: voting({ challenger: ME }), votes: [vote] }), ["commitVote", "revealVote", "challenge", "drawCommittee"]);
      assert.deepEqual(of({ dispute: voting({ challenger: ME, reason: DisputeReason.AuditDisagreed }) }), ["drawCommittee"], "our Disagree opened it, not a challenge");
      assert.deepEqual(of({ dispute: voting({ state: DisputeState.Resolved }) }), ["drawCommittee", "resolve"]);
      assert.deepEqual(of({ job: { status: JobStatus.Expired } }), ["expire"]);
    });

    it("proves a committee draw per seed block: one whose seed the dispute no longer uses was sent", () => {
      const s = { me: ME, audit: NO_AUDIT, votes: [], dispute: { ...open, seedBlock: 372n } };
      assert.equal(isProven("drawCommittee@110", s), true, "the dispute was reseeded past it");
      assert.equal(isProven("drawCommittee@372", s), false);
      assert.equal(isProven("drawCommittee@372", { ...s, dispute: voting({ seedBlock: 372n }) }), true);
    });
  });
});

describe("verifier salts, commitments and economics", () => {
  it("derives the audit salt exactly as a provider derives its own, and a distinct vote salt", () => {
    const jobId = 7n;
    assert.equal(auditSalt({ secret: SECRET, chainId: 31337, jobId }), deriveSalt({ workerSecret: SECRET, chainId: 31337n, jobId }));
    const vote = voteSalt({ secret: SECRET, chainId: 31337, jobId });
    assert.match(vote, /^0x[0-9a-f]{64}$/);
    assert.notEqual(vote, auditSalt({ secret: SECRET, chainId: 31337, jobId }));
    assert.equal(vote, voteSalt({ secret: SECRET, chainId: 31337, jobId }), "deterministic: a restart reveals what it committed");
    assert.notEqual(vote, voteSalt({ secret: SECRET, chainId: 31337, jobId: 8n }));
  });

  it("encodes the vote commitment as keccak256 over six 32-byte words, one per vote", () => {
    const verification = getAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const salt = keccak256(toHex("salt"));
    const words = concat([pad(toHex(31337n)), pad(verification), pad(toHex(12n)), pad(ME), pad(toHex(Vote.AuditorWrong)), salt]);
    assert.equal(voteCommitment({ chainId: 31337, verification, jobId: 12n, voter: ME, vote: Vote.AuditorWrong, salt }), keccak256(words));
    const all = [Vote.ProviderCorrect, Vote.ProviderWrong, Vote.AuditorWrong].map((vote) => voteCommitment({ chainId: 31337, verification, jobId: 12n, voter: ME, vote, salt }));
    assert.equal(new Set(all).size, 3);
  });

  it("says what a third party's challenge costs and pays: its bond back and nothing more when right, the bond lost when wrong, the committee paid out of it either way", () => {
    // Half the bond (25) is the committee's, 8 a seat over 3 seats (24: the dust stays with the treasury).
    assert.deepEqual(challengeEconomics({ bond: 50n, collateral: 100n, challengerRewardBps: 4_000, providerRewardBps: 5_000, committeeSize: 3 }), {
      bond: 50n,
      collateral: 100n,
      challengerRewardBps: 4_000,
      providerRewardBps: 5_000,
      committeeSize: 3,
      seatPay: 8n,
      committeePay: 24n,
      // Faulted: the finder's 40% of the slash (40) comes first; the 60 left repays the committee's 24.
      ifFaulted: { challengerGets: 50n, challengerNet: 0n, posterFinderShare: 40n },
      ifUpheld: { challengerGets: 0n, challengerNet: -50n, toProvider: 25n, toCommittee: 24n, toTreasury: 1n },
    });
    const thin = challengeEconomics({ bond: 50n, collateral: 10n, challengerRewardBps: 4_000, providerRewardBps: 5_000, committeeSize: 3 });
    assert.deepEqual(
      thin.ifFaulted,
      { challengerGets: 32n, challengerNet: -18n, posterFinderShare: 4n },
      "a collateral of 10: the finder's 4 first, the 6 left repays only 6 of the committee's 24",
    );
  });

  it("counts an output no location serves as wrong only when the deadline comes close", () => {
    const base = { deadline: 1_060n, reserveSeconds: 10 };
    assert.equal(unservedOutputPolicy({ ...base, now: 1_000n }), "retry");
    assert.equal(unservedOutputPolicy({ ...base, now: 1_049n }), "retry");
    assert.equal(unservedOutputPolicy({ ...base, now: 1_050n }), "wrong", "10 s left: time to send the decision");
  });
});

describe("verifier judgement of outputs", () => {
  const policy = { kind: "allclose", absTol: 1e-4, relTol: 1e-3 } as const;
  const output = (values: number[]) => encodeTensorBlob([tensorFromArray({ name: "softmax", dtype: "float32", values, dims: [2, 2] })]);
  const own = output([0.25, 0.75, 0.5, 0.5]);
  const ownRoot = outputRoot(own);

  it("agrees with noise inside the tolerance and with equal roots, disagrees with garbage and an output served nowhere", () => {
    const noisy = output([0.25004, 0.74997, 0.5, 0.50002]);
    const near = judge({ own, ownRoot, provider: { ok: true, bytes: noisy, source: "inline" }, providerRoot: outputRoot(noisy), policy });
    assert.equal(near.verdict, "agree", near.reason);
    assert.equal(near.rootsEqual, false);
    assert.ok(near.tensors[0]!.maxAbsError > 0 && near.tensors[0]!.maxAbsError < 1e-4);

    const same = judge({ own, ownRoot, provider: { ok: true, bytes: own, source: "http://x/blobs/1" }, providerRoot: outputRoot(own), policy });
    assert.deepEqual([same.verdict, same.rootsEqual], ["agree", true]);
    const withheld = judge({ own, ownRoot, provider: { ok: false, problem: "HTTP 404" }, providerRoot: outputRoot(own), policy });
    assert.deepEqual([withheld.verdict, withheld.rootsEqual], ["disagree", true], "an output nobody can have is wrong, even with our root");

    const flipped = output([0.75, 0.25, 0.5, 0.5]);
    const wrong = judge({ own, ownRoot, provider: { ok: true, bytes: flipped, source: "inline" }, providerRoot: outputRoot(flipped), policy });
    assert.equal(wrong.verdict, "disagree");
    assert.equal(wrong.tensors[0]!.mismatches, 2);
    assert.match(wrong.reason!, /2 of 4 elements outside allclose/);

    const truncated = flipped.slice(0, 20);
    assert.match(judge({ own, ownRoot, provider: { ok: true, bytes: truncated, source: "inline" }, providerRoot: outputRoot(truncated), policy }).reason!, /does not decode/);
  });

  it("never leaves an output unjudged when its own comparison throws: a policy that does not fit falls back to byte equality of the roots", () => {
    // argmax over axis 5 of a rank-2 output: compareOutputs throws for every output (issue 11).
    const misfit = { kind: "argmax", axis: 5 } as const;
    const same = judge({ own, ownRoot, provider: { ok: true, bytes: own, source: "inline" }, providerRoot: ownRoot, policy: misfit });
    assert.deepEqual([same.verdict, same.rootsEqual], ["agree", true], "the same bytes agree");
    assert.match(same.fallback!, /axis 5 does not exist.*byte equality/);
    const noisy = output([0.25004, 0.74997, 0.5, 0.50002]);
    const other = judge({ own, ownRoot, provider: { ok: true, bytes: noisy, source: "inline" }, providerRoot: outputRoot(noisy), policy: misfit });
    assert.equal(other.verdict, "disagree", "other bytes are a disagreement, acted on as any other: the job is not left to finalize unjudged");
    assert.match(other.reason!, /differs from ours.*tolerance comparison failed/);
    // Our own output that does not decode is our trouble too: judged the same way, never thrown.
    const broken = own.slice(0, 10);
    const byRoot = judge({ own: broken, ownRoot: outputRoot(broken), provider: { ok: true, bytes: own, source: "inline" }, providerRoot: ownRoot, policy });
    assert.equal(byRoot.verdict, "disagree");
    assert.match(byRoot.fallback!, /does not decode/);
  });

  it("fetches an output from the first of its locations that serves bytes matching its root", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-verifier-"));
    const store = new LocalBlobStore({ dir });
    const server = await startBlobServer({ store, port: 0 });
    try {
      const served = output([0.1, 0.9, 0.2, 0.8]);
      const id = await store.put(served);
      const otherId = await store.put(output([0.3, 0.7, 0.4, 0.6]));
      const at = (blob: Hex) => `${server.url}/blobs/${blob}`;
      const options = { maxBytes: 1 << 20, allowFileUris: false };
      const root = outputRoot(served);

      const third = await fetchOutput({ root, uris: [at(keccak256("0x01")), at(otherId), at(id)], ...options });
      assert.ok(third.ok && third.source === at(id) && Buffer.from(third.bytes).equals(Buffer.from(served)), "a missing blob and other bytes are only two locations");
      const none = await fetchOutput({ root, uris: [at(keccak256("0x01")), at(otherId), ""], ...options });
      assert.ok(!none.ok && /not found/.test(none.problem) && /its bytes have root/.test(none.problem), !none.ok ? none.problem : "");
      assert.deepEqual(await fetchOutput({ root, uris: [], ...options }), { ok: false, problem: "no location is known" });
      const file = await fetchOutput({ root, uris: [`file://${store.pathOf(id)}`], ...options });
      assert.ok(!file.ok && /allowFileUris/.test(file.problem));
      const inline = await fetchOutput({ root: outputRoot(own), inline: toHex(own), uris: [], ...options });
      assert.deepEqual(inline.ok && inline.source, "inline");
    } finally {
      await server.close();
    }
  });

  it("knows a provider's output by its reveal, its announcements, and an equal-root auditor's copy", async () => {
    const record: JobRecord = {
      jobId: 1n,
      job: revealedJob({ result: ROOT_A }),
      inputHash: ZERO_HASH,
      inputURI: "",
      inlineInput: "0x",
      postedBlock: 1n,
      outputURI: "http://provider/blobs/a",
    };
    const announced = ["http://mirror/blobs/a"];
    const same = providerOutputLocations({ record, locations: { announced, audit: { auditor: OTHER, outputRoot: ROOT_A, outputURI: "http://auditor/blobs/a" } } });
    assert.deepEqual(same.uris, ["http://provider/blobs/a", "http://auditor/blobs/a", "http://mirror/blobs/a"], "the chain's own locations before the provider's announcements");
    const differs = providerOutputLocations({ record, locations: { announced, audit: { auditor: OTHER, outputRoot: ROOT_B, outputURI: "http://auditor/blobs/b" } } });
    assert.deepEqual(differs.uris, ["http://provider/blobs/a", "http://mirror/blobs/a"], "another root is another output");
    const unreachable = await fetchProviderOutput({ record: { ...record, outputURI: "" }, maxBytes: 1 << 20, allowFileUris: false });
    assert.deepEqual(unreachable, { ok: false, problem: "no location is known" });
  });

  it("creates every served model's session in every inference thread before the first job", async function () {
    this.timeout(60_000);
    const records: { msg: string; worker?: number }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void records.push(JSON.parse(line)) });
    const model = {
      modelId: 1,
      path: MODEL_FILES.cls,
      modelHash: hashModel(new Uint8Array(readFileSync(MODEL_FILES.cls))),
      policy,
      nonFiniteInputs: false,
      tolerance: { kind: 0, axis: 0, absTolE12: 0n, relTolE12: 0n },
    };
    const runner = createInferenceRunner({ size: 2, hashThreads: 1, log });
    try {
      const warm = await warmVerifierModels({ runner, models: [model], ep: "cpu", timeoutMs: 30_000 });
      assert.deepEqual(warm.models.map((m) => m.modelId), [1]);
      assert.ok(warm.ms >= warm.models[0]!.ms && warm.ms > 0);
      const created = () => records.filter((r) => r.msg === "execution provider chosen").length;
      assert.equal(created(), 2, "one session per thread");
      const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(3 * 8 * 32).fill(0.5), dims: [1, 3, 8, 32] })]);
      await Promise.all([0, 1].map(() => runner.run({ modelPath: model.path, modelHash: model.modelHash, ep: "cpu", input })));
      assert.equal(created(), 2, "the jobs found their sessions made");
      await assert.rejects(
        warmVerifierModels({ runner, models: [{ ...model, modelHash: keccak256("0x00") }], ep: "cpu", timeoutMs: 30_000 }),
        /hash/i,
        "a model that cannot load fails the start",
      );
    } finally {
      await runner.close();
    }
    // With dynamic batching the warm-up runs are never stacked into one thread's batch nor held for one.
    const batchingRecords: { msg: string }[] = [];
    const batchingLog = pino({ level: "info" }, { write: (line: string) => void batchingRecords.push(JSON.parse(line)) });
    const batching = createInferenceRunner({ size: 2, hashThreads: 1, maxBatch: 4, maxBatchWaitMs: 20_000, log: batchingLog });
    try {
      const warm = await warmVerifierModels({ runner: batching, models: [model], ep: "cpu", timeoutMs: 30_000 });
      assert.ok(warm.ms < 20_000, `the warm-up waited for a batch (${warm.ms} ms)`);
      assert.equal(batchingRecords.filter((r) => r.msg === "execution provider chosen").length, 2, "one session per thread");
    } finally {
      await batching.close();
    }
  });
});

describe("verifier re-execution: its own failures are never the provider's", () => {
  const model = { modelPath: MODEL_FILES.cls, modelHash: hashModel(new Uint8Array(readFileSync(MODEL_FILES.cls))) };
  const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(3 * 8 * 32).fill(0.5), dims: [1, 3, 8, 32] })]);
  const policy = { kind: "allclose", absTol: 1e-4, relTol: 1e-3 } as const;
  const outOfMemory = new InferenceRunError({ modelHash: model.modelHash, ep: "cuda", problem: "CUDA failure 2: out of memory" });

  /**
   * The runner as a verifier's GPU provider gives it: a run on any provider but CPU checks the input as the real
   * runner does (an input the model refuses is refused), then fails with `gpuFailure`; CPU runs as asked.
   */
  function failingGpu(runner: InferenceRunner, { gpuFailure = outOfMemory as Error, cpuFailure }: { gpuFailure?: Error; cpuFailure?: Error } = {}) {
    const eps: string[] = [];
    const run: InferenceRunner["run"] = async (parameters) => {
      eps.push(parameters.ep ?? "auto");
      if (parameters.ep === "cpu" && cpuFailure !== undefined) throw cpuFailure;
      const result = await runner.run({ ...parameters, ep: "cpu" });
      if (parameters.ep !== "cpu") throw gpuFailure;
      return result;
    };
    return { eps, runner: { run } };
  }

  function logged() {
    const records: { msg: string; err?: string; cpu_err?: string; ep?: string }[] = [];
    return { records, log: pino({ level: "info" }, { write: (line: string) => void records.push(JSON.parse(line)) }) };
  }

  it("runs a job again on CPU when its GPU provider fails, and agrees with an honest provider's output", async function () {
    this.timeout(60_000);
    const runner = createInferenceRunner({ size: 1, hashThreads: 1 });
    try {
      const honest = await runner.run({ ...model, ep: "cpu", input });
      const gpu = failingGpu(runner);
      const { records, log } = logged();
      const outcomes: string[] = [];
      const ran = await reExecute({ ...model, runner: gpu.runner, ep: "cuda", input, timeoutMs: 30_000, log, onCpuRerun: (outcome) => outcomes.push(outcome) });
      assert.ok(ran.ok, ran.ok ? "" : `judged the input for our GPU's failure: ${ran.problem}`);
      assert.deepEqual(gpu.eps, ["cuda", "cpu"]);
      assert.equal(ran.result.ep, "cpu");
      const judged = judge({ own: ran.result.output, ownRoot: ran.result.outputRoot, provider: { ok: true, bytes: honest.output, source: "inline" }, providerRoot: honest.outputRoot, policy });
      assert.deepEqual([judged.verdict, judged.rootsEqual], ["agree", true]);
      assert.deepEqual(outcomes, ["ran"], "counted");
      const warning = records.find((r) => r.msg === "re-execution failed on the GPU provider, ran on CPU");
      assert.ok(warning && /out of memory/.test(warning.err!) && warning.ep === "cuda", JSON.stringify(records));
      // "auto" is tried again on CPU too, unless "auto" had chosen CPU and the run failed there.
      const auto = failingGpu(runner);
      assert.ok((await reExecute({ ...model, runner: auto.runner, ep: "auto", input, log })).ok);
      const onCpu = failingGpu(runner, { gpuFailure: new InferenceRunError({ modelHash: model.modelHash, ep: "cpu", problem: "a kernel failed" }) });
      const failedOnCpu = await reExecute({ ...model, runner: onCpu.runner, ep: "auto", input, log });
      assert.ok(!failedOnCpu.ok && /a kernel failed/.test(failedOnCpu.problem));
      assert.deepEqual(onCpu.eps, ["auto"], "a CPU run's failure is not tried again");
    } finally {
      await runner.close();
    }
  });

  it("judges the input invalid when the CPU run fails too, or the model refuses the input before any run; throws its own retryable failures", async function () {
    this.timeout(60_000);
    const runner = createInferenceRunner({ size: 1, hashThreads: 1 });
    try {
      const both = failingGpu(runner, { cpuFailure: new InferenceRunError({ modelHash: model.modelHash, ep: "cpu", problem: "Reshape: cannot reshape" }) });
      const { records, log } = logged();
      const outcomes: string[] = [];
      const failed = await reExecute({ ...model, runner: both.runner, ep: "cuda", input, log, onCpuRerun: (outcome) => outcomes.push(outcome) });
      assert.ok(!failed.ok && /cannot reshape/.test(failed.problem) && /out of memory/.test(failed.problem), JSON.stringify(failed));
      assert.deepEqual([both.eps, outcomes], [["cuda", "cpu"], ["failed"]]);
      const warning = records.find((r) => r.msg === "re-execution failed on the GPU provider and on CPU");
      assert.ok(warning && /out of memory/.test(warning.err!) && /cannot reshape/.test(warning.cpu_err!), JSON.stringify(records));

      // An input that does not fit the model's metadata is refused before any run, on whatever provider: judged at once.
      const misfit = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "int32", values: new Int32Array(3 * 8 * 32), dims: [1, 3, 8, 32] })]);
      const refused = failingGpu(runner);
      const invalid = await reExecute({ ...model, runner: refused.runner, ep: "cuda", input: misfit, log });
      assert.ok(!invalid.ok && /dtype/.test(invalid.problem), JSON.stringify(invalid));
      assert.deepEqual(refused.eps, ["cuda"]);
      // A CPU verifier's run failure judges the input as before.
      const cpuOnly = failingGpu(runner, { cpuFailure: new InferenceRunError({ modelHash: model.modelHash, ep: "cpu", problem: "Gather: index out of range" }) });
      const onCpu = await reExecute({ ...model, runner: cpuOnly.runner, ep: "cpu", input, log });
      assert.ok(!onCpu.ok && /index out of range/.test(onCpu.problem));

      // A time limit is ours on either provider: thrown (the step is tried again), never judged.
      const timeout = new InferenceTimeoutError({ phase: "run", timeoutMs: 1, modelHash: model.modelHash });
      await assert.rejects(reExecute({ ...model, runner: failingGpu(runner, { gpuFailure: timeout }).runner, ep: "cuda", input, log }), InferenceTimeoutError);
      await assert.rejects(reExecute({ ...model, runner: failingGpu(runner, { cpuFailure: timeout }).runner, ep: "cuda", input, log }), InferenceTimeoutError);
    } finally {
      await runner.close();
    }
  });

  it("reads inputs and outputs up to the protocol's cap, no lower, and names a location that served an input over it", async () => {
    const options = loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }] } });
    assert.deepEqual([options.maxInputBytes, options.maxOutputBytes], [DEFAULT_MAX_BLOB_BYTES, DEFAULT_MAX_BLOB_BYTES]);
    assert.throws(
      () => loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }], maxOutputBytes: String(DEFAULT_MAX_BLOB_BYTES - 1) } }),
      (error: Error) => error instanceof ConfigError && /maxOutputBytes/.test(error.message),
      "a provider's largest output would be judged wrong",
    );
    assert.throws(
      () => loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }], maxInputBytes: String(DEFAULT_MAX_BLOB_BYTES - 1) } }),
      (error: Error) => error instanceof ConfigError && /maxInputBytes/.test(error.message) && /must be at least/.test(error.message),
      "an input an honest provider ran would be unreadable",
    );
    // One read's time fits the largest output served at 1 MiB/s (64 MiB at 10 MB/s takes 6.7 s).
    assert.ok(FETCH_BUDGET_MS.output.max >= (DEFAULT_MAX_BLOB_BYTES / (1 << 20)) * 1000, `${FETCH_BUDGET_MS.output.max} ms`);
    assert.ok(FETCH_BUDGET_MS.input.max >= (DEFAULT_MAX_BLOB_BYTES / (1 << 20)) * 1000, `${FETCH_BUDGET_MS.input.max} ms`);

    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-verifier-"));
    const store = new LocalBlobStore({ dir });
    const server = await startBlobServer({ store, port: 0 });
    try {
      const id = await store.put(input);
      const record = { inputURI: "http://127.0.0.1:1/gone", inputHash: id, inlineInput: "0x" } as unknown as JobRecord;
      const read = { record, fallbackUris: [`${server.url}/blobs/${id}`], allowFileUris: false, allowPrivateHosts: true, budgetMs: 10_000 };
      assert.ok(Buffer.from(await fetchJobInput({ ...read, maxBytes: 1 << 20 })).equals(Buffer.from(input)));
      // The job's URI is gone and the provider's copy is over the cap: the error names that, not the dead URI.
      await assert.rejects(fetchJobInput({ ...read, maxBytes: 100 }), BlobTooLargeError);
    } finally {
      await server.close();
    }
  });
});

/** A verifier daemon over `journal` (test/helpers/verifier-daemon.ts), with this file's account and secret. */
function verifierDaemon(journal: Journal, metrics = createVerifierMetrics(), overrides: Partial<VerifierDaemonParameters> = {}) {
  return testVerifierDaemon({ journal, account: ME, secret: SECRET, placeholder: OTHER, metrics, ...overrides });
}

describe("verifier journal records", () => {


  it("tracks posted jobs of served models only, notes committees (empty ones too) and counts its own penalties per seat, idempotently", async () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const metrics = createVerifierMetrics();
      const d = verifierDaemon(journal, metrics);
      const logs = [
        { eventName: "JobPosted", args: { jobId: 1n, modelId: 1n }, blockNumber: 10n },
        { eventName: "JobPosted", args: { jobId: 2n, modelId: 9n }, blockNumber: 10n },
        { eventName: "JobPosted", args: { jobId: 4n, modelId: 1n }, blockNumber: 10n },
        { eventName: "ResultCommitted", args: { jobId: 1n, provider: PROVIDER }, blockNumber: 11n },
        { eventName: "CommitteeDrawn", args: { jobId: 1n, committee: [OTHER, ME, THIRD] }, blockNumber: 20n },
        { eventName: "CommitteeDrawn", args: { jobId: 4n, committee: [] }, blockNumber: 20n },
        { eventName: "AuditorPenalized", args: { jobId: 1n, auditor: ME, penalty: parseEther("5"), state: AuditState.Missed }, blockNumber: 30n },
        { eventName: "VoterPenalized", args: { jobId: 1n, voter: OTHER, penalty: 1n }, blockNumber: 30n },
        // Two seats of ours on job 4's committee, neither revealed: penalized once per seat.
        { eventName: "VoterPenalized", args: { jobId: 4n, voter: ME, penalty: parseEther("2") }, blockNumber: 30n },
        { eventName: "VoterPenalized", args: { jobId: 4n, voter: ME, penalty: parseEther("2") }, blockNumber: 30n },
        // A slash names an account, not a job: it only queues a weight check.
        { eventName: "Slashed", args: { account: OTHER, requested: 1n, slashed: 1n, recipient: THIRD }, blockNumber: 30n },
        // Another model's job, committed: not ours. And one posted before our start block: followed from its commitment on.
        { eventName: "ResultCommitted", args: { jobId: 2n, provider: PROVIDER }, blockNumber: 31n },
        { eventName: "ResultCommitted", args: { jobId: 3n, provider: PROVIDER }, blockNumber: 31n },
      ];
      d.onLogs(logs);
      d.onLogs(logs); // a redelivered batch changes nothing
      const rows = () =>
        journal
          .listJobs<VerifierJobData>()
          .sort((a, b) => Number(a.jobId - b.jobId))
          .map((r) => [r.jobId, r.status, r.data.postedBlock, r.data.member ?? false, r.data.committeeEmpty ?? false]);
      assert.deepEqual(rows(), [
        [1n, "open", 10n, true, false],
        [2n, "done", 10n, false, false],
        [3n, "open", 0n, false, false],
        [4n, "open", 10n, false, true],
      ]);
      d.onLogs([{ eventName: "CommitteeReseeded", args: { jobId: 4n, seedBlock: 400n }, blockNumber: 300n }]);
      assert.equal(journal.getJob<VerifierJobData>(4n)!.data.committeeEmpty, undefined, "a reseeded dispute may find members");
      const penalties = (await metrics.penalties.get()).values.map((v) => [v.labels.kind, v.value]);
      assert.deepEqual(penalties, [["auditor", 1], ["voter", 2]], "our own penalties, one per seat, counted once; another verifier's are not ours");
      assert.equal(journal.getJob<VerifierJobData>(1n)!.data.penalized?.auditor, parseEther("5"));
      assert.equal(journal.getJob<VerifierJobData>(4n)!.data.penalized?.voter, parseEther("4"));
    } finally {
      journal.close();
    }
  });

  it("ticks its blob pruner at each head with the head's time, waits for its step on drain, and ticks it no more once draining", async () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const ticks: bigint[] = [];
      let closed = 0;
      // A step under way ends a little after close is called: drain must wait for it, not only ask.
      const pruner = { tick: (time: bigint) => void ticks.push(time), close: () => new Promise<void>((resolve) => setTimeout(() => resolve(void closed++), 20)) };
      // No job is open: a tick starts no step, only the credits check (which fails here without a chain, logged).
      const d = verifierDaemon(journal, undefined, { pruner, sender: { noteHead: () => undefined } as never });
      d.tick({ number: 5n, timestamp: 1_000n });
      d.tick({ number: 6n, timestamp: 1_012n });
      assert.deepEqual(ticks, [1_000n, 1_012n]);
      await d.drain();
      assert.equal(closed, 1, "drain waited for the step under way");
      d.tick({ number: 7n, timestamp: 1_024n });
      assert.deepEqual(ticks, [1_000n, 1_012n], "no step starts after drain");
    } finally {
      journal.close();
    }
  });

  it("after a crash between a send and its receipt, confirms the actions the chain shows and leaves the others to send", () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      journal.upsertJob<VerifierJobData>({ jobId: 4n, role: "auditor", status: "open", data: { postedBlock: 1n, modelId: 1 } });
      journal.beginAction({ jobId: 4n, action: "commitAudit" });
      journal.markActionSent({ jobId: 4n, action: "commitAudit", txHash: keccak256("0x01") });
      journal.beginAction({ jobId: 4n, action: "revealAudit" });
      journal.beginAction({ jobId: 4n, action: "drawCommittee@110" });
      const committed = { ...NO_AUDIT, auditor: ME, state: AuditState.Committed, commitment: COMMITMENT };
      const reseeded = { ...open, seedBlock: 372n };
      assert.deepEqual(reconcileActions({ journal, jobId: 4n, snapshot: { me: ME, audit: committed, dispute: reseeded, votes: [] } }), ["commitAudit", "drawCommittee@110"]);
      assert.deepEqual(
        journal.listActions(4n).map((a) => `${a.action}:${a.state}`),
        ["commitAudit:confirmed", "revealAudit:pending", "drawCommittee@110:confirmed"],
        "the reveal was not on chain: it stays to be sent",
      );
      const { action, created } = journal.beginAction({ jobId: 4n, action: "commitAudit" });
      assert.deepEqual([action.state, created], ["confirmed", false], "a confirmed action is never begun again");
      // Another verifier's audit proves nothing about ours.
      assert.deepEqual(reconcileActions({ journal, jobId: 4n, snapshot: { me: ME, audit: { ...committed, auditor: OTHER, state: AuditState.Agreed }, dispute: NO_DISPUTE, votes: [] } }), []);
    } finally {
      journal.close();
    }
  });

  it("stakes as a verifier exactly what was asked, refuses an amount short of the minimum, or says how to", async () => {
    const sent: { functionName: string; args: readonly unknown[] }[] = [];
    const stub = (account: { stake: bigint; roles: number; inVerifierSet: boolean }) => ({
      publicClient: {
        readContract: async ({ functionName }: { functionName: string }) =>
          functionName === "params" ? { minVerifierStake: parseEther("100"), unbondingPeriod: 7200 } : { locked: 0n, unbonding: 0n, unbondingEnd: 0n, ...account },
      } as never,
      sender: { send: async (call: { functionName: string; args: readonly unknown[] }) => sent.push(call) } as never,
      deployment: { token: OTHER, staking: THIRD, registry: OTHER, market: OTHER, verification: OTHER, batchMarket: OTHER, profiles: OTHER, replicaMarket: OTHER },
      account: ME,
      log: silentLogger(),
    });
    await ensureVerifier({ ...stub({ stake: parseEther("500"), roles: 2, inVerifierSet: true }), stake: parseEther("10") });
    assert.equal(sent.length, 0, "already a verifier: nothing to do");
    await assert.rejects(ensureVerifier({ ...stub({ stake: parseEther("40"), roles: 1, inVerifierSet: false }) }), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /is not in the verifier set: stake at least 60 DINF more \(`dinfer provider stake <tokens> --roles verifier`, or start with --stake <tokens>\)/);
      return true;
    });
    await assert.rejects(ensureVerifier({ ...stub({ stake: parseEther("40"), roles: 1, inVerifierSet: false }), stake: parseEther("10") }), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        `--stake 10 is not enough to join the verifier set: ${ME} has 40 DINF staked and the minimum is 100 DINF; start with --stake 60 or more`,
      );
      return true;
    });
    assert.equal(sent.length, 0, "nothing staked when the amount asked is short");
    await ensureVerifier({ ...stub({ stake: parseEther("40"), roles: 1, inVerifierSet: false }), stake: parseEther("75") });
    assert.deepEqual(
      sent.map((c) => [c.functionName, ...c.args.map(String)]),
      [
        ["approve", THIRD, parseEther("75").toString()],
        ["stake", parseEther("75").toString(), "3"],
      ],
      "stakes what was asked and keeps the provider role",
    );
  });

  it("reads its options with defaults, and names a bad one", () => {
    const options = loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }], stake: "100" } });
    assert.equal(options.ep, "cpu");
    assert.equal(options.dataDir, ".dinfer/verifier");
    assert.equal(options.stake, 100n);
    assert.deepEqual(options.watchdog, { share: 0, challenge: true });
    assert.equal(options.keeper, true);
    assert.equal(options.outputReserveSeconds, 10);
    assert.equal(options.blobRetentionSeconds, 86_400, "a day past what jobs can need, as the worker");
    assert.equal(loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }], blobRetentionSeconds: "-1" } }).blobRetentionSeconds, -1);
    assert.throws(
      () => loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }], blobRetentionSeconds: -2 } }),
      (error: Error) => error instanceof ConfigError && /blobRetentionSeconds/.test(error.message),
    );
    assert.throws(
      () => loadOptions({ schema: VerifierOptionsSchema, flags: { models: [], watchdog: { share: 2 } } }),
      (error: Error) => /models: the verifier needs at least one model/.test(error.message) && /watchdog\.share/.test(error.message),
    );
  });
});

describe("verifier commitments, views and weight sync against the contracts", function () {
  this.timeout(120_000);
  /** Every job sampled: the audit pool's levy must cover an audit of each (ProtocolTerms checks it). */
  const SAMPLED = { marketParams: { samplingPpm: 1_000_000, auditLevyBps: 2_000 }, verificationParams: { auditRewardBps: 1_000, voterRewardBps: 1_000 } };

  it("an audit and votes (AuditorWrong included) built here are accepted; the views read the terms, audit, dispute and output locations", async () => {
    const connection = await network.create();
    try {
      const { networkHelpers } = connection;
      const sys = await deploySystem(connection, SAMPLED);
      await setUpMarket(sys);
      const verifiers = [sys.verifier, sys.keeper, sys.stranger, sys.provider2];
      for (const v of verifiers) await stake(sys, v.account.address, parseEther("500"), ROLE_VERIFIER);
      const d = marketDriver({ connection, ...sys, modelId: 1n });
      const chainId = await sys.publicClient.getChainId();
      const publicClient = sys.publicClient as never;
      const r = { publicClient, verification: sys.verification.address };
      const walletOf = (address: Address) => verifiers.find((v) => getAddress(v.account.address) === getAddress(address))!;

      // The job's rules come from the terms the market names.
      const jobId = await d.post();
      await d.claimAndCommit(jobId);
      const reader = new TermsReader({ client: publicClient, market: sys.market.address });
      assert.equal(getAddress(await reader.address()), getAddress(sys.terms.address));
      const version = await reader.of(d.jobs.job(jobId).terms);
      const local = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal;
      assert.deepEqual(
        [version.verification.voterRewardBps, version.verification.recheckPpm, version.market.samplingPpm, version.market.revealTimeout],
        [1_000, local.verificationParams.recheckPpm, 1_000_000, local.marketParams.revealTimeout],
      );
      const terms = jobTermsOf(version);
      assert.equal(auditCommitByOf(d.jobs.job(jobId), terms), await sys.verification.read.auditCommitBy([d.jobs.job(jobId)]), "auditCommitBy as the contract computes it");

      // The drawn auditor commits blind with our commitment and salt; reveals once the block seedDelay after its commit is mined.
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const auditor = getAddress(await sys.verification.read.auditorOf([jobId, d.jobs.job(jobId)]));
      const secret = keccak256(toHex(`secret of ${auditor}`));
      const { outputRoot: providerRoot } = d.outputOf(jobId);
      const salt = auditSalt({ secret, chainId, jobId });
      const c = commitment({ chainId, jobMarket: sys.market.address, jobId, provider: auditor, outputRoot: providerRoot, salt });
      const committedAt = await d.jobs.send(sys.verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: walletOf(auditor).account }));
      await d.reveal(jobId, { waitSeed: false, outputURI: "http://provider/blobs/x" });
      const audit = await readAudit({ ...r, jobId });
      assert.deepEqual([audit.state, audit.commitBlock], [AuditState.Committed, committedAt.blockNumber]);
      const recheckBlock = audit.commitBlock + BigInt(terms.seedDelay);
      const head = await sys.publicClient.getBlockNumber();
      if (head < recheckBlock) await networkHelpers.mine(recheckBlock - head);
      await d.jobs.send(sys.verification.write.revealAudit([jobId, d.jobs.job(jobId), providerRoot, salt, Verdict.Agree, "http://auditor/blobs/x"], { account: walletOf(auditor).account }));
      assert.equal((await readAudit({ ...r, jobId })).state, AuditState.Agreed);

      // Every location of the output: the reveal's, the provider's announcements (the market's events, in
      // chain order), the auditor's copy (Verification's event).
      await sys.market.write.announceOutput([jobId, d.jobs.job(jobId), "http://mirror/blobs/x"], { account: sys.provider.account });
      await sys.market.write.announceOutput([jobId, d.jobs.job(jobId), "http://restarted/blobs/x"], { account: sys.provider.account });
      const locations = await readOutputLocations({ ...r, market: sys.market.address, jobId });
      assert.deepEqual(locations, {
        announced: ["http://mirror/blobs/x", "http://restarted/blobs/x"],
        audit: { auditor, outputRoot: providerRoot, outputURI: "http://auditor/blobs/x" },
      });

      // A challenge: the dispute view, a committee, and our vote commitments.
      await sys.token.write.mint([sys.challenger.account.address, parseEther("100")]);
      await sys.token.write.approve([sys.verification.address, parseEther("100")], { account: sys.challenger.account });
      await d.jobs.send(sys.verification.write.challenge([jobId, d.jobs.job(jobId)], { account: sys.challenger.account }));
      const dispute = await readDispute({ ...r, jobId });
      assert.deepEqual(
        [dispute.state, dispute.reason, getAddress(dispute.challenger), dispute.seedBlock - dispute.openedBlock],
        [DisputeState.Open, DisputeReason.Challenge, getAddress(sys.challenger.account.address), BigInt(terms.seedDelay)],
      );
      await networkHelpers.mine(terms.seedDelay);
      await sys.verification.write.drawCommittee([jobId]);
      const { committee } = await readDispute({ ...r, jobId });
      assert.ok(committee.length >= 1 && !committee.map((m) => getAddress(m)).includes(auditor), "the auditor sits out");
      // One vote per member, whatever its seats: the first says AuditorWrong (the provider is right), the others ProviderCorrect.
      const members = [...new Set(committee.map((m) => getAddress(m)))];
      const votes = members.map((_, i) => (i === 0 ? Vote.AuditorWrong : Vote.ProviderCorrect));
      const saltOf = (member: Address) => voteSalt({ secret: keccak256(toHex(`secret of ${member}`)), chainId, jobId });
      for (const [i, member] of members.entries()) {
        const vc = voteCommitment({ chainId, verification: sys.verification.address, jobId, voter: member, vote: votes[i]!, salt: saltOf(member) });
        await sys.verification.write.commitVote([jobId, vc], { account: walletOf(member).account });
      }
      for (const [i, member] of members.entries()) {
        await sys.verification.write.revealVote([jobId, votes[i]!, saltOf(member)], { account: walletOf(member).account });
        const [, vote] = await sys.verification.read.voteOf([jobId, member]);
        assert.equal(vote, votes[i], `${member}'s vote was accepted as committed`);
      }
      const treasuryBefore = await sys.verification.read.treasury();
      const settled = await d.jobs.send(sys.verification.write.resolve([jobId, d.jobs.job(jobId), "0x"], { account: sys.keeper.account }));
      const resolved = await readDispute({ ...r, jobId });
      assert.deepEqual([resolved.state, resolved.providerFaulted, resolved.outcome], [DisputeState.Resolved, false, Vote.ProviderCorrect], "upheld: no auditor output was under judgement");

      // The bond was split as challengeEconomics says: every seat voted the outcome.
      const { challengeBond, challengerRewardBps, providerRewardBps, committeeSize } = version.verification;
      const economics = challengeEconomics({ bond: challengeBond, collateral: d.jobs.job(jobId).collateral, challengerRewardBps, providerRewardBps, committeeSize });
      assert.equal(committee.length, committeeSize, "every seat found a member");
      const events = settled.logs.flatMap((log) => {
        if (getAddress(log.address) !== getAddress(sys.verification.address)) return [];
        const { eventName, args } = decodeEventLog({ abi: sys.verification.abi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
        return [{ eventName, args: args as Record<string, unknown> }];
      });
      const seatPays = events.filter((e) => e.eventName === "VoterPaid").map((e) => e.args.amount as bigint);
      assert.deepEqual(seatPays, committee.map(() => economics.seatPay), `each seat paid ${economics.seatPay} out of the bond`);
      const providerCredit = events.filter((e) => e.eventName === "Credited" && getAddress(e.args.account as Address) === getAddress(sys.provider.account.address));
      assert.deepEqual(providerCredit.map((e) => e.args.amount), [economics.ifUpheld.toProvider], "the provider's share of the lost bond");
      assert.equal((await sys.verification.read.treasury()) - treasuryBefore, economics.ifUpheld.toTreasury, "the treasury: the bond less the provider's share and the committee's pay");
      assert.equal(economics.ifUpheld.toProvider + economics.ifUpheld.toCommittee + economics.ifUpheld.toTreasury, challengeBond);
    } finally {
      await connection.close();
    }
  });

  it("an auditor that missed its blind commit is penalized at the reveal, and a keeper's sync brings its weight to its stake", async () => {
    const connection = await network.create();
    try {
      const { networkHelpers } = connection;
      const sys = await deploySystem(connection, SAMPLED);
      await setUpMarket(sys);
      const verifiers = [sys.verifier, sys.keeper, sys.stranger, sys.provider2];
      for (const v of verifiers) await stake(sys, v.account.address, parseEther("500"), ROLE_VERIFIER);
      const d = marketDriver({ connection, ...sys, modelId: 1n });
      const publicClient = sys.publicClient as never;

      const jobId = await d.post();
      await d.claimAndCommit(jobId);
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const auditor = getAddress(await sys.verification.read.auditorOf([jobId, d.jobs.job(jobId)]));
      await d.at((await sys.verification.read.auditCommitBy([d.jobs.job(jobId)])) + 1n);
      await d.reveal(jobId, { waitSeed: false });
      const dispute = await readDispute({ publicClient, verification: sys.verification.address, jobId });
      assert.deepEqual([dispute.reason, dispute.challenger, dispute.bond], [DisputeReason.AuditMissed, ZERO_ADDRESS, 0n], "a committee judges the job instead");
      assert.equal((await readAudit({ publicClient, verification: sys.verification.address, jobId })).state, AuditState.Missed);

      const account = async () => (await sys.staking.read.account([auditor])) as { stake: bigint; roles: number; verifierWeight: bigint };
      const before = await account();
      const { minVerifierStake } = await sys.staking.read.params();
      // auditorPenalty, but at least the pay of the committee that replaces it (docs/PROTOCOL.md section 7).
      const { auditorPenalty: flat, committeeSize, voterRewardBps } = await sys.terms.read.verificationParamsOf([BigInt(d.jobs.job(jobId).terms)]);
      const committeePay = BigInt(committeeSize) * ((d.jobs.job(jobId).fee * BigInt(voterRewardBps)) / 10_000n);
      const auditorPenalty = committeePay > flat ? committeePay : flat;
      assert.deepEqual([before.stake, before.verifierWeight], [parseEther("500") - auditorPenalty, parseEther("500")], "penalized; its weight as it was");
      const keepers = verifiers.map((v) => getAddress(v.account.address));
      const s = { member: auditor, now: 0n, since: 0n, minVerifierStake, keeper: true, keeperGraceSeconds: 0, keepers, me: keepers.find((k) => k !== auditor)! };
      assert.equal(syncStep({ ...s, stake: before.stake, debt: 0n, roles: before.roles, weight: before.verifierWeight }).kind, "act");
      await sys.staking.write.syncVerifier([auditor], { account: sys.keeper.account });
      const after = await account();
      assert.equal(after.verifierWeight, parseEther("500") - auditorPenalty);
      assert.equal(syncStep({ ...s, stake: after.stake, debt: 0n, roles: after.roles, weight: after.verifierWeight }).kind, "done");
    } finally {
      await connection.close();
    }
  });
});

describe("verifier blob pruning against the contracts", function () {
  this.timeout(120_000);
  const HOUR_MS = 3_600_000;

  /** `count` blobs (`make(seed)`) whose ids (`idOf`) fall in shard "00", the first a pruner sweeps: one step reads them all. */
  function inShard0(count: number, make: (seed: number) => Uint8Array, idOf: (bytes: Uint8Array) => Hex): Uint8Array[] {
    const found: Uint8Array[] = [];
    for (let seed = 0; found.length < count; seed++) {
      const bytes = make(seed);
      if (idOf(bytes).startsWith("0x00")) found.push(bytes);
    }
    return found;
  }

  it("deletes from its ticks the files aged past twice the chain's longest job lifetime plus the retention that no open entry names, in both stores, and keeps a younger one and the aged outputs its open jobs and watched batch jobs name", async () => {
    const connection = await network.create();
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-verifier-prune-"));
    const journal = new Journal({ path: path.join(dir, "journal.sqlite") });
    try {
      const sys = await deploySystem(connection);
      const { modelId } = await setUpMarket(sys);
      const d = marketDriver({ connection, ...sys, modelId });
      const followed = await d.post();
      const followedByOlder = await d.post();
      const publicClient = sys.publicClient as never;
      // Laid out as openDaemonServices lays out a data dir: blobs by id, outputs by root.
      const store = new LocalBlobStore({ dir: path.join(dir, "blobs") });
      const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
      const tensor = (seed: number) => encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", dims: [1], values: [seed] })]);
      const [open, watched, closed, young, stray] = await Promise.all(inShard0(5, tensor, outputRoot).map((bytes) => outputs.put(bytes)));
      const older = inShard0(2, (seed) => new TextEncoder().encode(`blob ${seed}`), blobId);
      const [olderOwn, strayInStore] = await Promise.all(older.map((bytes) => store.put(bytes)));

      // The entries as the daemon journals them: our own output named in `own` by the step that stored it.
      const job = (data: Partial<VerifierJobData>): VerifierJobData => ({ postedBlock: 0n, modelId: Number(modelId), ...data });
      journal.upsertJob<VerifierJobData>({ jobId: followed, role: "auditor", status: "open", data: job({ own: { outputRoot: open!, ep: "cpu", ms: 1 } }) });
      // An older verifier's: its output in the blob store, by blob id.
      journal.upsertJob<VerifierJobData>({ jobId: followedByOlder, role: "auditor", status: "open", data: job({ own: { outputRoot: outputRoot(older[0]!), outputId: olderOwn! } }) });
      // A batch job the watchdog judged and has not split out: no job step runs it, and its output stays.
      journal.upsertJob<VerifierJobData>({ jobId: 1_000n, role: "auditor", status: "watching", data: job({ batchId: 1n, own: { outputRoot: watched! }, watch: "disagree" }) });
      journal.upsertJob<VerifierJobData>({ jobId: 1_001n, role: "auditor", status: "done", data: job({ own: { outputRoot: closed! }, outcome: "finalized" }) });
      // A batch the watchdog follows, its output list read: the provider's locations, and no blob of ours left
      // unnamed (a worker's rule, "outputs without inputs", would have the pruner wait an hour on it).
      const list = [`http://127.0.0.1:1/outputs/${keccak256("0x01")}`];
      journal.upsertJob<VerifierBatchData>({ jobId: BATCH_KEY + 1n, role: "verifier-batch", status: "open", data: { batchId: 1n, postedBlock: 0n, modelId: Number(modelId), outputs: list } });

      // An hour past what is kept (twice the lifetime ProtocolTerms requires, plus the retention), or an hour short of it.
      const retentionSeconds = 86_400;
      const lifetime = Number(await new TermsReader({ client: publicClient, market: sys.market.address }).longestJobLifetime());
      const keptMs = (2 * lifetime + retentionSeconds) * 1000;
      const setAge = (file: string, ms: number) => utimes(file, ms / 1000, ms / 1000);
      const wall = Date.now();
      for (const root of [open!, watched!, closed!, stray!]) await setAge(outputs.pathOf(root), wall - keptMs - HOUR_MS);
      for (const id of [olderOwn!, strayInStore!]) await setAge(store.pathOf(id), wall - keptMs - HOUR_MS);
      await setAge(outputs.pathOf(young!), wall - keptMs + HOUR_MS);

      const pruner = verifierBlobPruner({ retentionSeconds, stores: [store, outputs], journal, publicClient, market: sys.market.address, log: silentLogger() });
      assert.equal(verifierBlobPruner({ retentionSeconds: -1, stores: [store, outputs], journal, publicClient, market: sys.market.address, log: silentLogger() }), undefined, "-1: nothing is ever deleted");
      const daemon = verifierDaemon(journal, undefined, {
        publicClient,
        sender: { noteHead: () => undefined } as never, // nothing is sent: the open jobs are Posted, our credits none
        account: sys.verifier.account.address,
        chainId: await sys.publicClient.getChainId(),
        deployment: deploymentOf(sys),
        store,
        outputs,
        models: [{ modelId: Number(modelId), path: "cls.onnx", modelHash: ZERO_HASH, policy: { kind: "exact" }, nonFiniteInputs: false, tolerance: { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n } }],
        keeper: false,
        watchdog: { share: 1, challenge: true },
        pruner,
      });
      const head = await sys.publicClient.getBlock();
      daemon.tick({ number: head.number, timestamp: head.timestamp }); // the pruner's first step: shard "00"
      await daemon.drain();

      assert.equal(await outputs.has(stray!), false, "an aged output no entry names");
      assert.equal(await store.has(strayInStore!), false, "an aged blob of the blob store no entry names");
      assert.equal(await outputs.has(closed!), false, "the output of a job we closed: aged, it goes");
      assert.equal(await outputs.has(young!), true, "an hour short of the age: kept");
      assert.equal(await outputs.has(open!), true, "named by an open job");
      assert.equal(await outputs.has(watched!), true, "named by a batch job the watchdog judged");
      assert.equal(await store.has(olderOwn!), true, "named by an older verifier's open job, by blob id");
    } finally {
      journal.close();
      await connection.close();
    }
  });
});
