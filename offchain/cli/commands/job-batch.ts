/**
 * `dinfer job post --batch file.jsonl`: many jobs in one transaction, paid from the deposit
 * (offchain/sdk/batches.ts). One job a line:
 *
 *   {"model": 1, "input": "line-1.dtn"}                       a tensor blob file (relative to the .jsonl)
 *   {"model": 1, "input": "page.png", "image": "det"}         an image turned into the model's input (det, det-uint8, cls)
 *   {"model": 2, "input": "http://host/blobs/0x...", "fee": "2.5"}   an input already stored: fetched once to hash it
 *
 * `fee` (tokens) defaults to the model's price floor. Blank lines and lines starting with # are skipped.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import type { Command } from "commander";
import { z } from "zod";

import { parseTokens } from "../../chain/format.js";
import { decodeTensorBlob, encodeTensorBlob } from "../../codec/tensor.js";
import { NonRetryableError } from "../../errors.js";
import { createDinferClient, type ClientBatchJobParameters, type ClientBatchJobResult } from "../../sdk/client.js";
import { readBlob } from "../../storage/fetch.js";
import { allowsPrivateHosts } from "../../storage/host-policy.js";
import { connect } from "../context.js";
import { imageTensor, type ImageKind } from "./tensor.js";

const URI = /^(https?|ipfs):\/\//i;

const LineSchema = z
  .object({
    model: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]),
    input: z.string().min(1),
    fee: z.union([z.string(), z.number()]).optional(),
    image: z.enum(["det", "det-uint8", "cls"]).optional(),
  })
  .strict();

export type BatchFileJob = { line: number; modelId: bigint; input: string; fee?: bigint; image?: ImageKind };

/** The jobs of a .jsonl batch file; a `BAD_BATCH_FILE` error names the line and what is wrong with it. */
export function readBatchFile(file: string): BatchFileJob[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new NonRetryableError(`cannot read the batch file ${file}`, { code: "BAD_BATCH_FILE", details: { file }, cause });
  }
  const jobs: BatchFileJob[] = [];
  const bad = (line: number, problem: string) =>
    new NonRetryableError(`${file}:${line}: ${problem}; each line is {"model": id, "input": path-or-uri, "fee": tokens?}`, {
      code: "BAD_BATCH_FILE",
      details: { file, line },
    });
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw bad(i + 1, "not JSON");
    }
    const parsed = LineSchema.safeParse(value);
    if (!parsed.success) throw bad(i + 1, parsed.error.issues.map((issue) => `${issue.path.join(".") || "line"}: ${issue.message}`).join(", "));
    const { model, input, fee, image } = parsed.data;
    const resolved = URI.test(input) ? input : path.resolve(path.dirname(file), input);
    jobs.push({ line: i + 1, modelId: BigInt(model), input: resolved, fee: fee === undefined ? undefined : parseTokens(String(fee), `${file}:${i + 1} fee`), image });
  });
  if (jobs.length === 0) throw new NonRetryableError(`${file} holds no jobs`, { code: "BAD_BATCH_FILE", details: { file } });
  return jobs;
}

/** A line's input: its blob (and its URI when it is already stored). */
async function inputOf(job: BatchFileJob): Promise<{ blob: Uint8Array; inputURI?: string }> {
  if (URI.test(job.input)) return { blob: await readBlob({ uri: job.input }), inputURI: job.input };
  if (job.image) {
    const tensor = await imageTensor([job.input], job.image);
    return { blob: encodeTensorBlob([tensor]) };
  }
  try {
    return { blob: new Uint8Array(readFileSync(job.input)) };
  } catch (cause) {
    throw new NonRetryableError(`line ${job.line}: cannot read ${job.input}`, { code: "BAD_BATCH_FILE", details: { line: job.line }, cause });
  }
}

export type PostBatchFileFlags = {
  batch: string;
  upload?: string;
  check: boolean;
  wait?: boolean;
  claimWithin?: string;
  /** `--allow-private-hosts` as `allowPrivateHostsOption` read it: the models' files and the outputs are others' choice. */
  allowPrivateHosts?: boolean;
};

/** `job post --batch`: posts the file's jobs, prints their ids, and with --wait each result as it comes. */
export async function postBatchFile(flags: PostBatchFileFlags, cmd: Command): Promise<void> {
  const lines = readBatchFile(flags.batch);
  const jobs: ClientBatchJobParameters[] = [];
  for (const line of lines) {
    const { blob, inputURI } = await inputOf(line);
    jobs.push({ modelId: line.modelId, input: { blob }, fee: line.fee, inputURI });
  }
  const { sender, deployment, publicClient, chainId } = await connect(cmd);
  const token = process.env.DINFER_UPLOAD_TOKEN;
  const client = createDinferClient({
    publicClient,
    sender,
    deployment,
    upload: flags.upload ? { serverUrl: flags.upload, token: token ?? "" } : undefined,
    checkInput: flags.check,
    allowPrivateHosts: allowsPrivateHosts({ allowPrivateHosts: flags.allowPrivateHosts, chainId }),
  });
  const claimWithin = flags.claimWithin === undefined ? undefined : Number(flags.claimWithin);
  const posted = await client.postJobs(jobs, { claimWithin });
  const toppedUp = posted.toppedUp > 0n ? `, the deposit topped up by ${posted.toppedUp} wei first` : "";
  console.log(`posted ${posted.jobs.length} jobs in ${posted.batchIds.length} batch(es) ${posted.batchIds.join(", ")} for ${posted.total} wei from the deposit${toppedUp} (tx ${posted.txHash})`);
  for (const [i, job] of posted.jobs.entries()) {
    console.log(`job ${job.jobId}  batch ${job.batchId}  model ${lines[i]!.modelId}  ${path.basename(lines[i]!.input)}`);
  }
  if (!flags.wait) return;
  let failed = 0;
  await client.waitForResults(posted.jobs, {
    fromBlock: posted.blockNumber,
    onResult: (result) => {
      if (!result.ok) failed++;
      console.log(describeResult(result));
    },
  });
  if (failed > 0) {
    throw new NonRetryableError(`${failed} of ${posted.jobs.length} jobs have no result (their fees are refunded as credits)`, { code: "JOB_FAILED" });
  }
}

function describeResult(result: ClientBatchJobResult): string {
  if (!result.ok) return `job ${result.jobId}: failed: ${result.error.message}`;
  const shapes = decodeTensorBlob(result.output).map((t) => `${t.name}: ${t.dtype}[${t.dims.join(", ")}]`);
  return `job ${result.jobId}: final${result.split ? " (split out of its batch)" : ""}, output root ${result.outputRoot} verified; ${shapes.join("; ")}`;
}
