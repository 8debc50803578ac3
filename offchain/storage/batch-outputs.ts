/**
 * Where a batch's outputs are: a batch reveals one `outputURI` for all its jobs (IBatchMarket.revealBatch),
 * which locates a small JSON blob, the batch's output list:
 *
 * ```json
 * { "version": 1, "firstJobId": "12", "outputs": ["http://worker:8600/blobs/0x...", "..."] }
 * ```
 *
 * `outputs[i]` is where job `firstJobId + i`'s output blob is, in job order. The list itself needs no trust:
 * each output read through it is checked against the job's output root that BatchRevealed carries.
 */
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
