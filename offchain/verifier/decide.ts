/**
 * The verifier's decisions, as pure functions of what the chain shows (DESIGN section 5,
 * contracts/interfaces/IVerification.sol): which step a job calls for next, the vote commitment and
 * the salts, the watchdog's pick, when an output that cannot be fetched counts as wrong, and which
 * journaled actions the chain proves were taken. The daemon (verifier.ts) reads the chain, calls
 * `decideStep`, and carries out the one step it returns.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, encodeAbiParameters, keccak256, type Address, type Hex } from "viem";

import { deriveSalt } from "../codec/commitment.js";
import { JobStatus, type Job } from "../chain/jobs.js";

// ------------------------------------------------------------------ the contract's enums and views

/** `IVerification.AuditState`. */
export const AuditState = { None: 0, Drawn: 1, Committed: 2, Agreed: 3, Disagreed: 4, Missed: 5, Penalized: 6 } as const;
export type AuditState = (typeof AuditState)[keyof typeof AuditState];

/** `IVerification.Verdict`. */
export const Verdict = { Agree: 0, Disagree: 1 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** `IVerification.Vote`. */
export const Vote = { None: 0, ProviderCorrect: 1, ProviderWrong: 2 } as const;
export type Vote = (typeof Vote)[keyof typeof Vote];

/** `IVerification.DisputeState`. */
export const DisputeState = { None: 0, Open: 1, Voting: 2, Resolved: 3 } as const;
export type DisputeState = (typeof DisputeState)[keyof typeof DisputeState];

export const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";
export const ZERO_HASH: Hex = "0x0000000000000000000000000000000000000000000000000000000000000000";

/** `IVerification.Audit`. */
export type AuditView = { auditor: Address; state: AuditState; commitment: Hex; outputRoot: Hex };

/** `IVerification.Dispute`. */
export type DisputeView = {
  challenger: Address;
  bond: bigint;
  state: DisputeState;
  openedBlock: bigint;
  openedAt: bigint;
  voteCommitBy: bigint;
  voteRevealBy: bigint;
  byAuditor: boolean;
  providerFaulted: boolean;
  committee: readonly Address[];
};

/** `IVerification.voteOf(jobId, voter)`. */
export type VoteView = { voter: Address; commitment: Hex; vote: Vote };

export const NO_AUDIT: AuditView = { auditor: ZERO_ADDRESS, state: AuditState.None, commitment: ZERO_HASH, outputRoot: ZERO_HASH };
export const NO_DISPUTE: DisputeView = {
  challenger: ZERO_ADDRESS,
  bond: 0n,
  state: DisputeState.None,
  openedBlock: 0n,
  openedAt: 0n,
  voteCommitBy: 0n,
  voteRevealBy: 0n,
  byAuditor: false,
  providerFaulted: false,
  committee: [],
};

export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

// ------------------------------------------------------------------ salts and commitments

/**
 * The salt of an auditor's commitment: HMAC-SHA256(secret, chainId || jobId), exactly as a provider
 * derives its own (DESIGN section 4), so a restarted auditor can always reveal what it committed.
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
  const key = hmac(sha256, hexBytes(secret), VOTE_DOMAIN);
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
  const key = hmac(sha256, hexBytes(secret), WATCH_DOMAIN);
  const word = new Uint8Array(32);
  new DataView(word.buffer).setBigUint64(24, BigInt.asUintN(64, jobId));
  new DataView(word.buffer).setBigUint64(16, BigInt.asUintN(64, jobId >> 64n));
  const draw = BigInt(bytesToHex(keccak_256(new Uint8Array([...key, ...word]))));
  const scale = 1_000_000_000n;
  return draw * scale < BigInt(Math.floor(share * Number(scale))) << 256n;
}

/** The vote a judgement calls for. */
export function voteFor(verdict: "agree" | "disagree"): Vote {
  return verdict === "agree" ? Vote.ProviderCorrect : Vote.ProviderWrong;
}

/** The audit verdict a judgement calls for; equal roots are always an agreement. */
export function verdictFor({ verdict, ownRoot, providerRoot }: { verdict: "agree" | "disagree"; ownRoot: Hex; providerRoot: Hex }): Verdict {
  if (ownRoot.toLowerCase() === providerRoot.toLowerCase()) return Verdict.Agree;
  return verdict === "agree" ? Verdict.Agree : Verdict.Disagree;
}

// ------------------------------------------------------------------ fetching the provider's output

export type FetchFailurePolicyParameters = {
  /** Chain time of the first failed fetch. */
  since: bigint;
  now: bigint;
  /** The last second the decision can be sent (end of the challenge window, vote commit deadline). */
  deadline: bigint;
  graceSeconds: number;
  /** Seconds kept before `deadline` to send the transaction. */
  reserveSeconds: number;
  /** The bytes came and are wrong (hash or root mismatch, over the size cap): no retry helps. */
  definitive: boolean;
};

/**
 * An output that cannot be fetched counts as wrong (DESIGN section 5), but a server down for a
 * moment is no proof: retry until the grace has passed or the deadline comes close, whichever is first.
 */
export function fetchFailurePolicy({ since, now, deadline, graceSeconds, reserveSeconds, definitive }: FetchFailurePolicyParameters): "retry" | "wrong" {
  if (definitive) return "wrong";
  if (now >= since + BigInt(graceSeconds)) return "wrong";
  if (now + BigInt(reserveSeconds) >= deadline) return "wrong";
  return "retry";
}

// ------------------------------------------------------------------ the next step of a job

/** What the verifier knows of a job at one tick. */
export type JobSnapshot = {
  me: Address;
  jobId: bigint;
  /** Chain head: number and timestamp. */
  head: bigint;
  now: bigint;
  seedDelay: number;
  challengeWindow: number;
  disputeDuration: number;
  job: Job;
  /** `auditorOf(jobId, job)` once the seed block is mined (undefined before, or when not read). */
  drawnAuditor?: Address;
  /** `auditCommitBy(job)` for a committed job. */
  auditCommitBy?: bigint;
  audit: AuditView;
  dispute: DisputeView;
  /** `voteOf` for each committee member, when a committee is drawn. */
  votes: readonly VoteView[];
  /** Keeper duties on (draw committees, resolve, penalize). */
  keeper: boolean;
  keeperGraceSeconds: number;
  /** The verifier set (Staking.verifierAt), for picking the keeper that leads a duty. */
  keepers: readonly Address[];
  /** Our judgement of the revealed output, when we made one (audit, vote, watchdog). */
  judged?: "agree" | "disagree";
  /** The watchdog re-runs this job if it is revealed unsampled. */
  watched: boolean;
  /** The watchdog's judgement of this job: "disagree" calls for a challenge; "reported" is a disagreement it only logs. */
  watchJudged?: "agree" | "disagree" | "reported";
  /** Actions the contract refused, by name (`refusalOf`): rested a while in that chain state. */
  refused: Readonly<Record<string, string>>;
};

export type StepAction =
  | "commitAudit"
  | "revealAudit"
  | "commitVote"
  | "revealVote"
  | "watch"
  | "challenge"
  | "drawCommittee"
  | "resolve"
  | "penalizeAuditor";

export type Step =
  | { kind: "act"; action: StepAction; reason: string }
  | { kind: "wait"; block?: bigint; time?: bigint; reason: string }
  | { kind: "done"; outcome: string };

const KEEPER_ACTIONS: readonly StepAction[] = ["drawCommittee", "resolve", "penalizeAuditor"];

/** The chain state an action is judged in: a refusal in one context does not stop the action in a later one. */
export function contextKey(s: Pick<JobSnapshot, "job" | "audit" | "dispute">): string {
  return `${s.job.status}:${s.audit.state}:${s.dispute.state}`;
}

/**
 * The keeper who does a duty first, the moment it is due: the challenger draws its dispute's committee
 * (if it is a verifier); one member (picked by the job id) resolves its committee's dispute; otherwise a
 * verifier of the set picked by the job id (never the auditor being penalized). Everyone else waits
 * `keeperGraceSeconds` plus a delay of its own (`keeperJitter`), so that keepers rarely race.
 */
export function leadKeeper(
  s: Pick<JobSnapshot, "jobId" | "dispute" | "audit" | "keepers">,
  duty: "drawCommittee" | "resolve" | "penalizeAuditor",
): Address | undefined {
  const { dispute } = s;
  const rotation = (salt: bigint, exclude?: Address) => {
    const pool = s.keepers.filter((k) => !sameAddress(k, exclude));
    return pool.length === 0 ? undefined : pool[Number((s.jobId + salt) % BigInt(pool.length))];
  };
  switch (duty) {
    case "drawCommittee":
      return s.keepers.some((k) => sameAddress(k, dispute.challenger)) ? dispute.challenger : rotation(1n);
    case "resolve":
      return dispute.committee.length > 0 ? dispute.committee[Number(s.jobId % BigInt(dispute.committee.length))] : rotation(2n);
    case "penalizeAuditor":
      return rotation(3n, s.audit.auditor);
  }
}

/** This keeper's own extra delay for a job, 0..grace seconds, from its address and the job id. */
export function keeperJitter({ me, jobId, graceSeconds }: { me: Address; jobId: bigint; graceSeconds: number }): bigint {
  if (graceSeconds <= 0) return 0n;
  const digest = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [me, jobId]));
  return BigInt(digest) % BigInt(graceSeconds + 1);
}

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
  const [context, at] = entry.split("@");
  return context === contextKey(s) && s.now < BigInt(at ?? "0") + REFUSAL_BACKOFF_SECONDS;
}

function candidateSteps(s: JobSnapshot): Step[] {
  const { job, me, now, audit, dispute } = s;
  const steps: Step[] = [];
  const act = (action: StepAction, reason: string) => steps.push({ kind: "act", action, reason });
  const late = BigInt(s.keeperGraceSeconds) + keeperJitter({ me, jobId: s.jobId, graceSeconds: s.keeperGraceSeconds });
  const keeperDue = (due: bigint, lead?: Address) => s.keeper && now >= (sameAddress(lead, me) ? due : due + late);
  const iAmAuditor = sameAddress(audit.auditor, me);
  const revealed = job.status >= JobStatus.Revealed && job.status !== JobStatus.Expired;
  const windowOpen = now <= BigInt(job.deadline);

  // 1. Our own audit.
  if (job.status === JobStatus.Committed) {
    const seedMined = s.head > job.commitBlock + BigInt(s.seedDelay);
    if (seedMined && sameAddress(s.drawnAuditor, me) && audit.state === AuditState.None && s.auditCommitBy !== undefined && now <= s.auditCommitBy) {
      act("commitAudit", "drawn as the auditor: commit our output root blind");
    }
  }
  if ((job.status === JobStatus.Revealed || job.status === JobStatus.Disputed) && iAmAuditor && windowOpen) {
    // Drawn after the reveal: a late audit (the seed went out of reach), committed inside the window.
    if (audit.state === AuditState.Drawn) act("commitAudit", "late audit (stale seed): commit inside the window");
    if (audit.state === AuditState.Committed) act("revealAudit", "the provider revealed: reveal our root and verdict");
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

  // 3. Challenges: an auditor whose agreement the contract forced (equal roots) while the provider's output
  // cannot be had, and the watchdog on unsampled results.
  if (job.status === JobStatus.Revealed && windowOpen && !sameAddress(job.provider, me)) {
    if (iAmAuditor && audit.state === AuditState.Agreed) {
      if (s.judged === undefined) act("watch", "our root equals the provider's: check that its output can be had");
      if (s.judged === "disagree") act("challenge", "our root equals the provider's, but its output cannot be had: let a committee judge");
    }
    if (s.watched && !job.sampled && !iAmAuditor) {
      if (s.watchJudged === undefined) act("watch", "watchdog: re-run the unsampled result");
      else if (s.watchJudged === "disagree") act("challenge", "watchdog: the result is out of tolerance");
    }
  }

  // 4. Keeper duties.
  if (job.status === JobStatus.Disputed && dispute.state === DisputeState.Open) {
    const end = dispute.openedAt + BigInt(s.disputeDuration);
    if (now > end) {
      if (keeperDue(end + 1n, leadKeeper(s, "resolve"))) act("resolve", "no committee was drawn within the dispute duration");
    } else if (s.head > dispute.openedBlock + BigInt(s.seedDelay) && keeperDue(dispute.openedAt, leadKeeper(s, "drawCommittee"))) {
      act("drawCommittee", "the committee seed block is mined");
    }
  }
  if (job.status === JobStatus.Disputed && dispute.state === DisputeState.Voting) {
    // The lead member settles as soon as every vote is in; other keepers after the deadline and their delay.
    const resolvable = now > dispute.voteRevealBy || allRevealed;
    const lead = leadKeeper(s, "resolve");
    if (resolvable && keeperDue(allRevealed && sameAddress(lead, me) ? now : dispute.voteRevealBy + 1n, lead)) {
      act("resolve", allRevealed ? "every member revealed" : "the vote reveal deadline passed");
    }
  }
  if (revealed && !iAmAuditor) {
    const revealedAt = BigInt(job.deadline) - BigInt(s.challengeWindow);
    const lead = leadKeeper(s, "penalizeAuditor");
    if (audit.state === AuditState.Missed && keeperDue(revealedAt, lead)) act("penalizeAuditor", "the auditor did not commit before the reveal");
    if ((audit.state === AuditState.Drawn || audit.state === AuditState.Committed) && !windowOpen && keeperDue(BigInt(job.deadline) + 1n, lead)) {
      act("penalizeAuditor", "the auditor did not reveal in the challenge window");
    }
  }
  return steps;
}

/** Nothing to do now: when to look again (the earliest of `block` and `time`; events wake a job earlier), or that the job is over for us. */
function waitStep(s: JobSnapshot): Step {
  const { job, audit, dispute, now } = s;
  const grace = BigInt(s.keeperGraceSeconds);
  const auditPending = audit.state === AuditState.Drawn || audit.state === AuditState.Committed || audit.state === AuditState.Missed;
  const keeperOwed = s.keeper && auditPending && !sameAddress(audit.auditor, s.me);
  switch (job.status) {
    case JobStatus.None:
    case JobStatus.Posted:
    case JobStatus.Claimed:
      return { kind: "wait", time: BigInt(job.deadline) + 1n, reason: "waiting for a commitment" };
    case JobStatus.Committed: {
      const seedBlock = job.commitBlock + BigInt(s.seedDelay);
      if (s.head <= seedBlock) return { kind: "wait", block: seedBlock + 1n, reason: "waiting for the seed block" };
      // The draw follows the live verifier set: a change of the set (a Staking event) wakes the job to re-check it.
      return { kind: "wait", time: BigInt(job.deadline) + 1n, reason: "waiting for the reveal" };
    }
    case JobStatus.Revealed: {
      const end = BigInt(job.deadline) + 1n;
      if (now < end) return { kind: "wait", time: end, reason: "waiting for the challenge window to end" };
      // The window is over: the provider finalizes (an event wakes us); look again now and then.
      return { kind: "wait", time: now + (keeperOwed ? grace + 1n : 5n), reason: "waiting for the finalization" };
    }
    case JobStatus.Disputed: {
      if (dispute.state === DisputeState.Open) {
        return { kind: "wait", block: dispute.openedBlock + BigInt(s.seedDelay) + 1n, time: dispute.openedAt + BigInt(s.disputeDuration) + 1n, reason: "waiting for the committee draw" };
      }
      if (dispute.state === DisputeState.Voting) {
        const next = now <= dispute.voteCommitBy ? dispute.voteCommitBy + 1n : dispute.voteRevealBy + 1n;
        return { kind: "wait", time: next > now ? next : now + 1n, reason: "waiting for the votes" };
      }
      return { kind: "wait", time: now + 1n, reason: "waiting for the settlement" };
    }
    case JobStatus.Finalized:
    case JobStatus.Slashed: {
      // A final job whose penalty the contract already refused in this state is not worth waiting on.
      const refusedHere = s.refused.penalizeAuditor?.startsWith(`${contextKey(s)}@`) === true;
      if (keeperOwed && !refusedHere) return { kind: "wait", time: BigInt(job.deadline) + grace + 1n, reason: "waiting to penalize the absent auditor" };
      return { kind: "done", outcome: job.status === JobStatus.Slashed ? "slashed" : "finalized" };
    }
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
 * The journaled actions the chain shows as done: after a crash between a receipt and its journal
 * entry, those are marked confirmed instead of being sent again.
 */
export function provenActions(s: Pick<JobSnapshot, "me" | "audit" | "dispute" | "votes">): StepAction[] {
  const { me, audit, dispute, votes } = s;
  const proven: StepAction[] = [];
  const mineAudit = sameAddress(audit.auditor, me);
  if (mineAudit && (audit.state === AuditState.Committed || audit.state === AuditState.Agreed || audit.state === AuditState.Disagreed)) {
    proven.push("commitAudit");
  }
  if (mineAudit && (audit.state === AuditState.Agreed || audit.state === AuditState.Disagreed)) proven.push("revealAudit");
  const vote = votes.find((v) => sameAddress(v.voter, me));
  if (vote && vote.commitment !== ZERO_HASH) proven.push("commitVote");
  if (vote && vote.vote !== Vote.None) proven.push("revealVote");
  if (sameAddress(dispute.challenger, me) && !dispute.byAuditor) proven.push("challenge");
  if (dispute.state >= DisputeState.Voting) proven.push("drawCommittee");
  if (dispute.state === DisputeState.Resolved) proven.push("resolve");
  if (audit.state === AuditState.Penalized) proven.push("penalizeAuditor");
  return proven;
}

// ------------------------------------------------------------------ economics

/** What a challenge of a job would cost and pay (DESIGN section 5; IVerification's params). */
export function challengeEconomics({ bond, collateral, challengerRewardBps }: { bond: bigint; collateral: bigint; challengerRewardBps: number }) {
  const reward = (collateral * BigInt(challengerRewardBps)) / 10_000n;
  return { bond, reward, collateral, challengerRewardBps };
}

function hexBytes(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}
