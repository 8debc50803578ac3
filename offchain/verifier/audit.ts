/**
 * `dinfer audit <jobId>`: re-executes one revealed job here and reports how the provider's output
 * (fetched from every known location: docs/PROTOCOL.md, section 7) compares with ours under the model's
 * tolerance (per output tensor: max abs and rel error, mismatches), the verdict, the job's audit (its
 * state, the auditor's root and, when it agreed with another root, how its own output compares) and
 * dispute (reason, state, outcome, votes), and what a challenge would cost and pay, with whether the
 * window is still open for one.
 */
import type { Address, Hex, PublicClient } from "viem";

import type { Deployment } from "../chain/deployment.js";
import { withBatchInput } from "../chain/batches.js";
import { withBatchOutput } from "../storage/batch-outputs.js";
import { JobStatus, readJob } from "../chain/jobs.js";
import { TermsReader } from "../chain/terms.js";
import type { TensorComparison, TolerancePolicy } from "../codec/tolerance.js";
import { allowsPrivateHosts } from "../daemon/options.js";
import { NonRetryableError } from "../errors.js";
import { createInferenceRunner } from "../inference/runner.js";
import { formatTokens } from "../chain/format.js";
import { AuditState, auditorOutputJudged, challengeEconomics, DisputeReason, DisputeState, nameOf, Vote, ZERO_ADDRESS, ZERO_HASH } from "./decide.js";
import { fetchOutput } from "../storage/output.js";
import { describe, fetchJobInput, fetchProviderOutput, judge, prepareVerifierModel, providerInputLocations, providerOutputLocations } from "./judge.js";
import type { AuditOptions } from "./options.js";
import { readAudit, readDispute, readOutputLocations, readVotes } from "./views.js";

const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

export type AuditReport = {
  jobId: string;
  modelId: number;
  status: string;
  provider: Address;
  sampled: boolean;
  /** The job's terms version (its rules). */
  terms: number;
  tolerance: TolerancePolicy;
  /** The provider's revealed output root, and ours. */
  providerRoot: Hex;
  ownRoot: Hex;
  rootsEqual: boolean;
  run: { ep: string; ms: number };
  /** Where the provider's output came from, or why no location served it (it then counts as wrong). */
  providerOutput: { source: string } | { problem: string };
  tensors: TensorComparison[];
  verdict: "agree" | "disagree";
  reason?: string;
  /** The job's blind audit (state None when it was not sampled). */
  audit: {
    state: string;
    auditor?: Address;
    /** The auditor's revealed root and where it serves its output. */
    outputRoot?: Hex;
    outputURI?: string;
    /** An Agree with a root other than the provider's: its own output compared with ours. */
    ownOutput?: { verdict: "agree" | "disagree"; reason?: string };
  };
  dispute?: {
    reason: string;
    state: string;
    challenger?: Address;
    committee: Address[];
    votes: { voter: Address; vote: string }[];
    /** Once resolved: the quorum's vote (None for no quorum) and whether the provider was slashed. */
    outcome?: string;
    providerFaulted?: boolean;
  };
  challenge: {
    /** Whether `challenge` would be accepted now: revealed, inside its window, no dispute. */
    open: boolean;
    windowEndsAt: number;
    bond: string;
    collateral: string;
    challengerRewardBps: number;
    providerRewardBps: number;
    /** What the committee (every seat voting the outcome) is paid out of the bond, whichever way it votes. */
    committeePay: string;
    /**
     * Found wrong: the finder's share, `challengerRewardBps` of the whole slashed collateral, goes first to
     * the dApp (the poster), not to the challenger.
     */
    posterFinderShare: string;
    /** Found wrong: what the challenger gets back, its bond less the committee's pay plus what the rest of the slash repays of it. */
    bondBackIfFaulted: string;
    /** Upheld by a quorum: the bond is lost, this much of it to the provider (the committee's pay and the treasury take the rest). */
    toProviderIfUpheld: string;
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
  // A job split out of a batch has its input in the batch's BatchPosted.
  const record = await withBatchInput({ record: await readJob({ client: publicClient, market: deployment.market, jobId }), client: publicClient, batchMarket: deployment.batchMarket, replicaMarket: deployment.replicaMarket });
  const { job } = record;
  if (job.status < JobStatus.Revealed || job.status === JobStatus.Expired) {
    throw new NonRetryableError(`job ${jobId} has no revealed output (status ${STATUS_NAMES[job.status]})`, {
      code: "JOB_NOT_REVEALED",
      details: { jobId: jobId.toString(), status: STATUS_NAMES[job.status] },
    });
  }
  const served = options.models.find((m) => m.modelId === job.modelId);
  if (!served) {
    throw new NonRetryableError(`job ${jobId} runs model ${job.modelId}: give its .onnx file with --model ${job.modelId}=<path> (or models in the config)`, {
      code: "MODEL_FILE_MISSING",
      details: { modelId: job.modelId },
    });
  }
  const model = await prepareVerifierModel({ modelId: job.modelId, path: served.path, publicClient, deployment });
  // The URIs read are the poster's and the provider's choice: off a devnet, none on a private host (as the daemons).
  const allowPrivateHosts = allowsPrivateHosts({ allowPrivateHosts: options.allowPrivateHosts, chainId: await publicClient.getChainId() });
  const fetchOptions = { maxBytes: options.maxInputBytes, ipfsGateway: options.ipfsGateway, allowFileUris: options.allowFileUris, allowPrivateHosts };
  let input: Uint8Array;
  try {
    input = await fetchJobInput({
      record,
      ...fetchOptions,
      // The provider's blob server keeps the inputs of its jobs: read there when the dApp's URI fails.
      fallbackUris: async () => {
        const [located, locations] = await Promise.all([
          withBatchOutput({ record, client: publicClient, batchMarket: deployment.batchMarket, ipfsGateway: options.ipfsGateway, allowFileUris: options.allowFileUris, allowPrivateHosts }),
          readOutputLocations({ publicClient, verification: deployment.verification, market: deployment.market, jobId, fromBlock: record.postedBlock }),
        ]);
        return providerInputLocations({ inputHash: record.inputHash, outputUris: providerOutputLocations({ record: located, locations }).uris });
      },
    });
  } catch (error) {
    throw new NonRetryableError(`cannot get job ${jobId}'s input: ${describe(error)}`, { code: "INPUT_UNAVAILABLE", cause: error });
  }
  const runner = createInferenceRunner({ size: 1, hashThreads: 1 });
  let run;
  try {
    run = await runner.run({
      modelPath: model.path,
      modelHash: model.modelHash,
      ep: options.ep,
      input,
      timeoutMs: options.inferenceTimeoutMs,
      allowNonFinite: model.nonFiniteInputs,
    });
  } finally {
    await runner.close();
  }

  const r = { publicClient, verification: deployment.verification };
  const [terms, audit, dispute, locations, block] = await Promise.all([
    new TermsReader({ client: publicClient, market: deployment.market }).of(job.terms),
    readAudit({ ...r, jobId }),
    readDispute({ ...r, jobId }),
    readOutputLocations({ ...r, market: deployment.market, jobId, fromBlock: record.postedBlock }),
    publicClient.getBlock({ blockTag: "latest" }),
  ]);
  const outputOptions = { ...fetchOptions, maxBytes: options.maxOutputBytes };
  // A job split out of a revealed batch: its output is where the batch's output list says.
  let listProblem: string | undefined;
  const located = await withBatchOutput({
    record,
    client: publicClient,
    batchMarket: deployment.batchMarket,
    ipfsGateway: options.ipfsGateway,
    allowFileUris: options.allowFileUris,
    allowPrivateHosts,
    onProblem: (problem) => (listProblem = problem),
  });
  const provider = await fetchProviderOutput({ record: located, locations, ...outputOptions });
  const judgement = judge({ own: run.output, ownRoot: run.outputRoot, provider, providerRoot: job.result, policy: model.policy, maxBytes: options.maxOutputBytes });

  // The auditor's own output, when an Agree came with another root (what a recheck committee judges).
  let auditorOutput: AuditReport["audit"]["ownOutput"];
  if (auditorOutputJudged(audit, job.result)) {
    const fetched = await fetchOutput({ root: audit.outputRoot, uris: [locations.audit?.outputURI], ...outputOptions });
    const compared = judge({ own: run.output, ownRoot: run.outputRoot, provider: fetched, providerRoot: audit.outputRoot, policy: model.policy, maxBytes: options.maxOutputBytes });
    auditorOutput = { verdict: compared.verdict, reason: compared.reason };
  }
  const votes = dispute.state >= DisputeState.Voting ? await readVotes({ ...r, jobId, committee: dispute.committee }) : [];

  const params = terms.verification;
  const economics = challengeEconomics({
    bond: params.challengeBond,
    collateral: job.collateral,
    challengerRewardBps: params.challengerRewardBps,
    providerRewardBps: params.providerRewardBps,
    committeeSize: params.committeeSize,
  });
  const open = job.status === JobStatus.Revealed && block.timestamp <= BigInt(job.deadline);
  return {
    jobId: jobId.toString(),
    modelId: job.modelId,
    status: STATUS_NAMES[job.status]!,
    provider: job.provider,
    sampled: job.sampled,
    terms: job.terms,
    tolerance: model.policy,
    providerRoot: job.result,
    ownRoot: run.outputRoot,
    rootsEqual: judgement.rootsEqual,
    run: { ep: run.ep, ms: Math.round(run.ms * 10) / 10 },
    providerOutput: provider.ok ? { source: provider.source } : { problem: listProblem ? `${provider.problem} (${listProblem})` : provider.problem },
    tensors: judgement.tensors,
    verdict: judgement.verdict,
    reason: judgement.reason,
    audit: {
      state: nameOf(AuditState, audit.state),
      ...(audit.auditor === ZERO_ADDRESS ? {} : { auditor: audit.auditor }),
      ...(audit.state === AuditState.Agreed || audit.state === AuditState.Disagreed ? { outputRoot: audit.outputRoot, outputURI: locations.audit?.outputURI } : {}),
      ...(auditorOutput ? { ownOutput: auditorOutput } : {}),
    },
    ...(dispute.state === DisputeState.None
      ? {}
      : {
          dispute: {
            reason: nameOf(DisputeReason, dispute.reason),
            state: nameOf(DisputeState, dispute.state),
            ...(dispute.challenger === ZERO_ADDRESS ? {} : { challenger: dispute.challenger }),
            committee: [...dispute.committee],
            votes: votes.map((v) => ({ voter: v.voter, vote: v.vote === Vote.None ? (v.commitment === ZERO_HASH ? "none" : "committed") : nameOf(Vote, v.vote) })),
            ...(dispute.state === DisputeState.Resolved ? { outcome: dispute.outcome === Vote.None ? "none (no single vote had a quorum)" : nameOf(Vote, dispute.outcome), providerFaulted: dispute.providerFaulted } : {}),
          },
        }),
    challenge: {
      open,
      windowEndsAt: job.deadline,
      bond: economics.bond.toString(),
      collateral: economics.collateral.toString(),
      challengerRewardBps: economics.challengerRewardBps,
      providerRewardBps: economics.providerRewardBps,
      committeePay: economics.committeePay.toString(),
      posterFinderShare: economics.ifFaulted.posterFinderShare.toString(),
      bondBackIfFaulted: economics.ifFaulted.challengerGets.toString(),
      toProviderIfUpheld: economics.ifUpheld.toProvider.toString(),
    },
  };
}

/** The report as text for a person. */
export function formatAuditReport(report: AuditReport): string {
  const policy = report.tolerance;
  const tolerance =
    policy.kind === "allclose" ? `allclose(absTol=${policy.absTol}, relTol=${policy.relTol})` : policy.kind === "argmax" ? `argmax(axis=${policy.axis})` : "exact";
  const lines = [
    `job ${report.jobId}  model ${report.modelId}  terms v${report.terms}  ${report.status}${report.sampled ? " (sampled)" : ""}  provider ${report.provider}`,
    `tolerance      ${tolerance}`,
    `provider root  ${report.providerRoot}`,
    `our root       ${report.ownRoot}${report.rootsEqual ? "  (equal: instant agreement)" : ""}`,
    `our run        ${report.run.ep}, ${report.run.ms} ms`,
    "problem" in report.providerOutput
      ? `provider output SERVED NOWHERE: ${report.providerOutput.problem}`
      : `provider output from ${report.providerOutput.source}`,
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
  const a = report.audit;
  lines.push(`audit          ${a.state}${a.auditor ? ` by ${a.auditor}` : ""}${a.outputRoot ? `, root ${a.outputRoot}` : ""}`);
  if (a.ownOutput) lines.push(`  its output   ${a.ownOutput.verdict.toUpperCase()}${a.ownOutput.reason ? `: ${a.ownOutput.reason}` : ""}`);
  const d = report.dispute;
  if (d) {
    const resolved = d.outcome !== undefined ? `, outcome ${d.outcome}${d.providerFaulted ? " (provider slashed)" : " (provider upheld)"}` : "";
    lines.push(`dispute        ${d.reason}, ${d.state}${d.challenger ? ` (challenger ${d.challenger})` : ""}${resolved}`);
    for (const v of d.votes) lines.push(`  vote         ${v.voter} ${v.vote}`);
  }
  const c = report.challenge;
  const when = c.open ? `open until ${new Date(c.windowEndsAt * 1000).toISOString()}` : d ? `closed (dispute ${d.state})` : "closed";
  lines.push(
    `challenge      ${when}`,
    `  costs        a bond of ${formatTokens(BigInt(c.bond))}, lost if a quorum upholds the result (${c.providerRewardBps / 100}% of it, ${formatTokens(BigInt(c.toProviderIfUpheld))}, to the provider; up to ${formatTokens(BigInt(c.committeePay))} to the committee)`,
    `  pays         if the provider is found wrong: the finder's share of its ${formatTokens(BigInt(c.collateral))} collateral (${c.challengerRewardBps / 100}%, ${formatTokens(BigInt(c.posterFinderShare))}) first, to the dApp that posted the job, not to the challenger; then the rest repays the committee's pay: ${formatTokens(BigInt(c.bondBackIfFaulted))} of the bond comes back`,
  );
  return lines.join("\n");
}

function fmt(value: number): string {
  if (value === 0) return "0";
  if (!Number.isFinite(value)) return String(value);
  return value.toExponential(2);
}
