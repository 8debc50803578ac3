/**
 * Where a batch's outputs are: a batch reveals one `outputURI` for all its jobs (IBatchMarket.revealBatch),
 * which locates a small JSON blob, the batch's output list:
 *
 * ```json
 * { "version": 1, "firstJobId": "12", "outputs": ["http://worker:8600/outputs/0x...", "..."] }
 * ```
 *
 * `outputs[i]` is where job `firstJobId + i`'s output blob is, in job order. The list itself needs no trust:
 * each output read through it is checked against the job's output root that BatchRevealed carries.
 */
import type { Address, Hex, PublicClient } from "viem";

import { batchJob, findBatchOfJob, readBatch } from "../chain/batches.js";
import { JobStatus } from "../chain/jobs.js";
import { findReplicaOfJob } from "../chain/replicas.js";
import { CodecError, NonRetryableError } from "../errors.js";
import { readBlob, type ReadBlobParameters } from "./fetch.js";

export type BatchOutputList = { version: 1; firstJobId: bigint; outputs: string[] };

/** The list's bytes (UTF-8 JSON, ids as decimal strings). */
export function encodeBatchOutputs({ firstJobId, outputs }: { firstJobId: bigint; outputs: readonly string[] }): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ version: 1, firstJobId: firstJobId.toString(), outputs }));
}

/** Parses a list; throws CodecError naming what is wrong. */
export function decodeBatchOutputs(bytes: Uint8Array): BatchOutputList {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new CodecError({ field: "batch output list", problem: "not UTF-8 JSON", cause });
  }
  const v = value as { version?: unknown; firstJobId?: unknown; outputs?: unknown };
  if (v?.version !== 1) throw new CodecError({ field: "batch output list", problem: `unknown version ${String(v?.version)}` });
  if (typeof v.firstJobId !== "string" || !/^\d+$/.test(v.firstJobId)) {
    throw new CodecError({ field: "batch output list", problem: "firstJobId must be a decimal string" });
  }
  if (!Array.isArray(v.outputs) || !v.outputs.every((u) => typeof u === "string")) {
    throw new CodecError({ field: "batch output list", problem: "outputs must be an array of URIs" });
  }
  return { version: 1, firstJobId: BigInt(v.firstJobId), outputs: v.outputs as string[] };
}

export type ReadBatchOutputsParameters = Omit<ReadBlobParameters, "uri" | "maxBytes"> & {
  /** The batch's revealed outputURI. */
  uri: string;
  /** The batch's first job id and job count: the list must be for this batch. */
  firstJobId: bigint;
  count: number;
};

/** Reads and checks a batch's output list: one URI per job of this batch. */
export async function readBatchOutputs({ uri, firstJobId, count, ...options }: ReadBatchOutputsParameters): Promise<string[]> {
  // A URI a job is 100 bytes or so: 1 MiB holds any batch (256 jobs) many times over.
  const list = decodeBatchOutputs(await readBlob({ uri, maxBytes: 1 << 20, ...options }));
  if (list.firstJobId !== firstJobId || list.outputs.length !== count) {
    throw new NonRetryableError(`the batch's output list at ${uri} is for another batch`, {
      code: "BATCH_OUTPUTS_MISMATCH",
      details: { uri, firstJobId: list.firstJobId.toString(), count: list.outputs.length, expectedFirstJobId: firstJobId.toString(), expectedCount: count },
    });
  }
  return list.outputs;
}

export type WithBatchOutputParameters<R> = Omit<ReadBatchOutputsParameters, "uri" | "firstJobId" | "count"> & {
  record: R;
  client: PublicClient;
  batchMarket: Address;
  /** The ReplicaMarket: a redundant job's disputed seat is served where the seat's reveal said. */
  replicaMarket?: Address;
  /** The first block to search for the job's batch. */
  fromBlock?: bigint;
  /** Read a `file://` list (same-machine tests only); refused otherwise, as for outputs. */
  allowFileUris?: boolean;
  /** Told why the batch's output list could not be read (the record then comes back without an output URI). */
  onProblem?: (problem: string) => void;
};

/**
 * A job split out of its batch after the batch's reveal (`JobImported` as Revealed, `splitRevealed`) has no
 * output location in the JobMarket's events: its output is where the batch's output list says. Returns the
 * record with that URI as its `outputURI`; any other record as it is (a posted job, or a sampled job split out
 * before the reveal, which the JobMarket's own reveal locates). The URI needs no trust: whatever it serves is
 * checked against the job's output root. A list that cannot be read leaves the output without a location (the
 * caller's rules for an output served nowhere apply) and is reported through `onProblem`.
 */
export async function withBatchOutput<R extends { jobId: bigint; job: { status: number; result: Hex }; outputURI?: string }>({
  record,
  client,
  batchMarket,
  replicaMarket,
  fromBlock = 0n,
  allowFileUris = false,
  onProblem,
  ...options
}: WithBatchOutputParameters<R>): Promise<R> {
  // A ResultRevealed sets outputURI (possibly to ""): only a job imported as Revealed lacks it.
  if (record.outputURI !== undefined || record.job.status < JobStatus.Revealed || record.job.status === JobStatus.Expired) return record;
  const batchId = await findBatchOfJob({ client, batchMarket, jobId: record.jobId, fromBlock });
  if (batchId === undefined) {
    // A redundant job's seat disputed as this job: its output is where the seat's reveal said (checked by root).
    const replica = replicaMarket && (await findReplicaOfJob({ client, replicaMarket, jobId: record.jobId, fromBlock }));
    if (!replica || replica.seat.outputRoot.toLowerCase() !== record.job.result.toLowerCase()) return record;
    return { ...record, outputURI: replica.seat.outputURI ?? "" };
  }
  const batch = await readBatch({ client, batchMarket, batchId, fromBlock });
  const job = batchJob(batch, record.jobId);
  if (batch.outputURI === undefined || job.outputRoot?.toLowerCase() !== record.job.result.toLowerCase()) return record;
  if (!allowFileUris && /^file:/i.test(batch.outputURI)) {
    onProblem?.(`the output list of batch ${batchId} is a file:// URI (${batch.outputURI}), which only same-machine tests may read`);
    return record;
  }
  try {
    const outputs = await readBatchOutputs({ uri: batch.outputURI, firstJobId: batch.batch.firstJobId, count: batch.batch.count, ...options });
    return { ...record, outputURI: outputs[job.index] };
  } catch (error) {
    onProblem?.(`the output list of batch ${batchId} at ${batch.outputURI} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
    return record;
  }
}
