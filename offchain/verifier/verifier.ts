/**
 * The verifier daemon (docs/PROTOCOL.md, section 7): audits the jobs it is drawn for, votes in the
 * dispute committees it is drawn into, optionally watches unsampled results and challenges wrong ones,
 * and does keeper duties (draw committees, resolve disputes, expire withheld reveals, bring slashed
 * verifiers' weights down to their stake). It withdraws its credits as they come.
 *
 * It stands on the daemon kit (offchain/daemon/: the tick loop, services, journaled actions) and is
 * level-triggered, like the provider worker: the log poller only discovers jobs (JobPosted for a
 * served model) and pokes them when something happens to them (commit, reveal, audit, challenge,
 * committee); every tick, at the head the loop read, then reads each open job's state from
 * the chain (market and Verification) and takes the one step `decideStep` (decide.ts) calls for,
 * under the rules of the job's own terms version (ProtocolTerms, read once per version). A crash at
 * any point resumes where the chain is, and the journal keeps a step from being sent twice:
 *   - an action is recorded before it is sent and confirmed after its receipt, and an action the
 *     chain shows as done (`isProven`) is never sent again;
 *   - our own output and its root are stored before the audit commitment is sent, and the audit and
 *     vote salts derive from the verifier's secret, so a restarted verifier reveals what it committed
 *     (the vote is read back from its on-chain commitment).
 */
import type { Abi, Address, ContractFunctionArgs, Hex, PublicClient } from "viem";
import { maxUint256 } from "viem";

import { batchMarketAbi, dinferTestTokenAbi, jobMarketAbi, pullPaymentsAbi, stakingAbi, verificationAbi } from "../chain/abis.js";
import { formatTokens } from "../chain/format.js";
import type { Deployment } from "../chain/deployment.js";
import { batchLeaf, batchTreeProof, readBatch, withBatchInput, type BatchRecord } from "../chain/batches.js";
import { JobStatus, readJob, type JobRecord } from "../chain/jobs.js";
import { TermsReader, type Terms } from "../chain/terms.js";
import type { SendParameters, TxSender } from "../chain/sender.js";
import { JournaledActions, type SendOnce } from "../daemon/action.js";
import type { TickHead } from "../daemon/loop.js";
import { commitment } from "../codec/commitment.js";
import type { InferenceRunner } from "../inference/runner.js";
import type { Logger } from "../log.js";
import type { Journal, JobRole } from "../state/journal.js";
import { readBatchOutputs, withBatchOutput } from "../storage/batch-outputs.js";
import type { IpfsNode } from "../storage/ipfs.js";
import { isIpfsUri, parseIpfsUri } from "../storage/ipfs-uri.js";
import type { LocalBlobStore } from "../storage/local.js";
import { blobIdsIn, type BlobPruner, type ProtectedIds } from "../storage/prune.js";
import { getOutput, hasOutput, outputUrl } from "../storage/stored-output.js";
import {
  auditCommitByOf,
  auditorOutputJudged,
  auditSalt,
  challengeEconomics,
  decideBatchWatch,
  decideStep,
  DisputeReason,
  DisputeState,
  fetchBudgetMs,
  isKeeperAction,
  isProven,
  journalKey,
  nameOf,
  NO_DISPUTE,
  refusalOf,
  sameAddress,
  unservedOutputPolicy,
  verdictFor,
  Vote,
  voteCommitment,
  voteFor,
  voteSalt,
  watchdogPicks,
  ZERO_ADDRESS,
  type BatchPick,
  type JobSnapshot,
  type OutputVerdict,
  type Step,
  type StepAction,
} from "./decide.js";
import { fetchOutput } from "../storage/output.js";
import { endJob } from "../protocol/actions.js";
import { describe, fetchJobInput, judge, providerInputLocations, providerOutputLocations, reExecute, type VerifierModel } from "./judge.js";
import type { VerifierMetrics } from "./metrics.js";
import type { VerifierActivity } from "./status.js";
import { WeightSyncs } from "./weight-sync.js";
import { StepSchedule } from "../daemon/schedule.js";
import {
  jobTermsOf,
  readAudit,
  readAuditorOf,
  readDispute,
  readOutputLocations,
  readProviderBlobServers,
  readVerificationCredits,
  readVotes,
  type OutputLocations,
} from "./views.js";

export type VerifierDaemonParameters = {
  log: Logger;
  publicClient: PublicClient;
  sender: TxSender;
  account: Address;
  chainId: number;
  deployment: Deployment;
  journal: Journal;
  runner: InferenceRunner;
  /** Inputs by blob id (and own outputs journaled by older verifiers). */
  store: LocalBlobStore;
  /** Our own outputs, by their output root. */
  outputs: LocalBlobStore;
  models: readonly VerifierModel[];
  /** The secret audit and vote salts and the watchdog's pick derive from (>= 16 bytes). */
  secret: Hex;
  /** Base URL of this verifier's blob server: its outputs are revealed as `<publicUrl>/outputs/<root>`. */
  publicUrl: string;
  metrics: VerifierMetrics;
  ep: Parameters<InferenceRunner["run"]>[0]["ep"];
  inferenceTimeoutMs: number;
  maxInputBytes: number;
  maxOutputBytes: number;
  ipfsGateway?: string;
  /**
   * Our IPFS node: reads `ipfs://` inputs and outputs (the gateway is then not used), and pins the `ipfs://`
   * input of every job we re-run until the job is closed (docs/PROTOCOL.md, section 5).
   */
  ipfs?: IpfsNode;
  allowFileUris: boolean;
  /**
   * Read inputs, outputs and batch output lists on loopback, private and link-local hosts. The daemon turns it on
   * only on a devnet: posters and providers choose those URIs, and must not make us send requests into our own
   * network (offchain/storage/host-policy.ts). An output so refused is one no location serves.
   */
  allowPrivateHosts: boolean;
  /** Seconds before a decision's deadline at which an output no location served counts as wrong. */
  outputReserveSeconds: number;
  keeper: boolean;
  keeperGraceSeconds: number;
  watchdog: { share: number; challenge: boolean };
  withdrawMin: bigint;
  /** Deletes blobs no job can need any more, a step at a time, from the verifier's ticks (offchain/storage/prune.ts). */
  pruner?: Pick<BlobPruner, "tick" | "close">;
};

/** A judgement of one output, journaled per root it was made for. */
export type JournaledJudgement = { root: Hex; verdict: OutputVerdict; reason?: string; rootsEqual: boolean };

/** What the journal keeps per job (plain JSON with bigints). */
export type VerifierJobData = {
  postedBlock: bigint;
  modelId: number;
  /**
   * Our own run: its output root (or why the job's input is invalid); `outputId`, its blob id, in journals of
   * older verifiers only (offchain/storage/stored-output.ts).
   */
  own?: { outputRoot: Hex; outputId?: Hex; ep?: string; ms?: number; invalidInput?: string };
  /** When the job's input first failed to come (chain time). */
  inputFailedSince?: bigint;
  /** The deadline of the step whose input no location served, where we abstained (logged once per step). */
  inputAbstainedFor?: bigint;
  /** The `ipfs://` input's CID, pinned on our node while we judge the job. */
  inputCid?: string;
  /** Our judgement of the provider's output (made on its bytes; one served nowhere is judged again each time). */
  judgement?: JournaledJudgement;
  /** Our judgement of an agreeing auditor's own output, when a dispute judges it. */
  auditorJudgement?: JournaledJudgement;
  /** When the output under judgement first failed to come (chain time), for the logs. */
  outputFailedSince?: bigint;
  /** We sit on the job's dispute committee (from CommitteeDrawn). */
  member?: boolean;
  /** The committee draw found nobody eligible (CommitteeDrawn with no members); a reseed clears it. */
  committeeEmpty?: boolean;
  /** The vote we committed (also recoverable from the on-chain commitment). */
  vote?: number;
  /** The watchdog's judgement of an unsampled result. */
  watch?: "agree" | "disagree" | "reported";
  /**
   * A job of a batch the watchdog picked: journaled from its watch on, in status "watching" (no job step runs it)
   * until it is split out of the batch, then "open" like any job.
   */
  batchId?: bigint;
  /** When the contract refused our split of it (chain time): it rests a while. */
  splitRefusedAt?: bigint;
  /** Penalties we suffered on this job, by kind (wei). */
  penalized?: { auditor?: bigint; voter?: bigint };
  /** Actions the contract refused, with the chain context they were refused in. */
  refused?: Record<string, string>;
  outcome?: string;
};

/** What the journal keeps per batch the watchdog follows (role "verifier-batch", key BATCH_KEY + batchId). */
export type VerifierBatchData = {
  batchId: bigint;
  postedBlock: bigint;
  modelId: number;
  /** The batch's output list (from its revealed outputURI), read once. */
  outputs?: string[];
  outcome?: string;
};

type VerificationAbi = typeof verificationAbi;
/** The Verification calls whose gas may grow between estimate and inclusion (see sendWithHeadroom), checked against the typed ABI. */
type HeadroomCall = {
  [F in "revealAudit" | "drawCommittee" | "resolve"]: { functionName: F; args: ContractFunctionArgs<VerificationAbi, "nonpayable", F> };
}["revealAudit" | "drawCommittee" | "resolve"];

const OPEN = ["open"];
/** A batch job the watchdog judged and has not split out (yet): no job step runs it. */
const WATCHING = "watching";
/** Batches are journaled under this offset plus their id, in a role of their own: no job id comes near it. */
export const BATCH_KEY = 1n << 200n;
const BATCH_ROLE: JobRole = "verifier-batch";
/** The role of the jobs a verifier follows. */
const AUDITOR_ROLE: JobRole = "auditor";
/** Staking events that change the verifier set: the keepers' rotation is read again. */
export const VERIFIER_SET_EVENTS = ["VerifierAdded", "VerifierRemoved"];
/** A slash or penalty leaves the member's weight as it was: a keeper syncs it (`syncStep`). */
export const SLASH_EVENTS = ["Slashed"];
/** The longest a waiting job sleeps without an event: a missed event never stalls a job for good. */
const MAX_SLEEP_SECONDS = 30n;
/** Gas added to the estimate of calls whose cost depends on the block they land in (see sendWithHeadroom). */
const GAS_HEADROOM = 150_000n;
const CREDITS_CHECK_MS = 5_000;
/** How long the one location of a batch's outputs may take to serve them. */
const OUTPUT_FETCH_TIMEOUT_MS = 5_000;
/** How often an output no location serves is tried again. */
const OUTPUT_RETRY_SECONDS = 1n;
/** How long a provider's blob servers, read from its latest reveals, serve the input reads of its jobs. */
const PROVIDER_SERVERS_TTL_MS = 30_000;

/** Whole seconds of wall time since `started` (a `performance.now()`): a tick's chain time goes on while we read. */
function secondsSince(started: number): bigint {
  return BigInt(Math.floor((performance.now() - started) / 1000));
}

/**
 * The blob ids the pruner keeps (`BlobPruner`'s `protectedIds`): every one that an entry still open in the
 * verifier's journal names, a job it follows (open till the job is final) or a batch job its watchdog judged.
 * Such an entry names our own output in `own` (its root; an older verifier's `outputId` in the blob store): we
 * judge with it at each step, and a committee reads an agreeing auditor's output from our blob server. A
 * verifier keeps no blob but its own outputs (the inputs it reads are never stored), each named in `own` by the
 * step that stored it, so no entry leaves one unnamed (`unnamed` 0: the pruner never waits). A followed batch's
 * `outputs` are the provider's locations; an id they name is kept too, which costs nothing.
 */
export function verifierEntriesProtect(journal: Journal): ProtectedIds {
  return blobIdsIn(journal.listJobs({ status: [...OPEN, WATCHING] }).map(({ data }) => data));
}

/**
 * Marks the job's pending journal actions (begun or sent, never settled: a crash between a send and
 * its receipt) that the chain proves were taken as confirmed, so they are not sent again. Returns them.
 */
export function reconcileActions({ journal, jobId, snapshot }: { journal: Journal; jobId: bigint; snapshot: Parameters<typeof isProven>[1] }): string[] {
  const confirmed: string[] = [];
  for (const action of journal.pendingActions({ jobId })) {
    if (!isProven(action.action, snapshot)) continue;
    journal.markActionConfirmed({ jobId, action: action.action });
    confirmed.push(action.action);
  }
  return confirmed;
}

export class VerifierDaemon {
  private readonly p: VerifierDaemonParameters;
  private readonly models: Map<number, VerifierModel>;
  private readonly inFlight = new Map<bigint, Promise<void>>();
  /**
   * Our open jobs and batches (by role) by when their next step is due, so a tick looks at what is due, not
   * at every job we follow: a job asleep wakes at the earliest of its block and its time, and one an event
   * touched while its step ran (`poke`) is read again at the next tick, whatever wait the step asked for.
   */
  private readonly schedule = new StepSchedule({ wakeOn: "any" });
  /** The verifier set, read again after any change of it (keeper duties rotate over it). */
  private verifierSet?: Promise<Address[]>;
  /** The terms versions jobs are judged by (ProtocolTerms, named by the market), each read once. */
  private readonly terms: TermsReader;
  /** Members named in Staking `Slashed` events, by lowercase address: their weight may need a sync. */
  private readonly syncs: WeightSyncs;
  /** The chain head as of the current tick (read once per tick by the daemon kit's loop). */
  private head?: TickHead;
  /** Set by `drain`: no new step starts. */
  private stopping = false;
  private withdrawing?: Promise<void>;
  /** Job-step transactions, journaled and sent at most once (the daemon kit's). */
  private readonly actions: JournaledActions;
  private approved = false;
  /** The output URIs of jobs split out of revealed batches, from their batches' output lists. */
  private readonly splitOutputs = new Map<bigint, string>();
  /** Each provider's blob servers from its latest reveals, read at most once per PROVIDER_SERVERS_TTL_MS. */
  private readonly providerServers = new Map<Address, { readAt: number; servers: Promise<string[]> }>();
  private creditsCheckedAt = 0;
  /** Since the start, for the idle status line: JobPosted seen (and of served models), jobs we were drawn to audit. */
  private readonly seen = { jobs: 0, served: 0, drawn: new Set<bigint>() };

  constructor(parameters: VerifierDaemonParameters) {
    this.p = parameters;
    this.models = new Map(parameters.models.map((m) => [m.modelId, m]));
    // The open jobs and batches of an earlier run: due at once, least recently updated first.
    for (const { jobId, role } of parameters.journal.listJobs({ status: OPEN })) this.schedule.track(jobId, role);
    this.terms = new TermsReader({ client: parameters.publicClient, market: parameters.deployment.market });
    // With the client, a confirmed action a reorg took away (a vote, an audit commitment) is sent again when asked for.
    this.actions = new JournaledActions({ journal: parameters.journal, publicClient: parameters.publicClient });
    this.syncs = new WeightSyncs({ ...parameters, staking: parameters.deployment.staking, keepers: () => this.keepers(), now: () => this.head!.timestamp });
  }

  /** Reads the current terms: a market that does not answer fails the start, not the first job. */
  async init(): Promise<void> {
    const { version, market, verification } = await this.terms.current();
    this.p.log.info({ msg: "protocol terms", version, seed_delay: market.seedDelay, challenge_window_s: market.challengeWindow, audit_commit_timeout_s: verification.auditCommitTimeout });
  }

  // ------------------------------------------------------------------ events

  /**
   * The poller's handler (idempotent: a batch may come twice). JobPosted for a served model starts
   * tracking a job; any other event about a tracked job wakes it; our own penalties are counted; a
   * Staking `Slashed` queues the account's weight check.
   */
  onLogs(logs: readonly { eventName?: string; args?: unknown; blockNumber: bigint }[]): void {
    // Our penalties, summed per job and kind: a member holding several seats is penalized once per seat,
    // all in the one settlement (so in one batch).
    const penalties = new Map<string, { jobId: bigint; kind: "auditor" | "voter"; amount: bigint; count: number }>();
    for (const log of logs) {
      const args = (log.args ?? {}) as Record<string, unknown>;
      if (log.eventName !== undefined && VERIFIER_SET_EVENTS.includes(log.eventName)) {
        this.verifierSet = undefined;
        continue;
      }
      if (log.eventName !== undefined && SLASH_EVENTS.includes(log.eventName)) {
        const member = args.account as Address;
        if (this.p.keeper && typeof member === "string") this.syncs.note(member);
        continue;
      }
      if (typeof args.batchId === "bigint") {
        this.onBatchLog(log.eventName, args, log.blockNumber);
        continue;
      }
      if (typeof args.jobId !== "bigint") continue;
      const jobId = args.jobId;
      const existing = this.p.journal.getJob<VerifierJobData>(jobId);
      if (log.eventName === "JobPosted" || log.eventName === "JobImported") {
        // JobImported: a batch's job split out into the market (sampled, or to be challenged), tracked like a posted one.
        const modelId = Number(log.eventName === "JobImported" ? (args.job as { modelId: number }).modelId : args.modelId);
        // A batch job the watchdog judged is split out (by us, or by anyone): the job steps take it from here.
        if (existing?.status === WATCHING) this.openSplitJob(jobId);
        if (existing) continue;
        // A job of a model we cannot re-execute is recorded closed: its later events are not ours.
        const served = this.models.has(modelId);
        this.seen.jobs += 1;
        if (served) this.seen.served += 1;
        const data: VerifierJobData = { postedBlock: log.blockNumber, modelId, ...(served ? {} : { outcome: "model not served" }) };
        this.saveRecord<VerifierJobData>({ jobId, role: AUDITOR_ROLE, status: served ? "open" : "done", data });
        this.p.log.debug({ msg: "job seen", job_id: jobId.toString(), model_id: modelId, served });
        continue;
      }
      if (!existing) {
        // A job posted before our start block: follow it once something happens to it (its model is checked on the first read).
        if (log.eventName !== "ResultCommitted" && log.eventName !== "ChallengeOpened" && log.eventName !== "CommitteeDrawn") continue;
        this.saveRecord<VerifierJobData>({ jobId, role: AUDITOR_ROLE, status: "open", data: { postedBlock: 0n, modelId: 0 } });
      }
      if (log.eventName === "CommitteeDrawn") {
        const committee = (args.committee as readonly string[] | undefined) ?? [];
        const member = committee.some((m) => sameAddress(m, this.p.account));
        if (member || committee.length === 0) this.update(jobId, (data) => (member ? { ...data, member: true } : { ...data, committeeEmpty: true }));
      }
      if (log.eventName === "CommitteeReseeded") this.update(jobId, (data) => ({ ...data, committeeEmpty: undefined }));
      const penalized =
        (log.eventName === "AuditorPenalized" && sameAddress(args.auditor as string, this.p.account) && "auditor") ||
        (log.eventName === "VoterPenalized" && sameAddress(args.voter as string, this.p.account) && "voter");
      if (penalized) {
        const entry = penalties.get(`${jobId}:${penalized}`) ?? { jobId, kind: penalized, amount: 0n, count: 0 };
        penalties.set(`${jobId}:${penalized}`, { ...entry, amount: entry.amount + (args.penalty as bigint), count: entry.count + 1 });
      }
      // Others' audit commitments change nothing for us; votes matter only to the committee.
      if (log.eventName === "AuditCommitted" && !sameAddress(args.auditor as string, this.p.account)) continue;
      if ((log.eventName === "VoteCommitted" || log.eventName === "VoteRevealed") && !this.p.journal.getJob<VerifierJobData>(jobId)?.data.member) continue;
      this.poke(jobId);
    }
    for (const { jobId, kind, amount, count } of penalties.values()) this.notePenalty({ jobId, kind, amount, count });
  }

  /**
   * A BatchMarket event: BatchPosted of a served model starts following the batch when the watchdog is on;
   * any later event (reveal, split, finalize, expiry) wakes it.
   */
  private onBatchLog(eventName: string | undefined, args: Record<string, unknown>, blockNumber: bigint): void {
    const batchId = args.batchId as bigint;
    const key = BATCH_KEY + batchId;
    const existing = this.p.journal.getJob<VerifierBatchData>(key);
    if (eventName === "BatchPosted") {
      const modelId = Number(args.modelId);
      if (existing || this.p.watchdog.share <= 0 || !this.models.has(modelId)) return;
      this.saveRecord<VerifierBatchData>({ jobId: key, role: BATCH_ROLE, status: "open", data: { batchId, postedBlock: blockNumber, modelId } });
      this.p.log.debug({ msg: "batch seen", batch_id: batchId.toString(), model_id: modelId });
      return;
    }
    if (existing?.status === "open") this.poke(key);
  }

  /** A batch job we judged, now split out: an open job, which the next tick reads from the JobMarket. */
  private openSplitJob(jobId: bigint): void {
    const record = this.p.journal.getJob<VerifierJobData>(jobId);
    if (record?.status !== WATCHING) return;
    this.saveRecord<VerifierJobData>({ ...record, status: "open" });
    this.poke(jobId);
  }

  /**
   * The poller's reorg handler: every open job and batch we acted on is read again at the next tick. A reorg may have taken a
   * mined step of ours away (a vote's commit or reveal, an audit commitment) while the job sleeps to a wake that
   * step set, past the step's own deadline; the chain then asks for the step again, and it is sent again.
   */
  onReorg(): void {
    // Only the jobs we acted on can have lost a step: a verifier follows every job of its models, and reading them
    // all again at once would delay the steps that are due.
    for (const { jobId } of this.p.journal.listJobKeys({ status: OPEN })) {
      if (this.p.journal.listActions(jobId).some((action) => action.state === "confirmed")) this.poke(jobId);
    }
  }

  /** Wakes a job: the next tick reads it again, and a step in flight does not put it back to sleep. */
  private poke(jobId: bigint): void {
    this.schedule.poke(jobId);
  }

  /** Records the penalties we suffered on a job, once per job and kind (a redelivered batch does not count them again). */
  private notePenalty({ jobId, kind, amount, count }: { jobId: bigint; kind: "auditor" | "voter"; amount: bigint; count: number }): void {
    const record = this.p.journal.getJob<VerifierJobData>(jobId)!;
    if (record.data.penalized?.[kind] !== undefined) return;
    this.update(jobId, (data) => ({ ...data, penalized: { ...data.penalized, [kind]: amount } }));
    this.p.metrics.penalties.inc({ kind }, count);
    this.p.metrics.penaltiesWei.inc(Number(amount));
    const as = kind === "auditor" ? "an auditor" : count > 1 ? `a voter (${count} seats)` : "a voter";
    this.p.log.warn({ msg: `we were penalized as ${as}`, job_id: jobId.toString(), penalty: amount.toString(), penalty_tokens: formatTokens(amount) });
  }

  // ------------------------------------------------------------------ ticks

  /**
   * One pass over the open jobs at `head` (read once per tick by the loop, offchain/daemon/loop.ts,
   * which polls the logs up to it first): starts the next step of every job that is not mid-step and
   * not asleep, and the verifier weight checks due.
   */
  tick(head: TickHead): void {
    if (this.stopping || (this.head !== undefined && head.number < this.head.number)) return;
    this.head = { number: head.number, timestamp: head.timestamp };
    this.p.sender.noteHead(head.number);
    this.p.pruner?.tick(head.timestamp);
    this.startSteps();
    if (this.p.keeper) this.syncs.start({ now: head.timestamp, stopping: () => this.stopping });
  }

  private startSteps(): void {
    const head = this.head!;
    this.p.metrics.tracked.set(this.schedule.count(AUDITOR_ROLE));
    for (const { jobId } of this.schedule.due(head, head.timestamp).jobs) {
      const record = this.p.journal.getJob<VerifierJobData>(jobId);
      if (record === undefined || !OPEN.includes(record.status)) {
        this.schedule.track(jobId, undefined); // not open (a write the schedule missed): never stepped
        continue;
      }
      this.schedule.started(jobId);
      const advance = record.role === BATCH_ROLE ? this.advanceBatch(record.jobId, record.data as unknown as VerifierBatchData) : this.advance(record.jobId, record.data);
      const step = advance
        .catch((error) => {
          // The job moved between our reads (its state hash changed): the next tick reads it again.
          const moved = /JobMismatch|JOB_STATE_MISMATCH|job state from logs|BatchMismatch|BATCH_STATE_MISMATCH|batch state from logs/.test(describe(error));
          this.p.log[moved ? "debug" : "warn"]({ msg: moved ? "job moved while read" : "job step failed", job_id: record.jobId.toString(), err: describe(error) });
        })
        .finally(() => {
          this.inFlight.delete(record.jobId);
          this.schedule.ended(record.jobId);
        });
      this.inFlight.set(record.jobId, step);
    }
    // Credits are checked every few seconds, when no step is sending.
    if (!this.withdrawing && this.actions.sending === 0 && Date.now() - this.creditsCheckedAt >= CREDITS_CHECK_MS) {
      this.creditsCheckedAt = Date.now();
      this.withdrawing = this.withdrawCredits()
        .catch((error) => this.p.log.warn({ msg: "withdraw failed", err: describe(error) }))
        .finally(() => (this.withdrawing = undefined));
    }
  }

  /** Starts no new step and waits for every step in progress (shutdown: the current steps finish). */
  async drain(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.inFlight.values(), this.withdrawing, this.syncs.running, this.p.pruner?.close()]);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /** What it saw since the start (for the idle status line, offchain/verifier/status.ts). */
  activity(): VerifierActivity {
    return {
      jobsSeen: this.seen.jobs,
      jobsServed: this.seen.served,
      drawn: this.seen.drawn.size,
      open: this.schedule.count(AUDITOR_ROLE),
    };
  }

  // ------------------------------------------------------------------ keeper: verifier weights

  // ------------------------------------------------------------------ one job

  private async advance(jobId: bigint, data: VerifierJobData): Promise<void> {
    // A job split out of a batch has its input in the batch's BatchPosted, posted before the split; a redundant
    // job's disputed seat in its ReplicaJobPosted.
    const record = await withBatchInput({
      record: await readJob({ client: this.p.publicClient, market: this.p.deployment.market, jobId, fromBlock: data.postedBlock }),
      client: this.p.publicClient,
      batchMarket: this.p.deployment.batchMarket,
      replicaMarket: this.p.deployment.replicaMarket,
    });
    const { job } = record;
    const model = this.models.get(job.modelId);
    if (!model) return this.close(jobId, data, "model not served");
    if (data.modelId !== job.modelId) data = this.save(jobId, { ...data, modelId: job.modelId, postedBlock: record.postedBlock });

    const terms = await this.terms.of(job.terms);
    const snapshot = await this.snapshot(record, data, terms);
    this.reconcile(jobId, snapshot);
    const step = decideStep(snapshot);
    await this.carryOut({ record, data, model, terms, snapshot, step });
  }

  private async snapshot(record: JobRecord, data: VerifierJobData, terms: Terms): Promise<JobSnapshot> {
    const { job, jobId } = record;
    const head = this.head!;
    const r = { publicClient: this.p.publicClient, verification: this.p.deployment.verification };
    const seedMined = job.status === JobStatus.Committed && head.number > job.commitBlock + BigInt(terms.market.seedDelay);
    const [audit, dispute, drawnAuditor] = await Promise.all([
      readAudit({ ...r, jobId }),
      job.status === JobStatus.Disputed ? readDispute({ ...r, jobId }) : Promise.resolve(NO_DISPUTE),
      seedMined ? readAuditorOf({ ...r, jobId, job }) : Promise.resolve(undefined),
    ]);
    if (drawnAuditor !== undefined && sameAddress(drawnAuditor, this.p.account)) this.seen.drawn.add(jobId);
    const votes = dispute.state >= DisputeState.Voting ? await readVotes({ ...r, jobId, committee: dispute.committee }) : [];
    return {
      me: this.p.account,
      jobId,
      head: head.number,
      now: head.timestamp,
      terms: jobTermsOf(terms),
      job,
      drawnAuditor: drawnAuditor === ZERO_ADDRESS ? undefined : drawnAuditor,
      audit,
      dispute,
      committeeEmpty: data.committeeEmpty === true,
      votes,
      keeper: this.p.keeper,
      keeperGraceSeconds: this.p.keeperGraceSeconds,
      watched: watchdogPicks({ secret: this.p.secret, jobId, share: this.p.watchdog.share }),
      watchJudged: data.watch,
      keepers: await this.keepers(),
      refused: data.refused ?? {},
    };
  }

  /** The verifier set now (free slots left out), for the keepers' rotation. */
  private keepers(): Promise<Address[]> {
    this.verifierSet ??= (async () => {
      const staking = { address: this.p.deployment.staking, abi: stakingAbi };
      const slots = Number(await this.p.publicClient.readContract({ ...staking, functionName: "verifierSlotCount" }));
      const members = await Promise.all(
        Array.from({ length: slots }, (_, i) => this.p.publicClient.readContract({ ...staking, functionName: "verifierAt", args: [BigInt(i)] })),
      );
      return members.filter((member) => member !== ZERO_ADDRESS);
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

  private async carryOut({
    record,
    data,
    model,
    terms,
    snapshot,
    step,
  }: {
    record: JobRecord;
    data: VerifierJobData;
    model: VerifierModel;
    terms: Terms;
    snapshot: JobSnapshot;
    step: Step;
  }): Promise<void> {
    const { jobId, job } = record;
    if (step.kind === "wait") {
      const latest = snapshot.now + MAX_SLEEP_SECONDS;
      const time = step.time === undefined || step.time > latest ? latest : step.time;
      this.schedule.sleep(jobId, { block: step.block, time });
      return;
    }
    if (step.kind === "done") return this.close(jobId, data, step.outcome);
    this.p.log.debug({ msg: "step", job_id: jobId.toString(), action: step.action, reason: step.reason });
    const verification = this.p.deployment.verification;
    const vabi = verificationAbi;
    switch (step.action) {
      case "commitAudit": {
        // Blind: before the reveal names the provider's server, an input we cannot read may be one we could not
        // find (a provider's first job, one that revealed only ipfs:// so far); we abstain then, and the
        // committee of the missed audit judges it with the reveal known.
        const own = await this.ownOutput(record, data, model, auditCommitByOf(job, snapshot.terms), "abstain");
        if (!own) return;
        const c = commitment({
          chainId: BigInt(this.p.chainId),
          jobMarket: this.p.deployment.market,
          jobId,
          provider: this.p.account,
          outputRoot: own.outputRoot,
          salt: this.auditSalt(jobId),
        });
        const sent = await this.act(jobId, snapshot, "commitAudit", (onSent) =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "commitAudit", args: [jobId, job, c], onSent }),
        );
        if (sent) this.p.log.info({ msg: "audit committed blind", job_id: jobId.toString(), output_root: own.outputRoot });
        return;
      }
      case "revealAudit": {
        const own = await this.ownOutput(record, this.current(jobId, data), model, BigInt(job.deadline), "against");
        if (!own) return;
        // Equal roots are the same output, which we serve ourselves: an agreement (the contract forces
        // it), revealed at once. Otherwise the provider's output is judged under the tolerance.
        const rootsEqual = own.outputRoot === job.result.toLowerCase();
        const judgement = rootsEqual
          ? { verdict: "agree" as const, reason: undefined, rootsEqual }
          : await this.providerJudgement(record, this.current(jobId, data), model, BigInt(job.deadline));
        if (!judgement) return;
        const verdict = verdictFor({ verdict: judgement.verdict, ownRoot: own.outputRoot, providerRoot: job.result });
        const uri = outputUrl(this.p.publicUrl, own);
        const sent = await this.act(jobId, snapshot, "revealAudit", (onSent) =>
          this.sendWithHeadroom({ functionName: "revealAudit", args: [jobId, job, own.outputRoot, this.auditSalt(jobId), verdict, uri] }, onSent),
        );
        if (sent) {
          const label = verdict === 0 ? "agree" : "disagree";
          this.p.metrics.audits.inc({ verdict: label });
          this.p.log.info({ msg: "audit revealed", job_id: jobId.toString(), verdict: label, reason: judgement.reason, roots_equal: judgement.rootsEqual });
        }
        return;
      }
      case "commitVote": {
        const deadline = snapshot.dispute.voteCommitBy;
        const own = await this.ownOutput(record, data, model, deadline, "against");
        if (!own) return;
        const provider = await this.providerJudgement(record, this.current(jobId, data), model, deadline);
        if (!provider) return;
        // An agreeing auditor whose root differs from the provider's has its own output judged too.
        let auditor: JournaledJudgement | undefined;
        if (provider.verdict === "agree" && auditorOutputJudged(snapshot.audit, job.result)) {
          auditor = await this.auditorJudgement(record, this.current(jobId, data), model, deadline, snapshot.audit.outputRoot);
          if (!auditor) return;
        }
        const vote = voteFor({ provider: provider.verdict, auditor: auditor?.verdict });
        this.save(jobId, { ...this.current(jobId, data), vote });
        const c = voteCommitment({ chainId: BigInt(this.p.chainId), verification, jobId, voter: this.p.account, vote, salt: this.voteSalt(jobId) });
        const sent = await this.act(jobId, snapshot, "commitVote", (onSent) =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "commitVote", args: [jobId, c], onSent }),
        );
        if (sent) {
          this.p.log.info({
            msg: "vote committed",
            job_id: jobId.toString(),
            dispute_reason: nameOf(DisputeReason, snapshot.dispute.reason),
            vote: nameOf(Vote, vote),
            provider: provider.reason ?? provider.verdict,
            ...(auditor ? { auditor: auditor.reason ?? auditor.verdict } : {}),
          });
        }
        return;
      }
      case "revealVote": {
        const mine = snapshot.votes.find((v) => sameAddress(v.voter, this.p.account))!;
        // The vote is read back from its commitment: what we committed, whatever the journal says.
        const salt = this.voteSalt(jobId);
        const vote = [Vote.ProviderCorrect, Vote.ProviderWrong, Vote.AuditorWrong].find(
          (v) => voteCommitment({ chainId: BigInt(this.p.chainId), verification, jobId, voter: this.p.account, vote: v, salt }) === mine.commitment,
        );
        if (vote === undefined) {
          this.p.log.error({ msg: "our vote commitment matches no vote: cannot reveal (was the secret changed?)", job_id: jobId.toString() });
          this.refuse(jobId, snapshot, "revealVote");
          return;
        }
        const sent = await this.act(jobId, snapshot, "revealVote", (onSent) =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "revealVote", args: [jobId, vote, salt], onSent }),
        );
        if (sent) {
          const label = vote === Vote.ProviderCorrect ? "provider_correct" : vote === Vote.ProviderWrong ? "provider_wrong" : "auditor_wrong";
          this.p.metrics.votes.inc({ vote: label });
          this.p.log.info({ msg: "vote revealed", job_id: jobId.toString(), vote: label });
        }
        return;
      }
      case "watch": {
        // A watchdog challenges only what it re-ran: a bond staked on an input it could not read could be lost to
        // a provider that serves it to the committee alone.
        const own = await this.ownOutput(record, data, model, BigInt(job.deadline), "abstain");
        if (!own) return;
        const judgement = await this.providerJudgement(record, this.current(jobId, data), model, BigInt(job.deadline));
        if (!judgement) return;
        const watch = judgement.verdict === "agree" ? "agree" : this.p.watchdog.challenge ? "disagree" : "reported";
        this.save(jobId, { ...this.current(jobId, data), watch });
        this.p.metrics.watched.inc({ kind: "job", verdict: judgement.verdict });
        this.p.log[watch === "agree" ? "info" : "warn"]({ msg: "watchdog judged an unsampled result", job_id: jobId.toString(), verdict: judgement.verdict, reason: judgement.reason });
        return;
      }
      case "challenge": {
        await this.approveBonds();
        const sent = await this.act(jobId, snapshot, "challenge", (onSent) =>
          this.p.sender.send({ address: verification, abi: vabi, functionName: "challenge", args: [jobId, job], onSent }),
        );
        if (sent) {
          const { challengeBond: bond, challengerRewardBps, providerRewardBps, committeeSize } = terms.verification;
          const economics = challengeEconomics({ bond, collateral: job.collateral, challengerRewardBps, providerRewardBps, committeeSize });
          this.p.metrics.challenges.inc();
          this.p.log.warn({
            msg: "challenge opened",
            job_id: jobId.toString(),
            provider: job.provider,
            bond: economics.bond.toString(),
            bond_tokens: formatTokens(economics.bond),
            // The finder's share of a slash goes to the dApp that posted the job: a watchdog gets its bond back
            // (the slash repays what the bond paid the committee), nothing more.
            if_faulted: `our bond back (${formatTokens(economics.ifFaulted.challengerGets)}); the finder's share ${formatTokens(economics.ifFaulted.posterFinderShare)} to the poster`,
            if_upheld: `our bond lost: ${formatTokens(economics.ifUpheld.toProvider)} of it to the provider, ${formatTokens(economics.ifUpheld.toCommittee)} to the committee`,
          });
        }
        return;
      }
      case "drawCommittee":
      case "resolve": {
        const call: HeadroomCall =
          step.action === "drawCommittee"
            ? { functionName: "drawCommittee", args: [jobId] }
            : { functionName: "resolve", args: [jobId, job, job.callbackGasLimit !== 0 && job.inlineOutput ? (record.inlineOutput ?? "0x") : "0x"] };
        const sent = await this.act(jobId, snapshot, step.action, (onSent) => this.sendWithHeadroom(call, onSent));
        if (sent) this.p.metrics.keeper.inc({ action: step.action });
        return;
      }
      case "expire": {
        const sent = await this.act(jobId, snapshot, "expire", (onSent) =>
          endJob({ sender: this.p.sender, deployment: this.p.deployment, action: "expire", jobId, job, onSent }),
        );
        if (sent) {
          this.p.metrics.keeper.inc({ action: "expire" });
          this.p.log.info({ msg: "withheld reveal expired", job_id: jobId.toString(), provider: job.provider, reason: step.reason });
        }
        return;
      }
    }
  }

  // ------------------------------------------------------------------ one batch (the watchdog)

  /**
   * One step of a batch the watchdog follows: once revealed, inside its challenge window, re-run the jobs it
   * picks (`watchdogPicks` with each job id, the share it applies to posted jobs), split each one judged wrong
   * out of the batch (`splitRevealed`); the job steps then challenge it as they do an unsampled result judged
   * wrong (`decideStep`: watchJudged "disagree"). Each picked job is journaled under its own id from its watch
   * on, its split as that job's action: a restart neither runs nor splits a job twice.
   */
  private async advanceBatch(key: bigint, data: VerifierBatchData): Promise<void> {
    const head = this.head!;
    const batch = await readBatch({ client: this.p.publicClient, batchMarket: this.p.deployment.batchMarket, batchId: data.batchId, fromBlock: data.postedBlock, blockNumber: head.number });
    const b = batch.batch;
    const model = this.models.get(b.modelId);
    if (!model) return this.closeBatch(key, data, batch, "model not served");
    const picks: BatchPick[] = [];
    if (batch.outputRoots !== undefined) {
      for (let index = 0; index < b.count; index++) {
        const jobId = b.firstJobId + BigInt(index);
        if (!watchdogPicks({ secret: this.p.secret, jobId, share: this.p.watchdog.share })) continue;
        const split = batch.split.has(index);
        if (split) {
          // A split of ours left pending by a crash is done: the chain shows it (no batch step is in flight here).
          const pending = this.p.journal.getAction({ jobId, action: "splitRevealed" });
          if (pending?.state === "pending" || pending?.state === "sent") this.p.journal.markActionConfirmed({ jobId, action: "splitRevealed" });
          // Split out by anyone: the job steps follow it (JobImported opened it too; this covers a missed event).
          this.openSplitJob(jobId);
        }
        const own = this.p.journal.getJob<VerifierJobData>(jobId)?.data;
        picks.push({ index, split, watch: own?.watch, refusedAt: own?.splitRefusedAt });
      }
    }
    const step = decideBatchWatch({ me: this.p.account, now: head.timestamp, status: b.status, deadline: BigInt(b.deadline), provider: b.provider, picks });
    if (step.kind === "wait") {
      const latest = head.timestamp + MAX_SLEEP_SECONDS;
      this.schedule.sleep(key, { time: step.time > latest ? latest : step.time });
      return;
    }
    if (step.kind === "done") return this.closeBatch(key, data, batch, step.outcome);
    this.p.log.debug({ msg: "batch step", batch_id: data.batchId.toString(), reason: step.reason });
    // Re-runs go through the inference threads together; a job whose output is not served yet is tried again.
    const watched = await Promise.all(step.watch.map((index) => this.watchBatchJob(batch, data, model, index)));
    for (const index of step.split) await this.splitOut(batch, index);
    if (watched.every(Boolean)) this.poke(key);
    else this.sleep(key, head.timestamp + OUTPUT_RETRY_SECONDS);
  }

  /** Re-runs one picked job of a revealed batch and journals the watchdog's judgement of it; false to try again later. */
  private async watchBatchJob(batch: BatchRecord, batchData: VerifierBatchData, model: VerifierModel, index: number): Promise<boolean> {
    const b = batch.batch;
    const jobId = b.firstJobId + BigInt(index);
    const existing = this.p.journal.getJob<VerifierJobData>(jobId);
    let data: VerifierJobData = existing?.data ?? { postedBlock: batch.postedBlock, modelId: b.modelId, batchId: batch.batchId };
    if (!existing) this.saveRecord<VerifierJobData>({ jobId, role: AUDITOR_ROLE, status: WATCHING, data });
    if (data.watch !== undefined) return true;
    // The job as the JobMarket would hold it once split out as Revealed: what the judgement reads.
    const record: JobRecord = {
      jobId,
      job: {
        poster: b.poster,
        modelId: b.modelId,
        terms: b.terms,
        fee: b.feePerJob,
        collateral: b.collateralPerJob,
        callbackGasLimit: 0,
        status: JobStatus.Revealed,
        deadline: b.deadline,
        provider: b.provider,
        commitBlock: b.commitBlock,
        result: batch.outputRoots![index]!,
        inlineOutput: false,
        sampled: false,
      },
      inputHash: batch.inputHashes[index]!,
      inputURI: batch.inputURIs[index]!,
      inlineInput: "0x",
      // No location while the list is not served: the rules for an output served nowhere apply.
      outputURI: (await this.batchOutputs(batch, batchData))?.[index] ?? "",
      postedBlock: batch.postedBlock,
    };
    // An output (or input) served nowhere counts as wrong one reserve earlier than for a posted job: a
    // batch job needs two transactions inside the window (the split, then the challenge), not one.
    const deadline = BigInt(b.deadline) - BigInt(this.p.outputReserveSeconds);
    const own = await this.ownOutput(record, data, model, deadline, "abstain");
    if (!own) return false;
    const judgement = await this.providerJudgement(record, this.current(jobId, data), model, deadline);
    if (!judgement) return false;
    const watch = judgement.verdict === "agree" ? "agree" : this.p.watchdog.challenge ? "disagree" : "reported";
    data = this.save(jobId, { ...this.current(jobId, data), watch });
    this.p.metrics.watched.inc({ kind: "batch", verdict: judgement.verdict });
    this.p.log[watch === "agree" ? "info" : "warn"]({
      msg: "watchdog judged a batch job",
      batch_id: batch.batchId.toString(),
      job_id: jobId.toString(),
      provider: b.provider,
      verdict: judgement.verdict,
      reason: judgement.reason,
    });
    return true;
  }

  /** The batch's output list, read once from its revealed outputURI; undefined while it cannot be read. */
  private async batchOutputs(batch: BatchRecord, data: VerifierBatchData): Promise<string[] | undefined> {
    const key = BATCH_KEY + batch.batchId;
    const known = this.p.journal.getJob<VerifierBatchData>(key)?.data.outputs;
    if (known) return known;
    const uri = batch.outputURI!;
    try {
      if (!this.p.allowFileUris && /^file:/i.test(uri)) throw new Error(`a file:// URI (${uri}), which only same-machine tests may read`);
      const outputs = await readBatchOutputs({
        uri,
        firstJobId: batch.batch.firstJobId,
        count: batch.batch.count,
        ipfsGateway: this.p.ipfsGateway,
        ipfs: this.p.ipfs,
        timeoutMs: OUTPUT_FETCH_TIMEOUT_MS,
        allowPrivateHosts: this.p.allowPrivateHosts,
      });
      this.saveRecord<VerifierBatchData>({ jobId: key, role: BATCH_ROLE, status: "open", data: { ...data, outputs } });
      return outputs;
    } catch (error) {
      this.p.log.info({ msg: "batch output list not served yet", batch_id: batch.batchId.toString(), uri, err: describe(error) });
      return undefined;
    }
  }

  /**
   * Splits a job the watchdog judged wrong out of its batch (`splitRevealed`, its output root proven against the
   * batch's result root), inside the batch's challenge window; the job steps then challenge it.
   */
  private async splitOut(batch: BatchRecord, index: number): Promise<void> {
    const b = batch.batch;
    const jobId = b.firstJobId + BigInt(index);
    // The leaves are what the batch revealed, in job order (a job split out sampled before it: its commitment).
    const leaves = batch.outputRoots!.map((root, i) => batchLeaf(b.firstJobId + BigInt(i), root));
    const outputRoot = batch.outputRoots![index]!;
    const result = await this.actions.send({
      jobId,
      action: "splitRevealed",
      send: (onSent) =>
        this.p.sender.send({
          address: this.p.deployment.batchMarket,
          abi: batchMarketAbi,
          functionName: "splitRevealed",
          args: [batch.batchId, b, BigInt(index), outputRoot, batchTreeProof(leaves, index)],
          onSent,
        }),
    });
    if (result.state === "refused") {
      // Someone split it first (the next read sees it split), or the window closed.
      this.update(jobId, (data) => ({ ...data, splitRefusedAt: this.head!.timestamp }));
      this.p.log.info({ msg: "splitRevealed refused by the contract", batch_id: batch.batchId.toString(), job_id: jobId.toString(), error: result.error.errorName });
      return;
    }
    if (result.state === "sent") {
      this.p.metrics.gas.inc(Number(result.fee));
      this.p.metrics.batchSplits.inc();
      this.p.log.warn({
        msg: "batch job split out to be challenged",
        batch_id: batch.batchId.toString(),
        job_id: jobId.toString(),
        provider: b.provider,
        tx_hash: result.hash,
        gas_used: result.receipt.gasUsed.toString(),
      });
    }
    this.openSplitJob(jobId);
  }

  private closeBatch(key: bigint, data: VerifierBatchData, batch: BatchRecord, outcome: string): void {
    this.saveRecord<VerifierBatchData>({ jobId: key, role: BATCH_ROLE, status: "done", data: { ...data, outcome } });
    // Picked jobs left in the batch end with it.
    for (let index = 0; index < batch.batch.count; index++) {
      const jobId = batch.batch.firstJobId + BigInt(index);
      const record = this.p.journal.getJob<VerifierJobData>(jobId);
      if (record?.status === WATCHING) this.close(jobId, record.data, `batch ${outcome}`);
    }
    this.p.log.debug({ msg: "batch closed", batch_id: data.batchId.toString(), outcome });
  }

  // ------------------------------------------------------------------ re-execution

  /**
   * The provider's blob servers from its latest reveals (`readProviderBlobServers`: two log queries from block
   * 0), shared by the input reads of all its jobs for PROVIDER_SERVERS_TTL_MS: an input read is retried every
   * second while no location serves it, and every job this verifier re-runs reads its input.
   */
  private providerBlobServers(provider: Address): Promise<string[]> {
    const key = provider.toLowerCase() as Address;
    const cached = this.providerServers.get(key);
    if (cached && performance.now() - cached.readAt < PROVIDER_SERVERS_TTL_MS) return cached.servers;
    const servers = readProviderBlobServers({ publicClient: this.p.publicClient, market: this.p.deployment.market, batchMarket: this.p.deployment.batchMarket, provider });
    this.providerServers.set(key, { readAt: performance.now(), servers });
    // A failed read is not kept: the next attempt asks the node again.
    servers.catch(() => {
      if (this.providerServers.get(key)?.servers === servers) this.providerServers.delete(key);
    });
    return servers;
  }

  /**
   * Our own output for the job, run now or found in the store. Journaled (with its root) before any
   * commitment is sent. Returns undefined while the input cannot be had and the step leaves time (retried on a
   * later tick). An input no location serves by then is, as `unserved` says, judged as no input (`invalidInput`:
   * against the provider; a committee's vote, an audit's reveal) or abstained on (undefined: a blind audit,
   * which may not know the provider's server yet, and a watchdog, which stakes a bond on what it re-ran).
   */
  private async ownOutput(
    record: JobRecord,
    data: VerifierJobData,
    model: VerifierModel,
    deadline: bigint,
    unserved: "against" | "abstain",
  ): Promise<VerifierJobData["own"] | undefined> {
    const { jobId } = record;
    if (data.own && (data.own.invalidInput || (await hasOutput(this.p, data.own)))) return data.own;
    let input: Uint8Array;
    const started = performance.now();
    try {
      input = await fetchJobInput({
        record,
        // The provider keeps the input of every job it committed to and serves it (docs/PROTOCOL.md, section 5):
        // its blob server at `/blobs/<inputHash>` beside its outputs, whose address comes from this job's output
        // locations once revealed, and before (a blind audit) from the provider's latest reveals of other jobs;
        // an `ipfs://` input from its IPFS node, which our node reads like any other.
        // Each lookup on its own: one the node refuses (a log range too wide for it) loses only its own part, never
        // this job's reveal (an honest provider's copy must not go unread for another query's fault).
        fallbackUris: async () => {
          const problem = (what: string) => (error: unknown) => {
            this.p.log.info({ msg: `input fallback lookup failed: ${what}`, job_id: jobId.toString(), err: describe(error) });
            return undefined;
          };
          const [located, locations, servers] = await Promise.all([
            this.withBatchOutput(record).catch(problem("the batch's output list")),
            this.outputLocations(record).catch(problem("the job's announced locations")),
            this.providerBlobServers(record.job.provider).catch(problem("the provider's other reveals")),
          ]);
          const outputUris = [...providerOutputLocations({ record: located ?? record, locations: locations ?? { announced: [] } }).uris, ...(servers ?? [])];
          return providerInputLocations({ inputHash: record.inputHash, outputUris });
        },
        maxBytes: this.p.maxInputBytes,
        ipfsGateway: this.p.ipfsGateway,
        ipfs: this.p.ipfs,
        // Every location at once, all within the time left before the step's deadline: however many locations
        // there are and however slowly they answer, we judge in time.
        // Each location's read has the whole budget too (its default, 30 s, would cut a large blob's slow read).
        ...fetchTimes({ now: this.head!.timestamp, deadline, reserveSeconds: this.p.outputReserveSeconds, blob: "input" }),
        allowFileUris: this.p.allowFileUris,
        allowPrivateHosts: this.p.allowPrivateHosts,
        store: this.p.store,
      });
    } catch (error) {
      const now = this.head!.timestamp + secondsSince(started);
      if (data.inputFailedSince === undefined) data = this.save(jobId, { ...data, inputFailedSince: now });
      // An inline input is on chain: bytes that do not hash to the job's inputHash are the job's own fault.
      if (record.inlineInput.length > 2) return this.invalidInput(jobId, this.current(jobId, data), `the job's inline input is invalid: ${describe(error)}`);
      // The provider committed, so it had bytes of this hash, and it must serve them until the job is final
      // (docs/PROTOCOL.md, section 5): the dApp may be long gone. We try again for as long as the step is due;
      // an input no location serves by then counts against the provider like an output served nowhere (else a
      // provider that keeps the only copy could hide it and make its made-up result unjudgeable).
      if (unservedOutputPolicy({ now, deadline, reserveSeconds: this.p.outputReserveSeconds }) === "retry") {
        this.p.log.info({ msg: "job input not served yet", job_id: jobId.toString(), err: describe(error) });
        this.sleep(jobId, now + OUTPUT_RETRY_SECONDS);
        return undefined;
      }
      if (unserved === "abstain") {
        // Logged and counted once per step (its deadline); the reads go on each second until the step moves on.
        if (data.inputAbstainedFor !== deadline) {
          this.p.metrics.inputsUnserved.inc({ judged: unserved });
          this.p.log.warn({ msg: "job input served nowhere: abstaining from this step", job_id: jobId.toString(), err: describe(error) });
          this.save(jobId, { ...this.current(jobId, data), inputAbstainedFor: deadline });
        }
        this.sleep(jobId, now + OUTPUT_RETRY_SECONDS);
        return undefined;
      }
      this.p.metrics.inputsUnserved.inc({ judged: unserved });
      return this.invalidInput(jobId, this.current(jobId, data), `the job's input is served nowhere, the provider's copy included: ${describe(error)}`);
    }
    const inputCid = await this.pinInput(record);
    if (inputCid !== undefined) data = this.save(jobId, { ...this.current(jobId, data), inputCid });
    // Only a failure that is the input's judges it (on CPU, or the input refused before the run); our GPU
    // provider's is tried again on CPU, and a retryable one or a model we cannot load is thrown (the step fails).
    const ran = await reExecute({
      runner: this.p.runner,
      ep: this.p.ep,
      modelPath: model.path,
      modelHash: model.modelHash,
      input,
      timeoutMs: this.p.inferenceTimeoutMs,
      allowNonFinite: model.nonFiniteInputs,
      log: this.p.log.child({ job_id: jobId.toString() }),
      onCpuRerun: (outcome) => this.p.metrics.cpuReruns.inc({ outcome }),
    });
    if (!ran.ok) return this.invalidInput(jobId, this.current(jobId, data), `the model refuses the job's input: ${ran.problem}`);
    const { result } = ran;
    this.p.metrics.inference.observe({ model: String(model.modelId), ep: result.ep }, result.ms / 1000);
    await this.p.outputs.put(result.output, { knownId: result.outputRoot });
    const own = { outputRoot: result.outputRoot, ep: result.ep, ms: result.ms };
    this.save(jobId, { ...this.current(jobId, data), own });
    this.p.log.info({ msg: "re-execution done", job_id: jobId.toString(), ep: result.ep, ms: Math.round(result.ms), output_root: own.outputRoot });
    return own;
  }

  /**
   * Pins an `ipfs://` input we just read whole on our node, until the job is closed: the other verifiers (a
   * committee after our audit) can read it from us too. Returns the CID pinned.
   */
  private async pinInput({ jobId, inputURI, inlineInput }: JobRecord): Promise<string | undefined> {
    if (this.p.ipfs === undefined || inlineInput.length > 2 || !isIpfsUri(inputURI)) return undefined;
    const { cid, path } = parseIpfsUri(inputURI);
    if (path.length > 0) return undefined; // a file inside a directory: the directory's other files were never read
    try {
      await this.p.ipfs.pin(cid, { holder: `job:${jobId}:input` });
      return cid;
    } catch (error) {
      this.p.log.warn({ msg: "ipfs input not pinned", job_id: jobId.toString(), cid, err: describe(error) });
      return undefined;
    }
  }

  /**
   * A job whose inline input does not hash right or whose input does not fit the model: nothing correct can
   * have been computed from it, so any result disagrees. Our "output" is the empty blob (its root is what we commit).
   */
  private async invalidInput(jobId: bigint, data: VerifierJobData, reason: string): Promise<VerifierJobData["own"]> {
    const empty = new Uint8Array(0);
    const own = { outputRoot: await this.p.outputs.put(empty), invalidInput: reason };
    this.save(jobId, { ...this.current(jobId, data), own });
    this.p.log.warn({ msg: "job input invalid", job_id: jobId.toString(), reason });
    return own;
  }

  /** Our judgement of the provider's revealed output, fetched from every location known for it. */
  private async providerJudgement(record: JobRecord, data: VerifierJobData, model: VerifierModel, deadline: bigint): Promise<JournaledJudgement | undefined> {
    const { jobId, job } = record;
    if (data.judgement && data.judgement.root === job.result) return data.judgement;
    const own = data.own!;
    if (own.invalidInput) return this.keepJudgement(jobId, "judgement", { root: job.result, verdict: "disagree", reason: own.invalidInput, rootsEqual: false });
    const [located, locations] = await Promise.all([this.withBatchOutput(record), this.outputLocations(record)]);
    const where = providerOutputLocations({ record: located, locations });
    return this.judgeServed({ record, model, deadline, what: "provider", key: "judgement", root: job.result, inline: where.inline, uris: where.uris });
  }

  /** Our judgement of an agreeing auditor's own output (the AuditRevealed event's URI, checked against its root). */
  private async auditorJudgement(record: JobRecord, data: VerifierJobData, model: VerifierModel, deadline: bigint, auditorRoot: Hex): Promise<JournaledJudgement | undefined> {
    if (data.auditorJudgement && data.auditorJudgement.root === auditorRoot) return data.auditorJudgement;
    if (data.own!.invalidInput) {
      return this.keepJudgement(record.jobId, "auditorJudgement", { root: auditorRoot, verdict: "disagree", reason: data.own!.invalidInput, rootsEqual: false });
    }
    const locations = await this.outputLocations(record);
    const uris = locations.audit && locations.audit.outputRoot.toLowerCase() === auditorRoot.toLowerCase() ? [locations.audit.outputURI] : [];
    return this.judgeServed({ record, model, deadline, what: "auditor", key: "auditorJudgement", root: auditorRoot, uris });
  }

  /** A job split out of a revealed batch: its output is where the batch's output list says (found once per job). */
  private async withBatchOutput(record: JobRecord): Promise<JobRecord> {
    const known = this.splitOutputs.get(record.jobId);
    if (known !== undefined) return { ...record, outputURI: known };
    const located = await withBatchOutput({
      record,
      client: this.p.publicClient,
      batchMarket: this.p.deployment.batchMarket,
      replicaMarket: this.p.deployment.replicaMarket,
      ipfsGateway: this.p.ipfsGateway,
      ipfs: this.p.ipfs,
      allowFileUris: this.p.allowFileUris,
      allowPrivateHosts: this.p.allowPrivateHosts,
      timeoutMs: OUTPUT_FETCH_TIMEOUT_MS,
      onProblem: (problem) => this.p.log.info({ msg: "batch output list not served", job_id: record.jobId.toString(), problem }),
    });
    if (located.outputURI !== undefined && record.outputURI === undefined) this.splitOutputs.set(record.jobId, located.outputURI);
    return located;
  }

  private outputLocations(record: JobRecord): Promise<OutputLocations> {
    const { market, verification } = this.p.deployment;
    return readOutputLocations({ publicClient: this.p.publicClient, market, verification, jobId: record.jobId, fromBlock: record.postedBlock });
  }

  /**
   * Fetches an output from its locations and judges it against ours. Undefined while no location serves
   * it and there is still time before `deadline` (the job sleeps a second); then it counts as wrong
   * (docs/PROTOCOL.md, section 7, "Output availability"). A judgement of served bytes is journaled.
   */
  private async judgeServed({
    record,
    model,
    deadline,
    what,
    key,
    root,
    inline,
    uris,
  }: {
    record: JobRecord;
    model: VerifierModel;
    deadline: bigint;
    what: "provider" | "auditor";
    key: "judgement" | "auditorJudgement";
    root: Hex;
    inline?: Hex;
    uris: readonly string[];
  }): Promise<JournaledJudgement | undefined> {
    const { jobId } = record;
    const data = this.p.journal.getJob<VerifierJobData>(jobId)!.data;
    const own = data.own!;
    const started = performance.now();
    const fetched = await fetchOutput({
      root,
      inline,
      uris,
      maxBytes: this.p.maxOutputBytes,
      ipfsGateway: this.p.ipfsGateway,
      ipfs: this.p.ipfs,
      allowFileUris: this.p.allowFileUris,
      allowPrivateHosts: this.p.allowPrivateHosts,
      // Every location at once, all within the time left before our deadline: a provider that lists locations
      // that never answer cannot carry us past it.
      ...fetchTimes({ now: this.head!.timestamp, deadline, reserveSeconds: this.p.outputReserveSeconds, blob: "output" }),
    });
    if (!fetched.ok) {
      const now = this.head!.timestamp + secondsSince(started);
      if (data.outputFailedSince === undefined) this.save(jobId, { ...data, outputFailedSince: now });
      if (unservedOutputPolicy({ now, deadline, reserveSeconds: this.p.outputReserveSeconds }) === "retry") {
        this.p.log.info({ msg: `${what} output not served yet`, job_id: jobId.toString(), problem: fetched.problem, locations: uris.length });
        this.sleep(jobId, now + OUTPUT_RETRY_SECONDS);
        return undefined;
      }
    }
    const result = judge({ own: await getOutput(this.p, own), ownRoot: own.outputRoot, provider: fetched, providerRoot: root, policy: model.policy, maxBytes: this.p.maxOutputBytes });
    this.p.log[result.verdict === "agree" ? "info" : "warn"]({
      msg: `${what} output judged`,
      job_id: jobId.toString(),
      verdict: result.verdict,
      reason: result.reason,
      source: fetched.ok ? fetched.source : undefined,
      tensors: result.tensors.map((t) => ({ name: t.name, max_abs: t.maxAbsError, max_rel: t.maxRelError, mismatches: t.mismatches })),
    });
    const judgement = { root, verdict: result.verdict, reason: result.reason, rootsEqual: result.rootsEqual };
    // An output served nowhere is judged again next time: a later deadline (a vote after a watch) gives it more time.
    return fetched.ok ? this.keepJudgement(jobId, key, judgement) : judgement;
  }

  private keepJudgement(jobId: bigint, key: "judgement" | "auditorJudgement", judgement: JournaledJudgement): JournaledJudgement {
    this.update(jobId, (data) => ({ ...data, [key]: judgement }));
    return judgement;
  }

  // ------------------------------------------------------------------ helpers

  /**
   * Sends one journaled action at most once (the daemon kit's `JournaledActions`). Returns false when
   * the contract refused it (someone else did it first, a deadline passed): logged, recorded with its
   * context, not tried again there.
   */
  private async act(jobId: bigint, snapshot: JobSnapshot, action: StepAction, send: SendOnce): Promise<boolean> {
    // No waiting for a withdrawal in flight: the calls whose gas depends on credit slots get headroom.
    const result = await this.actions.send({ jobId, action: journalKey(action, snapshot), send });
    if (result.state === "done") return true;
    if (result.state === "refused") {
      const { error } = result;
      this.refuse(jobId, snapshot, action);
      const level = isKeeperAction(action) ? "debug" : "info";
      this.p.log[level]({ msg: `${action} refused by the contract`, job_id: jobId.toString(), error: error.errorName, args: error.args.map(String) });
      return false;
    }
    const { hash, fee, receipt } = result;
    this.p.metrics.gas.inc(Number(fee));
    this.p.log.info({ msg: `${action} confirmed`, job_id: jobId.toString(), tx_hash: hash, gas_used: receipt.gasUsed.toString() });
    return true;
  }

  private refuse(jobId: bigint, snapshot: JobSnapshot, action: StepAction): void {
    this.update(jobId, (data) => ({ ...data, refused: { ...data.refused, [action]: refusalOf(snapshot) } }));
  }

  /**
   * Sends a Verification call with a gas limit that covers what other transactions in the same block
   * can add: revealAudit and resolve pay from the audit pool only when it holds enough, and credit
   * accounts whose credit slots may just have been emptied by a withdrawal (a zero to non-zero write
   * costs ~20k gas more than the estimate saw). Unused gas is not paid for.
   */
  private async sendWithHeadroom({ functionName, args }: HeadroomCall, onSent?: SendParameters["onSent"]) {
    // Each call was checked against the typed ABI (HeadroomCall); viem cannot narrow a union of calls, so the request is untyped.
    const call = { address: this.p.deployment.verification, abi: verificationAbi as Abi, functionName, args: args as readonly unknown[] };
    let gas: bigint | undefined;
    try {
      const estimate = await this.p.publicClient.estimateContractGas({ ...call, account: this.p.account });
      gas = (estimate * 12n) / 10n + GAS_HEADROOM;
    } catch {
      gas = undefined; // the sender simulates again and names the revert
    }
    return this.p.sender.send({ ...call, ...(gas === undefined ? {} : { gas }), onSent });
  }

  /** The challenge bond is pulled by Verification: one unlimited approval, as postJob does for fees. */
  private async approveBonds(): Promise<void> {
    if (this.approved) return;
    const allowance = (await this.p.publicClient.readContract({
      address: this.p.deployment.token,
      abi: dinferTestTokenAbi,
      functionName: "allowance",
      args: [this.p.account, this.p.deployment.verification],
    })) as bigint;
    if (allowance < maxUint256 / 2n) {
      await this.p.sender.send({
        address: this.p.deployment.token,
        abi: dinferTestTokenAbi,
        functionName: "approve",
        args: [this.p.deployment.verification, maxUint256],
      });
    }
    this.approved = true;
  }

  private async withdrawCredits(): Promise<void> {
    const [fromMarket, fromVerification] = await Promise.all([
      this.p.publicClient.readContract({ address: this.p.deployment.market, abi: jobMarketAbi, functionName: "credits", args: [this.p.account] }),
      readVerificationCredits({ publicClient: this.p.publicClient, verification: this.p.deployment.verification, account: this.p.account }),
    ]);
    for (const [source, address, amount] of [
      ["market", this.p.deployment.market, fromMarket],
      ["verification", this.p.deployment.verification, fromVerification],
    ] as const) {
      if (amount === 0n || amount < this.p.withdrawMin) continue;
      // Both contracts pay out through the same PullPayments base: one withdraw() for either.
      const { hash, fee } = await this.p.sender.send({ address, abi: pullPaymentsAbi, functionName: "withdraw", args: [] });
      this.p.metrics.rewards.inc({ source }, Number(amount));
      this.p.metrics.gas.inc(Number(fee));
      this.p.log.info({ msg: "credits withdrawn", source, amount: amount.toString(), amount_tokens: formatTokens(amount), tx_hash: hash });
    }
  }

  private close(jobId: bigint, data: VerifierJobData, outcome: string): void {
    const closed = { ...this.current(jobId, data), outcome };
    this.saveRecord<VerifierJobData>({ jobId, role: AUDITOR_ROLE, status: "done", data: closed });
    if (closed.inputCid !== undefined && this.p.ipfs !== undefined) {
      this.p.ipfs.unpin(closed.inputCid, { holder: `job:${jobId}:input` }).catch((error: unknown) => {
        this.p.log.warn({ msg: "ipfs pin not released", job_id: jobId.toString(), cid: closed.inputCid, err: describe(error) });
      });
    }
    this.p.log.debug({ msg: "job closed", job_id: jobId.toString(), outcome });
  }

  /** The journal's data for the job (steps update it as they go), or `fallback`. */
  private current(jobId: bigint, fallback: VerifierJobData): VerifierJobData {
    return this.p.journal.getJob<VerifierJobData>(jobId)?.data ?? fallback;
  }

  private save(jobId: bigint, data: VerifierJobData): VerifierJobData {
    const status = this.p.journal.getJobStatus(jobId) ?? "open";
    this.saveRecord<VerifierJobData>({ jobId, role: AUDITOR_ROLE, status, data });
    return data;
  }

  /** Changes the journaled data of a job we track (nothing for one we do not). */
  private update(jobId: bigint, change: (data: VerifierJobData) => VerifierJobData): void {
    const record = this.p.journal.getJob<VerifierJobData>(jobId);
    if (record) this.saveRecord<VerifierJobData>({ ...record, data: change(record.data) });
  }

  /** Journals a job or batch; it is stepped (at its wakes) while open. Every journal write of ours goes here. */
  private saveRecord<T extends VerifierJobData | VerifierBatchData>({ jobId, role, status, data }: { jobId: bigint; role: JobRole; status: string; data: T }): void {
    this.p.journal.upsertJob<T>({ jobId, role, status, data });
    this.schedule.track(jobId, OPEN.includes(status) ? role : undefined);
  }

  private sleep(jobId: bigint, time: bigint): void {
    this.schedule.sleep(jobId, { time });
  }

  private auditSalt(jobId: bigint): Hex {
    return auditSalt({ secret: this.p.secret, chainId: this.p.chainId, jobId });
  }

  private voteSalt(jobId: bigint): Hex {
    return voteSalt({ secret: this.p.secret, chainId: this.p.chainId, jobId });
  }
}

/** One read's budget (`fetchBudgetMs`), every location together and each location's read alike. */
function fetchTimes(parameters: Parameters<typeof fetchBudgetMs>[0]): { budgetMs: number; timeoutMs: number } {
  const budgetMs = fetchBudgetMs(parameters);
  return { budgetMs, timeoutMs: budgetMs };
}
