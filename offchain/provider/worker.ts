/**
 * The provider worker: finds jobs for the models it serves, runs the model and claims and commits in
 * one transaction (or, in `claim-first` mode, claims, runs, then commits), reveals as soon as the seed
 * block allows, serves the output, finalizes after the window and withdraws its earnings.
 *
 * It stands on the daemon kit (offchain/daemon/: the tick loop, services, journaled actions) and is
 * level-triggered. The log poller only discovers jobs (JobPosted for a served model) and records them
 * in the journal; every tick then reads each tracked job's state from the chain (`JobReader`: its
 * events, checked against the market's stored hash; the reads of the steps a tick starts go out
 * together, two requests for all) and takes the one step `decideProviderStep`
 * (decide.ts) says that state calls for. A crash at any point therefore resumes where the chain is,
 * and the journal's action records keep a step from being sent twice:
 *   - an action is recorded before it is sent and confirmed after its receipt (`JournaledActions`);
 *   - the output blob and its root are stored before the commit is sent, and the salt is derived
 *     from the worker secret, so a restarted worker can always reveal what it committed.
 * A test fault (offchain/provider/fault.ts) is a runner this worker is given, never a branch here.
 * Bad input never leads to a commitment: a job whose input cannot be fetched, does not hash right,
 * does not decode or does not fit the model is skipped with a logged reason before any claim; so is a
 * job that requires an inline output (`inlineOutput`) when ours is over 4096 bytes (such a job is
 * always run before it is claimed, whatever the claim mode: only the run tells the output's size).
 *
 * Every rule a job is judged by comes from its own terms version (`Job.terms`, read once per version).
 * A reveal can land only while the sampling seed is in reach (256 blocks after the seed block): it is
 * sent as soon as the seed block is mined, and one held for its audit (`AuditPending`) is tried again
 * every few seconds until it lands. A reveal that can no longer land (`SeedOutOfReach`, the reveal
 * deadline passed) is logged as an error and the job is expired (the poster is refunded; we lose the
 * collateral as a withheld sampled reveal does).
 */
import { setMaxListeners } from "node:events";

import type { Address, Hex, PublicClient, TransactionReceipt } from "viem";

import { commitment, deriveSalt } from "../codec/commitment.js";
import { decodeTensorBlob } from "../codec/tensor.js";
import { jobMarketAbi } from "../chain/abis.js";
import { formatTokens } from "../chain/format.js";
import type { Deployment } from "../chain/deployment.js";
import { CallGroup, type GroupedSendOptions } from "../chain/call-group.js";
import { ContractRevertError } from "../chain/errors.js";
import { applyJobLog, decodeJobLog, JobReader, jobLogsOf, JobStatus, type Job, type JobLogInput, type JobRecord } from "../chain/jobs.js";
import type { TxSender } from "../chain/sender.js";
import type { Keccak256 } from "../chain/keccak.js";
import { JournaledActions, type SendOnce } from "../daemon/action.js";
import type { TickHead } from "../daemon/loop.js";
import { revealWindowBlocks, TermsReader } from "../chain/terms.js";
import { DinferError, RetryableError } from "../errors.js";
import { InferenceTimeoutError, InputValidationError } from "../inference/errors.js";
import type { RunParameters } from "../inference/runner.js";
import { validateInputs } from "../inference/validate.js";
import type { Logger } from "../log.js";
import type { Journal } from "../state/journal.js";
import { BlobHashMismatchError } from "../storage/errors.js";
import type { IpfsNode } from "../storage/ipfs.js";
import { ipfsUriOf, isIpfsUri, parseIpfsUri } from "../storage/ipfs-uri.js";
import type { LocalBlobStore } from "../storage/local.js";
import { keptButUnnamed, type BlobPruner } from "../storage/prune.js";
import { getOutput, hasOutput, outputUrl } from "../storage/stored-output.js";
import { endJob } from "../protocol/actions.js";
import { batchJobSalt } from "../chain/batches.js";
import { BatchWorker } from "./batch-worker.js";
import { takeBest, type Offer } from "./backlog.js";
import { decodeSignedJob, encodeSignedJob, SIGNED_JOB_CANCELLED, signedJobArg, type SignedJob } from "../chain/signed-jobs.js";
import { ReplicaWorker } from "./replica-worker.js";
import { admitSignedJob, precheckSignedJob, SignedJobRefusedError, signedJobRecord } from "./signed.js";
import { decideProviderStep, estimateFinish, keeperTime, type LocalJobStatus, type ProviderStep } from "./decide.js";
import { fetchJobInput, type HeldInput } from "./input.js";
import { StepSchedule } from "../daemon/schedule.js";
import type { JobRunner, JobRunResult, LoadedModel } from "./job-runner.js";
import type { WorkerMetrics } from "./metrics.js";
import { StakeLedger } from "./stake.js";
import { Earnings } from "./earnings.js";
import type { WorkerActivity } from "./status.js";

export type ProviderWorkerParameters = {
  log: Logger;
  publicClient: PublicClient;
  sender: TxSender;
  account: Address;
  chainId: number;
  deployment: Deployment;
  journal: Journal;
  /** Runs the jobs: the inference runner, or a cheating one wrapping it (test faults, offchain/provider/fault.ts). */
  runner: JobRunner;
  /** Inputs by blob id (and outputs journaled by older workers). */
  store: LocalBlobStore;
  /** Our outputs, by their output root. */
  outputs: LocalBlobStore;
  /** The keccak-256 that checks each job read against the market's hash (offchain/chain/keccak.ts); default viem's. */
  keccak?: Keccak256;
  models: readonly LoadedModel[];
  /** The secret commitment salts are derived from (>= 16 bytes). */
  secret: Hex;
  /** Base URL of this worker's blob server: outputs are revealed as `<publicUrl>/outputs/<root>`. */
  publicUrl: string;
  metrics: WorkerMetrics;
  ep: RunParameters["ep"];
  inferenceTimeoutMs: number;
  maxInputBytes: number;
  ipfsGateway?: string;
  /**
   * Our IPFS node: reads `ipfs://` inputs, publishes our outputs (revealed as `ipfs://<cid>`), and pins the
   * `ipfs://` input and the output of every job we committed to until the job is final (docs/PROTOCOL.md,
   * section 5, "Blob storage and availability").
   */
  ipfs?: IpfsNode;
  allowFileUris: boolean;
  /** Read inputs on loopback, private and link-local hosts (InputSources.allowPrivateHosts): the daemon turns it on only on a devnet. */
  allowPrivateHosts: boolean;
  /** The daemon's stop: aborts the input reads in flight (InputSources.stopSignal). */
  stopSignal?: AbortSignal;
  withdrawMin: bigint;
  claimMode: "run-first" | "claim-first";
  /**
   * Keeper duty: expire the posted jobs of our models that nobody claimed by their claim deadline
   * (the poster is refunded), `keeperGraceSeconds` plus a delay of our own (0..grace, per job) after
   * it, so that workers and verifiers rarely race for it. Off: such jobs are only forgotten.
   */
  keeper?: boolean;
  keeperGraceSeconds?: number;
  /**
   * Posted jobs taken up at once (fetched, checked, run, committed): enough to keep every inference
   * thread busy while the next inputs are fetched and hashed, few enough that a backlog of thousands
   * of jobs is not fetched into memory at once. Default: twice the runner's inference and hashing
   * threads (one GPU thread running det in 11-20 ms needs about ten jobs in flight behind it).
   */
  prefetch?: number;
  /**
   * The most jobs one transaction carries: the largest batch (IBatchMarket) taken (run whole before it
   * is committed), and the most steps of separately posted jobs grouped into one JobMarket `multicall`
   * (claims: one `tryMulticall`). Default 256 (all).
   */
  maxBatch?: number;
  /** The most gas a job's consumer callback may ask for us to take it (option `maxCallbackGas`); default: any. */
  maxCallbackGas?: number;
  /**
   * How long a commit, reveal or finalize of a posted job waits for others to share its
   * transaction (a `multicall`: one 21,000-gas base cost for all). Default 1,000 ms; 0 groups only the
   * steps that fall due together.
   */
  maxBatchWaitMs?: number;
  /**
   * The longest a claim (or claimAndCommit) of a posted job waits for others to share its transaction (a
   * `tryMulticall`), and only while another claim transaction of ours is in flight: with none, it leaves at
   * once. A claim that waits may lose its job to a rival's claim mined meanwhile, so this is shorter than
   * `maxBatchWaitMs`: a fraction of a block. Default 250 ms; 0 groups only the claims due together.
   */
  maxClaimWaitMs?: number;
  /** Deletes blobs no job can need any more, a step at a time, from the worker's ticks (offchain/storage/prune.ts). */
  pruner?: Pick<BlobPruner, "tick" | "close">;
};

/** What the journal keeps per job (plain JSON with bigints). */
type JobData = {
  postedBlock: bigint;
  modelId: number;
  /** From JobPosted (absent in journals of older workers): whose inputs these are, and the claim deadline. */
  poster?: Hex;
  claimBy?: bigint;
  reason?: string;
  /** Why the job was given up after its claim (a run that can never succeed); it expires with a penalty. */
  abandoned?: string;
  /** The output's blob id, in journals of older workers only: that output is in the blob store (offchain/storage/stored-output.ts). */
  outputId?: Hex;
  outputRoot?: Hex;
  /** The output's size: a reveal decides inline or by URI without reading the blob. */
  outputBytes?: number;
  ep?: string;
  inferenceMs?: number;
  /** The output is withheld (fault mode): never stored or served, revealed by root and URI only. */
  withheld?: boolean;
  /** The output's CID on our IPFS node (pinned until the job ends): revealed as `ipfs://<cid>`. */
  outputCid?: string;
  /** The `ipfs://` input's CID, pinned on our node from our claim until the job ends. */
  inputCid?: string;
  /**
   * The job's input: from its JobPosted log (a candidate; how a post replaced by a reorg is told apart), then the
   * input we ran and kept (absent in journals of older workers): what the blob pruner keeps while the job is open.
   */
  inputHash?: Hex;
  /** A job split out of one of our batches: its commitment salt derives from the batch's (batch-worker.ts). */
  batchSalt?: Hex;
  /** A request a dApp signed and handed us (signed.ts): we post it with our commitment (encodeSignedJob). */
  signed?: string;
  /** The market's fields of that job as admitted: its collateral and terms version. */
  signedAs?: { collateral: bigint; terms: number };
};

/**
 * Local statuses: `candidate` (posted, not decided), `active` (ours, not ended), then an end. A
 * `skipped` job (not for us) stays tracked by a keeper until its claim deadline: it is expired if
 * nobody claimed it, else forgotten (`passed`).
 */
const OPEN = ["candidate", "active"];
const KEPT = [...OPEN, "skipped"];
/** A failing step is tried again after this many chain seconds, doubling per failure in a row, up to RETRY_MAX_SECONDS. */
const RETRY_BASE_SECONDS = 2;
const RETRY_MAX_SECONDS = 300;
/** An input fetch slower than this gives its prefetch slot up (it goes on): a hanging server holds no slot. */
const SLOW_FETCH_MS = 1_000;
/** Inputs failing in a row from one poster before its jobs go after everyone else's. */
const SUSPECT_POSTER_FAILURES = 3;
/** Inference timeouts after which a job not yet claimed (run first) is skipped rather than tried again. */
const RUN_FIRST_TIMEOUTS = 2;
/** A pass whose every open job sleeps at least this many chain seconds more is quiet: the loop may poll less often. */
const QUIET_SECONDS = 10n;
/**
 * Our steps of posted jobs that may share a JobMarket multicall: those on jobs already ours. An expiry, or a
 * finalize with a callback, goes alone.
 */
const GROUPED_STEPS = ["commit", "reveal", "finalize"] as const;
/**
 * Claims share a JobMarket `tryMulticall` instead: a rival's claim of one job mined first skips that job's
 * call, not the group (in a `multicall` it reverted them all: a 45,224-gas claim once reverted a 32-job
 * group for 521,066 gas).
 */
const CLAIM_STEPS = ["claimAndCommit", "claim"] as const;
/** The largest output a reveal can carry inline (one chunk), as JobMarket checks it. */
export const INLINE_OUTPUT_MAX = 4096;
/** The code of a claim or commit withdrawn unsent because a reorg replaced the job's post (`unlessReposted`). */
const REPOSTED_MID_STEP = "REPOSTED_MID_STEP";

/** A claim or commit withdrawn unsent (`unlessReposted`) as the step's quiet end, like a refused one; anything else rethrown. */
function withdrawnAsFalse(error: unknown): false {
  if (error instanceof RetryableError && error.code === REPOSTED_MID_STEP) return false;
  throw error;
}

/** Signed requests waiting for admission (one at a time) before more are answered "busy" (HTTP 429). */
const MAX_SIGNED_ADMISSIONS_QUEUED = 32;
/** How long a poster whose request we ran and could not post (its deposit gone, the request cancelled) is refused. */
const SIGNED_DEFAULT_REFUSAL_MS = 3_600_000;
/**
 * Why a signed request we ran and admitted could not be posted, when its poster (or its model's owner) caused it.
 * Not `CollateralBelowSigned`: a model's decrease that fell due (announced a day ahead) is no sign of a poster that
 * defaults, and refusing it would let any model owner shut dApps out of a worker.
 */
const POSTER_CAUSED_REVERTS = new Set(["InsufficientDeposit", "SignedJobUsed", "ModelInactive", "FeeBelowFloor"]);
/** How often a reveal held for its audit is tried again (seconds of chain time). */
const AUDIT_RECHECK_SECONDS = 3n;

export class ProviderWorker {
  private readonly p: ProviderWorkerParameters;
  /** Aborted by `drain`: the input reads in flight end (InputSources.stopSignal). */
  private readonly stopping = new AbortController();
  private readonly models: Map<number, LoadedModel>;
  private readonly inFlight = new Map<bigint, Promise<void>>();
  /** Inputs fetched at claim time, kept for the run (the store has them after a restart). */
  private readonly inputs = new Map<bigint, HeldInput>();
  /** The store's staging directory, where the hashing threads write the inputs they read (`init`; none: not staged). */
  private staging: string | undefined;
  /** The terms versions jobs are judged by, each read once. */
  private readonly terms: TermsReader;
  /** Job reads, shared by the steps a tick starts at its head. */
  private readonly jobs: JobReader;
  /** Our earnings, withdrawn as they come (never alongside a step's transaction). */
  private readonly earnings: Earnings;
  /** Batches' payouts, credited in the BatchMarket: withdrawn past `withdrawMin` the same way. */
  private readonly batchEarnings: Earnings;
  private readonly replicaEarnings: Earnings;
  /** Our steps of posted jobs, grouped into JobMarket multicalls when several fall due together. */
  private readonly calls: CallGroup;
  /** Our claims of posted jobs, grouped into JobMarket tryMulticalls when several fall due together. */
  private readonly claims: CallGroup;
  /** Job-step transactions, journaled and sent at most once; a withdraw waits while any is being sent. */
  private readonly actions: JournaledActions;
  /** The chain head as of the current tick: one read per tick, shared by every job's step. */
  private head?: { number: bigint; timestamp: bigint };
  /**
   * Our open jobs by when their next step is due; those waiting for a block or a time (seed block, end of a
   * window) are not read again before it, nor looked at by a tick. Posted jobs due wait apart (`waiting()`)
   * for a free prefetch slot.
   */
  private readonly schedule = new StepSchedule({ apart: "candidate" });
  /** The block of the last transaction of ours per job: the job is never read from an earlier one. */
  private readonly seenBlock = new Map<bigint, bigint>();
  /** Candidate jobs mid-step (being fetched, checked, run or committed): at most `prefetch`. */
  private readonly preparing = new Set<bigint>();
  private readonly prefetch: number;
  private stopped = false;
  /** Steps failed in a row, per job: the next try waits RETRY_BASE_SECONDS * 2^(n-1) (capped). */
  private readonly failures = new Map<bigint, number>();
  /** Inference timeouts so far of a job run first (RUN_FIRST_TIMEOUTS). */
  private readonly timeouts = new Map<bigint, number>();
  /** Input failures in a row per poster (lowercase; an input that fails its read, its checks or its run, until one runs): a poster over SUSPECT_POSTER_FAILURES goes last. */
  private readonly posterFailures = new Map<string, number>();
  /** Poster per job (lowercase), for the ordering of posted jobs without reading each one's data. */
  private readonly posterOf = new Map<bigint, string>();
  /** Jobs whose post a reorg replaced while a step of theirs ran: taken up afresh when that step ends (`onPostedAgain`). */
  private readonly reposted = new Map<bigint, Repost>();
  /** Candidate jobs whose input fetch is slow: they gave their prefetch slot up (at most `prefetch` * 4). */
  private readonly slowFetches = new Set<bigint>();
  /** Our free stake: the available stake at the head, less the collateral promised to claims in flight. */
  private readonly stake: StakeLedger;
  /** Whether the last pass found nothing due soon (the loop may then poll the chain less often). */
  private quiet = false;
  /** Since the start, for the idle status line: served jobs seen, and our confirmed actions by name. */
  private readonly seen = { jobs: 0, actions: new Map<string, number>() };

  constructor(parameters: ProviderWorkerParameters) {
    // Input reads in flight end with the daemon's stop, or with `drain` however the loop ended (a fatal error
    // aborts no signal). One listener per read in flight: more than Node's default ten is no leak, a thousand would be.
    const stopReads = AbortSignal.any([this.stopping.signal, ...(parameters.stopSignal ? [parameters.stopSignal] : [])]);
    setMaxListeners(1_000, stopReads);
    parameters = { ...parameters, stopSignal: stopReads };
    this.p = parameters;
    this.models = new Map(parameters.models.map((m) => [m.modelId, m]));
    // The open jobs of an earlier run: due at once, least recently updated first.
    for (const { jobId, status } of parameters.journal.listJobKeys({ status: this.stepped, role: "provider" })) this.schedule.track(jobId, status);
    const { workers, hashThreads } = parameters.runner.stats();
    this.prefetch = parameters.prefetch ?? 2 * (workers + hashThreads);
    this.terms = new TermsReader({ client: parameters.publicClient, market: parameters.deployment.market });
    this.jobs = new JobReader({ client: parameters.publicClient, market: parameters.deployment.market, keccak: parameters.keccak });
    // The intent's disk flush runs off the event loop: many jobs are in flight at once.
    // With the client, a confirmed action a reorg took away (its post left standing) is sent again when asked for.
    this.actions = new JournaledActions({ journal: parameters.journal, asyncFlush: true, publicClient: parameters.publicClient });
    this.earnings = new Earnings({ ...parameters, market: parameters.deployment.market });
    this.calls = new CallGroup({
      sender: parameters.sender,
      address: parameters.deployment.market,
      functions: GROUPED_STEPS,
      maxCalls: parameters.maxBatch ?? 256,
      maxWaitMs: parameters.maxBatchWaitMs ?? 1_000,
    });
    this.claims = new CallGroup({
      sender: parameters.sender,
      address: parameters.deployment.market,
      functions: CLAIM_STEPS,
      maxCalls: parameters.maxBatch ?? 256,
      maxWaitMs: parameters.maxClaimWaitMs ?? 250,
      skipFailures: { reader: parameters.publicClient },
      leaveWhenIdle: true,
    });
    this.batchEarnings = new Earnings({ ...parameters, market: parameters.deployment.batchMarket });
    this.replicaEarnings = new Earnings({ ...parameters, market: parameters.deployment.replicaMarket });
    this.stake = new StakeLedger({ publicClient: parameters.publicClient, staking: parameters.deployment.staking, account: parameters.account });
    // A batch's split job, or a redundant job's disputed seat, handed to the single-job path.
    const adoptJob = (jobId: bigint, data: JobData) => this.saveJob(jobId, "active", data);
    this.batches = new BatchWorker({
      ...parameters,
      actions: this.actions,
      stake: this.stake,
      terms: this.terms,
      models: this.models,
      maxBatch: parameters.maxBatch ?? 256,
      // A batch's inputs are run one after another: one batch taken up per inference thread keeps them all busy.
      maxTaking: workers,
      keeper: parameters.keeper ?? true,
      keeperGraceSeconds: parameters.keeperGraceSeconds ?? 10,
      earnings: this.batchEarnings,
      adoptJob,
    });
    this.replicas = new ReplicaWorker({
      ...parameters,
      actions: this.actions,
      stake: this.stake,
      models: this.models,
      earnings: this.replicaEarnings,
      maxTaking: this.prefetch,
      finishEstimate: (modelId) => this.finishEstimate(modelId),
      measured: (modelId, ms) => this.measured(modelId, ms),
      adoptJob,
    });
  }

  /** The batches of our models (IBatchMarket), carried out beside the single jobs. */
  readonly batches: BatchWorker;

  /** The batch poller's handler: records every BatchPosted of a served model. */
  onBatchPosted(batches: readonly { batchId: bigint; modelId: number; postedBlock: bigint }[]): number {
    return this.batches.onPosted(batches);
  }

  /**
   * The poller's reorg handler: the jobs known from logs of blocks that may be gone are read from the chain, and our
   * own jobs are looked at now. A reorg may have taken a mined step of ours away (a commit, a reveal) and left the
   * post standing: the chain then asks for that step again (`act` sends it again), but the job sleeps till the wake
   * that step set, which may come after the step's deadline (a reveal's wake is the end of its challenge window).
   */
  onReorg(): void {
    this.jobs.forget();
    for (const { jobId } of this.p.journal.listJobKeys({ status: "active", role: "provider" })) this.schedule.poke(jobId);
    this.batches.onReorg();
    this.replicas.onReorg();
  }

  /** The redundant jobs of our models (IReplicaMarket), carried out beside the single jobs. */
  readonly replicas: ReplicaWorker;

  /** The poller's handler for ReplicaJobPosted: records every redundant job of a served model. */
  onReplicaPosted(jobs: readonly { replicaJobId: bigint; modelId: number; postedBlock: bigint }[]): number {
    return this.replicas.onPosted(jobs);
  }

  private get keeper(): boolean {
    return this.p.keeper ?? true;
  }

  /**
   * Reads the current terms (a market that does not answer fails the start, not the first job) and opens the
   * store's staging directory (what an earlier process left staged is deleted).
   */
  async init(): Promise<Awaited<ReturnType<TermsReader["current"]>>> {
    const terms = await this.terms.current();
    this.staging = await this.p.store.openStaging();
    const { version, market } = terms;
    this.p.log.info({ msg: "protocol terms", version, seed_delay: market.seedDelay, reveal_timeout_s: market.revealTimeout, challenge_window_s: market.challengeWindow });
    return terms;
  }

  /**
   * The poller's handler: records every JobPosted for a served model as a candidate. A job given with its
   * JobPosted `log` is read the first time by its stored hash alone, the log giving the rest (`JobReader.know`).
   */
  onPosted(jobs: readonly { jobId: bigint; modelId: number; postedBlock: bigint; poster?: Hex; claimBy?: bigint; fee?: bigint; log?: JobLogInput }[]): number {
    let added = 0;
    for (const { jobId, modelId, postedBlock, poster, claimBy, fee, log } of jobs) {
      if (!this.models.has(modelId)) continue;
      const decoded = log && decodeJobLog(log);
      const posted = decoded && applyJobLog(undefined, decoded);
      const known = posted?.jobId === jobId ? posted : undefined;
      const data: JobData = {
        postedBlock,
        modelId,
        ...(poster === undefined ? {} : { poster }),
        ...(claimBy === undefined ? {} : { claimBy }),
        ...(known === undefined ? {} : { inputHash: known.inputHash }),
      };
      const journaled = this.p.journal.getJob<JobData>(jobId);
      if (journaled !== undefined) {
        this.onPostedAgain(jobId, journaled.status, journaled.data, { data, fee, known });
        continue;
      }
      if (known !== undefined) this.jobs.know(known);
      if (fee !== undefined) this.offers.set(jobId, { fee, modelId });
      this.saveJob(jobId, "candidate", data);
      if (poster !== undefined) this.posterOf.set(jobId, poster.toLowerCase());
      this.p.log.debug({ msg: "job seen", job_id: jobId.toString(), model_id: modelId });
      this.seen.jobs++;
      added++;
    }
    return added;
  }

  /**
   * A JobPosted of a job the journal holds: the same log again (a batch the poller delivers twice) is nothing new.
   * Any other post of this id means a reorg replaced the one we saw, and job ids are a counter: the id may now
   * name another poster's job, or another input, under the very same job hash (the hash does not cover the input:
   * JobReader.know). Whatever we ran, held or committed for the old post is not for this one, and our claim or
   * commit of it went with the replaced blocks: the job is taken up afresh as a candidate (`repost`), keeping only
   * an output run from the same input of the same model. A step in flight sends no claim or commit after this
   * (`repostedMidStep`); the job is taken up afresh when that step ends. An ended job is left ended.
   */
  private onPostedAgain(jobId: bigint, status: string, journaled: JobData, post: Repost): void {
    if (!KEPT.includes(status) || journaled.signed !== undefined) return;
    if (samePost(journaled, post.data, this.offers.get(jobId)?.fee, post.fee)) {
      // The post the journal holds, again: a reorg that replaced it while a step ran, then another that brought it
      // back, leaves nothing to take up afresh when that step ends.
      this.reposted.delete(jobId);
      return;
    }
    this.p.log.warn({ msg: "job posted again after a reorg: taken up afresh", job_id: jobId.toString(), status, posted_block: post.data.postedBlock.toString(), was_posted_block: journaled.postedBlock.toString() });
    if (this.inFlight.has(jobId)) {
      this.reposted.set(jobId, post);
      this.schedule.poke(jobId);
    } else this.repost(jobId, post);
  }

  /** Makes a job whose post a reorg replaced a fresh candidate of its new post (see `onPostedAgain`). */
  private repost(jobId: bigint, { data, fee, known }: Repost): void {
    const journaled = this.p.journal.getJob<JobData>(jobId);
    if (journaled === undefined) return;
    const old = journaled.data;
    const sameInput = old.inputHash !== undefined && old.inputHash === data.inputHash && old.modelId === data.modelId;
    // Only a run's output (and the input and output kept with it) carries over, and only of this very input.
    const { outputId, outputRoot, outputBytes, ep, inferenceMs, withheld, outputCid, inputCid } = old;
    const kept = sameInput ? { outputId, outputRoot, outputBytes, ep, inferenceMs, withheld, outputCid, inputCid } : {};
    if (!sameInput) {
      this.inputs.delete(jobId);
      this.releasePins(jobId, old);
    }
    // Our claim or commit of the old post was in blocks the reorg replaced: the chain's state says what stands now.
    this.p.journal.forgetActions(jobId);
    this.failures.delete(jobId);
    this.seenBlock.delete(jobId);
    if (fee !== undefined) this.offers.set(jobId, { fee, modelId: data.modelId });
    else this.offers.delete(jobId);
    if (data.poster !== undefined) this.posterOf.set(jobId, data.poster.toLowerCase());
    else this.posterOf.delete(jobId);
    if (known !== undefined) this.jobs.know(known);
    if (journaled.status === "active") this.p.metrics.active.dec();
    this.saveJob(jobId, "candidate", { ...stripUndefined(kept), ...data });
    this.schedule.poke(jobId);
  }

  /**
   * A claim's or a commit's `withdrawn` for its call group: a reorg that replaced the job's post while the call waited
   * (for its group, for the journal's flush, for a withdrawal in flight) withdraws it unsent (`repostedMidStep` asked
   * again each time the call is about to go out), with an error `withdrawnAsFalse` turns into the step's quiet end;
   * the job is taken up afresh when the step ends.
   */
  private unlessReposted(jobId: bigint, action: string): GroupedSendOptions {
    return {
      withdrawn: () =>
        this.repostedMidStep(jobId, action)
          ? new RetryableError(`${action} withdrawn: a reorg replaced the job's post while it waited to be sent`, { code: REPOSTED_MID_STEP, details: { jobId: jobId.toString() } })
          : undefined,
    };
  }

  /** Whether a reorg replaced the job's post while this step ran: then it sends no claim or commit (see `onPostedAgain`). */
  private repostedMidStep(jobId: bigint, action: string): boolean {
    if (!this.reposted.has(jobId)) return false;
    this.p.log.warn({ msg: `${action} not sent: a reorg replaced the job's post meanwhile`, job_id: jobId.toString() });
    return true;
  }

  /**
   * A request a dApp signed for us (POST /jobs): checked as the market will check it (signed.ts), then
   * queued as a posted job that our commit posts. Returns its id (the dApp waits for it on chain); a
   * request we do not take throws SignedJobRefusedError, saying why.
   */
  async acceptSignedJob(signed: SignedJob): Promise<bigint> {
    const defaulted = this.signedDefaulters.get(signed.poster.toLowerCase());
    if (defaulted !== undefined && defaulted > Date.now()) {
      throw new SignedJobRefusedError(`a request of ${signed.poster} we ran could not be posted (its deposit withdrawn, the request cancelled, or its model changed): its requests are refused until ${new Date(defaulted).toISOString()}`);
    }
    // The cheap checks (signature, us named, price, the deposit covering this fee) run at once, concurrently:
    // a flood of requests from empty accounts never reaches the queue.
    await precheckSignedJob(this.signedContext(await this.headNow()), signed);
    if (this.admissionsQueued >= MAX_SIGNED_ADMISSIONS_QUEUED) {
      throw new RetryableError(`this worker is checking ${this.admissionsQueued} other signed requests: try again in a few seconds`, { code: "WORKER_BUSY" });
    }
    // Then one at a time: a request is checked against the poster's deposit less the requests taken before it.
    this.admissionsQueued++;
    const accepted = this.admitting.then(() => this.admitSigned(signed)).finally(() => this.admissionsQueued--);
    this.admitting = accepted.catch(() => undefined);
    return accepted;
  }

  private admitting: Promise<unknown> = Promise.resolve();
  private admissionsQueued = 0;
  /** Posters whose request we ran and could not post for a cause of theirs (POSTER_CAUSED_REVERTS), refused until this time (ms). */
  private readonly signedDefaulters = new Map<string, number>();

  private signedContext(head: { number: bigint; timestamp: bigint }) {
    return {
      publicClient: this.p.publicClient,
      market: this.p.deployment.market,
      registry: this.p.deployment.registry,
      domain: { chainId: this.p.chainId, market: this.p.deployment.market },
      me: this.p.account,
      models: this.models,
      head,
    };
  }

  private async admitSigned(signed: SignedJob): Promise<bigint> {
    const head = await this.headNow();
    const { version } = await this.terms.current();
    const record = await admitSignedJob({ ...this.signedContext(head), termsVersion: version, promised: this.signedUnposted(signed.poster) }, signed);
    const { jobId, job } = record;
    if (this.p.journal.getJob(jobId) === undefined) {
      this.saveJob(jobId, "candidate", {
        postedBlock: head.number,
        modelId: job.modelId,
        poster: job.poster,
        claimBy: BigInt(job.deadline),
        signed: encodeSignedJob(signed),
        signedAs: { collateral: job.collateral, terms: job.terms },
      });
      this.posterOf.set(jobId, job.poster.toLowerCase());
      this.offers.set(jobId, { fee: job.fee, modelId: job.modelId });
      this.seen.jobs++;
      this.p.log.info({ msg: "signed job accepted", job_id: jobId.toString(), model_id: job.modelId, poster: job.poster, fee: job.fee.toString(), fee_tokens: formatTokens(job.fee) });
      this.startSteps();
    }
    return jobId;
  }

  /**
   * When a posted job of `modelId` taken now would be run and committed (decide.ts `estimateFinish`): the runs
   * being prepared ahead of it on the inference threads, each at the model's measured time. Unknown before
   * the model's first run here.
   */
  private finishEstimate(modelId: number): { at: bigint; why: string } | undefined {
    const runMs = this.runMs.get(modelId);
    if (runMs === undefined || this.head === undefined) return undefined;
    const { workers } = this.p.runner.stats();
    // Claimed first and not run yet, a job is no longer being prepared, but its run is still ahead of a new one's.
    const ahead = Math.max(0, this.preparing.size - 1) + this.claimedUnrun.size;
    return estimateFinish({ now: this.head.timestamp, runMs, ahead, threads: workers });
  }

  /** Claim first: jobs we claimed whose run has not ended yet (`finishEstimate` counts them ahead of a new one). */
  private readonly claimedUnrun = new Set<bigint>();

  /** A run of `modelId` took `ms`: the model's moving mean run time (a job's, or a redundant job's seat's). */
  private measured(modelId: number, ms: number): void {
    const mean = this.runMs.get(modelId);
    this.runMs.set(modelId, mean === undefined ? ms : 0.8 * mean + 0.2 * ms);
  }

  /** Each model's run time here, a moving mean of its runs (ms). */
  private readonly runMs = new Map<number, number>();
  /** The fee and model of each posted job seen (from JobPosted or a signed request): its value to us. */
  private readonly offers = new Map<bigint, { fee: bigint; modelId: number }>();

  /**
   * What a posted job pays per millisecond of our inference time (gwei/ms; a model not run yet counts 1 ms,
   * so its jobs are tried and measured): the order in which free slots take jobs. 0 when not known.
   */
  private valueOf(jobId: bigint): number {
    const offer = this.offers.get(jobId);
    if (offer === undefined) return 0;
    return Number(offer.fee / 1_000_000_000n) / Math.max(1, this.runMs.get(offer.modelId) ?? 1);
  }

  /** The fees of `poster`'s signed requests we took and have not posted yet (its deposit pays them all). */
  private signedUnposted(poster: Address): bigint {
    let sum = 0n;
    for (const { data } of this.p.journal.listJobs<JobData>({ status: ["candidate"], role: "provider" })) {
      if (data.signed === undefined || data.poster?.toLowerCase() !== poster.toLowerCase()) continue;
      sum += decodeSignedJob(data.signed).request.fee;
    }
    return sum;
  }

  /** Whether nothing is due soon: no step running, every open job asleep for a while (the loop may poll less often). */
  get idle(): boolean {
    return this.quiet && this.inFlight.size === 0 && !this.earnings.withdrawing && !this.batchEarnings.withdrawing && !this.replicaEarnings.withdrawing && this.batches.idle && this.replicas.idle;
  }

  /**
   * One pass over the open jobs at `head` (read once per tick by the loop, which polls the logs up to
   * it first): starts the next step of every job that is not mid-step.
   */
  tick(head: TickHead): void {
    // Any other head block, one below the last included (the chain reorganized to a shorter one), drops the
    // job hashes read ahead at the last.
    if (head.hash !== undefined) this.jobs.atHead(head.hash);
    if (this.head !== undefined && head.number < this.head.number) return;
    this.head = { number: head.number, timestamp: head.timestamp };
    this.p.sender.noteHead(head.number);
    this.stake.advance(head.number);
    this.p.pruner?.tick(head.timestamp);
    this.startSteps();
    this.batches.tick(this.head);
    this.replicas.tick(this.head);
  }

  /**
   * Starts the steps due, with the head of the last tick. Posted jobs are taken up `prefetch` at a
   * time, oldest first; when one of them is done with, the next starts at once, not at the next
   * tick, so the inference threads do not wait for a tick. They come in three ranks: fresh jobs of
   * posters in good standing, then fresh jobs of posters whose inputs keep failing, then jobs whose
   * last step failed (each asleep for its backoff meanwhile); the last two ranks together never hold
   * more than half the slots, so a flood of bad inputs cannot keep good jobs waiting.
   */
  private startSteps(): void {
    if (this.stopped || this.head === undefined) return;
    const head = this.head;
    const soon = head.timestamp + QUIET_SECONDS;
    const { jobs, quiet } = this.schedule.due(head, soon);
    for (const { jobId, status } of jobs) this.startStep(jobId, status);
    // Posted jobs due wait apart for a prefetch slot, all of a backlog: they are looked at only when a slot is
    // free, and only the best taken (one pass, not a sort: a slot frees once per job, and the backlog may be thousands).
    if (this.schedule.waitingCount > 0 && this.preparing.size < this.prefetch) this.startCandidates(this.schedule.waiting());
    this.quiet = quiet;
    this.earnings.maybeWithdraw(this.actions.sending);
    this.batchEarnings.maybeWithdraw(this.actions.sending);
    this.replicaEarnings.maybeWithdraw(this.actions.sending);
  }

  /**
   * Fills the free prefetch slots from `candidates` (posted jobs due): first those of posters in good standing,
   * the best paid per second of our time first, then the oldest; then the others, by rank, in at most half the
   * slots. `candidates` is read to its end before any job starts (a start takes the job out of the schedule's set).
   */
  private startCandidates(candidates: Iterable<bigint>): void {
    const deferred: { jobId: bigint; rank: number }[] = [];
    const fresh: Offer[] = [];
    for (const jobId of candidates) {
      const rank = this.rankOf(jobId);
      if (rank > 0) deferred.push({ jobId, rank });
      else fresh.push({ jobId, value: this.valueOf(jobId) });
    }
    while (this.preparing.size < this.prefetch) {
      const offer = takeBest(fresh);
      if (offer === undefined) break;
      this.startStep(offer.jobId, "candidate");
    }
    const lowSlots = Math.max(1, Math.floor(this.prefetch / 2));
    let low = [...this.preparing].filter((jobId) => this.rankOf(jobId) > 0).length;
    for (const { jobId } of deferred.sort((a, b) => a.rank - b.rank)) {
      if (this.preparing.size >= this.prefetch || low >= lowSlots) break;
      if (this.startStep(jobId, "candidate")) low++;
    }
  }

  /** Starts one job's next step; false when it cannot start now (no prefetch slot, its status changed). */
  private startStep(jobId: bigint, status: string): boolean {
    if (this.inFlight.has(jobId) || (status === "candidate" && this.preparing.size >= this.prefetch)) return false;
    const record = this.p.journal.getJob<JobData>(jobId);
    if (record === undefined || record.status !== status) {
      // Written past saveJob (another process on this data dir, a hand edit): the schedule takes the journal's word.
      this.schedule.track(jobId, record !== undefined && this.stepped.includes(record.status) ? record.status : undefined);
      return false;
    }
    if (record.data.poster !== undefined) this.posterOf.set(jobId, record.data.poster.toLowerCase());
    if (status === "candidate") this.preparing.add(jobId);
    this.schedule.started(jobId);
    const step = this.advance(jobId, status as LocalJobStatus, record.data)
      // A posted job's backoff ends when its input is fetched (a wait for stake is no progress).
      .then(() => {
        if (status !== "candidate") this.failures.delete(jobId);
      })
      .catch((error) => this.onStepError(jobId, error))
      .finally(() => {
        this.inFlight.delete(jobId);
        const repost = this.reposted.get(jobId);
        if (repost !== undefined) {
          this.reposted.delete(jobId);
          // Not its log's record: a later reorg may have replaced that post too (JobReader.forget dropped it then).
          this.repost(jobId, { ...repost, known: undefined });
        }
        this.schedule.ended(jobId);
        if (this.preparing.delete(jobId)) this.startSteps();
      });
    this.inFlight.set(jobId, step);
    return true;
  }

  /** 0: a fresh job of a poster in good standing; 1: a fresh job of a poster whose inputs keep failing; 2: a job whose last step failed. */
  private rankOf(jobId: bigint): number {
    if ((this.failures.get(jobId) ?? 0) > 0) return 2;
    const poster = this.posterOf.get(jobId);
    return poster !== undefined && (this.posterFailures.get(poster) ?? 0) >= SUSPECT_POSTER_FAILURES ? 1 : 0;
  }

  /** Waits for every step in progress (used on shutdown: the current steps finish, no new one starts). */
  async drain(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await Promise.allSettled([...this.inFlight.values(), this.earnings.withdrawing, this.batchEarnings.withdrawing, this.replicaEarnings.withdrawing, this.batches.drain(), this.replicas.drain(), this.p.pruner?.close()]);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /** What it saw and did since the start (for the idle status line, ./status.ts). */
  activity(): WorkerActivity {
    const count = (...actions: string[]) => actions.reduce((sum, action) => sum + (this.seen.actions.get(action) ?? 0), 0);
    return {
      jobsSeen: this.seen.jobs,
      open: this.p.journal.countJobs({ status: OPEN }),
      claimed: count("claim", "claimAndCommit", "postSignedAndCommit"),
      committed: count("commit", "claimAndCommit", "postSignedAndCommit"),
      revealed: count("reveal"),
    };
  }

  // ------------------------------------------------------------------ one job

  /**
   * One step of a job: reads what the decision needs (the job at the tick's head, its reveal window
   * when committed), lets `decideProviderStep` (decide.ts) say what it calls for, and carries that out.
   */
  private async advance(jobId: bigint, local: LocalJobStatus, data: JobData): Promise<void> {
    // A skipped job is read only once its keeper time came.
    let record = local === "skipped" ? undefined : await this.readRecord(jobId, data);
    if (record === "cancelled") return this.end(jobId, data, "dropped", "its poster cancelled the signed request");
    // A job of an older worker's journal names its input too (the blob pruner keeps what open jobs name).
    if (local !== "skipped" && record !== undefined && (keptButUnnamed(data) || (local === "active" && data.inputHash === undefined))) {
      data = { ...data, inputHash: record.inputHash };
      this.saveJob(jobId, local, data);
    }
    let step = await this.decide(jobId, local, data, record);
    if (step.kind === "read") {
      record = await this.readRecord(jobId, data);
      if (record === "cancelled") return this.end(jobId, data, "dropped", "its poster cancelled the signed request");
      step = await this.decide(jobId, local, data, record);
    }
    return this.carryOut(step, jobId, data, record!);
  }

  /**
   * The job at the tick's head (one chain request less per step, and read together with the other jobs
   * whose steps the tick started), unless a transaction of ours for this job landed after it, or the job
   * was seen posted after it: then at the latest block, so the job is never read from before our action,
   * nor from before it existed (not a "job not found").
   * A signed request its poster cancelled reads "cancelled": it can never become a job.
   */
  private async readRecord(jobId: bigint, data: JobData): Promise<JobRecord | "cancelled"> {
    // A signed request not posted yet is the job it will become (its own post is our commit).
    if (data.signed !== undefined && data.signedAs !== undefined) {
      const stored = await this.p.publicClient.readContract({ address: this.p.deployment.market, abi: jobMarketAbi, functionName: "jobHash", args: [jobId], blockNumber: this.readBlock(jobId, data) });
      if (BigInt(stored) === SIGNED_JOB_CANCELLED) return "cancelled";
      if (BigInt(stored) === 0n) {
        const domain = { chainId: this.p.chainId, market: this.p.deployment.market };
        return signedJobRecord(domain, decodeSignedJob(data.signed), { collateral: data.signedAs.collateral, termsVersion: data.signedAs.terms, postedBlock: data.postedBlock });
      }
    }
    return this.jobs.read({ jobId, fromBlock: data.postedBlock, blockNumber: this.readBlock(jobId, data) });
  }

  private async decide(jobId: bigint, local: LocalJobStatus, data: JobData, record: JobRecord | undefined): Promise<ProviderStep> {
    const job = record?.job;
    // Actions a crash left pending that the job's state proves were taken are confirmed first.
    if (job !== undefined && local !== "skipped" && job.status !== JobStatus.Posted && sameAddress(job.provider, this.p.account)) {
      this.reconcileActions(jobId, job.status);
    }
    return decideProviderStep({
      jobId,
      local,
      job,
      me: this.p.account,
      minFee: job === undefined ? undefined : this.models.get(job.modelId)?.minFee,
      maxCallbackGas: this.p.maxCallbackGas,
      head: await this.headNow(),
      revealWindow: job?.status === JobStatus.Committed ? await this.revealWindow(job) : undefined,
      data,
      withholdsOutputs: this.p.runner.withholdsOutputs === true,
      keeperGraceSeconds: this.keeperGraceSeconds,
      finishAt: local === "candidate" && job !== undefined ? this.finishEstimate(job.modelId) : undefined,
      claimCommitBy: local === "candidate" && job !== undefined && this.claimsFirst(job, data) ? await this.claimCommitBy(job) : undefined,
    });
  }

  /** Carries out the step `decideProviderStep` returned. */
  private async carryOut(step: ProviderStep, jobId: bigint, data: JobData, record: JobRecord): Promise<void> {
    switch (step.kind) {
      case "read":
        return;
      case "wait":
        this.schedule.sleep(jobId, { block: step.block, time: step.time });
        return;
      case "skip":
        return this.skip(jobId, data, step.reason);
      case "take":
        return this.take(record, data);
      case "runAndCommit":
        return this.runAndCommit(record, data);
      case "reveal":
        return this.reveal(record, data);
      case "revealTooLate":
        return this.revealTooLate(record, data, step.reason, step.details);
      case "finalize":
        return this.finalize(record, data, step.withOutput);
      case "expire":
        return step.duty === "keeper" ? this.keeperExpire(record, data) : void (await this.expire(record));
      case "end":
        return this.end(jobId, data, step.outcome, step.reason);
      case "pass":
        this.saveJob(jobId, "passed", { ...data, claimBy: step.claimBy });
        return;
      case "outputLost":
        throw new DinferError("committed job has no stored output", { code: "OUTPUT_LOST", details: { jobId: jobId.toString() } });
    }
  }

  /** A posted job the decision takes: only if our free stake backs it now (checked again right before the claim). */
  private async take(record: JobRecord, data: JobData): Promise<void> {
    const { job, jobId } = record;
    const model = this.models.get(job.modelId)!;
    // Nothing is fetched or run for a job our stake cannot back now (checked again right before the claim).
    if (!(await this.stakeFor(record))) return;
    try {
      await this.claimWithStake(record, data, model);
    } finally {
      // A reservation is kept past its claim's block only (the stake read at a later head shows the lock).
      this.stake.releaseUnmined(jobId);
    }
  }

  /**
   * Whether our stake backs the job's collateral: our available stake at the head, less what our claims
   * in flight (sent, or mined after the head) will lock. With `reserve`, the collateral is reserved at
   * once (no await between the check and the reservation): a claim is never sent that the stake
   * cannot back. When not, the job waits rather than being given up: a second, or till a claim of ours is
   * mined or dropped (`StakeLedger.check`).
   */
  private async stakeFor({ job, jobId }: JobRecord, { reserve = false }: { reserve?: boolean } = {}): Promise<boolean> {
    const { backed, free } = await this.stake.check({
      key: jobId,
      amount: job.collateral,
      head: this.head!.number,
      reserve,
      // A claim of ours mined or dropped (a single job's, a batch's, a redundant job's): looked at again at once,
      // or, if this step has not ended yet, as soon as it ends (its timed sleep dropped).
      onFreed: () => {
        this.schedule.poke(jobId);
        this.startSteps();
      },
    });
    if (!backed) {
      this.schedule.sleep(jobId, { time: (this.head?.timestamp ?? 0n) + 1n });
      this.p.log.debug({ msg: "waiting for free stake", job_id: jobId.toString(), free: free.toString(), free_tokens: formatTokens(free), collateral: job.collateral.toString(), collateral_tokens: formatTokens(job.collateral) });
    }
    return backed;
  }

  private async claimWithStake(record: JobRecord, data: JobData, model: LoadedModel): Promise<void> {
    const { job, jobId } = record;

    const claimFirst = this.claimsFirst(job, data);
    let input: HeldInput | undefined;
    const timings: StageTimings = {};
    try {
      const fetchStart = performance.now();
      input = await this.slotFreeWhileSlow(
        jobId,
        fetchJobInput({ record, check: claimFirst, sources: this.p, ...(this.staging === undefined ? {} : { stageIn: this.staging }) }),
      );
      const checkStart = performance.now();
      validateInputs({
        tensors: decodeTensorBlob(input.bytes, { maxBytes: this.p.maxInputBytes }),
        inputMetadata: model.inputMetadata,
        // Refused unless the owner opted in. Scanned here only before a claim: run first, the inference thread scans it.
        allowNonFinite: model.nonFiniteInputs || !claimFirst,
      });
      input.scanned = claimFirst;
      timings.fetch = checkStart - fetchStart;
      timings.check = performance.now() - checkStart;
    } catch (error) {
      await this.discardStaged(input);
      this.inputFailed(job.poster);
      // A blob server down for a moment is no reason to give the job up: it is tried again after a backoff.
      if (error instanceof RetryableError) throw error;
      return this.skip(jobId, data, `bad input: ${describe(error)}`);
    }
    this.failures.delete(jobId);
    try {
      await this.claimFetched(record, data, { claimFirst, input, timings });
    } finally {
      // Kept only once adopted (after our commit, or before a claim-first claim): a job skipped, lost, or left
      // for a later step (which fetches it again) leaves nothing on disk. A poster's requests cannot fill our
      // disk with inputs we never committed to: what is staged is what the old code held in memory.
      await this.discardStaged(input);
    }
  }

  /** `claimWithStake` once the input is held: claim it first, or run it and claim and commit at once. */
  private async claimFetched(record: JobRecord, data: JobData, { claimFirst, input, timings }: { claimFirst: boolean; input: HeldInput; timings: StageTimings }): Promise<void> {
    const { job, jobId } = record;
    this.inputs.set(jobId, input);

    if (claimFirst) {
      // The run comes after the claim, maybe after a restart: the store keeps the input till then.
      await this.storeInput(input, record.inputHash);
      if (!(await this.stakeFor(record, { reserve: true })) || this.repostedMidStep(jobId, "claim")) {
        this.inputs.delete(jobId);
        return;
      }
      const claimed = await this.act(jobId, "claim", (onSent) =>
        this.claims.send({ address: this.p.deployment.market, abi: jobMarketAbi, functionName: "claim", args: [jobId, job], onSent }, this.unlessReposted(jobId, "claim")),
      ).catch(withdrawnAsFalse);
      if (!claimed) {
        this.inputs.delete(jobId);
        return; // lost the race (logged): the next tick sees the winner and ends the job
      }
      if (claimed.receipt) this.stake.mined(jobId, job.collateral, claimed.receipt.blockNumber);
      this.claimedUnrun.add(jobId);
      const inputCid = await this.pinInput(record);
      this.saveJob(jobId, "active", { ...data, inputHash: record.inputHash, ...(inputCid ? { inputCid } : {}) });
      this.onTaken(record);
      return;
    }

    // Run first: nothing is claimed yet, so a run that can never succeed just skips the job. The input is
    // stored only once committed (a staged one stays staged till then): a restart before the commit finds the
    // job still posted and fetches it again.
    let ran: Awaited<ReturnType<typeof this.produceOutput>>;
    try {
      ran = await this.produceOutput(record, data, timings);
    } catch (error) {
      // A load that timed out is the machine's, and a stacked run's timeout is no one input's: tried again as any failure.
      if (!(error instanceof InferenceTimeoutError) || error.parameters.phase !== "run" || (error.parameters.jobs ?? 1) > 1) throw error;
      // Nothing is claimed yet, and each try holds an inference thread for inferenceTimeoutMs: an input the model
      // runs past its limit on alone is tried RUN_FIRST_TIMEOUTS times in all (once more: a stall may be the
      // machine's), then left, and its poster's next jobs go last.
      this.inputFailed(job.poster);
      const timeouts = (this.timeouts.get(jobId) ?? 0) + 1;
      if (timeouts < RUN_FIRST_TIMEOUTS) {
        this.timeouts.set(jobId, timeouts);
        throw error;
      }
      this.timeouts.delete(jobId);
      return this.skip(jobId, data, `run failed: ${describe(error)} (${timeouts} times)`);
    }
    this.timeouts.delete(jobId);
    // Its inference is done: the next posted job may be fetched while this one is committed.
    if (this.preparing.delete(jobId)) this.startSteps();
    if ("failure" in ran) {
      // A run the model refuses is the input's doing as much as a bad input is: the poster's next jobs go last.
      this.inputFailed(job.poster);
      return this.skip(jobId, data, `${ran.badInput ? "bad input" : "run failed"}: ${ran.failure}`);
    }
    // The poster's input was read, checked and run: its failures in a row are over.
    this.posterFailures.delete(job.poster.toLowerCase());
    if (job.inlineOutput && ran.data.outputBytes! > INLINE_OUTPUT_MAX) {
      return this.skip(jobId, data, `the job requires an inline output and ours is ${ran.data.outputBytes} bytes (at most ${INLINE_OUTPUT_MAX} fit in a reveal)`);
    }
    // The state read before the run is what we claim from; if someone claimed meanwhile, the
    // simulation refuses it and the next tick ends the job as a lost race. The output is kept
    // (journaled, stored): a job waiting here for stake is not run again.
    if (!(await this.stakeFor(record, { reserve: true })) || this.repostedMidStep(jobId, "claimAndCommit")) return;
    const c = this.commitmentFor(jobId, ran.data.outputRoot!);
    const signed = data.signed === undefined ? undefined : decodeSignedJob(data.signed);
    const committed = signed
      ? await this.act(
          jobId,
          "postSignedAndCommit",
          (onSent) =>
            this.calls.send({
              address: this.p.deployment.market,
              abi: jobMarketAbi,
              functionName: "postSignedAndCommit",
              args: [signedJobArg(signed), signed.signature, c],
              onSent,
            }),
          (error) => {
            // We ran it and what the poster (or the model's owner) did since makes it unpostable: its deposit
            // withdrawn, the request cancelled, the model's collateral lowered or raised past the fee, the
            // model retired. Its next requests wait: it cannot make us work for nothing twice.
            if (POSTER_CAUSED_REVERTS.has(error.errorName ?? "")) {
              this.signedDefaulters.set(signed.poster.toLowerCase(), Date.now() + SIGNED_DEFAULT_REFUSAL_MS);
              this.p.log.warn({ msg: "signed job unpostable after our run: its poster's requests are refused for an hour", job_id: jobId.toString(), poster: signed.poster, error: error.errorName });
            }
          },
        )
      : await this.act(jobId, "claimAndCommit", (onSent) =>
          this.claims.send(
            { address: this.p.deployment.market, abi: jobMarketAbi, functionName: "claimAndCommit", args: [jobId, job, c], onSent },
            this.unlessReposted(jobId, "claimAndCommit"),
          ),
        ).catch(withdrawnAsFalse);
    if (!committed) return;
    if (committed.receipt) this.stake.mined(jobId, job.collateral, committed.receipt.blockNumber);
    const inputCid = await this.keepInput(record, input);
    this.saveJob(jobId, "active", { ...ran.data, inputHash: record.inputHash, ...(inputCid ? { inputCid } : {}) });
    this.onTaken(record);
    await this.scheduleAfter(record, committed, ran.data);
  }

  /**
   * Stores the input of a job we committed to, so that our blob server serves it beside the output: a
   * dApp that stops serving its input after our fetch cannot make our work unverifiable (verifiers read
   * an input from the provider's blob server when its own URI fails, checked against the input hash). An
   * `ipfs://` input is pinned on our IPFS node too (`pinInput`); returns its CID then.
   */
  private async keepInput(record: JobRecord, input: HeldInput): Promise<string | undefined> {
    const { jobId, inputHash } = record;
    if (input.source === "inline input") return; // on chain already
    if (input.staged === undefined && input.bytes.byteLength === 0) return;
    try {
      await this.storeInput(input, inputHash);
    } catch (error) {
      this.p.log.warn({ msg: "input not kept: verifiers can read it only from the dApp", job_id: jobId.toString(), err: describe(error) });
    }
    return this.pinInput(record);
  }

  /**
   * Puts a held input in the store: the file its hashing thread staged moved into place, else its bytes written.
   * A staged input's bytes went to the inference thread for good: where adopting fails, writing would have too
   * (the same directory; a rename needs no space).
   */
  private async storeInput(input: HeldInput, inputHash: Hex): Promise<void> {
    if (input.staged === undefined) {
      await this.p.store.put(input.bytes, { knownId: inputHash });
      return;
    }
    await this.p.store.adopt(input.staged, inputHash, this.p.runner.adoptStaged?.bind(this.p.runner));
    delete input.staged;
  }

  /** Deletes the file a held input was staged in, unless it was adopted. */
  private async discardStaged(input: HeldInput | undefined): Promise<void> {
    if (input?.staged === undefined) return;
    const file = input.staged;
    delete input.staged;
    await this.p.store.discard(file).catch((error: unknown) => {
      this.p.log.warn({ msg: "staged input not deleted", file, err: describe(error) });
    });
  }

  /**
   * Pins an `ipfs://` input we committed to on our IPFS node (its blocks are local: we just read it whole), so
   * the URI the job names keeps resolving from us after the poster stops serving it. Returns the CID pinned.
   */
  private async pinInput({ jobId, inputURI }: JobRecord): Promise<string | undefined> {
    if (this.p.ipfs === undefined || !isIpfsUri(inputURI)) return undefined;
    try {
      const { cid, path } = parseIpfsUri(inputURI);
      // A file inside a directory: the directory's other files were never read, so it cannot be pinned whole.
      if (path.length > 0) throw new DinferError("the input is a path inside a directory CID: only a file's own CID can be pinned", { code: "IPFS_PIN_PATH" });
      await this.p.ipfs.pin(cid, { holder: `job:${jobId}:input` });
      return cid;
    } catch (error) {
      this.p.log.warn({ msg: "ipfs input not pinned: verifiers can read it only from the dApp", job_id: jobId.toString(), err: describe(error) });
      return undefined;
    }
  }

  /** Publishes a job's output on our IPFS node, pinned until the job ends; undefined (revealed by HTTP then) when it cannot be. */
  private async publishOutput(jobId: bigint, output: Uint8Array): Promise<string | undefined> {
    if (this.p.ipfs === undefined) return undefined;
    try {
      return (await this.p.ipfs.add(output, { holder: `job:${jobId}:output` })).cid;
    } catch (error) {
      this.p.log.warn({ msg: "output not published on ipfs: revealed by our blob server's URL", job_id: jobId.toString(), err: describe(error) });
      return undefined;
    }
  }

  /** Lets go of a job's IPFS pins (it is final: nobody judges it any more); garbage collection drops the blocks later. */
  private releasePins(jobId: bigint, data: JobData): void {
    const pins = [
      [data.inputCid, "input"],
      [data.outputCid, "output"],
    ] as const;
    for (const [cid, what] of pins) {
      if (cid === undefined || this.p.ipfs === undefined) continue;
      this.p.ipfs.unpin(cid, { holder: `job:${jobId}:${what}` }).catch((error: unknown) => {
        this.p.log.warn({ msg: "ipfs pin not released", job_id: jobId.toString(), cid, err: describe(error) });
      });
    }
  }

  private onTaken({ jobId, job }: JobRecord): void {
    this.p.metrics.jobs.inc({ outcome: "claimed" });
    this.p.metrics.active.inc();
    this.p.log.info({ msg: "job claimed", job_id: jobId.toString(), model_id: job.modelId, fee: job.fee.toString(), fee_tokens: formatTokens(job.fee), collateral: job.collateral.toString(), collateral_tokens: formatTokens(job.collateral) });
  }

  /** claim-first: our claimed job's run, then the commit. */
  private async runAndCommit(record: JobRecord, data: JobData): Promise<void> {
    const { job, jobId } = record;
    // A retryable failure throws and leaves the job ahead of new ones: it is run again.
    const ran = await this.produceOutput(record, data);
    this.claimedUnrun.delete(jobId);
    if ("failure" in ran) {
      // The run can never succeed: never commit. The job expires (refund to the dApp, our penalty), and its
      // poster, whose input passed the checks before the claim and failed the run, has its next jobs go last.
      this.inputFailed(job.poster);
      this.saveJob(jobId, "active", { ...data, abandoned: ran.failure });
      this.p.metrics.jobs.inc({ outcome: "abandoned" });
      this.p.log.warn({ msg: "job abandoned before commit", job_id: jobId.toString(), reason: ran.failure });
      return;
    }
    this.posterFailures.delete(job.poster.toLowerCase());
    if (this.repostedMidStep(jobId, "commit")) return;
    const c = this.commitmentFor(jobId, ran.data.outputRoot!);
    const committed = await this.act(jobId, "commit", (onSent) =>
      this.calls.send({ address: this.p.deployment.market, abi: jobMarketAbi, functionName: "commit", args: [jobId, job, c], onSent }, this.unlessReposted(jobId, "commit")),
    ).catch(withdrawnAsFalse);
    await this.scheduleAfter(record, committed, ran.data);
  }

  /**
   * The job's output, run now or found in the store from an earlier run. The output and its root are
   * journaled before any commit is sent: a restarted worker must reveal exactly this output. Returns
   * `failure` for a run that can never succeed; a retryable failure (timeout, dead thread) throws.
   */
  private async produceOutput(
    record: JobRecord,
    data: JobData,
    timings: StageTimings = {},
  ): Promise<{ data: JobData } | { failure: string; badInput: boolean }> {
    const { job, jobId } = record;
    // The input's buffer goes to the inference thread (transferred, not copied): it is taken out of
    // the map first, so a retry reads it from the store (claim-first) or fetches it again (run-first).
    const fetched = this.inputs.get(jobId);
    this.inputs.delete(jobId);
    // An output of an earlier run is this job's only if it was run from this job's input (a reorg can give a job id
    // another input: onPostedAgain).
    const ranThisInput = data.inputHash === record.inputHash && data.modelId === job.modelId;
    if (data.outputRoot && ranThisInput && (data.withheld || (await hasOutput(this.p, data)))) return { data };
    const model = this.models.get(job.modelId)!;
    const input = fetched?.bytes ?? (await this.p.store.get(record.inputHash));
    let result: JobRunResult;
    try {
      // An unchecked input is hashed by the runner; one not scanned here (run first), or read back from the
      // store (which hashes what it reads), is scanned by the inference thread.
      const verifyInput = fetched && !fetched.checked ? { expected: record.inputHash, source: fetched.source } : undefined;
      result = await this.p.runner.run({
        jobId,
        modelPath: model.path,
        modelHash: model.modelHash,
        ep: this.p.ep,
        input,
        verifyInput,
        timeoutMs: this.p.inferenceTimeoutMs,
        // A fetched input is kept: lent to the thread and given back, it is stored and served once committed
        // (keepInput). One staged by the hashing thread that read it is kept by its file: its bytes are given.
        transferInput: fetched === undefined || fetched.staged !== undefined,
        returnInput: fetched !== undefined && fetched.staged === undefined,
        allowNonFinite: model.nonFiniteInputs || fetched?.scanned === true,
        // Dynamic batching (the runner's maxBatch): a stacked run must match each job's own within the model's tolerance.
        ...(model.tolerance ? { batchTolerance: model.tolerance } : {}),
        // The hashing thread that hashes the output for its root stores it too (a withholding runner's never is).
        ...(this.p.runner.withholdsOutputs === true ? {} : { keepOutput: this.p.outputs.keeping() }),
      });
    } catch (error) {
      if (error instanceof RetryableError) throw error; // the next tick tries again
      return { failure: describe(error), badInput: error instanceof BlobHashMismatchError || error instanceof InputValidationError };
    }
    if (fetched && result.input) fetched.bytes = result.input;
    this.p.metrics.inference.observe({ model: String(job.modelId), ep: result.ep }, result.ms / 1000);
    const { queuedMs, prepMs, encodeMs, hashMs } = result.timings;
    Object.assign(timings, { wait: queuedMs, prep: prepMs + encodeMs, hash: hashMs, run: result.ms });
    const outputStart = performance.now();
    const { output, outputRoot: root } = result;
    // A withholding runner's outputs are never stored, so never served (revealed by root and URI only).
    const withheld = this.p.runner.withholdsOutputs === true;
    if (!withheld && result.outputKept !== true) await this.p.outputs.put(output, { knownId: root });
    const outputCid = withheld ? undefined : await this.publishOutput(jobId, output);
    const { outputId: _stored, ...kept } = data; // an older worker's output, lost: this one is stored by its root
    // Named with its output from the start, so the blob pruner keeps both for as long as the job is open.
    const next: JobData = { ...kept, outputRoot: root, outputBytes: output.byteLength, inputHash: record.inputHash, ep: result.ep, inferenceMs: result.ms, withheld, ...(outputCid ? { outputCid } : {}) };
    // A stacked run's time is shared by its jobs: what each job costs the thread is its share.
    this.measured(job.modelId, result.ms / (result.batchSize ?? 1));
    const status = this.p.journal.getJobStatus(jobId) ?? "candidate";
    this.saveJob(jobId, status, next);
    timings.output = performance.now() - outputStart;
    this.observeStages(timings);
    this.p.log.info({
      msg: "inference done",
      job_id: jobId.toString(),
      ep: result.ep,
      ms: Math.round(result.ms),
      batch: result.batchSize ?? 1,
      output_root: root,
      stages_ms: roundTimings(timings),
    });
    return { data: next };
  }

  private observeStages(timings: StageTimings): void {
    for (const [stage, ms] of Object.entries(timings)) if (ms !== undefined) this.p.metrics.stage.observe({ stage }, ms / 1000);
  }

  private commitmentFor(jobId: bigint, root: Hex): Hex {
    return commitment({
      chainId: BigInt(this.p.chainId),
      jobMarket: this.p.deployment.market,
      jobId,
      provider: this.p.account,
      outputRoot: root,
      salt: this.salt(jobId),
    });
  }

  /** Reveals our committed result (the decision checked the seed is mined and in reach, and the deadline). */
  private async reveal(record: JobRecord, data: JobData): Promise<void> {
    const { job, jobId } = record;
    const { lastRevealBlock } = await this.revealWindow(job);
    // A job that requires it is revealed inline (the market refuses it otherwise); any other output
    // that fits in one chunk is too, so that readers need no fetch. Only a small output is read back;
    // a journal from before outputBytes was kept has no size, and its output is read to learn it.
    let inline: Hex = "0x";
    if (!data.withheld && (job.inlineOutput || data.outputBytes === undefined || data.outputBytes <= INLINE_OUTPUT_MAX)) {
      const output = await getOutput(this.p, data);
      if (output.length <= INLINE_OUTPUT_MAX) inline = toHex(output);
    }
    if (job.inlineOutput && inline === "0x") {
      // Never claimed so (the decision skips it); a journal from an older worker could hold one.
      throw new DinferError("the job requires an inline output and ours does not fit in a reveal", {
        code: "INLINE_OUTPUT_TOO_LARGE",
        details: { jobId: jobId.toString(), outputBytes: data.outputBytes },
      });
    }
    // On IPFS when we published it there and the input is on our node too (pinned) or on chain: whoever reads
    // the output from us reads the input from us. Else our blob server, whose URL tells verifiers where our
    // copy of an http(s) input is (`/blobs/<inputHash>`): an input we cannot serve counts against us once
    // the dApp stops serving it (docs/PROTOCOL.md, section 5).
    const inputWithOutput = record.inlineInput.length > 2 || data.inputCid !== undefined;
    const uri = data.outputCid && inputWithOutput ? ipfsUriOf(data.outputCid) : outputUrl(this.p.publicUrl, data);
    const revealed = await this.act(
      jobId,
      "reveal",
      (onSent) =>
        this.calls.send({
          address: this.p.deployment.market,
          abi: jobMarketAbi,
          functionName: "reveal",
          args: [jobId, job, data.outputRoot!, this.salt(jobId, data), uri, inline],
          onSent,
        }),
      (error) => {
        // The seed went out of reach, or the deadline passed, between our read and the send.
        if (error.errorName === "SeedOutOfReach" || error.errorName === "DeadlinePassed") {
          return this.revealTooLate(record, data, error.errorName, { args: String(error.args) });
        }
        // A sampled job: the reveal waits until the auditor committed blind or its deadline passed.
        // It is tried again (act retries a refused action) every few seconds, well before the seed
        // goes out of reach: the audit deadline comes before the reveal deadline, which comes before that.
        if (error.errorName !== "AuditPending") return;
        const auditCommitBy = BigInt(String((error.args as readonly unknown[] | undefined)?.[1] ?? 0));
        const soon = (this.head?.timestamp ?? auditCommitBy) + AUDIT_RECHECK_SECONDS;
        this.schedule.sleep(jobId, { time: soon < auditCommitBy + 1n ? soon : auditCommitBy + 1n });
        this.p.log.info({
          msg: "reveal waits for the audit commitment",
          job_id: jobId.toString(),
          audit_commit_by: auditCommitBy.toString(),
          last_reveal_block: lastRevealBlock.toString(),
        });
      },
    );
    if (revealed) this.p.log.info({ msg: "result revealed", job_id: jobId.toString(), output_uri: uri, inline: inline !== "0x" });
    await this.scheduleAfter(record, revealed, data);
  }

  /**
   * Our committed result can no longer be revealed: the seed is out of reach, or the reveal deadline
   * passed. Loud, since it costs the whole collateral when the job counts as sampled (a seed out of
   * reach does, wherever sampling is on); the job is expired as soon as the market allows, so the poster
   * is refunded.
   */
  private revealTooLate(record: JobRecord, data: JobData, reason: "SeedOutOfReach" | "DeadlinePassed", details: Record<string, unknown>): void {
    const { jobId } = record;
    const abandoned =
      reason === "SeedOutOfReach"
        ? "SeedOutOfReach: the sampling seed is out of reach (over 256 blocks old), the reveal is closed"
        : "DeadlinePassed: the reveal deadline passed";
    this.saveJob(jobId, "active", { ...data, abandoned });
    this.p.metrics.jobs.inc({ outcome: "abandoned" });
    this.p.log.error({ msg: "reveal impossible: the job can only expire", job_id: jobId.toString(), reason: abandoned, ...stringify(details) });
  }

  /** Finalizes our revealed job after its challenge window; a callback job revealed inline passes its output along. */
  private async finalize(record: JobRecord, data: JobData, withOutput: boolean): Promise<void> {
    const { job, jobId } = record;
    const output = withOutput ? (record.inlineOutput ?? "0x") : undefined;
    const finalized = await this.act(jobId, "finalize", (onSent) =>
      endJob({ sender: this.p.sender, group: this.calls, deployment: this.p.deployment, action: "finalize", jobId, job, inlineOutput: output, onSent }),
    );
    await this.scheduleAfter(record, finalized, data);
  }

  /**
   * After our own transaction for a job: its receipt's market events give the state the job is in
   * now, and so when its next step can come (the seed block after a commit, the end of the challenge
   * window after a reveal), without reading the job again at the next tick. That step still starts
   * with a fresh read; this only schedules it. A finalize ends the job here.
   */
  private async scheduleAfter(record: JobRecord, result: ActResult, data: JobData): Promise<void> {
    if (!result || result.receipt === undefined) return; // nothing sent now: the next tick reads the job
    let next: JobRecord | undefined = record;
    for (const decoded of jobLogsOf(result.receipt.logs, this.p.deployment.market)) {
      if (decoded.args.jobId === record.jobId) next = applyJobLog(next, decoded);
    }
    if (next === undefined || next === record) return;
    const { jobId, job } = next;
    switch (job.status) {
      case JobStatus.Committed:
        this.schedule.sleep(jobId, { block: (await this.revealWindow(job)).seedBlock + 1n });
        return;
      case JobStatus.Revealed:
        this.schedule.sleep(jobId, { time: BigInt(job.deadline) + 1n });
        return;
      case JobStatus.Finalized:
        this.end(jobId, data, "finalized");
        return;
    }
  }

  /**
   * A worker killed between a receipt and its journal entry leaves the action pending; the chain
   * shows whether it took effect. Mark those the job's status proves as confirmed.
   */
  private reconcileActions(jobId: bigint, status: JobStatus): void {
    const shownBy: Record<string, JobStatus> = {
      claim: JobStatus.Claimed,
      commit: JobStatus.Committed,
      claimAndCommit: JobStatus.Committed,
      postSignedAndCommit: JobStatus.Committed,
      reveal: JobStatus.Revealed,
      finalize: JobStatus.Finalized,
    };
    for (const action of this.p.journal.pendingActions({ jobId })) {
      const needs = shownBy[action.action];
      if (needs === undefined || status < needs || status === JobStatus.Expired || status === JobStatus.Slashed) continue;
      if (action.action === "finalize" && status !== JobStatus.Finalized) continue;
      this.p.journal.markActionConfirmed({ jobId, action: action.action });
      this.p.log.info({ msg: "action found on chain after a restart", job_id: jobId.toString(), action: action.action });
    }
  }

  /** Expires a job (our abandoned one, or, as a keeper, one nobody claimed): the poster is refunded. */
  private expire({ job, jobId }: JobRecord): Promise<ActResult> {
    return this.act(jobId, "expire", (onSent) =>
      endJob({ sender: this.p.sender, deployment: this.p.deployment, action: "expire", jobId, job, onSent }),
    );
  }

  // ------------------------------------------------------------------ helpers

  /**
   * Sends one journaled action at most once (the daemon kit's `JournaledActions`). Returns false when
   * the contract refused it (a lost claim race, a job someone else already moved): that is logged and
   * dropped, never retried. Otherwise the action is done, with the receipt when it was sent now.
   */
  private async act(jobId: bigint, action: string, send: SendOnce, onRefused?: (error: ContractRevertError) => void): Promise<ActResult> {
    let started = 0;
    const result = await this.actions.send({
      jobId,
      action,
      send,
      // Never alongside a withdraw (see Earnings.maybeWithdraw).
      beforeSend: async () => {
        while (this.earnings.withdrawing) await this.earnings.withdrawing;
        started = performance.now();
      },
    });
    if (result.state === "done") return {};
    if (result.state === "refused") {
      const { error } = result;
      // Someone changed the job under us: its next read must come from a later block than this head, or
      // than the block that refused it (a call skipped in a mined group).
      const afterHead = (this.head?.number ?? 0n) + 1n;
      const refusedIn = typeof error.details?.blockNumber === "string" ? BigInt(error.details.blockNumber) : 0n;
      this.seenBlock.set(jobId, refusedIn > afterHead ? refusedIn : afterHead);
      // A call skipped in a group's transaction paid its share of that transaction.
      if (typeof error.details?.fee === "string") this.p.metrics.gas.inc(Number(error.details.fee));
      this.p.log.info({ msg: `${action} refused by the contract`, job_id: jobId.toString(), error: error.errorName, args: String(error.args) });
      onRefused?.(error);
      return false;
    }
    const { hash, fee, receipt } = result;
    if (result.lost !== undefined) this.p.log.warn({ msg: `${action} sent again: a reorg took its mined transaction away`, job_id: jobId.toString(), lost_tx_hash: result.lost, tx_hash: hash });
    this.seen.actions.set(action, (this.seen.actions.get(action) ?? 0) + 1);
    this.seenBlock.set(jobId, receipt.blockNumber);
    const ms = performance.now() - started;
    this.p.metrics.gas.inc(Number(fee));
    this.p.metrics.stage.observe({ stage: action }, ms / 1000);
    // A step that shared its transaction (a multicall) counts its share of the fee; the log names the group's size.
    const calls = "calls" in result && typeof result.calls === "number" ? result.calls : 1;
    this.p.log.info({
      msg: `${action} confirmed`,
      job_id: jobId.toString(),
      tx_hash: hash,
      gas_used: receipt.gasUsed.toString(),
      ...(calls > 1 ? { calls } : {}),
      ms: Math.round(ms),
    });
    return { receipt };
  }

  private skip(jobId: bigint, data: JobData, reason: string): void {
    // A signed request we do not post never becomes a job: nothing to keep.
    if (data.signed !== undefined) return this.end(jobId, data, "dropped", reason);
    // An output published before the skip (run first, then found unclaimable) is not ours to keep.
    this.releasePins(jobId, { ...this.p.journal.getJob<JobData>(jobId)?.data, ...data });
    this.saveJob(jobId, "skipped", { ...data, reason });
    this.p.metrics.jobs.inc({ outcome: "skipped" });
    this.p.log.info({ msg: "job skipped", job_id: jobId.toString(), reason });
    // Kept for the keeper duty: looked at again when its claim deadline has passed.
    if (data.claimBy !== undefined) this.schedule.sleep(jobId, { time: keeperTime({ me: this.p.account, jobId, claimBy: data.claimBy, graceSeconds: this.keeperGraceSeconds }) });
  }

  private get keeperGraceSeconds(): number {
    return this.p.keeperGraceSeconds ?? 10;
  }

  /** Keeper duty: expires a posted job nobody claimed by its deadline (the poster is refunded), then forgets it. */
  private async keeperExpire(record: JobRecord, data: JobData): Promise<void> {
    const { job, jobId } = record;
    // Refused: another keeper was first (or the job moved); the next read tells which.
    if (!(await this.expire(record))) return;
    this.p.log.info({ msg: "unclaimed job expired (keeper): the poster is refunded", job_id: jobId.toString(), poster: job.poster, refund: job.fee.toString(), refund_tokens: formatTokens(job.fee) });
    this.end(jobId, data, "keeper_expired");
  }

  /** An input of `poster` failed (unreachable, or bad): after a few in a row, its jobs go after everyone else's. */
  private inputFailed(poster: Address): void {
    const key = poster.toLowerCase();
    this.posterFailures.set(key, (this.posterFailures.get(key) ?? 0) + 1);
  }

  /**
   * Awaits a candidate's input fetch; one still running after SLOW_FETCH_MS gives its prefetch slot to
   * the next job (and goes on): a server that hangs holds no slot. At most `prefetch * 4` fetches run
   * so, beyond them a slow one keeps its slot.
   */
  private async slotFreeWhileSlow<T>(jobId: bigint, work: Promise<T>): Promise<T> {
    const timer = setTimeout(() => {
      if (this.slowFetches.size >= this.prefetch * 4 || !this.preparing.delete(jobId)) return;
      this.slowFetches.add(jobId);
      this.p.log.debug({ msg: "input fetch is slow: its slot goes to the next job", job_id: jobId.toString() });
      this.startSteps();
    }, SLOW_FETCH_MS);
    try {
      return await work;
    } finally {
      clearTimeout(timer);
      this.slowFetches.delete(jobId);
    }
  }

  /** The block to read a job at: the tick's head, unless something newer is known about it (our last transaction, the block it was posted in). */
  private readBlock(jobId: bigint, data: JobData): bigint | undefined {
    const head = this.head?.number;
    const seen = this.seenBlock.get(jobId);
    if (head === undefined || (seen !== undefined && head < seen) || head < data.postedBlock) return undefined;
    return head;
  }

  /** Journals the job with `status` and `data`; it is tracked (stepped at its wakes) while its status is open. */
  private saveJob(jobId: bigint, status: string, data: JobData): void {
    this.p.journal.putJob<JobData>({ jobId, role: "provider", status, data });
    this.schedule.track(jobId, this.stepped.includes(status) ? status : undefined);
  }

  /** The statuses of the jobs we step: a keeper's skipped jobs too (expired when nobody claimed them). */
  private get stepped(): readonly string[] {
    return this.keeper ? KEPT : OPEN;
  }

  private end(jobId: bigint, data: JobData, outcome: string, reason?: string): void {
    this.inputs.delete(jobId);
    this.claimedUnrun.delete(jobId);
    this.failures.delete(jobId);
    this.timeouts.delete(jobId);
    this.posterOf.delete(jobId);
    this.offers.delete(jobId);
    this.seenBlock.delete(jobId);
    if (outcome === "finalized") this.earnings.grew();
    const journaled = this.p.journal.getJob<JobData>(jobId);
    this.releasePins(jobId, { ...journaled?.data, ...data });
    const wasActive = journaled?.status === "active";
    this.saveJob(jobId, outcome, { ...data, reason });
    this.p.metrics.jobs.inc({ outcome });
    if (wasActive) this.p.metrics.active.dec();
    this.p.log.info({ msg: "job ended", job_id: jobId.toString(), outcome, reason });
  }

  private onStepError(jobId: bigint, error: unknown): void {
    // Retryable or not, the job stays open: its step is tried again after a backoff that doubles per
    // failure in a row (not at the next tick), and deadlines (expiry) end it if it can never proceed.
    // One WARN line at the 1st, 2nd, 4th, 8th... failure; debug lines in between.
    const failures = (this.failures.get(jobId) ?? 0) + 1;
    this.failures.set(jobId, failures);
    const delay = Math.min(RETRY_BASE_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS);
    if (this.head !== undefined) this.schedule.sleep(jobId, { time: this.head.timestamp + BigInt(delay) });
    const line = { msg: "job step failed", job_id: jobId.toString(), err: describe(error), failures, retry_in_s: delay };
    if ((failures & (failures - 1)) === 0) this.p.log.warn(line);
    else this.p.log.debug(line);
  }

  /**
   * Whether a job is claimed before its run (option `claimMode`). A job that requires an inline output is run
   * before it is claimed: only the run tells whether the output fits in one reveal, and one that does not must
   * never be claimed. A signed request is claimed and committed in one call.
   */
  private claimsFirst(job: Job, data: JobData): boolean {
    return this.p.claimMode === "claim-first" && !job.inlineOutput && data.signed === undefined;
  }

  /** The commit deadline a claim at the head would set: the head's time plus the job's terms' commitTimeout. */
  private async claimCommitBy(job: Job): Promise<bigint> {
    const { market } = await this.terms.of(job.terms);
    return (await this.headNow()).timestamp + BigInt(market.commitTimeout);
  }

  /** The blocks a committed job's reveal can land between, from the job's own terms. */
  private async revealWindow(job: Job): Promise<{ seedBlock: bigint; lastRevealBlock: bigint }> {
    const { market } = await this.terms.of(job.terms);
    return revealWindowBlocks({ commitBlock: job.commitBlock, seedDelay: market.seedDelay });
  }

  private salt(jobId: bigint, data?: JobData): Hex {
    if (data?.batchSalt) return batchJobSalt(data.batchSalt, jobId);
    return deriveSalt({ workerSecret: this.p.secret, chainId: BigInt(this.p.chainId), jobId });
  }

  /** The head as of this tick (a step acting on a stale one is refused in simulation, not sent); the latest block before the first tick. */
  private async headNow(): Promise<{ number: bigint; timestamp: bigint }> {
    if (this.head !== undefined) return this.head;
    const block = await this.p.publicClient.getBlock({ blockTag: "latest" });
    return { number: block.number, timestamp: block.timestamp };
  }
}

/** A JobPosted of a journaled job, as `onPosted` read it: the candidate's data, its fee, and its record from the log. */
type Repost = { data: JobData; fee?: bigint; known?: JobRecord };

/**
 * Whether a JobPosted is the post the journal holds (the same log delivered again), by what the journal and the
 * offers keep of it; a field one side does not know (an older journal, a catch-up without the log) is not compared.
 */
function samePost(journaled: JobData, posted: JobData, journaledFee: bigint | undefined, postedFee: bigint | undefined): boolean {
  const same = <T>(a: T | undefined, b: T | undefined) => a === undefined || b === undefined || a === b;
  return (
    journaled.postedBlock === posted.postedBlock &&
    journaled.modelId === posted.modelId &&
    same(journaled.poster?.toLowerCase(), posted.poster?.toLowerCase()) &&
    same(journaled.claimBy, posted.claimBy) &&
    same(journaled.inputHash, posted.inputHash) &&
    same(journaledFee, postedFee)
  );
}

function stripUndefined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** An action done (with its receipt when it was sent now), or false when the contract refused it. */
type ActResult = { receipt?: TransactionReceipt } | false;

/** Milliseconds per pipeline stage of one job (see `dinfer_job_stage_seconds`). */
type StageTimings = { fetch?: number; check?: number; wait?: number; prep?: number; hash?: number; run?: number; output?: number };

function roundTimings(timings: StageTimings): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([stage, ms]) => [stage, Math.round(ms * 10) / 10]));
}

function describe(error: unknown): string {
  if (error instanceof DinferError) return `${error.name}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Log fields as strings (bigints do not serialize). */
function stringify(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, typeof value === "bigint" ? value.toString() : value]));
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
