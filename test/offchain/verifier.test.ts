/**
 * The verifier's pure logic (offchain/verifier/decide.ts, judge.ts): the step each chain state calls
 * for, the salts, the vote commitment (checked against the Verification contract itself), the
 * watchdog's pick, when an unfetchable output counts as wrong, the judgement of outputs, the journal
 * records the daemon keeps (and how a restart settles them), staking on start, and its options.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { concat, getAddress, keccak256, pad, parseEther, toHex, type Address, type Hex } from "viem";

import { JobStatus, type Job, type JobRecord } from "../../offchain/chain/jobs.js";
import { commitment, deriveSalt } from "../../offchain/codec/commitment.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { ConfigError, loadOptions } from "../../offchain/config/options.js";
import { silentLogger } from "../../offchain/log.js";
import { Journal } from "../../offchain/state/journal.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer } from "../../offchain/storage/server.js";
import {
  AuditState,
  auditSalt,
  challengeEconomics,
  decideStep,
  DisputeState,
  fetchFailurePolicy,
  keeperJitter,
  NO_AUDIT,
  NO_DISPUTE,
  provenActions,
  REFUSAL_BACKOFF_SECONDS,
  refusalOf,
  Verdict,
  verdictFor,
  Vote,
  voteCommitment,
  voteFor,
  voteSalt,
  watchdogPicks,
  ZERO_HASH,
  type JobSnapshot,
} from "../../offchain/verifier/decide.js";
import { fetchProviderOutput, judge } from "../../offchain/verifier/judge.js";
import { createVerifierMetrics } from "../../offchain/verifier/metrics.js";
import { VerifierOptionsSchema } from "../../offchain/verifier/options.js";
import { ensureVerifier } from "../../offchain/verifier/start.js";
import { reconcileActions, VerifierDaemon, type VerifierJobData } from "../../offchain/verifier/verifier.js";
import { deploySystem, ROLE_VERIFIER, setUpMarket, stake } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";

const ME = getAddress("0x00000000000000000000000000000000000000a1");
const OTHER = getAddress("0x00000000000000000000000000000000000000b2");
const THIRD = getAddress("0x00000000000000000000000000000000000000c3");
const PROVIDER = getAddress("0x00000000000000000000000000000000000000d4");
const SECRET: Hex = "0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const ROOT_A = keccak256(toHex("root a"));
const COMMITMENT = keccak256(toHex("a commitment"));

function job(overrides: Partial<Job> = {}): Job {
  return {
    poster: OTHER,
    modelId: 1,
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

/** A snapshot at block 110, time 1000: a job committed at block 100 (seed delay 5), window 60 s, dispute 600 s. */
function snap(overrides: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    me: ME,
    jobId: 1n,
    head: 110n,
    now: 1_000n,
    seedDelay: 5,
    challengeWindow: 60,
    disputeDuration: 600,
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

const revealedJob = (overrides: Partial<Job> = {}) => job({ status: JobStatus.Revealed, deadline: 1_040, result: ROOT_A, sampled: true, ...overrides });
const voting = (overrides: Partial<typeof NO_DISPUTE> = {}) => ({
  ...NO_DISPUTE,
  challenger: OTHER,
  bond: 50n,
  state: DisputeState.Voting,
  openedBlock: 105n,
  openedAt: 990n,
  voteCommitBy: 1_010n,
  voteRevealBy: 1_020n,
  committee: [ME, THIRD, PROVIDER.replace("d4", "e5") as Address],
  ...overrides,
});

/** A keeper that does not lead a duty does it this many seconds after it is due (grace 10 plus its own delay for job 1). */
const LATE = 10n + keeperJitter({ me: ME, jobId: 1n, graceSeconds: 10 });

function actionOf(s: JobSnapshot): string {
  const step = decideStep(s);
  return step.kind === "act" ? step.action : step.kind;
}

describe("verifier decisions", () => {
  describe("audits", () => {
    it("waits for the seed block, then commits blind when drawn, before auditCommitBy only", () => {
      const early = decideStep(snap({ head: 105n }));
      assert.deepEqual({ kind: early.kind, block: early.kind === "wait" ? early.block : undefined }, { kind: "wait", block: 106n });
      assert.equal(actionOf(snap({ drawnAuditor: ME, auditCommitBy: 1_010n })), "commitAudit");
      assert.equal(actionOf(snap({ drawnAuditor: ME, auditCommitBy: 999n })), "wait", "too late to commit blind");
      assert.equal(actionOf(snap({ drawnAuditor: ME, auditCommitBy: 1_010n, audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Committed } })), "wait");
    });

    it("waits for the reveal when another auditor is drawn (a change of the verifier set wakes it to re-check)", () => {
      const step = decideStep(snap({ drawnAuditor: OTHER, auditCommitBy: 1_010n }));
      assert.deepEqual(step.kind === "wait" && [step.block, step.time], [undefined, 1_301n]);
      const unsampled = decideStep(snap({ drawnAuditor: undefined, auditCommitBy: 1_010n }));
      assert.equal(unsampled.kind === "wait" && unsampled.time, 1_301n, "not sampled: nothing until the reveal");
    });

    it("reveals its audit after the provider's reveal, inside the window, also under a dispute someone else opened", () => {
      const mine = { ...NO_AUDIT, auditor: ME, state: AuditState.Committed, commitment: COMMITMENT };
      assert.equal(actionOf(snap({ job: revealedJob(), audit: mine })), "revealAudit");
      assert.equal(actionOf(snap({ job: revealedJob({ status: JobStatus.Disputed }), audit: mine, dispute: voting({ committee: [OTHER] }) })), "revealAudit");
      assert.equal(actionOf(snap({ job: revealedJob({ deadline: 999 }), audit: mine })), "wait", "the window closed");
    });

    it("commits a late audit (drawn at the reveal) inside the window", () => {
      const late = { ...NO_AUDIT, auditor: ME, state: AuditState.Drawn };
      assert.equal(actionOf(snap({ job: revealedJob(), audit: late })), "commitAudit");
    });

    it("penalizes another auditor's missed commit after its grace, also once the job is final", () => {
      const missed = { ...NO_AUDIT, auditor: OTHER, state: AuditState.Missed };
      // Revealed at 980 (deadline 1040 - window 60): due at 980, done by a keeper LATE seconds after.
      assert.equal(actionOf(snap({ job: revealedJob(), audit: missed, now: 980n + LATE - 1n })), "wait");
      assert.equal(actionOf(snap({ job: revealedJob(), audit: missed, now: 980n + LATE })), "penalizeAuditor");
      assert.equal(actionOf(snap({ job: revealedJob(), audit: missed, keeper: false, now: 980n + LATE })), "wait", "keeper duties off");
      assert.equal(actionOf(snap({ job: revealedJob({ status: JobStatus.Finalized }), audit: missed, now: 1_100n })), "penalizeAuditor");
    });

    it("penalizes an auditor that committed but never revealed, after the window and the grace", () => {
      const silent = { ...NO_AUDIT, auditor: OTHER, state: AuditState.Committed };
      assert.equal(actionOf(snap({ job: revealedJob(), audit: silent, now: 1_040n })), "wait");
      assert.equal(actionOf(snap({ job: revealedJob(), audit: silent, now: 1_040n + LATE })), "wait", "inside the grace");
      assert.equal(actionOf(snap({ job: revealedJob({ status: JobStatus.Finalized }), audit: silent, now: 1_041n + LATE })), "penalizeAuditor");
      const done = decideStep(snap({ job: revealedJob({ status: JobStatus.Finalized }), audit: { ...silent, state: AuditState.Penalized }, now: 1_100n }));
      assert.deepEqual(done, { kind: "done", outcome: "finalized" });
    });

    it("as an auditor forced to agree (equal roots), checks the output can be had and challenges when it cannot", () => {
      const agreed = { ...NO_AUDIT, auditor: ME, state: AuditState.Agreed, outputRoot: ROOT_A };
      assert.equal(actionOf(snap({ job: revealedJob(), audit: agreed })), "watch");
      assert.equal(actionOf(snap({ job: revealedJob(), audit: agreed, judged: "disagree" })), "challenge");
      assert.equal(actionOf(snap({ job: revealedJob(), audit: agreed, judged: "agree" })), "wait");
      assert.equal(actionOf(snap({ job: revealedJob({ deadline: 999 }), audit: agreed, judged: "disagree" })), "wait", "window closed");
    });

    it("leaves a keeper duty to one verifier of the set first (never the auditor it penalizes), the others after their delay", () => {
      const missed = { ...NO_AUDIT, auditor: OTHER, state: AuditState.Missed };
      // Job 1, pool [ME, THIRD] without the auditor: (1 + 3) % 2 = 0 picks us.
      const lead = snap({ job: revealedJob(), audit: missed, now: 980n, keepers: [OTHER, ME, THIRD] });
      assert.equal(actionOf(lead), "penalizeAuditor", "we lead: at once");
      assert.equal(actionOf({ ...lead, jobId: 2n }), "wait", "another leads job 2");
      assert.equal(actionOf({ ...lead, jobId: 2n, now: 980n + 10n + keeperJitter({ me: ME, jobId: 2n, graceSeconds: 10 }) }), "penalizeAuditor");
    });

    it("never penalizes itself and closes a job nothing is owed on", () => {
      const mine = { ...NO_AUDIT, auditor: ME, state: AuditState.Missed };
      assert.deepEqual(decideStep(snap({ job: revealedJob({ status: JobStatus.Finalized }), audit: mine, now: 2_000n })), { kind: "done", outcome: "finalized" });
      assert.deepEqual(decideStep(snap({ job: revealedJob({ status: JobStatus.Slashed }), now: 2_000n })), { kind: "done", outcome: "slashed" });
      assert.deepEqual(decideStep(snap({ job: job({ status: JobStatus.Expired }) })), { kind: "done", outcome: "expired" });
    });
  });

  describe("disputes", () => {
    const open = { ...NO_DISPUTE, challenger: OTHER, bond: 50n, state: DisputeState.Open, openedBlock: 105n, openedAt: 995n };
    const disputed = revealedJob({ status: JobStatus.Disputed });

    it("draws the committee once the seed block is mined: at once as the challenger, after the grace otherwise", () => {
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 110n })), "wait", "seed block 110 not behind the head");
      assert.equal(actionOf(snap({ job: disputed, dispute: { ...open, challenger: ME }, head: 111n, keepers: [OTHER, ME] })), "drawCommittee");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 995n + LATE - 1n })), "wait");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 995n + LATE })), "drawCommittee");
    });

    it("spreads keepers out: each waits the grace plus a delay of its own, up to the grace", () => {
      const delays = Array.from({ length: 64 }, (_, i) => keeperJitter({ me: ME, jobId: BigInt(i), graceSeconds: 10 }));
      assert.ok(delays.every((d) => d >= 0n && d <= 10n));
      assert.ok(new Set(delays).size > 5, "delays vary from job to job");
      assert.equal(keeperJitter({ me: ME, jobId: 5n, graceSeconds: 0 }), 0n);
    });

    it("resolves a dispute nobody could draw a committee for after the dispute duration", () => {
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 1_595n })), "drawCommittee");
      assert.equal(actionOf(snap({ job: disputed, dispute: open, head: 111n, now: 1_596n + LATE })), "resolve");
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
      assert.equal(at([revealed(a), revealed(b), revealed(c, Vote.ProviderCorrect)]), "resolve", "every member revealed; we lead");
      // Job 1: another member leads; we resolve only after the deadline and our delay.
      assert.equal(at([revealed(a), revealed(b), revealed(c)], 1_000n, 1n), "wait");
      assert.equal(at([revealed(a), revealed(b), revealed(c)], 1_021n + LATE - 1n, 1n), "wait");
      assert.equal(at([revealed(a), revealed(b), revealed(c)], 1_021n + LATE, 1n), "resolve");
    });

    it("as a keeper outside the committee, resolves only after the reveal deadline and its delay", () => {
      const votes = voting().committee.map((voter) => ({ voter, commitment: COMMITMENT, vote: Vote.ProviderWrong }));
      const outsider = voting({ committee: [OTHER, THIRD, PROVIDER] });
      const outsiderVotes = outsider.committee.map((voter) => ({ voter, commitment: COMMITMENT, vote: Vote.ProviderWrong }));
      assert.equal(votes.length, 3);
      assert.equal(actionOf(snap({ job: disputed, dispute: outsider, votes: outsiderVotes, now: 1_015n })), "wait");
      assert.equal(actionOf(snap({ job: disputed, dispute: outsider, votes: outsiderVotes, now: 1_021n + LATE })), "resolve");
    });

    it("rests an action the contract refused in the same chain state, and tries it again later or in another state", () => {
      const s = snap({ job: disputed, dispute: { ...open, challenger: ME }, head: 111n, keepers: [ME] });
      assert.equal(actionOf(s), "drawCommittee");
      const refused = { drawCommittee: refusalOf(s) };
      assert.equal(actionOf({ ...s, refused }), "wait");
      assert.equal(actionOf({ ...s, refused, now: s.now + REFUSAL_BACKOFF_SECONDS }), "drawCommittee", "rested long enough");
      assert.equal(actionOf({ ...s, refused: { drawCommittee: `5:0:9@${s.now}` } }), "drawCommittee", "a refusal in another state does not count");
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

  describe("restarts", () => {
    it("proves from the chain which journaled actions were taken", () => {
      assert.deepEqual(provenActions({ me: ME, audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Committed }, dispute: NO_DISPUTE, votes: [] }), ["commitAudit"]);
      assert.deepEqual(provenActions({ me: ME, audit: { ...NO_AUDIT, auditor: ME, state: AuditState.Agreed }, dispute: NO_DISPUTE, votes: [] }), [
        "commitAudit",
        "revealAudit",
      ]);
      assert.deepEqual(provenActions({ me: ME, audit: { ...NO_AUDIT, auditor: OTHER, state: AuditState.Penalized }, dispute: NO_DISPUTE, votes: [] }), [
        "penalizeAuditor",
      ]);
      const vote = { voter: ME, commitment: COMMITMENT, vote: Vote.ProviderCorrect };
      assert.deepEqual(provenActions({ me: ME, audit: NO_AUDIT, dispute: voting({ challenger: ME }), votes: [vote] }), [
        "commitVote",
        "revealVote",
        "challenge",
        "drawCommittee",
      ]);
      assert.deepEqual(provenActions({ me: ME, audit: NO_AUDIT, dispute: voting({ state: DisputeState.Resolved }), votes: [] }), ["drawCommittee", "resolve"]);
    });
  });
});

describe("verifier salts, commitments and verdicts", () => {
  it("derives the audit salt exactly as a provider derives its own, and a distinct vote salt", () => {
    const jobId = 7n;
    assert.equal(auditSalt({ secret: SECRET, chainId: 31337, jobId }), deriveSalt({ workerSecret: SECRET, chainId: 31337n, jobId }));
    const vote = voteSalt({ secret: SECRET, chainId: 31337, jobId });
    assert.match(vote, /^0x[0-9a-f]{64}$/);
    assert.notEqual(vote, auditSalt({ secret: SECRET, chainId: 31337, jobId }));
    assert.equal(vote, voteSalt({ secret: SECRET, chainId: 31337, jobId }), "deterministic: a restart reveals what it committed");
    assert.notEqual(vote, voteSalt({ secret: SECRET, chainId: 31337, jobId: 8n }));
  });

  it("encodes the vote commitment as keccak256 over six 32-byte words", () => {
    const verification = getAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const salt = keccak256(toHex("salt"));
    const words = concat([
      pad(toHex(31337n)),
      pad(verification),
      pad(toHex(12n)),
      pad(ME),
      pad(toHex(Vote.ProviderWrong)),
      salt,
    ]);
    assert.equal(voteCommitment({ chainId: 31337, verification, jobId: 12n, voter: ME, vote: Vote.ProviderWrong, salt }), keccak256(words));
    assert.notEqual(
      voteCommitment({ chainId: 31337, verification, jobId: 12n, voter: ME, vote: Vote.ProviderCorrect, salt }),
      voteCommitment({ chainId: 31337, verification, jobId: 12n, voter: ME, vote: Vote.ProviderWrong, salt }),
    );
  });

  it("maps judgements to verdicts and votes; equal roots always agree", () => {
    assert.equal(voteFor("agree"), Vote.ProviderCorrect);
    assert.equal(voteFor("disagree"), Vote.ProviderWrong);
    assert.equal(verdictFor({ verdict: "disagree", ownRoot: ROOT_A, providerRoot: ROOT_A.toUpperCase().replace("0X", "0x") as Hex }), Verdict.Agree);
    assert.equal(verdictFor({ verdict: "disagree", ownRoot: ROOT_A, providerRoot: COMMITMENT }), Verdict.Disagree);
    assert.equal(verdictFor({ verdict: "agree", ownRoot: ROOT_A, providerRoot: COMMITMENT }), Verdict.Agree);
  });

  it("says what a challenge costs and pays", () => {
    assert.deepEqual(challengeEconomics({ bond: 50n, collateral: 1_000n, challengerRewardBps: 4_000 }), {
      bond: 50n,
      reward: 400n,
      collateral: 1_000n,
      challengerRewardBps: 4_000,
    });
  });

  it("counts an unfetchable output as wrong once the grace or the deadline runs out, a wrong one at once", () => {
    const base = { since: 1_000n, deadline: 1_060n, graceSeconds: 30, reserveSeconds: 2, definitive: false };
    assert.equal(fetchFailurePolicy({ ...base, now: 1_000n }), "retry");
    assert.equal(fetchFailurePolicy({ ...base, now: 1_029n }), "retry");
    assert.equal(fetchFailurePolicy({ ...base, now: 1_030n }), "wrong", "grace over");
    assert.equal(fetchFailurePolicy({ ...base, now: 1_010n, deadline: 1_012n }), "wrong", "no time left to send");
    assert.equal(fetchFailurePolicy({ ...base, now: 1_000n, definitive: true }), "wrong");
  });
});

describe("verifier judgement of provider outputs", () => {
  const policy = { kind: "allclose", absTol: 1e-4, relTol: 1e-3 } as const;
  const output = (values: number[]) => encodeTensorBlob([tensorFromArray({ name: "softmax", dtype: "float32", values, dims: [2, 2] })]);
  const own = output([0.25, 0.75, 0.5, 0.5]);
  const ownRoot = outputRoot(own);

  it("agrees with noise inside the tolerance and with equal roots, disagrees with garbage and a missing output", () => {
    const noisy = output([0.25004, 0.74997, 0.5, 0.50002]);
    const near = judge({ own, ownRoot, provider: { ok: true, bytes: noisy, source: "inline" }, providerRoot: outputRoot(noisy), policy });
    assert.equal(near.verdict, "agree", near.reason);
    assert.equal(near.rootsEqual, false);
    assert.ok(near.tensors[0]!.maxAbsError > 0 && near.tensors[0]!.maxAbsError < 1e-4);

    const same = judge({ own, ownRoot, provider: { ok: true, bytes: own, source: "uri" }, providerRoot: outputRoot(own), policy });
    assert.deepEqual([same.verdict, same.rootsEqual], ["agree", true]);
    const withheld = judge({ own, ownRoot, provider: { ok: false, problem: "HTTP 404", definitive: false }, providerRoot: outputRoot(own), policy });
    assert.deepEqual([withheld.verdict, withheld.rootsEqual], ["disagree", true], "an output nobody can have is wrong, even with our root");

    const flipped = output([0.75, 0.25, 0.5, 0.5]);
    const wrong = judge({ own, ownRoot, provider: { ok: true, bytes: flipped, source: "uri" }, providerRoot: outputRoot(flipped), policy });
    assert.equal(wrong.verdict, "disagree");
    assert.equal(wrong.tensors[0]!.mismatches, 2);
    assert.match(wrong.reason!, /2 of 4 elements outside allclose/);

    const truncated = flipped.slice(0, 20);
    assert.match(judge({ own, ownRoot, provider: { ok: true, bytes: truncated, source: "inline" }, providerRoot: outputRoot(truncated), policy }).reason!, /does not decode/);
    const missing = judge({ own, ownRoot, provider: { ok: false, problem: "HTTP 404", definitive: false }, providerRoot: ROOT_A, policy });
    assert.deepEqual([missing.verdict, missing.unavailable], ["disagree", "HTTP 404"]);
  });

  it("fetches a provider's output inline or from its URI and checks it against the revealed root", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-verifier-"));
    const store = new LocalBlobStore({ dir });
    const server = await startBlobServer({ store, port: 0 });
    try {
      const served = output([0.1, 0.9, 0.2, 0.8]);
      const id = await store.put(served);
      const record = (overrides: Partial<JobRecord>, result: Hex): JobRecord => ({
        jobId: 1n,
        job: revealedJob({ result }),
        inputHash: ZERO_HASH,
        inputURI: "",
        inlineInput: "0x",
        postedBlock: 1n,
        ...overrides,
      });
      const options = { maxBytes: 1 << 20, allowFileUris: false };

      const inline = await fetchProviderOutput({ record: record({ inlineOutput: toHex(own) }, outputRoot(own)), ...options });
      assert.deepEqual(inline.ok && inline.source, "inline");
      const fromUri = await fetchProviderOutput({ record: record({ outputURI: `${server.url}/blobs/${id}` }, outputRoot(served)), ...options });
      assert.ok(fromUri.ok && Buffer.from(fromUri.bytes).equals(Buffer.from(served)));

      const wrongRoot = await fetchProviderOutput({ record: record({ outputURI: `${server.url}/blobs/${id}` }, ROOT_A), ...options });
      assert.deepEqual(wrongRoot.ok ? undefined : wrongRoot.definitive, true, "bytes that do not match the root: wrong at once");
      const absent = await fetchProviderOutput({ record: record({ outputURI: `${server.url}/blobs/${keccak256("0x01")}` }, ROOT_A), ...options });
      assert.ok(!absent.ok && !absent.definitive && /not found/.test(absent.problem), "a 404 may be a server in trouble: retried within the grace");
      const none = await fetchProviderOutput({ record: record({ outputURI: "" }, ROOT_A), ...options });
      assert.ok(!none.ok && none.definitive);
      const file = await fetchProviderOutput({ record: record({ outputURI: `file://${store.pathOf(id)}` }, outputRoot(served)), ...options });
      assert.ok(!file.ok && file.definitive && /allowFileUris/.test(file.problem));
    } finally {
      await server.close();
    }
  });
});

describe("verifier journal records", () => {
  function daemon(journal: Journal, metrics = createVerifierMetrics()) {
    return new VerifierDaemon({
      log: silentLogger(),
      publicClient: undefined as never,
      sender: undefined as never,
      account: ME,
      chainId: 31337,
      deployment: { token: OTHER, staking: OTHER, registry: OTHER, market: OTHER, verification: OTHER },
      journal,
      runner: undefined as never,
      store: undefined as never,
      models: [{ modelId: 1, path: "cls.onnx", modelHash: ZERO_HASH, policy: { kind: "exact" }, tolerance: { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n } }],
      secret: SECRET,
      publicUrl: "http://127.0.0.1:1",
      metrics,
      ep: "cpu",
      inferenceTimeoutMs: 1_000,
      maxInputBytes: 1 << 20,
      maxOutputBytes: 1 << 20,
      allowFileUris: false,
      outputGraceSeconds: 5,
      keeper: true,
      keeperGraceSeconds: 5,
      watchdog: { share: 0, challenge: true },
      withdrawMin: 0n,
    });
  }

  it("tracks posted jobs of served models only, notes late audits and counts its own penalties, idempotently", async () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const metrics = createVerifierMetrics();
      const d = daemon(journal, metrics);
      const logs = [
        { eventName: "JobPosted", args: { jobId: 1n, modelId: 1n }, blockNumber: 10n },
        { eventName: "JobPosted", args: { jobId: 2n, modelId: 9n }, blockNumber: 10n },
        { eventName: "ResultCommitted", args: { jobId: 1n, provider: PROVIDER }, blockNumber: 11n },
        { eventName: "AuditorDrawn", args: { jobId: 1n, auditor: ME, auditCommitBy: 5n, late: true }, blockNumber: 20n },
        { eventName: "AuditorPenalized", args: { jobId: 1n, auditor: ME, penalty: parseEther("5") }, blockNumber: 30n },
        { eventName: "VoterPenalized", args: { jobId: 1n, voter: OTHER, penalty: 1n }, blockNumber: 30n },
        // Another model's job, committed: not ours. And one posted before our start block: followed from its commitment on.
        { eventName: "ResultCommitted", args: { jobId: 2n, provider: PROVIDER }, blockNumber: 31n },
        { eventName: "ResultCommitted", args: { jobId: 3n, provider: PROVIDER }, blockNumber: 31n },
      ];
      d.onLogs(logs);
      d.onLogs(logs); // a redelivered batch changes nothing
      assert.deepEqual(
        journal
          .listJobs<VerifierJobData>()
          .sort((a, b) => Number(a.jobId - b.jobId))
          .map((r) => [r.jobId, r.role, r.status, r.data.postedBlock, r.data.late ?? false]),
        [
          [1n, "auditor", "open", 10n, true],
          [2n, "auditor", "done", 10n, false],
          [3n, "auditor", "open", 0n, false],
        ],
      );
      const penalties = (await metrics.penalties.get()).values.map((v) => [v.labels.kind, v.value]);
      assert.deepEqual(penalties, [["auditor", 1]], "our own penalty, counted once; another verifier's is not ours");
      assert.equal(journal.getJob<VerifierJobData>(1n)!.data.penalized?.auditor, parseEther("5"));
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
      const committed = { ...NO_AUDIT, auditor: ME, state: AuditState.Committed, commitment: COMMITMENT };
      assert.deepEqual(reconcileActions({ journal, jobId: 4n, snapshot: { me: ME, audit: committed, dispute: NO_DISPUTE, votes: [] } }), ["commitAudit"]);
      assert.deepEqual(
        journal.listActions(4n).map((a) => `${a.action}:${a.state}`),
        ["commitAudit:confirmed", "revealAudit:pending"],
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

  it("stakes as a verifier on request, or says how to", async () => {
    const sent: { functionName: string; args: readonly unknown[] }[] = [];
    const stub = (account: { stake: bigint; roles: number; inVerifierSet: boolean }) => ({
      publicClient: {
        readContract: async ({ functionName }: { functionName: string }) => (functionName === "params" ? { minVerifierStake: parseEther("100") } : account),
      } as never,
      sender: { send: async (call: { functionName: string; args: readonly unknown[] }) => sent.push(call) } as never,
      deployment: { token: OTHER, staking: THIRD, registry: OTHER, market: OTHER, verification: OTHER },
      account: ME,
      log: silentLogger(),
    });
    await ensureVerifier({ ...stub({ stake: parseEther("500"), roles: 2, inVerifierSet: true }) });
    assert.equal(sent.length, 0, "already a verifier: nothing to do");
    await assert.rejects(ensureVerifier({ ...stub({ stake: parseEther("40"), roles: 1, inVerifierSet: false }) }), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /is not in the verifier set: stake at least 60 DINF more \(`dinfer provider stake <tokens> --roles verifier`, or start with --stake <tokens>\)/);
      return true;
    });
    await ensureVerifier({ ...stub({ stake: parseEther("40"), roles: 1, inVerifierSet: false }), stake: parseEther("10") });
    assert.deepEqual(
      sent.map((c) => [c.functionName, ...c.args.map(String)]),
      [
        ["approve", THIRD, parseEther("60").toString()],
        ["stake", parseEther("60").toString(), "3"],
      ],
      "tops the stake up to the minimum and keeps the provider role",
    );
  });

  it("reads its options with defaults, and names a bad one", () => {
    const options = loadOptions({ schema: VerifierOptionsSchema, flags: { models: [{ modelId: "1", path: "cls.onnx" }], stake: "100" } });
    assert.equal(options.ep, "cpu");
    assert.equal(options.dataDir, ".dinfer/verifier");
    assert.equal(options.stake, 100n);
    assert.deepEqual(options.watchdog, { share: 0, challenge: true });
    assert.equal(options.keeper, true);
    assert.throws(
      () => loadOptions({ schema: VerifierOptionsSchema, flags: { models: [], watchdog: { share: 2 } } }),
      (error: Error) => /models: the verifier needs at least one model/.test(error.message) && /watchdog\.share/.test(error.message),
    );
  });
});

describe("verifier commitments against the Verification contract", function () {
  this.timeout(120_000);

  it("an auditor's commitment and a committee vote built here are accepted when revealed", async () => {
    const connection = await network.create();
    try {
      const { networkHelpers } = connection;
      const sys = await deploySystem(connection, { marketParams: { samplingPpm: 1_000_000 } });
      await setUpMarket(sys);
      const verifiers = [sys.verifier, sys.keeper, sys.stranger, sys.provider2];
      for (const v of verifiers) await stake(sys, v.account.address, parseEther("500"), ROLE_VERIFIER);
      const d = marketDriver({ connection, ...sys, modelId: 1n });
      const chainId = await sys.publicClient.getChainId();

      // A sampled job: the drawn auditor commits blind with our commitment and salt, then reveals.
      const jobId = await d.post();
      await d.claimAndCommit(jobId);
      await d.waitForSeed(jobId);
      await networkHelpers.mine(1);
      const auditor = getAddress(await sys.verification.read.auditorOf([jobId, d.jobs.job(jobId)]));
      const wallet = verifiers.find((v) => getAddress(v.account.address) === auditor)!;
      const secret = keccak256(toHex(`secret of ${auditor}`));
      const { outputRoot: providerRoot } = d.outputOf(jobId);
      const salt = auditSalt({ secret, chainId, jobId });
      const c = commitment({ chainId, jobMarket: sys.market.address, jobId, provider: auditor, outputRoot: providerRoot, salt });
      await d.jobs.send(sys.verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: wallet.account }));
      await d.reveal(jobId, { waitSeed: false });
      await d.jobs.send(
        sys.verification.write.revealAudit([jobId, d.jobs.job(jobId), providerRoot, salt, Verdict.Agree, "http://auditor/blobs/x"], { account: wallet.account }),
      );
      assert.equal((await sys.verification.read.audit([jobId])).state, AuditState.Agreed);

      // A challenge: every member commits our vote commitment and reveals it.
      await sys.token.write.mint([sys.challenger.account.address, parseEther("100")]);
      await sys.token.write.approve([sys.verification.address, parseEther("100")], { account: sys.challenger.account });
      await d.jobs.send(sys.verification.write.challenge([jobId, d.jobs.job(jobId)], { account: sys.challenger.account }));
      await networkHelpers.mine(5);
      await sys.verification.write.drawCommittee([jobId]);
      const { committee } = await sys.verification.read.dispute([jobId]);
      assert.ok(committee.length >= 1 && !committee.map(getAddress).includes(auditor), "the auditor sits out");
      for (const member of committee) {
        const w = verifiers.find((v) => getAddress(v.account.address) === getAddress(member))!;
        const vs = voteSalt({ secret: keccak256(toHex(`secret of ${member}`)), chainId, jobId });
        const vc = voteCommitment({ chainId, verification: sys.verification.address, jobId, voter: getAddress(member), vote: Vote.ProviderCorrect, salt: vs });
        await sys.verification.write.commitVote([jobId, vc], { account: w.account });
      }
      for (const member of committee) {
        const w = verifiers.find((v) => getAddress(v.account.address) === getAddress(member))!;
        const vs = voteSalt({ secret: keccak256(toHex(`secret of ${member}`)), chainId, jobId });
        await sys.verification.write.revealVote([jobId, Vote.ProviderCorrect, vs], { account: w.account });
        const [, vote] = await sys.verification.read.voteOf([jobId, member]);
        assert.equal(vote, Vote.ProviderCorrect, `${member}'s vote was accepted as committed`);
      }
    } finally {
      await connection.close();
    }
  });
});
