/**
 * Jobs by the batch (IBatchMarket; docs/PROTOCOL.md "Batches"): a prepaid deposit, many jobs posted in one
 * transaction, and their results as each batch (or a job split out of it) finalizes.
 * `offchain/sdk/client.ts` wraps these (`client.postJobs`, `client.waitForResults`, `client.deposit`).
 *
 * ```ts
 * await deposit({ sender, publicClient, deployment, amount: parseEther("100") });
 * const { jobs } = await postJobs({ sender, publicClient, deployment, jobs: [{ modelId: 1, input, fee }], upload });
 * const results = await waitForResults({ publicClient, deployment, jobs });
 * ```
 */
import { erc20Abi, maxUint256, type Address, type Hex, type Log, type PublicClient } from "viem";

import { batchMarketAbi } from "../chain/abis.js";
import { batchJob, findBatchOfJob, readBatch, type BatchRecord } from "../chain/batches.js";
import type { Deployment } from "../chain/deployment.js";
import { JobStatus, readJob, type JobRecord } from "../chain/jobs.js";
import type { TxSender } from "../chain/sender.js";
import { blobId } from "../codec/tensor.js";
import { NonRetryableError, RetryableError } from "../errors.js";
import { readBatchOutputs } from "../storage/batch-outputs.js";
import { privateHostsAllowed } from "../storage/host-policy.js";
import { readOutput } from "../storage/output.js";
import { uploadBlob } from "../storage/upload.js";
import { refuseCollateralDropBefore } from "./collateral.js";
import { decodeEvent } from "../chain/events.js";

// ------------------------------------------------------------------ deposits

/**
 * Which market's deposit: `batches` (the BatchMarket's, what `postJobs` batches are paid from; the default)
 * or `jobs` (the JobMarket's, what `postJobFromDeposit` and signed requests are paid from). The two markets
 * keep their deposits apart: each one's escrow stays in the contract that pays it out.
 */
export type DepositMarket = "batches" | "jobs";

/** The contract holding a deposit; both take the same IDeposits calls (the BatchMarket's ABI serves both). */
const depositHolder = (deployment: Deployment, market: DepositMarket = "batches") => (market === "jobs" ? deployment.market : deployment.batchMarket);

export type DepositBalanceParameters = { publicClient: PublicClient; deployment: Deployment; account: Address; market?: DepositMarket };

/** An account's unspent deposit in the BatchMarket (what batches are paid from), or the JobMarket's (`market: "jobs"`). */
export function depositBalance({ publicClient, deployment, account, market }: DepositBalanceParameters): Promise<bigint> {
  return publicClient.readContract({ address: depositHolder(deployment, market), abi: batchMarketAbi, functionName: "deposits", args: [account] });
}

export type DepositParameters = { sender: TxSender; publicClient: PublicClient; deployment: Deployment; amount: bigint; market?: DepositMarket };

/**
 * Adds `amount` to the sender's deposit: approves the BatchMarket (once, unlimited) when the allowance is
 * short, then deposits. Throws `INSUFFICIENT_TOKENS` when the wallet holds less than `amount`.
 */
export async function deposit({ sender, publicClient, deployment, amount, market }: DepositParameters): Promise<{ txHash: Hex; balance: bigint }> {
  if (amount <= 0n) throw new NonRetryableError("a deposit must be more than zero", { code: "ZERO_AMOUNT" });
  const me = sender.address;
  const held = await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "balanceOf", args: [me] });
  if (held < amount) {
    throw new NonRetryableError(`the wallet holds ${held} tokens (wei), less than the ${amount} to deposit: fund ${me} first`, {
      code: "INSUFFICIENT_TOKENS",
      details: { account: me, held: held.toString(), wanted: amount.toString() },
    });
  }
  const allowance = await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "allowance", args: [me, depositHolder(deployment, market)] });
  if (allowance < amount) {
    await sender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [depositHolder(deployment, market), maxUint256] });
  }
  const { hash } = await sender.send({ address: depositHolder(deployment, market), abi: batchMarketAbi, functionName: "deposit", args: [amount] });
  return { txHash: hash, balance: await depositBalance({ publicClient, deployment, account: me, market }) };
}

export type WithdrawDepositParameters = DepositParameters;

/** Takes `amount` of the unspent deposit back; `INSUFFICIENT_DEPOSIT` (naming the balance) when it is more. */
export async function withdrawDeposit({ sender, publicClient, deployment, amount, market }: WithdrawDepositParameters): Promise<{ txHash: Hex; balance: bigint }> {
  if (amount <= 0n) throw new NonRetryableError("a withdrawal must be more than zero", { code: "ZERO_AMOUNT" });
  const available = await depositBalance({ publicClient, deployment, account: sender.address, market });
  if (available < amount) {
    throw new NonRetryableError(`the deposit holds ${available} (wei), less than the ${amount} asked for: fees of posted ${market === "jobs" ? "jobs" : "batches"} left it at post`, {
      code: "INSUFFICIENT_DEPOSIT",
      details: { available: available.toString(), wanted: amount.toString() },
    });
  }
  const { hash } = await sender.send({ address: depositHolder(deployment, market), abi: batchMarketAbi, functionName: "withdrawDeposit", args: [amount] });
  return { txHash: hash, balance: available - amount };
}

// ------------------------------------------------------------------ posting

/** One job of a batch post: an encoded input blob (or one already stored at `inputURI`), its model and fee. */
export type BatchJobRequest = {
  modelId: bigint;
  /** The input tensor blob; its SHA-256 is the job's inputHash. */
  input: Uint8Array;
  fee: bigint;
  /** Where the blob already is; otherwise it is uploaded. */
  inputURI?: string;
};

export type PostJobsParameters = {
  sender: TxSender;
  publicClient: PublicClient;
  deployment: Deployment;
  jobs: readonly BatchJobRequest[];
  /** Seconds providers have to claim each batch (default 600). */
  claimWithin?: number;
  /** Where inputs without an `inputURI` are uploaded (a batch's inputs are never inline). */
  upload?: { serverUrl: string; token: string };
  /** Deposit what the batches cost beyond the deposit before posting (default true). */
  topUp?: boolean;
};

/** A job posted in a batch: its JobMarket id and where it is. */
export type PostedBatchJob = { jobId: bigint; batchId: bigint; index: number; inputHash: Hex; inputURI: string; fee: bigint };

export type PostJobsReturnType = {
  /** In the order of the request's jobs. */
  jobs: PostedBatchJob[];
  batchIds: bigint[];
  txHash: Hex;
  blockNumber: bigint;
  /** What the batches cost in all (debited from the deposit). */
  total: bigint;
  /** What was deposited first to cover it (zero when the deposit sufficed). */
  toppedUp: bigint;
};

/** Largest batch the BatchMarket takes (IBatchMarket.MAX_BATCH). */
export const MAX_BATCH = 256;

/**
 * Posts every job in one `postBatches` transaction: uploads the inputs, groups the jobs into one batch per
 * model and fee (at most 256 jobs each), and pays from the deposit, first depositing the shortfall
 * (`topUp`) when the deposit is short. Throws `INSUFFICIENT_DEPOSIT` or `INSUFFICIENT_TOKENS` naming the
 * amounts when it cannot pay, before anything is uploaded or sent.
 */
export async function postJobs({
  sender,
  publicClient,
  deployment,
  jobs,
  claimWithin = 600,
  upload,
  topUp = true,
}: PostJobsParameters): Promise<PostJobsReturnType> {
  if (jobs.length === 0) throw new NonRetryableError("no jobs to post", { code: "NO_JOBS" });
  const groups = groupJobs(jobs);
  // The claim deadline is fixed first, so that the collateral check below holds for the batches as posted.
  const claimBy = (await publicClient.getBlock()).timestamp + BigInt(claimWithin);
  for (const group of groups) await refuseCollateralDropBefore({ publicClient, registry: deployment.registry, modelId: group.modelId, claimBy });
  const total = jobs.reduce((sum, job) => sum + job.fee, 0n);
  const toppedUp = await coverCost({ sender, publicClient, deployment, total, topUp });

  const uris: string[] = [];
  for (const job of jobs) {
    if (job.inputURI) uris.push(job.inputURI);
    else if (!upload) {
      throw new NonRetryableError("a batch's inputs are never inline: give an upload server or each job's inputURI", { code: "INPUT_NEEDS_URI" });
    } else uris.push((await uploadBlob({ serverUrl: upload.serverUrl, token: upload.token, bytes: job.input })).url);
  }
  if (toppedUp > 0n) await deposit({ sender, publicClient, deployment, amount: toppedUp });

  const requests = groups.map((group) => ({
    modelId: group.modelId,
    feePerJob: group.fee,
    claimBy,
    inputHashes: group.indices.map((i) => blobId(jobs[i]!.input)),
    inputURIs: group.indices.map((i) => uris[i]!),
  }));
  const { hash, receipt } = await sender.send({ address: deployment.batchMarket, abi: batchMarketAbi, functionName: "postBatches", args: [requests] });
  const posted = postedBatches(receipt.logs, deployment.batchMarket);
  if (posted.length !== groups.length) {
    throw new NonRetryableError(`postBatches logged ${posted.length} batches, ${groups.length} were sent`, { code: "NO_BATCH_POSTED" });
  }
  const out: PostedBatchJob[] = new Array(jobs.length);
  groups.forEach((group, g) => {
    group.indices.forEach((i, index) => {
      out[i] = {
        jobId: posted[g]!.firstJobId + BigInt(index),
        batchId: posted[g]!.batchId,
        index,
        inputHash: requests[g]!.inputHashes[index]!,
        inputURI: requests[g]!.inputURIs[index]!,
        fee: group.fee,
      };
    });
  });
  return { jobs: out, batchIds: posted.map((p) => p.batchId), txHash: hash, blockNumber: receipt.blockNumber, total, toppedUp };
}

/** One batch per model and fee, in the order each first appears, split at MAX_BATCH jobs. */
export function groupJobs(jobs: readonly Pick<BatchJobRequest, "modelId" | "fee">[]): { modelId: bigint; fee: bigint; indices: number[] }[] {
  const open = new Map<string, { modelId: bigint; fee: bigint; indices: number[] }>();
  const groups: { modelId: bigint; fee: bigint; indices: number[] }[] = [];
  jobs.forEach((job, i) => {
    const key = `${job.modelId}/${job.fee}`;
    let group = open.get(key);
    if (!group || group.indices.length === MAX_BATCH) {
      group = { modelId: job.modelId, fee: job.fee, indices: [] };
      open.set(key, group);
      groups.push(group);
    }
    group.indices.push(i);
  });
  return groups;
}

/**
 * What must be deposited before posting batches costing `total`: zero when the deposit covers it; the
 * shortfall when `topUp` and the wallet holds it; else a clear error.
 */
async function coverCost({ sender, publicClient, deployment, total, topUp }: { sender: TxSender; publicClient: PublicClient; deployment: Deployment; total: bigint; topUp: boolean }): Promise<bigint> {
  const me = sender.address;
  const available = await depositBalance({ publicClient, deployment, account: me });
  if (available >= total) return 0n;
  const shortfall = total - available;
  if (!topUp) {
    throw new NonRetryableError(`the deposit holds ${available} (wei), the batches cost ${total}: deposit ${shortfall} more (dinfer deposit add)`, {
      code: "INSUFFICIENT_DEPOSIT",
      details: { available: available.toString(), required: total.toString() },
    });
  }
  const held = await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "balanceOf", args: [me] });
  if (held < shortfall) {
    throw new NonRetryableError(
      `the batches cost ${total} (wei); the deposit holds ${available} and the wallet ${held}, short of the ${shortfall} to top it up: fund ${me} or post fewer jobs`,
      { code: "INSUFFICIENT_TOKENS", details: { account: me, deposit: available.toString(), held: held.toString(), required: total.toString() } },
    );
  }
  return shortfall;
}

/** The batches a postBatch(es) receipt logged, in order. */
export function postedBatches(logs: readonly Pick<Log, "address" | "data" | "topics">[], batchMarket: Address): { batchId: bigint; firstJobId: bigint; count: number }[] {
  const out: { batchId: bigint; firstJobId: bigint; count: number }[] = [];
  for (const log of logs) {
    if (log.address.toLowerCase() !== batchMarket.toLowerCase()) continue;
    try {
      const decoded = decodeEvent({ abi: batchMarketAbi, data: log.data, topics: log.topics });
      if (decoded.eventName === "BatchPosted") out.push({ batchId: decoded.args.batchId, firstJobId: decoded.args.firstJobId, count: Number(decoded.args.count) });
    } catch {
      // another event
    }
  }
  return out;
}

// ------------------------------------------------------------------ results

/** A batch job's outcome: its output (checked against its on-chain output root), or why it has none. */
export type BatchJobResult =
  | { jobId: bigint; batchId: bigint; ok: true; output: Uint8Array; outputRoot: Hex; source: string; split: boolean }
  | { jobId: bigint; batchId: bigint; ok: false; error: NonRetryableError };

export type WaitForResultsParameters = {
  publicClient: PublicClient;
  deployment: Deployment;
  /** The jobs: as `postJobs` returned them, or bare job ids (their batches are looked up). */
  jobs: readonly (bigint | Pick<PostedBatchJob, "jobId" | "batchId">)[];
  /** The first block to read events from (the post's block when known). */
  fromBlock?: bigint;
  timeoutMs?: number;
  pollMs?: number;
  ipfsGateway?: string;
  maxBytes?: number;
  signal?: AbortSignal;
  /** Told each result as it comes (a batch finalizes all its jobs at once; a split job on its own). */
  onResult?: (result: BatchJobResult) => void | Promise<void>;
  /**
   * Read a batch's output list and its outputs on loopback, private or link-local hosts: the provider chose those
   * locations (offchain/sdk/jobs.ts `FetchOutputParameters.allowPrivateHosts`). Left out: on only on a devnet
   * (chain id 31337, asked of `publicClient`), as the daemons decide it.
   */
  allowPrivateHosts?: boolean;
};

/**
 * Waits until every job is final and returns their results in the order given. A job ends with its batch
 * (finalized: its output; expired: `JOB_FAILED`), or, once split out of it (sampled for an audit, or
 * challenged), as an ordinary JobMarket job. Throws a retryable `JOB_WAIT_TIMEOUT` naming the jobs still
 * open when time runs out, `JOB_NOT_IN_BATCH` for an id no batch holds.
 */
export async function waitForResults({
  publicClient,
  deployment,
  jobs,
  fromBlock = 0n,
  timeoutMs = 600_000,
  pollMs = 500,
  ipfsGateway,
  maxBytes,
  signal,
  onResult,
  allowPrivateHosts,
}: WaitForResultsParameters): Promise<BatchJobResult[]> {
  const wanted: { jobId: bigint; batchId: bigint }[] = [];
  for (const job of jobs) {
    if (typeof job !== "bigint") {
      wanted.push(job);
      continue;
    }
    const batchId = await findBatchOfJob({ client: publicClient, batchMarket: deployment.batchMarket, jobId: job, fromBlock });
    if (batchId === undefined) {
      throw new NonRetryableError(`job ${job} is in no batch: wait for it with waitForResult`, { code: "JOB_NOT_IN_BATCH", details: { jobId: job.toString() } });
    }
    wanted.push({ jobId: job, batchId });
  }
  const results = new Map<bigint, BatchJobResult>();
  const outputLists = new Map<bigint, Promise<string[]>>();
  const privateHosts = await privateHostsAllowed(allowPrivateHosts, publicClient);
  const read = { ipfsGateway, maxBytes, signal, allowPrivateHosts: privateHosts, allowFileUris: privateHosts };
  const deadline = Date.now() + timeoutMs;

  const settle = async (result: BatchJobResult) => {
    results.set(result.jobId, result);
    await onResult?.(result);
  };
  /** A batch job's output location from its batch's output list (read once per batch). */
  const listedUri = async (record: BatchRecord, jobId: bigint): Promise<string | undefined> => {
    if (!record.outputURI) return undefined;
    // The provider chose the list's location: a file:// one is read only where private hosts are.
    if (!privateHosts && /^file:/i.test(record.outputURI)) {
      throw new NonRetryableError("file:// URIs are refused (allowFileUris is off)", { code: "OUTPUT_URI_REFUSED", details: { uri: record.outputURI } });
    }
    let list = outputLists.get(record.batchId);
    if (!list) {
      list = readBatchOutputs({ uri: record.outputURI, firstJobId: record.batch.firstJobId, count: record.batch.count, ipfsGateway, signal, allowPrivateHosts: privateHosts });
      list.catch(() => outputLists.delete(record.batchId));
      outputLists.set(record.batchId, list);
    }
    return (await list)[Number(jobId - record.batch.firstJobId)];
  };

  for (;;) {
    signal?.throwIfAborted();
    const batches = new Map<bigint, BatchRecord>();
    for (const { jobId, batchId } of wanted) {
      if (results.has(jobId)) continue;
      let record = batches.get(batchId);
      if (!record) {
        record = await readBatch({ client: publicClient, batchMarket: deployment.batchMarket, batchId, fromBlock });
        batches.set(batchId, record);
      }
      const job = batchJob(record, jobId);
      if (job.status === "expired") {
        await settle({ jobId, batchId, ok: false, error: failed(jobId, "expired with its batch") });
      } else if (job.status === "finalized") {
        const { bytes, source } = await readOutput({ root: job.outputRoot!, uris: [await listedUri(record, jobId)], ...read });
        await settle({ jobId, batchId, ok: true, output: bytes, outputRoot: job.outputRoot!, source, split: false });
      } else if (job.status === "split") {
        const split: JobRecord = await readJob({ client: publicClient, market: deployment.market, jobId, fromBlock: record.postedBlock });
        const { status } = split.job;
        if (status === JobStatus.Expired || status === JobStatus.Slashed) {
          await settle({ jobId, batchId, ok: false, error: failed(jobId, status === JobStatus.Expired ? "expired" : "was slashed") });
        } else if (status === JobStatus.Finalized) {
          // Revealed on its own (sampled) or in the batch's reveal (split to be challenged): both places are tried.
          const { bytes, source } = await readOutput({
            root: split.job.result,
            inline: split.inlineOutput,
            uris: [split.outputURI, await listedUri(record, jobId).catch(() => undefined)],
            ...read,
          });
          await settle({ jobId, batchId, ok: true, output: bytes, outputRoot: split.job.result, source, split: true });
        }
      }
    }
    if (results.size === new Set(wanted.map((w) => w.jobId)).size) return wanted.map((w) => results.get(w.jobId)!);
    if (Date.now() > deadline) {
      const open = wanted.filter((w) => !results.has(w.jobId)).map((w) => w.jobId.toString());
      throw new RetryableError(`${open.length} job(s) have no result yet`, { code: "JOB_WAIT_TIMEOUT", details: { jobs: open } });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function failed(jobId: bigint, how: string): NonRetryableError {
  return new NonRetryableError(`job ${jobId} ${how}: no result (its fee is refunded as a credit: withdraw it)`, {
    code: "JOB_FAILED",
    details: { jobId: jobId.toString() },
  });
}
