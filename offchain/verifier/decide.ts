/**
 * The verifier's decisions, as pure functions of what the chain shows (docs/PROTOCOL.md, section 7;
 * contracts/interfaces/IVerification.sol): which step a job calls for next, the vote a judgement calls
 * for, the vote commitment and the salts, the watchdog's pick, when an output no location serves counts
 * as wrong, the keeper's verifier-weight sync, and which journaled actions the chain proves were taken.
 * The daemon (verifier.ts) reads the chain, calls `decideStep`, and carries out the one step it returns.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, encodeAbiParameters, keccak256, type Address, type Hex } from "viem";

import { BatchStatus } from "../chain/batches.js";
import { JobStatus, type Job } from "../chain/jobs.js";
import { BLOCKHASH_REACH } from "../chain/terms.js";
import { deriveSalt } from "../codec/commitment.js";
import { hexToBytes } from "../codec/hex.js";
import { keeperJitter } from "../daemon/keeper.js";
import { DEFAULT_SEND_TIMEOUT_MS } from "../storage/read-limits.js";

// ------------------------------------------------------------------ the contract's enums and views

/** `IVerification.AuditState`. */
export const AuditState = { None: 0, Committed: 1, Agreed: 2, Disagreed: 3, Missed: 4, Unrevealed: 5 } as const;
export type AuditState = (typeof AuditState)[keyof typeof AuditState];

/** `IVerification.Verdict`. */
export const Verdict = { Agree: 0, Disagree: 1 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** `IVerification.Vote`. */
export const Vote = { None: 0, ProviderCorrect: 1, ProviderWrong: 2, AuditorWrong: 3 } as const;
export type Vote = (typeof Vote)[keyof typeof Vote];

/** `IVerification.DisputeState`. */
export const DisputeState = { None: 0, Open: 1, Voting: 2, Resolved: 3 } as const;
export type DisputeState = (typeof DisputeState)[keyof typeof DisputeState];

/** `IVerification.DisputeReason`. */
export const DisputeReason = { Challenge: 0, AuditDisagreed: 1, AuditMissed: 2, AuditUnrevealed: 3, Recheck: 4, Replicas: 5 } as const;
export type DisputeReason = (typeof DisputeReason)[keyof typeof DisputeReason];

/** The name of an enum value (`nameOf(AuditState, 2)` is "Agreed"). */
export function nameOf(values: Readonly<Record<string, number>>, value: number): string {
  return Object.entries(values).find(([, v]) => v === value)?.[0] ?? `unknown(${value})`;
}

export const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";
export const ZERO_HASH: Hex = "0x0000000000000000000000000000000000000000000000000000000000000000";

/** `IVerification.Audit`. */
export type AuditView = { auditor: Address; state: AuditState; commitBlock: bigint; commitment: Hex; outputRoot: Hex };

/** `IVerification.Dispute`. */
export type DisputeView = {
  /** Zero for a dispute the protocol opened (missed or unrevealed audit, recheck). */
  challenger: Address;
  bond: bigint;
  state: DisputeState;
  reason: DisputeReason;
  openedBlock: bigint;
  openedAt: bigint;
  /** The block whose seed draws the committee (moved by a reseed). */
  seedBlock: bigint;
  voteCommitBy: bigint;
  voteRevealBy: bigint;
  outcome: Vote;
  providerFaulted: boolean;
  /** One entry per seat: a member drawn for several seats appears several times (and votes once). */
  committee: readonly Address[];
};

/** `IVerification.voteOf(jobId, voter)`. */
export type VoteView = { voter: Address; commitment: Hex; vote: Vote };

/** The rules of a job's terms version the verifier works by (`ProtocolTerms.termsOf(job.terms)`). */
export type JobTerms = {
  seedDelay: number;
  revealTimeout: number;
  challengeWindow: number;
  disputeDuration: number;
  auditCommitTimeout: number;
  voteCommitTimeout: number;
  voteRevealTimeout: number;
};

export const NO_AUDIT: AuditView = { auditor: ZERO_ADDRESS, state: AuditState.None, commitBlock: 0n, commitment: ZERO_HASH, outputRoot: ZERO_HASH };
export const NO_DISPUTE: DisputeView = {
  challenger: ZERO_ADDRESS,
  bond: 0n,
  state: DisputeState.None,
  reason: DisputeReason.Challenge,
  openedBlock: 0n,
  openedAt: 0n,
  seedBlock: 0n,
  voteCommitBy: 0n,
  voteRevealBy: 0n,
  outcome: Vote.None,
  providerFaulted: false,
  committee: [],
};

export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/**
 * `Verification.auditCommitBy(job)`: the commit time (revealBy - revealTimeout) plus the audit commit
 * timeout, capped at a second before the reveal deadline.
 */
export function auditCommitByOf(job: Pick<Job, "deadline">, terms: Pick<JobTerms, "revealTimeout" | "auditCommitTimeout">): bigint {
  const deadline = BigInt(job.deadline);
  const committedAt = deadline > BigInt(terms.revealTimeout) ? deadline - BigInt(terms.revealTimeout) : 0n;
  const commitBy = committedAt + BigInt(terms.auditCommitTimeout);
  if (commitBy >= deadline) return deadline === 0n ? 0n : deadline - 1n;
  return commitBy;
}

/** The last second a dispute's committee can be drawn: the whole vote must fit in the dispute duration. */
export function drawByOf(dispute: Pick<DisputeView, "openedAt">, terms: Pick<JobTerms, "disputeDuration" | "voteCommitTimeout" | "voteRevealTimeout">): bigint {
  return dispute.openedAt + BigInt(terms.disputeDuration) - BigInt(terms.voteCommitTimeout) - BigInt(terms.voteRevealTimeout);
}

/**
 * Whether a dispute judges the auditor's own output too: its Agree came with a root other than the
 * provider's (a recheck, or a dispute that an Agree was revealed into).
 */
export function auditorOutputJudged(audit: Pick<AuditView, "state" | "outputRoot">, providerRoot: Hex): boolean {
  return audit.state === AuditState.Agreed && audit.outputRoot.toLowerCase() !== providerRoot.toLowerCase();
}

// ------------------------------------------------------------------ salts and commitments

/**
 * The salt of an auditor's commitment: HMAC-SHA256(secret, chainId || jobId), exactly as a provider
 * derives its own (docs/PROTOCOL.md, section 5), so a restarted auditor can always reveal what it committed.
 */
export function auditSalt({ secret, chainId, jobId }: { secret: Hex; chainId: bigint | number; jobId: bigint }): Hex {
  return deriveSalt({ workerSecret: secret, chainId, jobId });
}

const VOTE_DOMAIN = new TextEncoder().encode("dinfer/vote-salt/v1");
const WATCH_DOMAIN = new TextEncoder().encode("dinfer/watchdog/v1");

/**
 * The salt of a committee vote: the same derivation under a key of its own
 * (HMAC-SHA256(secret, "dinfer/vote-salt/v1")), so a vote salt never equals an audit salt.
 */
export function voteSalt({ secret, chainId, jobId }: { secret: Hex; chainId: bigint | number; jobId: bigint }): Hex {
  const key = hmac(sha256, hexToBytes(secret), VOTE_DOMAIN);
  return deriveSalt({ workerSecret: key, chainId, jobId });
}

export type VoteCommitmentParameters = {
  chainId: bigint | number;
  verification: Address;
  jobId: bigint;
  voter: Address;
  vote: Vote;
  salt: Hex;
};

/** `keccak256(abi.encode(chainId, verification, jobId, voter, vote, salt))`, as `commitVote` expects. */
export function voteCommitment({ chainId, verification, jobId, voter, vote, salt }: VoteCommitmentParameters): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "address" }, { type: "uint256" }, { type: "address" }, { type: "uint8" }, { type: "bytes32" }],
      [BigInt(chainId), verification, jobId, voter, vote, salt],
    ),
  );
}

/**
 * Whether the watchdog re-runs this unsampled job: keccak256(HMAC(secret, domain) || jobId) below
 * `share` of the range. Derived from the secret, so a provider cannot tell which results are
 * watched, and a restart makes the same pick.
 */
export function watchdogPicks({ secret, jobId, share }: { secret: Hex; jobId: bigint; share: number }): boolean {
  if (!(share > 0)) return false;
  if (share >= 1) return true;
  const key = hmac(sha256, hexToBytes(secret), WATCH_DOMAIN);
  const word = new Uint8Array(32);
  new DataView(word.buffer).setBigUint64(24, BigInt.asUintN(64, jobId));
  new DataView(word.buffer).setBigUint64(16, BigInt.asUintN(64, jobId >> 64n));
  const draw = BigInt(bytesToHex(keccak_256(new Uint8Array([...key, ...word]))));
  const scale = 1_000_000_000n;
  return draw * scale < BigInt(Math.floor(share * Number(scale))) << 256n;
}

/** A judgement of one output against the verifier's own under the model's tolerance ("disagree" also when no location served it). */
export type OutputVerdict = "agree" | "disagree";

/**
 * The vote a committee member's judgements call for (docs/PROTOCOL.md, section 7, "Dispute"): the
 * provider's output wrong (or served nowhere) is ProviderWrong; right, with the agreeing auditor's own
 * output under judgement and wrong (or served nowhere), AuditorWrong; else ProviderCorrect.
 */
export function voteFor({ provider, auditor }: { provider: OutputVerdict; auditor?: OutputVerdict }): Vote {
  if (provider === "disagree") return Vote.ProviderWrong;
  return auditor === "disagree" ? Vote.AuditorWrong : Vote.ProviderCorrect;
}

/** The audit verdict a judgement calls for; equal roots are always an agreement. */
export function verdictFor({ verdict, ownRoot, providerRoot }: { verdict: OutputVerdict; ownRoot: Hex; providerRoot: Hex }): Verdict {
  if (ownRoot.toLowerCase() === providerRoot.toLowerCase()) return Verdict.Agree;
  return verdict === "agree" ? Verdict.Agree : Verdict.Disagree;
}

// ------------------------------------------------------------------ output availability

export type UnservedOutputPolicyParameters = {
  now: bigint;
  /** The last second the decision can be sent (end of the challenge window, vote commit deadline). */
  deadline: bigint;
  /** Seconds kept before `deadline` to send the transaction. */
  reserveSeconds: number;
};

/**
 * An output is judged on its content, not on one server (docs/PROTOCOL.md, section 7, "Output
 * availability"): while no known location serves bytes matching its root, keep trying (a location may
 * come back, the provider may announce another) until shortly before our own deadline; only then does it
 * count as wrong.
 */
export function unservedOutputPolicy({ now, deadline, reserveSeconds }: UnservedOutputPolicyParameters): "retry" | "wrong" {
  return now + BigInt(reserveSeconds) >= deadline ? "wrong" : "retry";
}

/**
 * The longest and shortest time one read of a blob may take, all its locations together (they are read at
 * once, offchain/storage/first-served.ts), and each location's read too: an input (an IPFS read of a CID nobody
 * serves takes it all), an output (tried again every second while no location serves it). The longest is what a
 * blob server is given to send the largest blob (DEFAULT_SEND_TIMEOUT_MS: 64 MiB at 1 MiB/s): a read cut
 * sooner would be tried again and cut again, and an honest provider serving a large output at that speed would
 * count as serving it nowhere.
 */
export const FETCH_BUDGET_MS = { input: { max: DEFAULT_SEND_TIMEOUT_MS, min: 2_000 }, output: { max: DEFAULT_SEND_TIMEOUT_MS, min: 1_000 } } as const;

/**
 * How long one read of a job's input or output may take: the time left before the step's deadline less the
 * reserve (the re-run and the transaction come after it), within `FETCH_BUDGET_MS`. However many locations a
 * blob lists and however slowly each answers, the read ends in time for the judgement: a blob no location
 * serves by then counts against the provider (docs/PROTOCOL.md, sections 5 and 7).
 */
export function fetchBudgetMs({ now, deadline, reserveSeconds, blob }: UnservedOutputPolicyParameters & { blob: keyof typeof FETCH_BUDGET_MS }): number {
  const { max, min } = FETCH_BUDGET_MS[blob];
  const left = Number(deadline - now - BigInt(reserveSeconds)) * 1000;
  return Math.min(max, Math.max(min, left));
}

// ------------------------------------------------------------------ the next step of a job

/** What the verifier knows of a job at one tick. */
export type JobSnapshot = {
  me: Address;
  jobId: bigint;
  /** Chain head: number and timestamp. */
  head: bigint;
  now: bigint;
  /** The rules of the job's terms version. */
  terms: JobTerms;
  job: Job;
  /** `auditorOf(jobId, job)` once the seed block is mined (undefined before, when not sampled, or not read). */
  drawnAuditor?: Address;
  audit: AuditView;
  dispute: DisputeView;
  /** The committee draw for the dispute's current seed found nobody eligible (CommitteeDrawn with no members). */
  committeeEmpty?: boolean;
  /** `voteOf` for each committee member (once per member), when a committee is drawn. */
  votes: readonly VoteView[];
  /** Keeper duties on (draw committees, resolve disputes, expire withheld reveals, sync slashed verifiers). */
  keeper: boolean;
  keeperGraceSeconds: number;
  /** The verifier set (Staking.verifierAt), for picking the keeper that leads a duty. */
  keepers: readonly Address[];
  /** The watchdog re-runs this job if it is revealed unsampled. */
  watched: boolean;
  /** The watchdog's judgement of this job: "disagree" calls for a challenge; "reported" is a disagreement it only logs. */
  watchJudged?: "agree" | "disagree" | "reported";
  /** Actions the contract refused, by name (`refusalOf`): rested a while in that chain state. */
  refused: Readonly<Record<string, string>>;
};

export type StepAction = "commitAudit" | "revealAudit" | "commitVote" | "revealVote" | "watch" | "challenge" | "drawCommittee" | "resolve" | "expire";

export type Step =
  | { kind: "act"; action: StepAction; reason: string }
  | { kind: "wait"; block?: bigint; time?: bigint; reason: string }
  | { kind: "done"; outcome: string };

/** Duties anyone may do (a refusal there usually means another keeper was first). */
const KEEPER_ACTIONS: readonly StepAction[] = ["drawCommittee", "resolve", "expire"];
export type KeeperDuty = "drawCommittee" | "resolve" | "expire";

/** The chain state an action is judged in: a refusal in one context does not stop the action in a later one. */
export function contextKey(s: Pick<JobSnapshot, "job" | "audit" | "dispute">): string {
  return `${s.job.status}:${s.audit.state}:${s.dispute.state}:${s.dispute.seedBlock}`;
}

/** Picks one of `keepers` (never `exclude`) from `key`: the same pick for every verifier. */
function rotation(keepers: readonly Address[], key: bigint, exclude?: Address): Address | undefined {
  const pool = keepers.filter((k) => !sameAddress(k, exclude));
  return pool.length === 0 ? undefined : pool[Number(key % BigInt(pool.length))];
}

/**
 * The keeper who does a duty first, the moment it is due: the challenger draws its dispute's committee
 * (if it is a verifier); one member (picked by the job id) resolves its committee's dispute; the auditor
 * that committed blind expires the job whose provider withheld its reveal (it is owed the finder's share);
 * otherwise a verifier of the set picked by the job id. Everyone else waits `keeperGraceSeconds` plus a
 * delay of its own (`keeperJitter`), so that keepers rarely race.
 */
export function leadKeeper(s: Pick<JobSnapshot, "jobId" | "dispute" | "audit" | "keepers">, duty: KeeperDuty): Address | undefined {
  const { dispute, audit } = s;
  switch (duty) {
    case "drawCommittee":
      return s.keepers.some((k) => sameAddress(k, dispute.challenger)) ? dispute.challenger : rotation(s.keepers, s.jobId + 1n);
    case "resolve":
      return dispute.committee.length > 0 ? dispute.committee[Number(s.jobId % BigInt(dispute.committee.length))] : rotation(s.keepers, s.jobId + 2n);
    case "expire":
      return audit.state === AuditState.Committed ? audit.auditor : rotation(s.keepers, s.jobId + 3n);
  }
}

/** Both daemons' keepers delay a duty alike (offchain/daemon/keeper.ts). */
export { keeperJitter };

/**
 * The one step a job calls for now, or when to look again. Own duties (audit, vote) come first, then
 * the watchdog, then keeper duties. Events wake a waiting job early; the times here are fallbacks.
 */
export function decideStep(s: JobSnapshot): Step {
  const steps = candidateSteps(s);
  const allowed = steps.filter((step) => step.kind !== "act" || !isRefused(s, step.action));
  return allowed[0] ?? waitStep(s);
}

/** Seconds an action the contract refused rests before it is tried again in the same chain state. */
export const REFUSAL_BACKOFF_SECONDS = 10n;

/** How a refusal is recorded: the chain state it happened in and when (chain time). */
export function refusalOf(s: Pick<JobSnapshot, "job" | "audit" | "dispute" | "now">): string {
  return `${contextKey(s)}@${s.now}`;
}

/**
 * Whether `action` was refused in this same chain state less than REFUSAL_BACKOFF_SECONDS ago. A
 * refusal in another state never counts; in the same one it only rests (a refusal for timing, such
 * as a block not mined yet, clears by itself).
 */
export function isRefused(s: Pick<JobSnapshot, "job" | "audit" | "dispute" | "now" | "refused">, action: StepAction): boolean {
  const entry = s.refused[action];
  if (entry === undefined) return false;
  const at = entry.lastIndexOf("@");
  return entry.slice(0, at) === contextKey(s) && s.now < BigInt(entry.slice(at + 1)) + REFUSAL_BACKOFF_SECONDS;
}

/** When a keeper duty due at `due` is ours: at once for its lead, `keeperGraceSeconds` plus our own delay later for the others. */
function keeperTime(s: JobSnapshot, due: bigint, lead: Address | undefined): bigint {
  if (sameAddress(lead, s.me)) return due;
  return due + BigInt(s.keeperGraceSeconds) + keeperJitter({ me: s.me, key: s.jobId, graceSeconds: s.keeperGraceSeconds });
}

/** The seed block of a committed job, and whether its seed went out of reach (the job can then only expire). */
function seedOf(s: Pick<JobSnapshot, "job" | "terms" | "head">): { seedBlock: bigint; mined: boolean; outOfReach: boolean } {
  const seedBlock = s.job.commitBlock + BigInt(s.terms.seedDelay);
  // A transaction sent now lands in block head + 1 at the earliest.
  return { seedBlock, mined: s.head > seedBlock, outOfReach: s.head + 1n > seedBlock + BLOCKHASH_REACH };
}

/** The expiry of a committed job whose provider never revealed: when it is due, and who leads it. */
function expiryOf(s: JobSnapshot): { due: bigint; lead: Address | undefined; mine: boolean } | undefined {
  if (s.job.status !== JobStatus.Committed) return undefined;
  const { outOfReach } = seedOf(s);
  // Out of reach before the deadline (a reveal timeout longer than 256 blocks): due since an unknown time, at once for everyone.
  const due = outOfReach ? 0n : BigInt(s.job.deadline) + 1n;
  const lead = leadKeeper(s, "expire");
  // The auditor that committed blind is owed the finder's share: expiring is its own business, keeper or not.
  const mine = s.audit.state === AuditState.Committed && sameAddress(s.audit.auditor, s.me);
  return { due, lead, mine };
}

function candidateSteps(s: JobSnapshot): Step[] {
  const { job, me, now, audit, dispute, terms } = s;
  const steps: Step[] = [];
  const act = (action: StepAction, reason: string) => steps.push({ kind: "act", action, reason });
  const iAmAuditor = sameAddress(audit.auditor, me);
  const windowOpen = now <= BigInt(job.deadline);

  // 1. Our own audit: commit blind before auditCommitBy; reveal after the provider's reveal, inside the
  // window, once the block `seedDelay` after our commit (the recheck seed) is mined, and, in a dispute someone
  // else opened, before its committee is drawn (the contract refuses it after: it is then left unrevealed).
  if (job.status === JobStatus.Committed) {
    const { mined } = seedOf(s);
    if (mined && sameAddress(s.drawnAuditor, me) && audit.state === AuditState.None && now <= auditCommitByOf(job, terms)) {
      act("commitAudit", "drawn as the auditor: commit our output root blind");
    }
  }
  const revealable = job.status === JobStatus.Revealed || (job.status === JobStatus.Disputed && dispute.state === DisputeState.Open);
  if (revealable && iAmAuditor && audit.state === AuditState.Committed && windowOpen) {
    if (s.head > audit.commitBlock + BigInt(terms.seedDelay)) act("revealAudit", "the provider revealed: reveal our root and verdict");
  }

  // 2. Our vote.
  const mine = s.votes.find((v) => sameAddress(v.voter, me));
  const allCommitted = s.votes.length > 0 && s.votes.every((v) => v.commitment !== ZERO_HASH);
  const allRevealed = s.votes.length > 0 && s.votes.every((v) => v.vote !== Vote.None);
  if (job.status === JobStatus.Disputed && dispute.state === DisputeState.Voting && mine) {
    if (mine.commitment === ZERO_HASH && now <= dispute.voteCommitBy) act("commitVote", "on the committee: commit our vote");
    if (mine.commitment !== ZERO_HASH && mine.vote === Vote.None && (now > dispute.voteCommitBy || allCommitted) && now <= dispute.voteRevealBy) {
      act("revealVote", "the commit phase is over: reveal our vote");
    }
  }

  // 3. The watchdog, on unsampled results (a sampled one has its auditor).
  if (job.status === JobStatus.Revealed && windowOpen && !job.sampled && s.watched && !sameAddress(job.provider, me)) {
    if (s.watchJudged === undefined) act("watch", "watchdog: re-run the unsampled result");
    else if (s.watchJudged === "disagree") act("challenge", "watchdog: the result is wrong or served nowhere");
  }

  // 4. Keeper duties.
  const keeperDue = (due: bigint, lead: Address | undefined) => s.keeper && now >= keeperTime(s, due, lead);
  if (job.status === JobStatus.Disputed && dispute.state === DisputeState.Open) {
    const end = dispute.openedAt + BigInt(terms.disputeDuration);
    if (now > end) {
      if (keeperDue(end + 1n, leadKeeper(s, "resolve"))) act("resolve", "no committee was drawn within the dispute duration");
    } else if (!s.committeeEmpty && now <= drawByOf(dispute, terms) && s.head > dispute.seedBlock && keeperDue(dispute.openedAt, leadKeeper(s, "drawCommittee"))) {
      // A seed out of reach is replaced (CommitteeReseeded): the same call, and a draw once the new seed block is mined.
      act("drawCommittee", s.head + 1n > dispute.seedBlock + BLOCKHASH_REACH ? "the committee seed went out of reach: reseed" : "the committee seed block is mined");
    }
  }
  if (job.status === JobStatus.Disputed && dispute.state === DisputeState.Voting) {
    // The lead member settles as soon as every vote is in; other keepers after the deadline and their delay.
    const lead = leadKeeper(s, "resolve");
    if ((now > dispute.voteRevealBy || allRevealed) && keeperDue(allRevealed && sameAddress(lead, me) ? now : dispute.voteRevealBy + 1n, lead)) {
      act("resolve", allRevealed ? "every member revealed" : "the vote reveal deadline passed");
    }
  }
  const expiry = expiryOf(s);
  if (expiry && (expiry.mine || s.keeper) && now >= keeperTime(s, expiry.due, expiry.lead)) {
    act("expire", expiry.mine ? "the provider withheld the reveal of the job we audited blind" : "the provider never revealed");
  }
  return steps;
}

/** Nothing to do now: when to look again (the earliest of `block` and `time`; events wake a job earlier), or that the job is over for us. */
function waitStep(s: JobSnapshot): Step {
  const { job, audit, dispute, now, terms } = s;
  switch (job.status) {
    case JobStatus.None:
    case JobStatus.Posted:
    case JobStatus.Claimed:
      return { kind: "wait", time: BigInt(job.deadline) + 1n, reason: "waiting for a commitment" };
    case JobStatus.Committed: {
      const { seedBlock, mined, outOfReach } = seedOf(s);
      if (!mined) return { kind: "wait", block: seedBlock + 1n, reason: "waiting for the seed block" };
      // The auditor is fixed from here on (the set of the commit block, a known seed): the reveal wakes us.
      const expiry = expiryOf(s)!;
      const deadline = BigInt(job.deadline) + 1n;
      // Past the deadline with no duty of ours (keeper off, not the blind auditor): look again now and then.
      const at = expiry.mine || s.keeper ? keeperTime(s, expiry.due, expiry.lead) : deadline > now ? deadline : now + 30n;
      return { kind: "wait", block: outOfReach ? undefined : seedBlock + BLOCKHASH_REACH, time: at > now ? at : now + 1n, reason: "waiting for the reveal" };
    }
    case JobStatus.Revealed: {
      if (sameAddress(audit.auditor, s.me) && audit.state === AuditState.Committed) {
        const recheckBlock = audit.commitBlock + BigInt(terms.seedDelay);
        if (s.head <= recheckBlock) return { kind: "wait", block: recheckBlock + 1n, reason: "waiting for the block after our audit commit's seed delay" };
      }
      const end = BigInt(job.deadline) + 1n;
      if (now < end) return { kind: "wait", time: end, reason: "waiting for the challenge window to end" };
      // The window is over: the provider finalizes (an event wakes us); look again now and then.
      return { kind: "wait", time: now + 5n, reason: "waiting for the finalization" };
    }
    case JobStatus.Disputed: {
      if (dispute.state === DisputeState.Open) {
        // Our audit, committed and unrevealed, may be revealed from the block after its recheck seed until the
        // committee is drawn (the contract leaves it that long): woken for that block, not for the draw's.
        if (sameAddress(audit.auditor, s.me) && audit.state === AuditState.Committed) {
          const recheckBlock = audit.commitBlock + BigInt(terms.seedDelay);
          if (s.head <= recheckBlock) return { kind: "wait", block: recheckBlock + 1n, reason: "waiting for the block after our audit commit's seed delay, to reveal before the committee draw" };
        }
        const end = dispute.openedAt + BigInt(terms.disputeDuration);
        const resolveAt = keeperTime(s, end + 1n, leadKeeper(s, "resolve"));
        if (s.committeeEmpty || now > drawByOf(dispute, terms)) return { kind: "wait", time: resolveAt > now ? resolveAt : now + 1n, reason: "waiting to resolve without a committee" };
        if (s.head <= dispute.seedBlock) return { kind: "wait", block: dispute.seedBlock + 1n, time: resolveAt, reason: "waiting for the committee seed block" };
        const drawAt = keeperTime(s, dispute.openedAt, leadKeeper(s, "drawCommittee"));
        return { kind: "wait", time: drawAt > now ? drawAt : now + 1n, reason: "waiting for the committee draw" };
      }
      if (dispute.state === DisputeState.Voting) {
        const next = now <= dispute.voteCommitBy ? dispute.voteCommitBy + 1n : dispute.voteRevealBy + 1n;
        return { kind: "wait", time: next > now ? next : now + 1n, reason: "waiting for the votes" };
      }
      return { kind: "wait", time: now + 1n, reason: "waiting for the settlement" };
    }
    case JobStatus.Finalized:
      return { kind: "done", outcome: "finalized" };
    case JobStatus.Slashed:
      return { kind: "done", outcome: "slashed" };
    case JobStatus.Expired:
      return { kind: "done", outcome: "expired" };
    default:
      return { kind: "done", outcome: "unknown" };
  }
}

/** Whether `action` is a keeper duty (anyone may do it) rather than one of this verifier's own. */
export function isKeeperAction(action: StepAction): boolean {
  return KEEPER_ACTIONS.includes(action);
}

/**
 * The name an action is journaled under: a committee draw once per seed block (a draw whose seed went out
 * of reach only reseeds, and the draw from the new seed is another call).
 */
export function journalKey(action: StepAction, s: Pick<JobSnapshot, "dispute">): string {
  return action === "drawCommittee" ? `drawCommittee@${s.dispute.seedBlock}` : action;
}

/**
 * The journaled actions the chain shows as done: after a crash between a receipt and its journal
 * entry, those are marked confirmed instead of being sent again.
 */
export function provenActions(s: Pick<JobSnapshot, "me" | "audit" | "dispute" | "votes"> & { job?: Pick<Job, "status"> }): StepAction[] {
  const { me, audit, dispute, votes } = s;
  const proven: StepAction[] = [];
  const mineAudit = sameAddress(audit.auditor, me);
  const committed: readonly AuditState[] = [AuditState.Committed, AuditState.Agreed, AuditState.Disagreed, AuditState.Unrevealed];
  if (mineAudit && committed.includes(audit.state)) proven.push("commitAudit");
  if (mineAudit && (audit.state === AuditState.Agreed || audit.state === AuditState.Disagreed)) proven.push("revealAudit");
  const vote = votes.find((v) => sameAddress(v.voter, me));
  if (vote && vote.commitment !== ZERO_HASH) proven.push("commitVote");
  if (vote && vote.vote !== Vote.None) proven.push("revealVote");
  if (sameAddress(dispute.challenger, me) && dispute.reason === DisputeReason.Challenge) proven.push("challenge");
  if (dispute.state >= DisputeState.Voting) proven.push("drawCommittee");
  if (dispute.state === DisputeState.Resolved) proven.push("resolve");
  if (s.job?.status === JobStatus.Expired) proven.push("expire");
  return proven;
}

/** Whether the chain proves the journal entry `key` (an action name, or `drawCommittee@<seed block>`) was taken. */
export function isProven(key: string, s: Parameters<typeof provenActions>[0]): boolean {
  const [action, seedBlock] = key.split("@") as [StepAction, string | undefined];
  if (provenActions(s).includes(action)) return true;
  // A draw whose seed the dispute no longer uses was sent: it reseeded (or a keeper's did).
  return action === "drawCommittee" && seedBlock !== undefined && s.dispute.state !== DisputeState.None && BigInt(seedBlock) !== s.dispute.seedBlock;
}

// ------------------------------------------------------------------ the watchdog over a batch

/** One job of a revealed batch the watchdog picked (`watchdogPicks` with its job id). */
export type BatchPick = {
  index: number;
  /** Split out of the batch (JobSplit): from then on an ordinary job, which the job steps follow. */
  split: boolean;
  /** The watchdog's judgement of its output, journaled; "reported": a disagreement it only logs. */
  watch?: "agree" | "disagree" | "reported";
  /** The contract refused our split of it at this chain time (it rests REFUSAL_BACKOFF_SECONDS). */
  refusedAt?: bigint;
};

/** What the verifier knows of a batch it watches at one tick. */
export type BatchWatchSnapshot = {
  me: Address;
  now: bigint;
  status: BatchStatus;
  /** claimBy, commitBy, revealBy or the end of the challenge window, by status (IBatchMarket.Batch). */
  deadline: bigint;
  provider: Address;
  /** The jobs the watchdog picked, in job order (empty before the reveal). */
  picks: readonly BatchPick[];
};

export type BatchWatchStep =
  | { kind: "act"; watch: number[]; split: number[]; reason: string }
  | { kind: "wait"; time: bigint; reason: string }
  | { kind: "done"; outcome: string };

/**
 * What the watchdog does with a batch (docs/PROTOCOL.md, "Batches"): once it is revealed, and only inside its
 * challenge window, it re-runs each picked job that is still in the batch ("watch") and splits out each one it
 * judged wrong (`splitRevealed`), after which the job steps challenge it like any unsampled result the
 * watchdog judged wrong. After the window nothing is done: the batch finalizes with its jobs.
 */
export function decideBatchWatch(s: BatchWatchSnapshot): BatchWatchStep {
  if (s.status === BatchStatus.Finalized) return { kind: "done", outcome: "finalized" };
  if (s.status === BatchStatus.Expired) return { kind: "done", outcome: "expired" };
  if (s.status !== BatchStatus.Revealed) {
    // The reveal (an event) wakes the batch; the deadline is the fallback.
    return { kind: "wait", time: s.deadline + 1n > s.now ? s.deadline + 1n : s.now + 1n, reason: "waiting for the batch's reveal" };
  }
  if (sameAddress(s.provider, s.me)) return { kind: "done", outcome: "our own batch" };
  if (s.now > s.deadline) return { kind: "done", outcome: "challenge window over" };
  const open = s.picks.filter((p) => !p.split);
  const watch = open.filter((p) => p.watch === undefined).map((p) => p.index);
  const split = open.filter((p) => p.watch === "disagree" && (p.refusedAt === undefined || s.now >= p.refusedAt + REFUSAL_BACKOFF_SECONDS)).map((p) => p.index);
  if (watch.length > 0 || split.length > 0) {
    const reason = [watch.length > 0 ? `re-run ${watch.length} picked job(s)` : "", split.length > 0 ? `split ${split.length} wrong job(s) out to challenge` : ""].filter(Boolean).join("; ");
    return { kind: "act", watch, split, reason: `watchdog: ${reason}` };
  }
  return { kind: "wait", time: s.deadline + 1n, reason: "waiting for the challenge window to end" };
}

// ------------------------------------------------------------------ keeper: verifier weights

/** What `syncStep` needs about a verifier named in a Staking `Slashed` event. */
export type SyncSnapshot = {
  me: Address;
  member: Address;
  now: bigint;
  /** Chain time we learned of the slash. */
  since: bigint;
  /** `Staking.account(member)`: its stake, roles and current weight in the verifier set. */
  stake: bigint;
  /** `Staking.penaltyDebt(member)`: penalties owed on its locked collateral, which weigh nothing. */
  debt: bigint;
  roles: number;
  weight: bigint;
  minVerifierStake: bigint;
  keeper: boolean;
  keeperGraceSeconds: number;
  keepers: readonly Address[];
};

export type SyncStep = { kind: "act"; reason: string } | { kind: "wait"; time: bigint; reason: string } | { kind: "done"; reason: string };

const ROLE_VERIFIER = 2;

/**
 * The weight `Staking.syncVerifier` would give the account: its stake less its penalty debt while it holds the
 * verifier role and that much is at least the minimum, else zero.
 */
export function targetWeight({ stake, debt, roles, minVerifierStake }: Pick<SyncSnapshot, "stake" | "debt" | "roles" | "minVerifierStake">): bigint {
  const own = stake - debt;
  return (roles & ROLE_VERIFIER) !== 0 && own >= minVerifierStake ? own : 0n;
}

/**
 * A slash or penalty leaves a member's verifier weight as it was (docs/PROTOCOL.md, section 6): a keeper
 * brings it down to the stake that is left, less any penalty debt, with `Staking.syncVerifier`, so that draws
 * stay proportional to stake. One keeper of the set (never the member) leads, at once; the others after their grace and delay.
 */
export function syncStep(s: SyncSnapshot): SyncStep {
  if (!s.keeper) return { kind: "done", reason: "keeper duties are off" };
  if (s.weight === 0n) return { kind: "done", reason: "not in the verifier set" };
  if (s.weight <= targetWeight(s)) return { kind: "done", reason: "its weight is within its stake less its debt" };
  const key = BigInt(s.member);
  const lead = rotation(s.keepers, key, s.member);
  const at = sameAddress(lead, s.me) ? s.since : s.since + BigInt(s.keeperGraceSeconds) + keeperJitter({ me: s.me, key, graceSeconds: s.keeperGraceSeconds });
  if (s.now < at) return { kind: "wait", time: at, reason: "another keeper leads" };
  return { kind: "act", reason: `weight ${s.weight} above the ${targetWeight(s)} its stake less its debt allows` };
}

// ------------------------------------------------------------------ economics

export type ChallengeEconomicsParameters = {
  bond: bigint;
  collateral: bigint;
  challengerRewardBps: number;
  providerRewardBps: number;
  /** The committee's seats: a challenge's committee is paid out of the bond, per seat. */
  committeeSize: number;
};

/**
 * What a third party's challenge of a job costs and pays (docs/PROTOCOL.md, sections 7 and 8), with a full
 * committee whose every seat votes the outcome (fewer such seats: less to the committee, the difference to
 * the challenger or the treasury). The committee is paid out of the bond either way:
 * `bond x (1 - providerRewardBps) / seats` per seat. Found wrong: the finder's share, `challengerRewardBps`
 * of the whole slash, comes first and goes to the dApp that posted the job (or the auditor whose blind
 * Disagree found it), never to the challenger: a watchdog works for the dApps it protects. What is left of
 * the slash then repays what the bond paid the committee, so the bond comes back whole when that rest covers
 * it. Upheld by a quorum: the bond is lost, `providerRewardBps` of it to the provider, the committee's pay
 * out of the rest, the remainder to the treasury. No quorum: the bond comes back (nobody voted the outcome,
 * so nobody is paid from it).
 */
export function challengeEconomics({ bond, collateral, challengerRewardBps, providerRewardBps, committeeSize }: ChallengeEconomicsParameters) {
  const seats = BigInt(committeeSize);
  const toProvider = (bond * BigInt(providerRewardBps)) / 10_000n;
  const seatPay = seats === 0n ? 0n : (bond * BigInt(10_000 - providerRewardBps)) / 10_000n / seats;
  const committeePay = seatPay * seats;
  const finderShare = (collateral * BigInt(challengerRewardBps)) / 10_000n;
  const rest = collateral - finderShare;
  const repaid = committeePay < rest ? committeePay : rest;
  return {
    bond,
    collateral,
    challengerRewardBps,
    providerRewardBps,
    committeeSize,
    /** What each seat voting the outcome is paid out of the bond, and the whole committee's pay. */
    seatPay,
    committeePay,
    /** The provider faulted: what the poster gets as finder (first), and what the challenger gets back (its bond, the committee's pay repaid from the rest of the slash). */
    ifFaulted: { challengerGets: bond - committeePay + repaid, challengerNet: repaid - committeePay, posterFinderShare: finderShare },
    /** The result upheld by a quorum: the challenger loses its bond; the provider, the committee and the treasury share it. */
    ifUpheld: { challengerGets: 0n, challengerNet: -bond, toProvider, toCommittee: committeePay, toTreasury: bond - toProvider - committeePay },
  };
}

export type ChallengeEconomics = ReturnType<typeof challengeEconomics>;
