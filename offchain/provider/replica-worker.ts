/**
 * The provider worker's redundant jobs (IReplicaMarket; docs/PROTOCOL.md "Redundant jobs"), carried out
 * beside single jobs and batches through the same journal, journaled actions, stake ledger, runner and blob
 * store.
 *
 * - A posted redundant job of a served model is taken when it pays our price, a seat is free, its claim
 *   deadline is ahead, its constraints admit us (allowlist and profile: the contract's own `allowed` view;
 *   the minimum reputation by the rule of offchain/sdk/reputation.ts, which the chain cannot check), and our
 *   free stake backs its collateral. It is run first, its output stored, then a seat is taken with our
 *   commitment (`commit`); the salt derives from the worker secret, so a restart can always reveal.
 * - Once reveals open (every seat taken, or claimBy passed), we reveal with the URI our blob server serves the
 *   output at, and settle the job as soon as it can be settled (every seat revealed, or the reveal deadline
 *   passed, and the sampling seed mined).
 * - Agreed: our credit is withdrawn with the other ReplicaMarket earnings. Disputed: our seat is now a JobMarket
 *   job under a committee; the single-job path follows it (it serves the output and ends it as finalized or
 *   slashed), as it does for a job split out of a batch.
 *
 * Journal keys: a redundant job is kept under `REPLICA_KEY + replicaJobId` with role `provider-replica`.
 */
import type { Address, Hex, PublicClient } from "viem";

import { replicaMarketAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { ContractRevertError } from "../chain/errors.js";
import { readReplicaJob, ReplicaStatus, type ReplicaRecord } from "../chain/replicas.js";
import type { TxSender } from "../chain/sender.js";
import { commitment, deriveSalt } from "../codec/commitment.js";
import { decodeTensorBlob } from "../codec/tensor.js";
import { sendUnlessDropped, type JournaledActions, type SendOnce } from "../daemon/action.js";
import { JournaledSteps } from "../daemon/journaled-steps.js";
import { RetryableError } from "../errors.js";
import { validateInputs } from "../inference/validate.js";
import type { RunParameters } from "../inference/runner.js";
import type { Logger } from "../log.js";
import { providerReputation } from "../sdk/reputation.js";
import type { Journal } from "../state/journal.js";
import type { LocalBlobStore } from "../storage/local.js";
import { keptButUnnamed } from "../storage/prune.js";
import { outputUrl } from "../storage/stored-output.js";
import type { Earnings } from "./earnings.js";
import type { IpfsBlobReader } from "../storage/ipfs-uri.js";
import { fetchJobInput } from "./input.js";
import type { JobRunner, LoadedModel } from "./job-runner.js";
import type { StakeLedger } from "./stake.js";

/** Redundant jobs are journaled under this offset plus their id: no job or batch key comes near it. */
export const REPLICA_KEY = 1n << 201n;
const ROLE = "provider-replica";
const OPEN = ["candidate", "active"];
/** Our own reputation is recomputed from the chain at most this often (a job's minimum is checked against it). */
const REPUTATION_TTL_MS = 60_000;

/** What the journal keeps per redundant job. */
export type ReplicaData = {
  replicaJobId: bigint;
  postedBlock: bigint;
  modelId: number;
  reason?: string;
  /** Our output, once run (`outputId`: its blob id, in journals of older workers only, offchain/storage/stored-output.ts). */
  outputId?: Hex;
  outputRoot?: Hex;
  outputBytes?: number;
  /** The input we kept with it (absent in journals of older workers): what the blob pruner keeps while the seat is open. */
  inputHash?: Hex;
  /** The model our output was run with (absent in journals of older workers): a reorg may repost the id under another. */
  ranModelId?: number;
};

/** A disputed seat adopted by the single-job path (see `adopt`). */
export type ReplicaJobData = Pick<ReplicaData, "postedBlock" | "modelId" | "outputId" | "outputRoot" | "outputBytes" | "inputHash">;

export type ReplicaWorkerParameters = {
  log: Logger;
  publicClient: PublicClient;
  sender: TxSender;
  account: Address;
  chainId: number;
  deployment: Deployment;
  journal: Journal;
  actions: JournaledActions;
  stake: StakeLedger;
  runner: JobRunner;
  store: LocalBlobStore;
  outputs: LocalBlobStore;
  models: ReadonlyMap<number, LoadedModel>;
  secret: Hex;
  publicUrl: string;
  ep: RunParameters["ep"];
  inferenceTimeoutMs: number;
  maxInputBytes: number;
  ipfsGateway?: string;
  /** The worker's IPFS node, for `ipfs://` inputs. */
  ipfs?: IpfsBlobReader;
  allowFileUris: boolean;
  /** Read inputs on loopback, private and link-local hosts (InputSources.allowPrivateHosts): the daemon turns it on only on a devnet. */
  allowPrivateHosts: boolean;
  /** The daemon's stop: aborts the input reads in flight (InputSources.stopSignal). */
  stopSignal?: AbortSignal;
  /** Our ReplicaMarket credits, withdrawn past `withdrawMin`. */
  earnings: Earnings;
  /** The most posted redundant jobs taken up at once (fetched, stored and run before their commit); the others wait their turn. */
  maxTaking: number;
  /** When a job of the model taken now would be run and committed (the worker's measured run time and queue). */
  finishEstimate?: (modelId: number) => { at: bigint; why: string } | undefined;
  /** Tells the worker a run of the model took `ms` (its measured run time). */
  measured?: (modelId: number, ms: number) => void;
  /** Hands a disputed seat of ours, now a JobMarket job, to the single-job path: journals it active, stepped as the worker's own (ProviderWorker.saveJob). */
  adoptJob: (jobId: bigint, data: ReplicaJobData) => void;
};

export class ReplicaWorker {
  private readonly p: ReplicaWorkerParameters;
  private readonly steps: JournaledSteps<ReplicaData>;
  private head?: { number: bigint; timestamp: bigint };
  private reputation?: { at: number; ppm: Promise<number> };

  constructor(parameters: ReplicaWorkerParameters) {
    this.p = parameters;
    this.steps = new JournaledSteps<ReplicaData>({
      journal: parameters.journal,
      role: ROLE,
      stepped: OPEN,
      open: OPEN,
      // Posted redundant jobs not run yet: one whose output is journaled is past its run and never waits behind others'.
      limit: { max: parameters.maxTaking, applies: (status, data) => status === "candidate" && data.outputRoot === undefined },
      advance: (_key, status, data) => this.advance(status, data),
      failed: (key, error, retryIn) => {
        const line = { msg: "redundant job step failed", replica_job_id: (key - REPLICA_KEY).toString(), error: error instanceof Error ? error.message : String(error), retry_in_s: Number(retryIn) };
        if (error instanceof ContractRevertError || !(error instanceof RetryableError)) this.p.log.warn(line);
        else this.p.log.debug(line);
      },
    });
  }

  /**
   * A reorg: every redundant job of ours is looked at now. One may have lost a mined step (its commit, its reveal) while it
   * sleeps to the wake that step set, which may fall after that step's deadline (JournaledActions sends it again).
   */
  onReorg(): void {
    this.steps.wakeAll("active");
  }

  /** The poller's handler: records every ReplicaJobPosted of a served model as a candidate. */
  onPosted(jobs: readonly { replicaJobId: bigint; modelId: number; postedBlock: bigint }[]): number {
    let added = 0;
    for (const { replicaJobId, modelId, postedBlock } of jobs) {
      const known = this.p.journal.getJob<ReplicaData>(REPLICA_KEY + replicaJobId);
      if (known !== undefined) {
        // Posted again (a reorg): an open job is looked at again at once (a step asleep till a block the new chain
        // may not reach for long), and read from the earlier of its two posts' blocks from now on (a post moved to an
        // earlier block is not in the logs from the later one).
        if (OPEN.includes(known.status)) {
          if (postedBlock < known.data.postedBlock) this.save({ ...known.data, postedBlock }, known.status);
          this.steps.wake(REPLICA_KEY + replicaJobId);
        }
        continue;
      }
      if (!this.p.models.has(modelId)) continue;
      this.steps.save(REPLICA_KEY + replicaJobId, "candidate", { replicaJobId, postedBlock, modelId });
      this.p.log.debug({ msg: "redundant job seen", replica_job_id: replicaJobId.toString(), model_id: modelId });
      added++;
    }
    return added;
  }

  get idle(): boolean {
    return this.steps.idle;
  }

  tick(head: { number: bigint; timestamp: bigint }): void {
    this.head = head;
    this.steps.tick(head);
  }

  async drain(): Promise<void> {
    await this.steps.drain();
  }

  // ------------------------------------------------------------------ one redundant job

  private async advance(local: string, data: ReplicaData): Promise<void> {
    const head = this.head!;
    const r = await readReplicaJob({ client: this.p.publicClient, replicaMarket: this.p.deployment.replicaMarket, replicaJobId: data.replicaJobId, fromBlock: data.postedBlock });
    const mine = r.seats.find((s) => s.provider.toLowerCase() === this.p.account.toLowerCase());
    const key = REPLICA_KEY + data.replicaJobId;
    if (!mine && local === "active" && r.status === ReplicaStatus.Open && this.p.journal.getAction({ jobId: key, action: "replicaCommit" })?.state === "confirmed") {
      // Our seat was mined, and is gone: a reorg took its block away. The job is taken up again, our commit not found done.
      this.p.journal.forgetActions(key);
      this.save(data, "candidate");
      local = "candidate";
    }
    if (local === "candidate" && !mine) {
      const refusal = await this.refusal(r, head);
      if (refusal) return this.end(data, "skipped", refusal);
      return this.take(r, data);
    }
    if (!mine) return this.end(data, "lost_race", "every seat was taken before our commit");
    // A seat of an older worker's journal names its input too: its settle has no deadline, and the blob pruner
    // keeps what open seats name.
    if (local === "candidate" || keptButUnnamed(data)) this.save(data = { ...data, inputHash: r.inputHash }, "active");
    switch (r.status) {
      case ReplicaStatus.Open:
        return this.serve(r, data, mine.revealed, head);
      case ReplicaStatus.Agreed:
        this.p.earnings.grew();
        return this.end(data, "agreed");
      case ReplicaStatus.Disputed:
        if (mine.jobId !== 0n) this.adopt(r, data, mine.jobId);
        return this.end(data, "disputed", mine.jobId !== 0n ? `our seat went to a committee as job ${mine.jobId}` : "our seat was not revealed");
      default:
        return this.end(data, "expired");
    }
  }

  /** Why we do not take this job (undefined: we take it). */
  private async refusal(r: ReplicaRecord, head: { timestamp: bigint }): Promise<string | undefined> {
    const model = this.p.models.get(r.modelId);
    if (!model) return "model not served";
    if (r.status !== ReplicaStatus.Open) return "already settled";
    if (r.feePerReplica < model.minFee) return `fee per seat ${r.feePerReplica} below our price ${model.minFee}`;
    if (head.timestamp > r.claimBy) return "claim deadline passed";
    // The job's constraints first: a job that never admits us is skipped for that reason, whoever took its seats.
    const allowed = await this.p.publicClient.readContract({ address: this.p.deployment.replicaMarket, abi: replicaMarketAbi, functionName: "allowed", args: [r.replicaJobId, this.p.account] });
    if (!allowed) return "its constraints do not admit us (allowlist, or the region or execution providers our profile declares)";
    if (r.constraints.minReputationPpm > 0) {
      const ours = await this.reputationPpm();
      if (ours < r.constraints.minReputationPpm) return `it asks for a reputation of at least ${r.constraints.minReputationPpm / 1e6}; ours is ${ours / 1e6}`;
    }
    // A seat we could only commit after claimBy is left to faster providers: never fetched, never run.
    const finish = this.p.finishEstimate?.(r.modelId);
    if (finish !== undefined && finish.at > r.claimBy) return `we would commit it at ${finish.at}, after its claim deadline ${r.claimBy} (${finish.why})`;
    if (r.committed >= r.replicas) return "every seat is taken";
    return undefined;
  }

  /** Runs the job (or finds its output journaled) and takes a seat with our commitment, if our free stake backs it. */
  private async take(r: ReplicaRecord, data: ReplicaData): Promise<void> {
    const key = REPLICA_KEY + r.replicaJobId;
    if (!(await this.stakeBacks(r))) return;
    let next = data;
    // A reorg can give a redundant job's id another input or model (a seat's commit names the id alone): an output
    // run for another post is not this job's, and a commitment to it would lose the seat's collateral. An output
    // journaled by an earlier step is checked against the job as read now.
    if (next.outputRoot && !ranAsPosted(next, r)) {
      this.p.log.warn({ msg: "redundant job posted again since its run (a reorg): run again", replica_job_id: r.replicaJobId.toString() });
      next = withoutOutput(next);
      this.save(next, "candidate");
    }
    if (!next.outputRoot) {
      const ran = await this.run(r);
      if (typeof ran === "string") return this.end(next, "skipped", ran);
      next = { ...next, ...ran };
      this.save(next, "candidate");
    }
    // Checked again after the run: our other claims may have taken the stake meanwhile.
    if (!(await this.stakeBacks(r, { reserve: true }))) return;
    const c = commitment({ chainId: BigInt(this.p.chainId), jobMarket: this.p.deployment.replicaMarket, jobId: r.replicaJobId, provider: this.p.account, outputRoot: next.outputRoot!, salt: this.salt(r.replicaJobId) });
    try {
      const committed = await this.act(
        r.replicaJobId,
        "replicaCommit",
        (onSent) => this.p.sender.send({ address: this.p.deployment.replicaMarket, abi: replicaMarketAbi, functionName: "commit", args: [r.replicaJobId, c], onSent }),
        // Read again right before the send (after the run, the journal's flush, a withdrawal in flight): a reorg
        // meanwhile may have replaced the post. Then nothing is sent, and the job is run again.
        async () => {
          const now = await readReplicaJob({ client: this.p.publicClient, replicaMarket: this.p.deployment.replicaMarket, replicaJobId: r.replicaJobId, fromBlock: data.postedBlock });
          if (ranAsPosted(next, now)) return undefined;
          this.save(withoutOutput(next), "candidate");
          return "a reorg replaced its post since its run";
        },
      );
      if (!committed) return;
      if (committed.receipt) this.p.stake.mined(key, r.collateral, committed.receipt.blockNumber);
      this.save(next, "active");
      this.p.log.info({ msg: "redundant job seat taken", replica_job_id: r.replicaJobId.toString(), replicas: r.replicas, fee: r.feePerReplica.toString() });
    } finally {
      // Kept past its commit's block only (the stake read at a later head shows the lock): a refused send, a failed
      // one or one found done without a receipt frees it.
      this.p.stake.releaseUnmined(key);
    }
  }

  /**
   * Whether our free stake backs the seat's collateral (reserved at once with `reserve`). When not, it waits as a
   * single job does: a second, or till a claim of ours is mined or dropped (`StakeLedger.check`).
   */
  private async stakeBacks(r: ReplicaRecord, { reserve = false }: { reserve?: boolean } = {}): Promise<boolean> {
    const key = REPLICA_KEY + r.replicaJobId;
    const { backed, free } = await this.p.stake.check({ key, amount: r.collateral, head: this.head!.number, reserve, onFreed: () => this.steps.wake(key) });
    if (!backed) {
      this.steps.sleep(key, { time: this.head!.timestamp + 1n });
      this.p.log.debug({ msg: "waiting for free stake", replica_job_id: r.replicaJobId.toString(), free: free.toString(), collateral: r.collateral.toString() });
    }
    return backed;
  }

  /** Our seat's reveal once reveals open, then the job's settlement as soon as the market allows it. */
  private async serve(r: ReplicaRecord, data: ReplicaData, revealed: boolean, head: { timestamp: bigint }): Promise<void> {
    const key = REPLICA_KEY + r.replicaJobId;
    if (r.revealDeadline === 0n) {
      // Seats can still be taken: nobody reveals before every result is fixed.
      this.steps.sleep(key, { time: head.timestamp + 2n });
      return;
    }
    if (!revealed && head.timestamp <= r.revealDeadline) {
      if (!data.outputRoot) throw new RetryableError("committed redundant job has no stored output", { code: "OUTPUT_LOST" });
      const done = await this.act(r.replicaJobId, "replicaReveal", (onSent) =>
        this.p.sender.send({
          address: this.p.deployment.replicaMarket,
          abi: replicaMarketAbi,
          functionName: "reveal",
          args: [r.replicaJobId, data.outputRoot!, this.salt(r.replicaJobId), outputUrl(this.p.publicUrl, data)],
          onSent,
        }),
      );
      if (done) this.p.log.info({ msg: "redundant job revealed", replica_job_id: r.replicaJobId.toString(), output_root: data.outputRoot });
      return;
    }
    const settleable = r.revealed === r.committed || head.timestamp > r.revealDeadline;
    if (!settleable) {
      this.steps.sleep(key, { time: r.revealDeadline + 1n });
      return;
    }
    // Refused while the sampling seed is not mined (SeedNotReady) or someone settled first: looked at again soon.
    const settled = await this.act(r.replicaJobId, "replicaSettle", (onSent) =>
      this.p.sender.send({ address: this.p.deployment.replicaMarket, abi: replicaMarketAbi, functionName: "settle", args: [r.replicaJobId], onSent }),
    );
    if (!settled) this.steps.sleep(key, { time: head.timestamp + 2n });
  }

  /** Our output of the job (stored and served), or why the job cannot be served. */
  private async run(r: ReplicaRecord): Promise<Pick<ReplicaData, "outputRoot" | "outputBytes" | "inputHash" | "ranModelId"> | string> {
    const model = this.p.models.get(r.modelId)!;
    try {
      const input = await fetchJobInput({
        record: { inlineInput: "0x", inputURI: r.inputURI, inputHash: r.inputHash } as never,
        check: true,
        sources: this.p,
      });
      validateInputs({ tensors: decodeTensorBlob(input.bytes, { maxBytes: this.p.maxInputBytes }), inputMetadata: model.inputMetadata, allowNonFinite: model.nonFiniteInputs });
      // Kept and served beside the output: the committees of a disputed seat can read the input from us too.
      await this.p.store.put(input.bytes, { knownId: r.inputHash });
      const result = await this.p.runner.run({
        jobId: REPLICA_KEY + r.replicaJobId,
        modelPath: model.path,
        modelHash: model.modelHash,
        ep: this.p.ep,
        input: input.bytes,
        timeoutMs: this.p.inferenceTimeoutMs,
        transferInput: true,
        allowNonFinite: model.nonFiniteInputs,
        keepOutput: this.p.outputs.keeping(),
      });
      if (result.outputKept !== true) await this.p.outputs.put(result.output, { knownId: result.outputRoot });
      this.p.measured?.(r.modelId, result.ms);
      return { outputRoot: result.outputRoot, outputBytes: result.output.byteLength, inputHash: r.inputHash, ranModelId: r.modelId };
    } catch (error) {
      if (error instanceof RetryableError) throw error;
      return `cannot run it: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  /** A disputed seat of ours, now JobMarket job `jobId`: the single-job path serves its output and ends it. */
  private adopt(r: ReplicaRecord, data: ReplicaData, jobId: bigint): void {
    if (this.p.journal.getJob(jobId)) return;
    // Its events (JobImported on) come after the redundant job's post.
    this.p.adoptJob(jobId, { postedBlock: r.postedBlock, modelId: r.modelId, ...(data.outputId ? { outputId: data.outputId } : {}), outputRoot: data.outputRoot, outputBytes: data.outputBytes, ...(data.inputHash ? { inputHash: data.inputHash } : {}) });
  }

  /** Our reputation in parts per million, recomputed from the chain's events at most once a minute. */
  private reputationPpm(): Promise<number> {
    if (!this.reputation || Date.now() - this.reputation.at > REPUTATION_TTL_MS) {
      // Scores are kept in millionths already (REPUTATION_RULE.scale), as the job's minimum is.
      const ppm = providerReputation({ publicClient: this.p.publicClient, deployment: this.p.deployment, provider: this.p.account }).then((rep) => rep.score);
      ppm.catch(() => (this.reputation = undefined));
      this.reputation = { at: Date.now(), ppm };
    }
    return this.reputation.ppm;
  }

  private salt(replicaJobId: bigint): Hex {
    return deriveSalt({ workerSecret: this.p.secret, chainId: BigInt(this.p.chainId), jobId: REPLICA_KEY + replicaJobId });
  }

  private save(data: ReplicaData, status: string): void {
    this.steps.save(REPLICA_KEY + data.replicaJobId, status, data);
  }

  private end(data: ReplicaData, outcome: string, reason?: string): void {
    this.save({ ...data, reason }, outcome);
    this.p.log.info({ msg: "redundant job ended", replica_job_id: data.replicaJobId.toString(), outcome, reason });
  }

  /** One journaled action of a redundant job; false when the contract refused it. */
  /**
   * One journaled action of a redundant job; false when the contract refused it, or when `stillWanted`, asked last
   * before the send, said why it must not go out after all (nothing is sent then, and its intent stays for a later send).
   */
  private async act(replicaJobId: bigint, action: string, send: SendOnce, stillWanted?: () => Promise<string | undefined>): Promise<{ receipt?: { blockNumber: bigint } } | false> {
    const result = await sendUnlessDropped({
      actions: this.p.actions,
      jobId: REPLICA_KEY + replicaJobId,
      action,
      send,
      beforeSend: async () => {
        while (this.p.earnings.withdrawing) await this.p.earnings.withdrawing;
      },
      stillWanted,
    });
    if ("dropped" in result) {
      this.p.log.warn({ msg: `${action} not sent: ${result.dropped}`, replica_job_id: replicaJobId.toString() });
      return false;
    }
    if (result.state === "done") return {};
    if (result.state === "refused") {
      this.p.log.info({ msg: `${action} refused by the contract`, replica_job_id: replicaJobId.toString(), error: result.error.errorName });
      return false;
    }
    this.p.log.info({ msg: `${action} confirmed`, replica_job_id: replicaJobId.toString(), tx_hash: result.hash, gas_used: result.receipt.gasUsed.toString() });
    return { receipt: result.receipt };
  }
}

/** A redundant job's data without the output of a run (nor the input it was run from): it is run again. */
function withoutOutput({ outputRoot: _root, outputBytes: _bytes, outputId: _id, inputHash: _input, ranModelId: _model, ...rest }: ReplicaData): ReplicaData {
  return rest;
}

/** Whether the output journaled in `data` was run from `r`'s input with its model (unknown in older journals: yes). */
function ranAsPosted(data: ReplicaData, r: ReplicaRecord): boolean {
  if (data.inputHash !== undefined && data.inputHash.toLowerCase() !== r.inputHash.toLowerCase()) return false;
  return data.ranModelId === undefined || data.ranModelId === r.modelId;
}
