/**
 * `dinfer job list|status`: a dApp's (and a provider's) view of its jobs, from chain events.
 *
 *   dinfer job list [--poster ADDR] [--state S] [--json]   the jobs you posted (the key's address)
 *   dinfer job status <jobId> [--json]                     state, deadline, provider, audit, dispute, result
 *                                                          (a job still in its batch: the batch's view of it)
 */
import { Command, Option } from "commander";
import type { Address } from "viem";

import { BatchStatus, batchJob, findBatchOfJob, readBatch, type BatchRecord } from "../../chain/batches.js";
import { formatTokens } from "../../chain/format.js";
import { DinferError } from "../../errors.js";
import { JobStatus, readJob, type JobRecord } from "../../chain/jobs.js";
import { decodeTensorBlob, type Tensor } from "../../codec/tensor.js";
import { tensorsToJson } from "../../codec/tensor-json.js";
import { jobVerification, listJobs } from "../../sdk/activity.js";
import { fetchOutput } from "../../sdk/jobs.js";
import { allowsPrivateHosts } from "../../storage/host-policy.js";
import { allowPrivateHostsOption, bigintJson, connectReadOnly, fromBlockFlag, openChain, parseId } from "../context.js";
import { ALLOW_PRIVATE_HOSTS_FLAG } from "../flags.js";
import { describeTensor } from "./tensor.js";

/** Outputs up to this many elements are shown with their values. */
const SMALL_OUTPUT_ELEMENTS = 64;

const STATE_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name.toLowerCase()])) as Record<number, string>;
const STATES = Object.values(STATE_NAMES).filter((name) => name !== "none");

/** What the job's current deadline is the end of, by state. */
const DEADLINE_OF: Record<number, string> = {
  [JobStatus.Posted]: "claim by",
  [JobStatus.Claimed]: "commit by",
  [JobStatus.Committed]: "reveal by",
  [JobStatus.Revealed]: "challenge window ends",
};

/** Adds `list` and `status` to the `job` command group. */
export function addJobViewCommands(job: Command): void {
  job
    .command("list")
    .description("list jobs you posted (the key's account; --poster for another), newest last, from chain events")
    .option("--poster <address>", "another poster's jobs (no key needed)")
    .addOption(new Option("--state <state>", "only jobs in this state").choices(STATES))
    .option("--from-block <n>", "read events from this block (default 0)")
    .option("--json", "print JSON")
    .action(async (flags, cmd: Command) => {
      const chain = await openChain(cmd, { keyed: !flags.poster });
      const poster = (flags.poster ?? chain.account!.address) as Address;
      const now = (await chain.publicClient.getBlock()).timestamp;
      let jobs = await listJobs({ publicClient: chain.publicClient, market: chain.deployment.market, poster, fromBlock: fromBlockFlag(flags.fromBlock) });
      if (flags.state) jobs = jobs.filter((record) => STATE_NAMES[record.job.status] === flags.state);
      if (flags.json) return console.log(JSON.stringify(jobs.map((record) => jobSummary(record)), bigintJson, 2));
      if (jobs.length === 0) return console.log(`no jobs posted by ${poster}${flags.state ? ` in state ${flags.state}` : ""}`);
      console.log(`${"job".padEnd(6)}${"model".padEnd(7)}${"state".padEnd(11)}${"fee".padEnd(22)}deadline`);
      for (const { jobId, job: j } of jobs) {
        const deadline = DEADLINE_OF[j.status] ? `${DEADLINE_OF[j.status]} ${when(j.deadline, now)}` : "";
        console.log(`${String(jobId).padEnd(6)}${String(j.modelId).padEnd(7)}${STATE_NAMES[j.status]!.padEnd(11)}${formatTokens(j.fee).padEnd(22)}${deadline}`);
      }
    });

  job
    .command("status <jobId>")
    .description("one job: state, deadline, provider, audit and dispute, and the result (values for small outputs)")
    .option("--json", "print JSON")
    .option("--allow-private-hosts", ALLOW_PRIVATE_HOSTS_FLAG)
    .action(async (jobIdText: string, flags, cmd: Command) => {
      const jobId = parseId(jobIdText, "jobId");
      const privateHosts = allowPrivateHostsOption(cmd);
      const chain = await connectReadOnly(cmd);
      const { publicClient, deployment } = chain;
      const record = await readJob({ client: publicClient, market: deployment.market, jobId }).catch(async (error: unknown) => {
        // A batch's job has no JobMarket state until it is split out: its batch says where it is.
        if (!(error instanceof DinferError && error.code === "JOB_NOT_FOUND")) throw error;
        const batchId = await findBatchOfJob({ client: publicClient, batchMarket: deployment.batchMarket, jobId });
        if (batchId === undefined) throw error;
        return readBatch({ client: publicClient, batchMarket: deployment.batchMarket, batchId });
      });
      if ("batchId" in record) return printBatchJob({ record, jobId, json: flags.json === true, now: (await publicClient.getBlock()).timestamp });
      const verification = await jobVerification({ publicClient, verification: deployment.verification, jobId, fromBlock: record.postedBlock });
      const now = (await publicClient.getBlock()).timestamp;
      const result = await resultOf(record, allowsPrivateHosts({ allowPrivateHosts: privateHosts, chainId: chain.chainId }));
      if (flags.json) {
        return console.log(
          JSON.stringify(
            { ...jobSummary(record), verification, result: result && ("error" in result ? result : { outputRoot: record.job.result, uri: record.outputURI || undefined, tensors: result.small ? tensorsToJson(result.tensors) : result.tensors.map(shapeOf) }) },
            bigintJson,
            2,
          ),
        );
      }
      const j = record.job;
      const lines = [
        `job ${jobId}: ${STATE_NAMES[j.status]}`,
        `  model ${j.modelId}, terms v${j.terms}, fee ${formatTokens(j.fee)}, collateral ${formatTokens(j.collateral)}`,
        `  poster ${j.poster}`,
      ];
      if (j.status >= JobStatus.Claimed && !/^0x0+$/.test(j.provider)) lines.push(`  provider ${j.provider}`);
      if (DEADLINE_OF[j.status]) lines.push(`  ${DEADLINE_OF[j.status]} ${when(j.deadline, now)}`);
      if (j.status >= JobStatus.Revealed && j.status !== JobStatus.Expired) lines.push(`  sampled for audit: ${j.sampled ? "yes" : "no"}`);
      if (verification.audit) lines.push(`  audit: ${verification.audit.state} by ${verification.audit.auditor}${verification.audit.recheck ? " (committee recheck)" : ""}`);
      if (verification.dispute) {
        const d = verification.dispute;
        const outcome = d.resolved ? (d.resolved.providerFaulted ? `, provider faulted (slashed ${formatTokens(d.resolved.slashed)})` : ", provider upheld") : ", open";
        lines.push(`  dispute: ${d.reason} by ${d.opener}, bond ${formatTokens(d.bond)}${outcome}`);
      }
      if (j.status === JobStatus.Expired) lines.push(`  the fee was refunded to the poster's market credit: \`dinfer provider withdraw\` pays it out`);
      if (result && "error" in result) lines.push(`  output: ${record.outputURI || "inline"} (not read: ${result.error})`);
      else if (result) {
        lines.push(`  output root ${j.result} (verified)${j.status === JobStatus.Finalized ? "" : ", may still be challenged"}`);
        for (const t of result.tensors) lines.push(`    ${describeTensor(t, result.small ? SMALL_OUTPUT_ELEMENTS : 8)}`);
      }
      console.log(lines.join("\n"));
    });
}

/** What a batch's current deadline is the end of, by its status. */
const BATCH_DEADLINE_OF: Record<number, string> = {
  [BatchStatus.Posted]: "claim by",
  [BatchStatus.Claimed]: "commit by",
  [BatchStatus.Committed]: "reveal by",
  [BatchStatus.Revealed]: "challenge window ends",
};

/** `job status` of a job still in its batch (one split out is an ordinary job and shown as one). */
async function printBatchJob({ record, jobId, json, now }: { record: BatchRecord; jobId: bigint; json: boolean; now: bigint }) {
  const job = batchJob(record, jobId);
  const b = record.batch;
  const deadline = BATCH_DEADLINE_OF[b.status];
  if (json) {
    return console.log(
      JSON.stringify(
        {
          jobId,
          state: job.status,
          batchId: record.batchId,
          index: job.index,
          batchSize: b.count,
          modelId: b.modelId,
          terms: b.terms,
          poster: b.poster,
          provider: /^0x0+$/.test(b.provider) ? undefined : b.provider,
          fee: b.feePerJob,
          collateral: b.collateralPerJob,
          deadline: deadline ? { what: deadline, at: new Date(b.deadline * 1000).toISOString(), unix: b.deadline } : undefined,
          inputHash: job.inputHash,
          inputURI: job.inputURI,
          outputRoot: job.outputRoot,
          outputURI: job.outputURI,
          postedBlock: record.postedBlock,
        },
        bigintJson,
        2,
      ),
    );
  }
  const lines = [
    `job ${jobId}: ${job.status} (job ${job.index} of batch ${record.batchId}, ${b.count} jobs)`,
    `  model ${b.modelId}, terms v${b.terms}, fee ${formatTokens(b.feePerJob)}, collateral ${formatTokens(b.collateralPerJob)}`,
    `  poster ${b.poster}`,
    `  input ${job.inputURI} (${job.inputHash})`,
  ];
  if (b.status >= BatchStatus.Claimed && !/^0x0+$/.test(b.provider)) lines.push(`  provider ${b.provider}`);
  if (deadline) lines.push(`  ${deadline} ${when(b.deadline, now)}`);
  if (job.outputRoot) lines.push(`  output root ${job.outputRoot}${b.status === BatchStatus.Finalized ? " (final)" : ", may still be challenged"}; outputs listed at ${job.outputURI}`);
  if (b.status === BatchStatus.Expired) lines.push("  the fee was refunded to the poster's BatchMarket credit");
  console.log(lines.join("\n"));
}

function jobSummary({ jobId, job: j, inputHash, inputURI, outputURI, postedBlock }: JobRecord) {
  return {
    jobId,
    state: STATE_NAMES[j.status],
    modelId: j.modelId,
    terms: j.terms,
    poster: j.poster,
    provider: /^0x0+$/.test(j.provider) ? undefined : j.provider,
    fee: j.fee,
    collateral: j.collateral,
    deadline: DEADLINE_OF[j.status] ? { what: DEADLINE_OF[j.status], at: new Date(j.deadline * 1000).toISOString(), unix: j.deadline } : undefined,
    sampled: j.sampled,
    inputHash,
    inputURI: inputURI || undefined,
    outputURI: outputURI || undefined,
    postedBlock,
  };
}

type ResultView = { tensors: Tensor[]; small: boolean } | { error: string } | undefined;

/** A revealed job's output, verified against its root; undefined before the reveal. `allowPrivateHosts`: read a location on a private host. */
async function resultOf(record: JobRecord, allowPrivateHosts: boolean): Promise<ResultView> {
  const { status } = record.job;
  if (status < JobStatus.Revealed || status === JobStatus.Expired || status === JobStatus.Slashed) return undefined;
  try {
    const tensors = decodeTensorBlob(await fetchOutput({ record, allowPrivateHosts }));
    const elements = tensors.reduce((sum, t) => sum + t.dims.reduce((product, dim) => product * dim, 1), 0);
    return { tensors, small: elements <= SMALL_OUTPUT_ELEMENTS };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

function shapeOf(tensor: Tensor) {
  return { name: tensor.name, dtype: tensor.dtype, dims: tensor.dims };
}

/** "2026-12-03T10:00:00Z (in 4m 10s)" from a unix time and the chain's now. */
function when(unix: number, now: bigint): string {
  const delta = unix - Number(now);
  const span = Math.abs(delta);
  const text = span >= 3600 ? `${Math.floor(span / 3600)}h ${Math.floor((span % 3600) / 60)}m` : span >= 60 ? `${Math.floor(span / 60)}m ${span % 60}s` : `${span}s`;
  return `${new Date(unix * 1000).toISOString().replace(".000Z", "Z")} (${delta >= 0 ? `in ${text}` : `${text} ago`})`;
}
