/**
 * The verifier daemon (DESIGN section 5): audits the jobs it is drawn for, votes in the dispute
 * committees it is drawn into, optionally watches unsampled results and challenges wrong ones, and
 * does keeper duties (draw committees, resolve disputes, penalize absent auditors). It withdraws its
 * credits as they come.
 *
 * It is level-triggered, like the provider worker (offchain/provider/worker.ts): the log poller only
 * discovers jobs (JobPosted for a served model) and pokes them when something happens to them
 * (commit, reveal, audit, challenge, committee); every tick then reads each open job's state from
 * the chain (market and Verification) and takes the one step `decideStep` (decide.ts) calls for. A
 * crash at any point resumes where the chain is, and the journal keeps a step from being sent twice:
 *   - an action is recorded before it is sent and confirmed after its receipt, and an action the
 *     chain shows as done (`provenActions`) is never sent again;
 *   - our own output and its root are stored before the audit commitment is sent, and the audit and
 *     vote salts derive from the verifier's secret, so a restarted verifier reveals what it committed
 *     (the vote is read back from its on-chain commitment).
 */
import type { Address, Hex, PublicClient } from "viem";
import { maxUint256 } from "viem";

import { abiOf } from "../chain/artifacts.js";
import type { Deployment } from "../chain/deployment.js";
import { ContractRevertError } from "../chain/errors.js";
import { JobStatus, readJob, type JobRecord } from "../chain/jobs.js";
import type { TxSender } from "../chain/sender.js";
import { commitment } from "../codec/commitment.js";
import { outputRoot } from "../codec/merkle.js";
import { RetryableError } from "../errors.js";
import type { InferenceRunner } from "../inference/runner.js";
import type { Logger } from "../log.js";
import type { Journal } from "../state/journal.js";
import { BlobNotFoundError } from "../storage/errors.js";
import type { LocalBlobStore } from "../storage/local.js";
import {
  auditSalt,
  decideStep,
  DisputeState,
  fetchFailurePolicy,
  isKeeperAction,
  NO_DISPUTE,
  provenActions,
  refusalOf,
  sameAddress,
  verdictFor,
  Vote,
  voteCommitment,
  voteFor,
  voteSalt,
  watchdogPicks,
  ZERO_ADDRESS,
  type JobSnapshot,
  type Step,
  type StepAction,
} from "./decide.js";
import { describe, fetchJobInput, fetchProviderOutput, judge, type VerifierModel } from "./judge.js";
import type { VerifierMetrics } from "./metrics.js";
import { readAudit, readAuditCommitBy, readAuditorOf, readDispute, readVerificationCredits, readVotes } from "./views.js";

export type VerifierDaemonParameters = {
  log: Logger;
  publicClient: PublicClient;
  sender: TxSender;
  account: Address;
  chainId: number;
  deployment: Deployment;
  journal: Journal;
  runner: InferenceRunner;
  store: LocalBlobStore;
  models: readonly VerifierModel[];
  /** The secret audit and vote salts and the watchdog's pick derive from (>= 16 bytes). */
  secret: Hex;
  /** Base URL of this verifier's blob server: its outputs are revealed as `<publicUrl>/blobs/<id>`. */
  publicUrl: string;
  metrics: VerifierMetrics;
  ep: Parameters<InferenceRunner["run"]>[0]["ep"];
  inferenceTimeoutMs: number;
  maxInputBytes: number;
  maxOutputBytes: number;
  ipfsGateway?: string;
  allowFileUris: boolean;
  outputGraceSeconds: number;
  keeper: boolean;
  keeperGraceSeconds: number;
  watchdog: { share: number; challenge: boolean };
  withdrawMin: bigint;
};

/** What the journal keeps per job (plain JSON with bigints). */
export type VerifierJobData = {
  postedBlock: bigint;
  modelId: number;
  /** The audit was drawn late (AuditorDrawn with `late`): commit and reveal both happen in the challenge window. */
  late?: boolean;
  /** Our own run: its blob id and root (or why the job's input is invalid). */
  own?: { outputId: Hex; outputRoot: Hex; ep?: string; ms?: number; invalidInput?: string };
  /** When the job's input first failed to come (chain time). */
  inputFailedSince?: bigint;
  /** Our judgement of the provider's output under the model's tolerance, for the root it revealed. */
  judgement?: { providerRoot: Hex; verdict: "agree" | "disagree"; reason?: string; rootsEqual: boolean };
  /** When the provider's output first failed to come (chain time). */
  outputFailedSince?: bigint;
  /** We sit on the job's dispute committee (from CommitteeDrawn). */
  member?: boolean;
  /** The vote we committed (also recoverable from the on-chain commitment). */
  vote?: number;
  /** The watchdog's judgement of an unsampled result. */
  watch?: "agree" | "disagree" | "reported";
  /** Penalties we suffered on this job, by kind (wei). */
  penalized?: { auditor?: bigint; voter?: bigint };
  /** Actions the contract refused, with the chain context they were refused in. */
  refused?: Record<string, string>;
  outcome?: string;
};

const OPEN = ["open"];
/** Staking events that change the verifier set (or a member's eligibility): the audit draw may change with them. */
export const VERIFIER_SET_EVENTS = ["VerifierAdded", "VerifierRemoved", "Slashed", "Staked", "RolesChanged"];
/** The longest a waiting job sleeps without an event: a missed event never stalls a job for good. */
const MAX_SLEEP_SECONDS = 30n;
/** Gas added to the estimate of calls whose cost depends on the block they land in (see sendWithHeadroom). */
const GAS_HEADROOM = 150_000n;
const CREDITS_CHECK_MS = 5_000;
/** Seconds kept before a deadline to send a decision transaction. */
const RESERVE_SECONDS = 2;
const MARKET_PARAMS_TTL_MS = 30_000;

/**
 * Marks the job's pending journal actions (begun or sent, never settled: a crash between a send and
 * its receipt) that the chain proves were taken as confirmed, so they are not sent again. Returns them.
 */
export function reconcileActions({ journal, jobId, snapshot }: { journal: Journal; jobId: bigint; snapshot: Pick<JobSnapshot, "me" | "audit" | "dispute" | "votes"> }): string[] {
  const proven = new Set<string>(provenActions(snapshot));
  const confirmed: string[] = [];
  for (const action of journal.pendingActions({ jobId })) {
    if (!proven.has(action.action)) continue;
    journal.markActionConfirmed({ jobId, action: action.action });
    confirmed.push(action.action);
  }
  return confirmed;
}

export class VerifierDaemon {
  private readonly p: VerifierDaemonParameters;
  private readonly models: Map<number, VerifierModel>;
  private readonly inFlight = new Map<bigint, Promise<void>>();
  private readonly wake = new Map<bigint, { block?: bigint; time?: bigint }>();
  /** Jobs an event touched while their step ran: the step's wait is dropped, the next tick reads them again. */
  private readonly poked = new Set<bigint>();
  /** Jobs last seen Committed: a change of the verifier set wakes them. */
  private readonly committed = new Set<bigint>();
  /** The verifier set, read again after any change of it (keeper duties rotate over it). */
  private verifierSet?: Promise<Address[]>;
  private market = { seedDelay: 0, challengeWindow: 0, disputeDuration: 0, readAt: 0 };
  private head?: { number: bigint; timestamp: bigint };
  private ticking = false;
  /** The tick in progress (its reads may still start steps). */
  private ticked?: Promise<void>;
  /** Set by `drain`: no new step starts. */
  private stopping = false;
  private withdrawing?: Promise<void>;
  private sending = 0;
  private approved = false;
  private creditsCheckedAt = 0;

  constructor(parameters: VerifierDaemonParameters) {
    this.p = parameters;
    this.models = new Map(parameters.models.map((m) => [m.modelId, m]));
  }

  async init(): Promise<void> {
    await this.refreshMarketParams(true);
  }

  private async refreshMarketParams(force = false): Promise<void> {
    if (!force && Date.now() - this.market.readAt < MARKET_PARAMS_TTL_MS) return;
    const params = (await this.p.publicClient.readContract({
      address: this.p.deployment.market,
      abi: abiOf("JobMarket"),
      functionName: "params",
    })) as { seedDelay: number; challengeWindow: number; disputeDuration: number };
    this.market = {
      seedDelay: Number(params.seedDelay),
      challengeWindow: Number(params.challengeWindow),
      disputeDuration: Number(params.disputeDuration),
      readAt: Date.now(),
    };
  }

  // ------------------------------------------------------------------ events

  /**
   * The poller's handler (idempotent: a batch may come twice). JobPosted for a served model starts
   * tracking a job; any other event about a tracked job wakes it; a late AuditorDrawn is noted; our
   * own penalties are counted.
   */
  onLogs(logs: readonly { eventName?: string; args?: unknown; blockNumber: bigint }[]): void {
    for (const log of logs) {
      const args = (log.args ?? {}) as Record<string, unknown>;
      if (log.eventName === "ParamsSet") {
        this.market.readAt = 0; // read again on the next tick
        continue;
      }
      if (log.eventName !== undefined && VERIFIER_SET_EVENTS.includes(log.eventName)) {
        // The audit draw follows the live verifier set: committed jobs re-check who their auditor is.
        for (const jobId of this.committed) this.poke(jobId);
        this.verifierSet = undefined;
        continue;
      }
      if (typeof args.jobId !== "bigint") continue;
      const jobId = args.jobId;
      const existing = this.p.journal.getJob<VerifierJobData>(jobId);
      if (log.eventName === "JobPosted") {
        const modelId = Number(args.modelId);
        if (existing) continue;
        // A job of a model we cannot re-execute is recorded closed: its later events are not ours.
        const served = this.models.has(modelId);
        const data: VerifierJobData = { postedBlock: log.blockNumber, modelId, ...(served ? {} : { outcome: "model not served" }) };
        this.p.journal.upsertJob<VerifierJobData>({ jobId, role: "auditor", status: served ? "open" : "done", data });
        this.p.log.debug({ msg: "job seen", job_id: jobId.toString(), model_id: modelId, served });
        continue;
      }
      if (!existing) {
        // A job posted before our start block: follow it once something happens to it (its model is checked on the first read).
        if (log.eventName !== "ResultCommitted" && log.eventName !== "CommitteeDrawn" && log.eventName !== "AuditorDrawn") continue;
        this.p.journal.upsertJob<VerifierJobData>({ jobId, role: "auditor", status: "open", data: { postedBlock: 0n, modelId: 0 } });
      }
      if (log.eventName === "AuditorDrawn" && args.late === true) {
        const record = this.p.journal.getJob<VerifierJobData>(jobId)!;
        if (!record.data.late) this.p.journal.upsertJob<VerifierJobData>({ ...record, data: { ...record.data, late: true } });
      }
      if (log.eventName === "CommitteeDrawn" && (args.committee as readonly string[] | undefined)?.some((m) => sameAddress(m, this.p.account))) {
        const record = this.p.journal.getJob<VerifierJobData>(jobId)!;
        if (!record.data.member) this.p.journal.upsertJob<VerifierJobData>({ ...record, data: { ...record.data, member: true } });
      }
      const penalized =
        (log.eventName === "AuditorPenalized" && sameAddress(args.auditor as string, this.p.account) && "auditor") ||
        (log.eventName === "VoterPenalized" && sameAddress(args.voter as string, this.p.account) && "voter");
      if (penalized) this.notePenalty(jobId, penalized, args.penalty as bigint);
      // Others' audit steps change nothing for us (a Disagree opens a dispute, which has its own event);
      // votes matter only to the committee.
      if (log.eventName === "AuditCommitted" || log.eventName === "AuditRevealed") continue;
      if ((log.eventName === "VoteCommitted" || log.eventName === "VoteRevealed") && !this.p.journal.getJob<VerifierJobData>(jobId)?.data.member) continue;
      this.poke(jobId);
    }
  }

  /** Wakes a job: the next tick reads it again, and a step in flight does not put it back to sleep. */
  private poke(jobId: bigint): void {
    this.wake.delete(jobId);
    this.poked.add(jobId);
  }

  /** Counts a penalty we suffered once per job and kind (a redelivered batch does not count it again). */
  private notePenalty(jobId: bigint, kind: "auditor" | "voter", penalty: bigint): void {
    const record = this.p.journal.getJob<VerifierJobData>(jobId)!;
    if (record.data.penalized?.[kind] !== undefined) return;
    this.p.journal.upsertJob<VerifierJobData>({ ...record, data: { ...record.data, penalized: { ...record.data.penalized, [kind]: penalty } } });
    this.p.metrics.penalties.inc({ kind });
    this.p.metrics.penaltiesWei.inc(Number(penalty));
    this.p.log.warn({ msg: `we were penalized as ${kind === "auditor" ? "an absent auditor" : "a voter"}`, job_id: jobId.toString(), penalty: penalty.toString() });
  }

  // ------------------------------------------------------------------ ticks

  /** One pass over the open jobs: starts the next step of every job that is not mid-step and not asleep. */
  tick(): void {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    this.ticked = this.p.publicClient
      .getBlock({ blockTag: "latest" })
      .then(async (block) => {
        this.head = { number: block.number, timestamp: block.timestamp };
        await this.refreshMarketParams().catch((error) => this.p.log.warn({ msg: "cannot read the market parameters", err: describe(error) }));
        if (!this.stopping) this.startSteps();
      })
      .catch((error) => this.p.log.warn({ msg: "cannot read the chain head", err: describe(error) }))
      .finally(() => (this.ticking = false));
  }

  private startSteps(): void {
    const head = this.head!;
    const open = this.p.journal.listJobs<VerifierJobData>({ status: OPEN });
    this.p.metrics.tracked.set(open.length);
    for (const record of open) {
      if (this.inFlight.has(record.jobId)) continue;
      const wake = this.wake.get(record.jobId);
      // Asleep until the earliest of its block and its time.
      if (wake && !((wake.block !== undefined && head.number >= wake.block) || (wake.time !== undefined && head.timestamp >= wake.time))) continue;
      this.wake.delete(record.jobId);
      this.poked.delete(record.jobId);
      const step = this.advance(record.jobId, record.data)
        .catch((error) => {
          // The job moved between our reads (its state hash changed): the next tick reads it again.
          const moved = /JobMismatch|JOB_STATE_MISMATCH|job state from logs/.test(describe(error));
          this.p.log[moved ? "debug" : "warn"]({ msg: moved ? "job moved while read" : "job step failed", job_id: record.jobId.toString(), err: describe(error) });
        })
        .finally(() => this.inFlight.delete(record.jobId));
      this.inFlight.set(record.jobId, step);
    }
    // Credits are checked every few seconds, when no step is sending.
    if (!this.withdrawing && this.sending === 0 && Date.now() - this.creditsCheckedAt >= CREDITS_CHECK_MS) {
      this.creditsCheckedAt = Date.now();
      this.withdrawing = this.withdrawCredits()
        .catch((error) => this.p.log.warn({ msg: "withdraw failed", err: describe(error) }))
        .finally(() => (this.withdrawing = undefined));
    }
  }

  /** Starts no new step and waits for every step in progress (shutdown: the current steps finish). */
  async drain(): Promise<void> {
    this.stopping = true;
    await this.ticked;
    await Promise.allSettled([...this.inFlight.values(), this.withdrawing]);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  // ------------------------------------------------------------------ one job

  private async advance(jobId: bigint, data: VerifierJobData): Promise<void> {
    const record = await readJob({ client: this.p.publicClient, market: this.p.deployment.market, jobId, fromBlock: data.postedBlock });
    const { job } = record;
    const model = this.models.get(job.modelId);
    if (!model) return this.close(jobId, data, "model not served");
    if (data.modelId !== job.modelId) data = this.save(jobId, { ...data, modelId: job.modelId, postedBlock: record.postedBlock });

    if (job.status === JobStatus.Committed) this.committed.add(jobId);
    else this.committed.delete(jobId);
    const snapshot = await this.snapshot(record, data);
    this.reconcile(jobId, snapshot);
    const step = decideStep(snapshot);
    await this.carryOut({ record, data, model, snapshot, step });
  }

  private async snapshot(record: JobRecord, data: VerifierJobData): Promise<JobSnapshot> {
    const { job, jobId } = record;
    const head = this.head!;
    const r = { publicClient: this.p.publicClient, verification: this.p.deployment.verification };
    const seedMined = job.status === JobStatus.Committed && head.number > job.commitBlock + BigInt(this.market.seedDelay);
    const [audit, dispute, drawnAuditor, auditCommitBy] = await Promise.all([
      readAudit({ ...r, jobId }),
      job.status === JobStatus.Disputed ? readDispute({ ...r, jobId }) : Promise.resolve(NO_DISPUTE),
      seedMined ? readAuditorOf({ ...r, jobId, job }) : Promise.resolve(undefined),
      job.status === JobStatus.Committed ? readAuditCommitBy({ ...r, job }) : Promise.resolve(undefined),
    ]);
    const votes = dispute.state >= DisputeState.Voting ? await readVotes({ ...r, jobId, committee: dispute.committee }) : [];
    return {
      me: this.p.account,
      jobId,
      head: head.number,
      now: head.timestamp,
      seedDelay: this.market.seedDelay,
      challengeWindow: this.market.challengeWindow,
      disputeDuration: this.market.disputeDuration,
      job,
      drawnAuditor: drawnAuditor === ZERO_ADDRESS ? undefined : drawnAuditor,
      auditCommitBy,
      audit,
      dispute,
      votes,
      keeper: this.p.keeper,
      keeperGraceSeconds: this.p.keeperGraceSeconds,
      watched: watchdogPicks({ secret: this.p.secret, jobId, share: this.p.watchdog.share }),
      watchJudged: data.watch,
      judged: data.judgement && data.judgement.providerRoot === job.result ? data.judgement.verdict : undefined,
      keepers: await this.keepers(),
      refused: data.refused ?? {},
    };
  }

  private keepers(): Promise<Address[]> {
    this.verifierSet ??= (async () => {
      const staking = { address: this.p.deployment.staking, abi: abiOf("Staking") };
      const count = Number(await this.p.publicClient.readContract({ ...staking, functionName: "verifierCount" }));
      return Promise.all(
        Array.from({ length: count }, (_, i) => this.p.publicClient.readContract({ ...staking, functionName: "verifierAt", args: [BigInt(i)] }) as Promise<Address>),
      );
    })().catch((error) => {
      this.verifierSet = undefined;
      throw error;
    });
    return this.verifierSet;
  }

  /** Marks pending actions the chain proves were taken (a crash between a receipt and its journal entry). */
  private reconcile(jobId: bigint, snapshot: JobSnapshot): void {
    for (const action of reconcileActions({ journal: this.p.journal, jobId, snapshot })) {
      this.p.log.info({ msg: "action found on chain after a restart", job_id: jobId.toString(), action });
    }
  }

  private async carryOut({ record, data, model, snapshot, step }: { record: JobRecord; data: VerifierJobData; model: VerifierModel; snapshot: JobSnapshot; step: Step }): Promise<void> {
    const { jobId, job } = record;
    if (step.kind === "wait") {
      const latest = snapshot.now + MAX_SLEEP_SECONDS;
      const time = step.time === undefined || step.time > latest ? latest : step.time;
      if (!this.poked.has(jobId)) this.wake.set(jobId, { block: step.block, time });
      return;
    }
    if (step.kind === "done") return this.close(jobId, data, step.outcome);
    this.p.log.debug({ msg: "step", job_id: jobId.toString(), action: step.action, reason: step.reason });
    const verification = this.p.deployment.verification;
    const vabi = abiOf("Verification");
    switch (step.action) {
      case "commitAudit": {
        const own = await this.ownOutput(record, data, model, snapshot.auditCommitBy ?? BigInt(job.deadline));
        if (!own) return;
        const c = commitment({
          chainId: BigInt(this.p.chainId),
          jobMarket: this.p.deployment.market,
          jobId,
          provider: this.p.account,
          outputRoot: own.outputRoot,
          salt: this.auditSalt(jobId),
        });
        await this.act(jobId, snapshot, "commitAudit", () =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "commitAudit", args: [jobId, job, c] }),
        );
        return;
      }
      case "revealAudit": {
        const own = await this.ownOutput(record, this.current(jobId, data), model, BigInt(job.deadline));
        if (!own) return;
        // Equal roots are an agreement whatever we say (the contract forces it): reveal at once, and
        // check the output can be had afterwards (a challenge then, if it cannot).
        const rootsEqual = own.outputRoot === job.result.toLowerCase();
        const judgement = rootsEqual ? { verdict: "agree" as const, rootsEqual, reason: undefined } : await this.judgement(record, this.current(jobId, data), model, BigInt(job.deadline));
        if (!judgement) return;
        const verdict = verdictFor({ verdict: judgement.verdict, ownRoot: own.outputRoot, providerRoot: job.result });
        const uri = `${this.p.publicUrl}/blobs/${own.outputId}`;
        const sent = await this.act(jobId, snapshot, "revealAudit", () =>
          this.sendWithHeadroom({ functionName: "revealAudit", args: [jobId, job, own.outputRoot, this.auditSalt(jobId), verdict, uri] }),
        );
        if (sent) {
          const label = verdict === 0 ? "agree" : "disagree";
          this.p.metrics.audits.inc({ verdict: label });
          this.p.log.info({ msg: "audit revealed", job_id: jobId.toString(), verdict: label, reason: judgement.reason, roots_equal: judgement.rootsEqual });
        }
        return;
      }
      case "commitVote": {
        const own = await this.ownOutput(record, data, model, snapshot.dispute.voteCommitBy);
        if (!own) return;
        const judgement = await this.judgement(record, this.current(jobId, data), model, snapshot.dispute.voteCommitBy);
        if (!judgement) return;
        const vote = voteFor(judgement.verdict);
        this.save(jobId, { ...this.current(jobId, data), vote });
        const c = voteCommitment({
          chainId: BigInt(this.p.chainId),
          verification,
          jobId,
          voter: this.p.account,
          vote,
          salt: this.voteSalt(jobId),
        });
        await this.act(jobId, snapshot, "commitVote", () =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "commitVote", args: [jobId, c] }),
        );
        return;
      }
      case "revealVote": {
        const mine = snapshot.votes.find((v) => sameAddress(v.voter, this.p.account))!;
        // The vote is read back from its commitment: what we committed, whatever the journal says.
        const salt = this.voteSalt(jobId);
        const vote = [Vote.ProviderCorrect, Vote.ProviderWrong].find(
          (v) => voteCommitment({ chainId: BigInt(this.p.chainId), verification, jobId, voter: this.p.account, vote: v, salt }) === mine.commitment,
        );
        if (vote === undefined) {
          this.p.log.error({ msg: "our vote commitment matches no vote: cannot reveal (was the secret changed?)", job_id: jobId.toString() });
          this.refuse(jobId, snapshot, "revealVote");
          return;
        }
        const sent = await this.act(jobId, snapshot, "revealVote", () =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "revealVote", args: [jobId, vote, salt] }),
        );
        if (sent) {
          const label = vote === Vote.ProviderCorrect ? "provider_correct" : "provider_wrong";
          this.p.metrics.votes.inc({ vote: label });
          this.p.log.info({ msg: "vote revealed", job_id: jobId.toString(), vote: label });
        }
        return;
      }
      case "watch": {
        const own = await this.ownOutput(record, data, model, BigInt(job.deadline));
        if (!own) return;
        const judgement = await this.judgement(record, this.current(jobId, data), model, BigInt(job.deadline));
        if (!judgement) return;
        if (sameAddress(snapshot.audit.auditor, this.p.account)) return; // our own audit's check: the judgement is saved
        const watch = judgement.verdict === "agree" ? "agree" : this.p.watchdog.challenge ? "disagree" : "reported";
        this.save(jobId, { ...this.current(jobId, data), watch });
        this.p.log[watch === "agree" ? "info" : "warn"]({ msg: "watchdog judged an unsampled result", job_id: jobId.toString(), verdict: judgement.verdict, reason: judgement.reason });
        return;
      }
      case "challenge": {
        await this.approveBonds();
        const sent = await this.act(jobId, snapshot, "challenge", () =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "challenge", args: [jobId, job] }),
        );
        if (sent) {
          this.p.metrics.challenges.inc();
          this.p.log.warn({ msg: "challenge opened", job_id: jobId.toString(), provider: job.provider });
        }
        return;
      }
      case "drawCommittee":
      case "resolve":
      case "penalizeAuditor": {
        const args =
          step.action === "drawCommittee"
            ? [jobId]
            : step.action === "resolve"
              ? [jobId, job, job.callbackGasLimit !== 0 && job.inlineOutput ? (record.inlineOutput ?? "0x") : "0x"]
              : [jobId, job];
        const sent = await this.act(jobId, snapshot, step.action, () => this.sendWithHeadroom({ functionName: step.action, args }));
        if (sent) this.p.metrics.keeper.inc({ action: step.action });
        return;
      }
    }
  }

  // ------------------------------------------------------------------ re-execution

  /**
   * Our own output for the job, run now or found in the store. Journaled (with its root) before any
   * commitment is sent. Returns undefined while the input cannot be had yet (retried on a later tick).
   */
  private async ownOutput(record: JobRecord, data: VerifierJobData, model: VerifierModel, deadline: bigint): Promise<VerifierJobData["own"] | undefined> {
    const { jobId } = record;
    if (data.own && (data.own.invalidInput || (await this.p.store.has(data.own.outputId)))) return data.own;
    let input: Uint8Array;
    try {
      input = await fetchJobInput({
        record,
        maxBytes: this.p.maxInputBytes,
        ipfsGateway: this.p.ipfsGateway,
        allowFileUris: this.p.allowFileUris,
        store: this.p.store,
      });
    } catch (error) {
      const definitive = !(error instanceof RetryableError) && !(error instanceof BlobNotFoundError);
      const now = this.head!.timestamp;
      const since = data.inputFailedSince ?? now;
      if (data.inputFailedSince === undefined) this.save(jobId, { ...data, inputFailedSince: since });
      if (fetchFailurePolicy({ since, now, deadline, graceSeconds: this.p.outputGraceSeconds, reserveSeconds: RESERVE_SECONDS, definitive }) === "retry") {
        this.p.log.info({ msg: "job input not available yet", job_id: jobId.toString(), err: describe(error) });
        this.sleep(jobId, now + 1n);
        return undefined;
      }
      return this.invalidInput(jobId, data, `the job's input cannot be had: ${describe(error)}`);
    }
    let result: Awaited<ReturnType<InferenceRunner["run"]>>;
    try {
      result = await this.p.runner.run({ modelPath: model.path, modelHash: model.modelHash, ep: this.p.ep, input, timeoutMs: this.p.inferenceTimeoutMs });
    } catch (error) {
      if (error instanceof RetryableError) throw error;
      return this.invalidInput(jobId, data, `the model refuses the job's input: ${describe(error)}`);
    }
    this.p.metrics.inference.observe({ model: String(model.modelId), ep: result.ep }, result.ms / 1000);
    const outputId = await this.p.store.put(result.output, { knownId: result.outputId });
    const own = { outputId, outputRoot: result.outputRoot, ep: result.ep, ms: result.ms };
    this.save(jobId, { ...this.current(jobId, data), own });
    this.p.log.info({ msg: "re-execution done", job_id: jobId.toString(), ep: result.ep, ms: Math.round(result.ms), output_root: own.outputRoot });
    return own;
  }

  /**
   * A job whose input is missing or does not fit the model: nothing correct can have been computed
   * from it, so any result disagrees. Our "output" is the empty blob (its root is what we commit).
   */
  private async invalidInput(jobId: bigint, data: VerifierJobData, reason: string): Promise<VerifierJobData["own"]> {
    const empty = new Uint8Array(0);
    const own = { outputId: await this.p.store.put(empty), outputRoot: outputRoot(empty), invalidInput: reason };
    this.save(jobId, { ...this.current(jobId, data), own });
    this.p.log.warn({ msg: "job input invalid", job_id: jobId.toString(), reason });
    return own;
  }

  /**
   * Our judgement of the provider's revealed output (cached per revealed root). Undefined while the
   * output cannot be fetched and the grace (before `deadline`) has not run out.
   */
  private async judgement(record: JobRecord, data: VerifierJobData, model: VerifierModel, deadline: bigint): Promise<VerifierJobData["judgement"]> {
    const { jobId, job } = record;
    const providerRoot = job.result;
    if (data.judgement && data.judgement.providerRoot === providerRoot) return data.judgement;
    const own = data.own!;
    let judgement: NonNullable<VerifierJobData["judgement"]>;
    if (own.invalidInput) {
      judgement = { providerRoot, verdict: "disagree", reason: own.invalidInput, rootsEqual: false };
    } else {
      // Fetched even when its root equals ours: an output nobody can have counts as wrong.
      const provider = await fetchProviderOutput({
        record,
        maxBytes: this.p.maxOutputBytes,
        ipfsGateway: this.p.ipfsGateway,
        allowFileUris: this.p.allowFileUris,
      });
      if (!provider.ok) {
        const now = this.head!.timestamp;
        const since = data.outputFailedSince ?? now;
        if (data.outputFailedSince === undefined) this.save(jobId, { ...data, outputFailedSince: since });
        const policy = fetchFailurePolicy({
          since,
          now,
          deadline,
          graceSeconds: this.p.outputGraceSeconds,
          reserveSeconds: RESERVE_SECONDS,
          definitive: provider.definitive,
        });
        if (policy === "retry") {
          this.p.log.info({ msg: "provider output not available yet", job_id: jobId.toString(), problem: provider.problem });
          this.sleep(jobId, now + 1n);
          return undefined;
        }
      }
      const result = judge({ own: await this.p.store.get(own.outputId), ownRoot: own.outputRoot, provider, providerRoot, policy: model.policy, maxBytes: this.p.maxOutputBytes });
      judgement = { providerRoot, verdict: result.verdict, reason: result.reason, rootsEqual: result.rootsEqual };
      this.p.log.info({
        msg: "provider output judged",
        job_id: jobId.toString(),
        verdict: result.verdict,
        reason: result.reason,
        tensors: result.tensors.map((t) => ({ name: t.name, max_abs: t.maxAbsError, max_rel: t.maxRelError, mismatches: t.mismatches })),
      });
    }
    this.save(jobId, { ...this.current(jobId, data), judgement });
    return judgement;
  }

  // ------------------------------------------------------------------ helpers

  /**
   * Sends one journaled action at most once. Returns false when the contract refused it (someone
   * else did it first, a deadline passed): logged, recorded with its context, not tried again there.
   */
  private async act(jobId: bigint, snapshot: JobSnapshot, action: StepAction, send: () => ReturnType<TxSender["send"]>): Promise<boolean> {
    const { action: existing } = this.p.journal.beginAction({ jobId, action });
    if (existing.state === "confirmed") return true;
    if (existing.state === "failed") this.p.journal.retryAction({ jobId, action });
    // No waiting for a withdrawal in flight: the calls whose gas depends on credit slots get headroom.
    this.sending++;
    try {
      const { hash, fee, receipt } = await send();
      this.p.journal.markActionConfirmed({ jobId, action, txHash: hash });
      this.p.metrics.gas.inc(Number(fee));
      this.p.log.info({ msg: `${action} confirmed`, job_id: jobId.toString(), tx_hash: hash, gas_used: receipt.gasUsed.toString() });
      return true;
    } catch (error) {
      if (!(error instanceof ContractRevertError)) throw error;
      this.p.journal.markActionFailed({ jobId, action, error: `${error.errorName ?? "revert"}` });
      this.refuse(jobId, snapshot, action);
      const level = isKeeperAction(action) ? "debug" : "info";
      this.p.log[level]({ msg: `${action} refused by the contract`, job_id: jobId.toString(), error: error.errorName, args: error.args.map(String) });
      return false;
    } finally {
      this.sending--;
    }
  }

  private refuse(jobId: bigint, snapshot: JobSnapshot, action: StepAction): void {
    const data = this.p.journal.getJob<VerifierJobData>(jobId)!.data;
    this.save(jobId, { ...data, refused: { ...data.refused, [action]: refusalOf(snapshot) } });
  }

  /**
   * Sends a Verification call with a gas limit that covers what other transactions in the same block
   * can add: revealAudit pays a reward only when the audit pool holds one, and resolve and the penalties
   * credit accounts whose credit slots may just have been emptied by a withdrawal (a zero to non-zero
   * write costs ~20k gas more than the estimate saw). Unused gas is not paid for.
   */
  private async sendWithHeadroom({ functionName, args }: { functionName: StepAction; args: readonly unknown[] }) {
    const call = { address: this.p.deployment.verification, abi: abiOf("Verification"), functionName, args };
    let gas: bigint | undefined;
    try {
      const estimate = await this.p.publicClient.estimateContractGas({ ...call, account: this.p.account });
      gas = (estimate * 12n) / 10n + GAS_HEADROOM;
    } catch {
      gas = undefined; // the sender simulates again and names the revert
    }
    return this.p.sender.send({ ...call, ...(gas === undefined ? {} : { gas }) });
  }

  /** The challenge bond is pulled by Verification: one unlimited approval, as postJob does for fees. */
  private async approveBonds(): Promise<void> {
    if (this.approved) return;
    const allowance = (await this.p.publicClient.readContract({
      address: this.p.deployment.token,
      abi: abiOf("DinferTestToken"),
      functionName: "allowance",
      args: [this.p.account, this.p.deployment.verification],
    })) as bigint;
    if (allowance < maxUint256 / 2n) {
      await this.p.sender.send({
        address: this.p.deployment.token,
        abi: abiOf("DinferTestToken"),
        functionName: "approve",
        args: [this.p.deployment.verification, maxUint256],
      });
    }
    this.approved = true;
  }

  private async withdrawCredits(): Promise<void> {
    const [fromMarket, fromVerification] = await Promise.all([
      this.p.publicClient.readContract({ address: this.p.deployment.market, abi: abiOf("JobMarket"), functionName: "credits", args: [this.p.account] }) as Promise<bigint>,
      readVerificationCredits({ publicClient: this.p.publicClient, verification: this.p.deployment.verification, account: this.p.account }),
    ]);
    for (const [source, address, name, amount] of [
      ["market", this.p.deployment.market, "JobMarket", fromMarket],
      ["verification", this.p.deployment.verification, "Verification", fromVerification],
    ] as const) {
      if (amount === 0n || amount < this.p.withdrawMin) continue;
      const { hash, fee } = await this.p.sender.send({ address, abi: abiOf(name), functionName: "withdraw", args: [] });
      this.p.metrics.rewards.inc({ source }, Number(amount));
      this.p.metrics.gas.inc(Number(fee));
      this.p.log.info({ msg: "credits withdrawn", source, amount: amount.toString(), tx_hash: hash });
    }
  }

  private close(jobId: bigint, data: VerifierJobData, outcome: string): void {
    this.committed.delete(jobId);
    this.p.journal.upsertJob<VerifierJobData>({ jobId, role: "auditor", status: "done", data: { ...this.current(jobId, data), outcome } });
    this.wake.delete(jobId);
    this.p.log.debug({ msg: "job closed", job_id: jobId.toString(), outcome });
  }

  /** The journal's data for the job (steps update it as they go), or `fallback`. */
  private current(jobId: bigint, fallback: VerifierJobData): VerifierJobData {
    return this.p.journal.getJob<VerifierJobData>(jobId)?.data ?? fallback;
  }

  private save(jobId: bigint, data: VerifierJobData): VerifierJobData {
    const status = this.p.journal.getJob(jobId)?.status ?? "open";
    this.p.journal.upsertJob<VerifierJobData>({ jobId, role: "auditor", status, data });
    return data;
  }

  private sleep(jobId: bigint, time: bigint): void {
    if (!this.poked.has(jobId)) this.wake.set(jobId, { time });
  }

  private auditSalt(jobId: bigint): Hex {
    return auditSalt({ secret: this.p.secret, chainId: this.p.chainId, jobId });
  }

  private voteSalt(jobId: bigint): Hex {
    return voteSalt({ secret: this.p.secret, chainId: this.p.chainId, jobId });
  }
}
