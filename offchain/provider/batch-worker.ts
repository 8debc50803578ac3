/**
 * The provider worker's batches (IBatchMarket; docs/PROTOCOL.md "Batches"): carries out the steps
 * `decideBatchStep` (decide.ts) says a batch calls for, as `ProviderWorker` does for single jobs, through
 * the same journal, journaled actions, stake ledger, runner and blob store.
 *
 * - A posted batch of a served model is run whole first (every input fetched, checked and run; every output
 *   stored, with the batch's output list, offchain/storage/batch-outputs.ts), its outputs journaled, then
 *   claimed and committed in one transaction (`claimAndCommitBatch`) if the free stake backs the whole batch.
 * - After the seed block, each sampled job is split out (`splitSampled`) and handed to the single-job path
 *   as an active job of ours (its output journaled, its salt the batch's: `batchJobSalt`), which reveals it
 *   with `JobMarket.reveal` once its auditor committed blind and finalizes it.
 * - Then the batch is revealed (`revealBatch`, the batch salt derived from the worker secret: a restart can
 *   always reveal) and finalized after its window.
 *
 * Journal keys: a batch is kept as a journal job of role `provider-batch` under `BATCH_KEY + batchId`, a
 * number no job id reaches, so batches and jobs share the journal and its action records without clashing.
 */
import type { Address, Hex, PublicClient } from "viem";

import { batchMarketAbi } from "../chain/abis.js";
import { batchTrees, batchTreeProof, BatchStatus, readBatch, type BatchRecord } from "../chain/batches.js";
import type { Deployment } from "../chain/deployment.js";
import { ContractRevertError } from "../chain/errors.js";
import { JobStatus, readJob } from "../chain/jobs.js";
import type { TxSender } from "../chain/sender.js";
import { revealWindowBlocks, type TermsReader } from "../chain/terms.js";
import { deriveBatchSalt } from "../codec/commitment.js";
import { blobId, decodeTensorBlob } from "../codec/tensor.js";
import { sendUnlessDropped, type JournaledActions, type SendOnce } from "../daemon/action.js";
import { JournaledSteps } from "../daemon/journaled-steps.js";
import { DinferError, RetryableError } from "../errors.js";
import { validateInputs } from "../inference/validate.js";
import type { RunParameters } from "../inference/runner.js";
import type { Logger } from "../log.js";
import type { Journal } from "../state/journal.js";
import { encodeBatchOutputs } from "../storage/batch-outputs.js";
import type { LocalBlobStore } from "../storage/local.js";
import { keptButUnnamed } from "../storage/prune.js";
import { outputUrl } from "../storage/stored-output.js";
import { decideBatchStep, type LocalJobStatus, type ProviderBatchStep } from "./decide.js";
import type { IpfsBlobReader } from "../storage/ipfs-uri.js";
import { fetchJobInput } from "./input.js";
import type { JobRunner, LoadedModel } from "./job-runner.js";
import type { Earnings } from "./earnings.js";
import type { StakeLedger } from "./stake.js";

/** Batches are journaled under this offset plus their id: no job id comes near it. */
export const BATCH_KEY = 1n << 200n;
const ROLE = "provider-batch";
const OPEN = ["candidate", "active"];
const KEPT = [...OPEN, "skipped"];

/** What the journal keeps per batch. */
export type BatchData = {
  batchId: bigint;
  postedBlock: bigint;
  modelId: number;
  reason?: string;
  abandoned?: string;
  /** Every job's output, in job order, once the whole batch ran (`id`: its blob id, in journals of older workers only). */
  outputs?: { root: Hex; bytes: number; id?: Hex }[];
  /** Where the batch's output list is served. */
  listUri?: string;
  /** Every job's input, in job order, kept with the outputs (absent in journals of older workers): what the blob pruner keeps while the batch is open. */
  inputs?: Hex[];
  /** The model the outputs were run with (absent in journals of older workers): a reorg may repost the id under another. */
  ranModelId?: number;
};

/** What the single-job path keeps for a job split out of one of our batches. */
export type SplitJobData = {
  postedBlock: bigint;
  modelId: number;
  /** In journals of older workers only (offchain/storage/stored-output.ts). */
  outputId?: Hex;
  outputRoot: Hex;
  outputBytes: number;
  /** The batch's salt: the job's commitment salt is `batchJobSalt(batchSalt, jobId)`. */
  batchSalt: Hex;
  /** The input we kept: the blob pruner keeps it while the job is open. */
  inputHash?: Hex;
};

export type BatchWorkerParameters = {
  log: Logger;
  publicClient: PublicClient;
  sender: TxSender;
  account: Address;
  chainId: number;
  deployment: Deployment;
  journal: Journal;
  actions: JournaledActions;
  stake: StakeLedger;
  terms: TermsReader;
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
  maxBatch: number;
  /** The most posted batches taken up at once (fetched, stored and run before their claim); the others wait their turn. */
  maxTaking: number;
  keeper: boolean;
  keeperGraceSeconds: number;
  /** Our BatchMarket credits, withdrawn past `withdrawMin`; never alongside one of our batch transactions. */
  earnings: Earnings;
  /** Hands a split job of ours to the single-job path: journals it active, stepped as the worker's own (ProviderWorker.saveJob). */
  adoptJob: (jobId: bigint, data: SplitJobData) => void;
};

export class BatchWorker {
  private readonly p: BatchWorkerParameters;
  private readonly steps: JournaledSteps<BatchData>;
  private head?: { number: bigint; timestamp: bigint };

  constructor(parameters: BatchWorkerParameters) {
    this.p = parameters;
    this.steps = new JournaledSteps<BatchData>({
      journal: parameters.journal,
      role: ROLE,
      stepped: parameters.keeper ? KEPT : OPEN,
      open: OPEN,
      // Posted batches not run yet: one whose outputs are journaled is past its runs (its claim and commit, or a
      // commit whose receipt a restart lost, its reveal due) and never waits behind others' runs.
      limit: { max: parameters.maxTaking, applies: (status, data) => status === "candidate" && data.outputs === undefined },
      advance: (_key, status, data) => this.advance(status as LocalJobStatus, data),
      failed: (key, error, retryIn) => {
        const line = { msg: "batch step failed", batch_id: (key - BATCH_KEY).toString(), error: error instanceof Error ? error.message : String(error), retry_in_s: Number(retryIn) };
        if (error instanceof ContractRevertError || !(error instanceof RetryableError)) this.p.log.warn(line);
        else this.p.log.debug(line);
      },
    });
  }

  /**
   * A reorg: every batch of ours is looked at now. One may have lost a mined step (its commit, its reveal) while it
   * sleeps to the wake that step set, which may fall after that step's deadline (JournaledActions sends it again).
   */
  onReorg(): void {
    this.steps.wakeAll("active");
  }

  /** The poller's handler: records every BatchPosted of a served model as a candidate. */
  onPosted(batches: readonly { batchId: bigint; modelId: number; postedBlock: bigint }[]): number {
    let added = 0;
    for (const { batchId, modelId, postedBlock } of batches) {
      const known = this.p.journal.getJob<BatchData>(BATCH_KEY + batchId);
      if (known !== undefined) {
        // Posted again (a reorg): an open batch is looked at again at once (a step asleep till a block the new chain
        // may not reach for long), and read from the earlier of its two posts' blocks from now on (a post moved to an
        // earlier block is not in the logs from the later one).
        if (OPEN.includes(known.status)) {
          if (postedBlock < known.data.postedBlock) this.steps.save(BATCH_KEY + batchId, known.status, { ...known.data, postedBlock });
          this.steps.wake(BATCH_KEY + batchId);
        }
        continue;
      }
      if (!this.p.models.has(modelId)) continue;
      this.steps.save(BATCH_KEY + batchId, "candidate", { batchId, postedBlock, modelId });
      this.p.log.debug({ msg: "batch seen", batch_id: batchId.toString(), model_id: modelId });
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

  // ------------------------------------------------------------------ one batch

  private async advance(local: LocalJobStatus, data: BatchData): Promise<void> {
    const head = this.head!;
    const record = await readBatch({ client: this.p.publicClient, batchMarket: this.p.deployment.batchMarket, batchId: data.batchId, fromBlock: data.postedBlock });
    const b = record.batch;
    // A batch of an older worker's journal names its inputs too (the blob pruner keeps what open batches name).
    if (keptButUnnamed(data) && local !== "skipped") {
      data = { ...data, inputs: record.inputHashes.slice(0, b.count) };
      this.steps.save(BATCH_KEY + data.batchId, local, data);
    }
    let revealWindow: { seedBlock: bigint; lastRevealBlock: bigint } | undefined;
    let sampled: number[] | undefined;
    const splitStatus = new Map<number, number>();
    // A job split out of our revealed batch (by a watchdog, or by anyone: splitRevealed is open to all) leaves
    // the batch's settlement: finalizeBatch pays only the jobs still in it, and the split job is paid by its own
    // finalize in the JobMarket, which the single-job path sends after its window (or it defends nothing: a
    // challenge of it goes to a committee). Sampled jobs split out of our committed batch by anyone (their auditor
    // may split them itself) are ours to reveal there. Both are adopted at every read from the commit on, the
    // batch's end included: a worker that first reads the batch finalized or expired (it was down meanwhile, or
    // someone else finalized it) would otherwise leave them to nobody.
    if (b.status >= 3 /* Committed, Revealed, Finalized, Expired */) this.adoptSplit(record, data);
    if (b.status === 3 /* Committed */) {
      const { market } = await this.p.terms.of(b.terms);
      revealWindow = revealWindowBlocks({ commitBlock: b.commitBlock, seedDelay: market.seedDelay });
      if (head.number > revealWindow.seedBlock && head.number <= revealWindow.lastRevealBlock) {
        const bits = await this.p.publicClient.readContract({ address: this.p.deployment.batchMarket, abi: batchMarketAbi, functionName: "sampledBitmap", args: [b] });
        sampled = Array.from({ length: b.count }, (_, i) => i).filter((i) => (bits >> BigInt(i)) & 1n);
      }
      for (const [index] of record.split) {
        const job = await readJob({ client: this.p.publicClient, market: this.p.deployment.market, jobId: b.firstJobId + BigInt(index), fromBlock: record.postedBlock });
        splitStatus.set(index, job.job.status);
      }
    }
    const step = decideBatchStep({
      batchId: data.batchId,
      local,
      batch: b,
      me: this.p.account,
      minFee: this.p.models.get(b.modelId)?.minFee,
      maxBatch: this.p.maxBatch,
      head,
      revealWindow,
      sampled,
      split: record.split,
      splitStatus,
      data: { outputs: data.outputs !== undefined, abandoned: data.abandoned },
      keeperGraceSeconds: this.p.keeperGraceSeconds,
    });
    return this.carryOut(step, record, data);
  }

  private async carryOut(step: ProviderBatchStep, record: BatchRecord, data: BatchData): Promise<void> {
    const key = BATCH_KEY + data.batchId;
    switch (step.kind) {
      case "read":
        return;
      case "wait":
        this.steps.sleep(key, { block: step.block, time: step.time });
        return;
      case "skip":
        this.steps.save(key, "skipped", { ...data, reason: step.reason });
        this.p.log.info({ msg: "batch skipped", batch_id: data.batchId.toString(), reason: step.reason });
        return;
      case "take":
      case "runAndCommit":
        return this.take(record, data);
      case "splitSampled":
        return this.splitSampled(record, data, step.indices);
      case "revealBatch":
        if (step.unrevealedSampled) {
          this.p.log.warn({
            msg: "batch revealed before its sampled jobs: their audits were still open near the batch's reveal deadline",
            batch_id: data.batchId.toString(),
            indices: step.unrevealedSampled,
          });
        }
        return this.reveal(record, data);
      case "revealTooLate":
        this.steps.save(key, "active", { ...data, abandoned: step.reason });
        this.p.log.error({ msg: "batch reveal impossible: the batch can only expire", batch_id: data.batchId.toString(), reason: step.reason });
        return;
      case "finalizeBatch":
        if (await this.act(data.batchId, "finalizeBatch", (onSent) =>
          this.p.sender.send({ address: this.p.deployment.batchMarket, abi: batchMarketAbi, functionName: "finalizeBatch", args: [data.batchId, record.batch], onSent }),
        )) this.p.earnings.grew();
        return;
      case "expire":
        await this.act(data.batchId, "expireBatch", (onSent) =>
          this.p.sender.send({ address: this.p.deployment.batchMarket, abi: batchMarketAbi, functionName: "expireBatch", args: [data.batchId, record.batch], onSent }),
        );
        return;
      case "end":
      case "pass": {
        const status = step.kind === "pass" ? "passed" : step.outcome;
        this.steps.save(key, status, data);
        this.p.log.info({ msg: `batch ${status}`, batch_id: data.batchId.toString() });
        return;
      }
      case "outputLost":
        throw new DinferError("committed batch has no stored outputs", { code: "OUTPUT_LOST", details: { batchId: data.batchId.toString() } });
    }
  }

  /** Runs every job of the batch (or finds their outputs journaled), then claims and commits it whole. */
  private async take(record: BatchRecord, data: BatchData): Promise<void> {
    const { batch: b } = record;
    const key = BATCH_KEY + data.batchId;
    const collateral = BigInt(b.count) * b.collateralPerJob;
    // Claimed already (by us, before a restart): the claim locked the collateral and the commit locks nothing more.
    const claimed = b.status === BatchStatus.Claimed;
    if (!claimed && !(await this.stakeBacks(record, data))) return;
    let next = data;
    // A reorg can give a batch id other inputs, or another model, under a batch hash our commit passes as read (the
    // hash does not cover the inputs): outputs run for another post are not this batch's, and a commitment to them
    // would be slashed. Outputs journaled by an earlier step are checked against the batch as read now.
    if (next.outputs && !this.ranAsPosted(next, record)) {
      this.p.log.warn({ msg: "batch posted again since its run (a reorg): run again", batch_id: data.batchId.toString() });
      next = withoutOutputs(next);
      this.steps.save(key, "candidate", next);
    }
    if (this.p.journal.getAction({ jobId: key, action: claimed ? "commitBatch" : "claimAndCommitBatch" })?.state === "confirmed") {
      // The batch is to commit, yet the journal holds our commit as mined: a reorg took its block away. It is sent
      // again, not found done.
      this.p.journal.forgetActions(key);
    }
    if (!next.outputs) {
      const ran = await this.run(record);
      if (typeof ran === "string") {
        this.steps.save(key, "skipped", { ...next, reason: ran });
        this.p.log.info({ msg: "batch skipped", batch_id: data.batchId.toString(), reason: ran });
        return;
      }
      next = { ...next, ...ran };
      this.steps.save(key, "candidate", next);
    }
    const { commitmentRoot } = this.trees(record, next);
    // A key of its own in the stake ledger: the batch's collateral is promised until its claim is mined. Checked
    // again after the run: our other claims may have taken the stake meanwhile.
    if (!claimed && !(await this.stakeBacks(record, next, { reserve: true }))) return;
    try {
      const committed = await this.act(
        data.batchId,
        claimed ? "commitBatch" : "claimAndCommitBatch",
        (onSent) =>
          this.p.sender.send({
            address: this.p.deployment.batchMarket,
            abi: batchMarketAbi,
            functionName: claimed ? "commitBatch" : "claimAndCommitBatch",
            args: [data.batchId, b, commitmentRoot],
            onSent,
          }),
        // Read again right before the send (after the run, the journal's flush, a withdrawal in flight): a reorg
        // meanwhile may have replaced the post. Then nothing is sent, and the batch is run again.
        async () => {
          const now = await readBatch({ client: this.p.publicClient, batchMarket: this.p.deployment.batchMarket, batchId: data.batchId, fromBlock: data.postedBlock });
          if (this.ranAsPosted(next, now)) return undefined;
          this.steps.save(key, "candidate", withoutOutputs(next));
          return "a reorg replaced its post since its run";
        },
      );
      if (!committed) return;
      if (committed.receipt && !claimed) this.p.stake.mined(key, collateral, committed.receipt.blockNumber);
      this.steps.save(key, "active", next);
      this.p.log.info({ msg: "batch committed", batch_id: data.batchId.toString(), jobs: b.count, fee_per_job: b.feePerJob.toString() });
    } finally {
      // Kept past its claim's block only (the stake read at a later head shows the lock): a refused send, a failed
      // one or one found done without a receipt frees it.
      this.p.stake.releaseUnmined(key);
    }
  }

  /** Whether outputs journaled in `data` were run from `record`'s inputs with its model (unknown in older journals: yes). */
  private ranAsPosted(data: BatchData, record: BatchRecord): boolean {
    if (data.inputs !== undefined && !sameInputs(data.inputs, record)) return false;
    return data.ranModelId === undefined || data.ranModelId === record.batch.modelId;
  }

  /**
   * Whether our free stake backs the whole batch's collateral (reserved at once with `reserve`). When not, it
   * waits as a single job does: a second, or till a claim of ours is mined or dropped (`StakeLedger.check`).
   */
  private async stakeBacks({ batch: b }: BatchRecord, data: BatchData, { reserve = false }: { reserve?: boolean } = {}): Promise<boolean> {
    const key = BATCH_KEY + data.batchId;
    const collateral = BigInt(b.count) * b.collateralPerJob;
    const { backed, free } = await this.p.stake.check({ key, amount: collateral, head: this.head!.number, reserve, onFreed: () => this.steps.wake(key) });
    if (!backed) {
      this.steps.sleep(key, { time: this.head!.timestamp + 1n });
      this.p.log.debug({ msg: "waiting for free stake", batch_id: data.batchId.toString(), free: free.toString(), collateral: collateral.toString(), jobs: b.count });
    }
    return backed;
  }

  /** Every job's output (stored) and the batch's output list; a reason string when the batch cannot be served. */
  private async run(record: BatchRecord): Promise<Pick<BatchData, "outputs" | "listUri" | "inputs" | "ranModelId"> | string> {
    const { batch: b } = record;
    const model = this.p.models.get(b.modelId)!;
    const outputs: { root: Hex; bytes: number }[] = [];
    for (let i = 0; i < b.count; i++) {
      const jobId = b.firstJobId + BigInt(i);
      try {
        const input = await fetchJobInput({
          record: { inlineInput: "0x", inputURI: record.inputURIs[i]!, inputHash: record.inputHashes[i]! } as never,
          check: true,
          sources: this.p,
        });
        validateInputs({ tensors: decodeTensorBlob(input.bytes, { maxBytes: this.p.maxInputBytes }), inputMetadata: model.inputMetadata, allowNonFinite: model.nonFiniteInputs });
        // Kept and served beside the output: a dApp that stops serving its input cannot make our work
        // unverifiable (verifiers read an input from the provider's blob server too).
        await this.p.store.put(input.bytes, { knownId: record.inputHashes[i]! });
        const result = await this.p.runner.run({
          jobId,
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
        outputs.push({ root: result.outputRoot, bytes: result.output.byteLength });
      } catch (error) {
        if (error instanceof RetryableError) throw error;
        return `job ${jobId} (index ${i}): ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    const list = encodeBatchOutputs({ firstJobId: b.firstJobId, outputs: outputs.map((o) => outputUrl(this.p.publicUrl, { outputRoot: o.root })) });
    const listId = blobId(list);
    await this.p.store.put(list, { knownId: listId });
    return { outputs, listUri: `${this.p.publicUrl}/blobs/${listId}`, inputs: record.inputHashes.slice(0, b.count), ranModelId: b.modelId };
  }

  private batchSalt(batchId: bigint): Hex {
    return deriveBatchSalt({ workerSecret: this.p.secret, chainId: BigInt(this.p.chainId), batchId });
  }

  private trees(record: BatchRecord, data: BatchData) {
    return batchTrees({
      chainId: this.p.chainId,
      jobMarket: this.p.deployment.market,
      provider: this.p.account,
      firstJobId: record.batch.firstJobId,
      outputRoots: data.outputs!.map((o) => o.root),
      batchSalt: this.batchSalt(data.batchId),
      split: new Set(record.split.keys()),
    });
  }

  /** Splits the sampled jobs out, and hands each to the single-job path (which reveals it after its audit commitment). */
  private async splitSampled(record: BatchRecord, data: BatchData, indices: number[]): Promise<void> {
    const trees = this.trees(record, data);
    for (const index of indices) {
      const jobId = record.batch.firstJobId + BigInt(index);
      const split = await this.act(data.batchId, `splitSampled:${index}`, (onSent) =>
        this.p.sender.send({
          address: this.p.deployment.batchMarket,
          abi: batchMarketAbi,
          functionName: "splitSampled",
          args: [data.batchId, record.batch, BigInt(index), trees.commitments[index]!, batchTreeProof(trees.commitmentLeaves, index)],
          onSent,
        }),
      );
      // Refused: someone (its auditor) split it first, or the seed moved on; the next read adopts what was split.
      if (split === false) continue;
      this.adopt(record, data, index);
      this.p.log.info({ msg: "sampled job split out of its batch", batch_id: data.batchId.toString(), job_id: jobId.toString() });
    }
  }

  /**
   * Every job split out of our batch (sampled ones from the committed batch, others from the revealed batch),
   * handed to the single-job path once, which reads each job's state in the JobMarket: a job already ended there
   * ends at its first read.
   */
  private adoptSplit(record: BatchRecord, data: BatchData): void {
    if (!data.outputs) return;
    for (const [index] of record.split) this.adopt(record, data, index);
  }

  /** The single-job path reveals the split job (a Committed one, after its audit commitment) and finalizes it, as a job of ours. */
  private adopt(record: BatchRecord, data: BatchData, index: number): void {
    const jobId = record.batch.firstJobId + BigInt(index);
    if (this.p.journal.getJob(jobId)) return;
    const output = data.outputs![index]!;
    // Its events (JobImported on) are read from the batch's post.
    this.p.adoptJob(jobId, {
      postedBlock: record.postedBlock,
      modelId: record.batch.modelId,
      ...(output.id ? { outputId: output.id } : {}),
      outputRoot: output.root,
      outputBytes: output.bytes,
      batchSalt: this.batchSalt(data.batchId),
      inputHash: record.inputHashes[index]!,
    });
  }

  private async reveal(record: BatchRecord, data: BatchData): Promise<void> {
    const revealed = await this.act(data.batchId, "revealBatch", (onSent) =>
      this.p.sender.send({
        address: this.p.deployment.batchMarket,
        abi: batchMarketAbi,
        functionName: "revealBatch",
        // A job split out is given by its commitment: the batch's reveal must not publish a sampled job's output.
        args: [data.batchId, record.batch, this.trees(record, data).revealValues, this.batchSalt(data.batchId), data.listUri!],
        onSent,
      }),
    );
    if (revealed) this.p.log.info({ msg: "batch revealed", batch_id: data.batchId.toString(), output_list: data.listUri });
  }

  /**
   * One journaled action of a batch (keyed in the batch's journal space); false when the contract refused it, or when
   * `stillWanted`, asked last before the send, said why it must not go out after all (nothing is sent then, and its
   * intent stays for a later send).
   */
  private async act(batchId: bigint, action: string, send: SendOnce, stillWanted?: () => Promise<string | undefined>): Promise<{ receipt?: { blockNumber: bigint } } | false> {
    const result = await sendUnlessDropped({
      actions: this.p.actions,
      jobId: BATCH_KEY + batchId,
      action,
      send,
      // A withdraw empties the credits slot a finalize's gas was estimated against (see Earnings.maybeWithdraw).
      beforeSend: async () => {
        while (this.p.earnings.withdrawing) await this.p.earnings.withdrawing;
      },
      stillWanted,
    });
    if ("dropped" in result) {
      this.p.log.warn({ msg: `${action} not sent: ${result.dropped}`, batch_id: batchId.toString() });
      return false;
    }
    if (result.state === "done") return {};
    if (result.state === "refused") {
      this.p.log.info({ msg: `${action} refused by the contract`, batch_id: batchId.toString(), error: result.error.errorName });
      return false;
    }
    this.p.log.info({ msg: `${action} confirmed`, batch_id: batchId.toString(), tx_hash: result.hash, gas_used: result.receipt.gasUsed.toString() });
    return { receipt: result.receipt };
  }
}

/** Whether `inputs` (the input hashes a run used) are the batch's as `record` holds them. */
function sameInputs(inputs: readonly Hex[], record: BatchRecord): boolean {
  const held = record.inputHashes.slice(0, record.batch.count);
  return inputs.length === held.length && inputs.every((hash, i) => hash.toLowerCase() === held[i]!.toLowerCase());
}

/** A batch's data without the outputs of a run (nor the inputs and list that go with them): it is run again. */
function withoutOutputs({ outputs: _outputs, listUri: _listUri, inputs: _inputs, ranModelId: _model, ...rest }: BatchData): BatchData {
  return rest;
}
