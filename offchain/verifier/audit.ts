/**
 * `dinfer audit <jobId>`: re-executes one revealed job here and reports how the provider's output
 * compares with ours under the model's tolerance (per output tensor: max abs and rel error,
 * mismatches), the verdict, and what a challenge would cost (the bond) and pay (the challenger's
 * share of the provider's collateral), with whether the window is still open for one.
 */
import type { Address, Hex, PublicClient } from "viem";

import type { Deployment } from "../chain/deployment.js";
import { JobStatus, readJob } from "../chain/jobs.js";
import type { TensorComparison, TolerancePolicy } from "../codec/tolerance.js";
import { NonRetryableError } from "../errors.js";
import { createInferenceRunner } from "../inference/runner.js";
import { formatTokens } from "../provider/account.js";
import { challengeEconomics, DisputeState } from "./decide.js";
import { describe, fetchJobInput, fetchProviderOutput, judge, prepareVerifierModel } from "./judge.js";
import type { AuditOptions } from "./options.js";
import { readDispute, readVerificationParams } from "./views.js";

const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

export type AuditReport = {
  jobId: string;
  modelId: number;
  status: string;
  provider: Address;
  sampled: boolean;
  tolerance: TolerancePolicy;
  /** The provider's revealed output root, and ours. */
  providerRoot: Hex;
  ownRoot: Hex;
  rootsEqual: boolean;
  run: { ep: string; ms: number };
  /** Where the provider's output came from, or why it could not be had (it then counts as wrong). */
  providerOutput: { source: "inline" | "uri" } | { problem: string };
  tensors: TensorComparison[];
  verdict: "agree" | "disagree";
  reason?: string;
  challenge: {
    /** Whether `challenge` would be accepted now: revealed, inside its window, no dispute. */
    open: boolean;
    windowEndsAt: number;
    bond: string;
    reward: string;
    collateral: string;
    challengerRewardBps: number;
    dispute?: string;
  };
};

export type AuditJobParameters = {
  options: AuditOptions;
  jobId: bigint;
  publicClient: PublicClient;
  deployment: Deployment;
};

/** Re-executes the job and builds the report; throws naming the problem when the job cannot be audited here. */
export async function auditJob({ options, jobId, publicClient, deployment }: AuditJobParameters): Promise<AuditReport> {
  const record = await readJob({ client: publicClient, market: deployment.market, jobId });
  const { job } = record;
  if (job.status < JobStatus.Revealed || job.status === JobStatus.Expired) {
    throw new NonRetryableError(`job ${jobId} has no revealed output (status ${STATUS_NAMES[job.status]})`, {
      code: "JOB_NOT_REVEALED",
      details: { jobId: jobId.toString(), status: STATUS_NAMES[job.status] },
    });
  }
  const served = options.models.find((m) => m.modelId === job.modelId);
  if (!served) {
    throw new NonRetryableError(`job ${jobId} runs model ${job.modelId}: give its .onnx file with --model <path> (or models in the config)`, {
      code: "MODEL_FILE_MISSING",
      details: { modelId: job.modelId },
    });
  }
  const model = await prepareVerifierModel({ modelId: job.modelId, path: served.path, publicClient, deployment });
  const fetchOptions = { maxBytes: options.maxInputBytes, ipfsGateway: options.ipfsGateway, allowFileUris: options.allowFileUris };
  let input: Uint8Array;
  try {
    input = await fetchJobInput({ record, ...fetchOptions });
  } catch (error) {
    throw new NonRetryableError(`cannot get job ${jobId}'s input: ${describe(error)}`, { code: "INPUT_UNAVAILABLE", cause: error });
  }
  const runner = createInferenceRunner({ size: 1, hashThreads: 1 });
  let run;
  try {
    run = await runner.run({ modelPath: model.path, modelHash: model.modelHash, ep: options.ep, input, timeoutMs: options.inferenceTimeoutMs });
  } finally {
    await runner.close();
  }
  const provider = await fetchProviderOutput({ record, ...fetchOptions, maxBytes: options.maxOutputBytes });
  const judgement = judge({ own: run.output, ownRoot: run.outputRoot, provider, providerRoot: job.result, policy: model.policy, maxBytes: options.maxOutputBytes });

  const r = { publicClient, verification: deployment.verification };
  const [params, dispute, block] = await Promise.all([
    readVerificationParams(r),
    job.status === JobStatus.Disputed ? readDispute({ ...r, jobId }) : Promise.resolve(undefined),
    publicClient.getBlock({ blockTag: "latest" }),
  ]);
  const economics = challengeEconomics({ bond: params.challengeBond, collateral: job.collateral, challengerRewardBps: params.challengerRewardBps });
  const open = job.status === JobStatus.Revealed && block.timestamp <= BigInt(job.deadline);
  return {
    jobId: jobId.toString(),
    modelId: job.modelId,
    status: STATUS_NAMES[job.status]!,
    provider: job.provider,
    sampled: job.sampled,
    tolerance: model.policy,
    providerRoot: job.result,
    ownRoot: run.outputRoot,
    rootsEqual: judgement.rootsEqual,
    run: { ep: run.ep, ms: Math.round(run.ms * 10) / 10 },
    providerOutput: provider.ok ? { source: provider.source } : { problem: provider.problem },
    tensors: judgement.tensors,
    verdict: judgement.verdict,
    reason: judgement.reason,
    challenge: {
      open,
      windowEndsAt: job.deadline,
      bond: economics.bond.toString(),
      reward: economics.reward.toString(),
      collateral: economics.collateral.toString(),
      challengerRewardBps: economics.challengerRewardBps,
      ...(dispute ? { dispute: Object.entries(DisputeState).find(([, v]) => v === dispute.state)?.[0] } : {}),
    },
  };
}

/** The report as text for a person. */
export function formatAuditReport(report: AuditReport): string {
  const policy = report.tolerance;
  const tolerance =
    policy.kind === "allclose" ? `allclose(absTol=${policy.absTol}, relTol=${policy.relTol})` : policy.kind === "argmax" ? `argmax(axis=${policy.axis})` : "exact";
  const lines = [
    `job ${report.jobId}  model ${report.modelId}  ${report.status}${report.sampled ? " (sampled)" : ""}  provider ${report.provider}`,
    `tolerance      ${tolerance}`,
    `provider root  ${report.providerRoot}`,
    `our root       ${report.ownRoot}${report.rootsEqual ? "  (equal: instant agreement)" : ""}`,
    `our run        ${report.run.ep}, ${report.run.ms} ms`,
    "providerOutput" in report && "problem" in report.providerOutput
      ? `provider output UNAVAILABLE: ${report.providerOutput.problem}`
      : `provider output from ${(report.providerOutput as { source: string }).source}`,
  ];
  if (report.tensors.length > 0) {
    lines.push("", "tensor                     dtype    dims               max abs err   max rel err   mismatches");
    for (const t of report.tensors) {
      lines.push(
        `${t.name.padEnd(26)} ${t.dtype.padEnd(8)} ${`[${t.dims.join(", ")}]`.padEnd(18)} ${fmt(t.maxAbsError).padStart(11)}   ${fmt(t.maxRelError).padStart(11)}   ${`${t.mismatches}/${t.elements}`.padStart(10)}`,
      );
    }
  }
  lines.push("", `verdict        ${report.verdict.toUpperCase()}${report.reason ? `: ${report.reason}` : ""}`);
  const c = report.challenge;
  const when = c.open ? `open until ${new Date(c.windowEndsAt * 1000).toISOString()}` : c.dispute ? `closed (dispute ${c.dispute})` : "closed";
  lines.push(
    `challenge      ${when}`,
    `  costs        a bond of ${formatTokens(BigInt(c.bond))} (lost to the provider and voters if the committee upholds the result)`,
    `  pays         ${formatTokens(BigInt(c.reward))} (${c.challengerRewardBps / 100}% of the ${formatTokens(BigInt(c.collateral))} collateral) and the bond back if the provider is found wrong`,
  );
  return lines.join("\n");
}

function fmt(value: number): string {
  if (value === 0) return "0";
  if (!Number.isFinite(value)) return String(value);
  return value.toExponential(2);
}
