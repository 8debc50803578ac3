/**
 * A job's way through the protocol as lines a person reads while waiting (`dinfer job post --wait`):
 * claimed by whom, committed, revealed and whether it was sampled for audit, the audit's commit and
 * verdict, a dispute, the challenge window's end, final. `JobProgress` is fed the job's state each time
 * it is read (folded from its events, plus the audit's events when it was sampled) and returns the
 * lines for what changed since the last call; states skipped between two reads (a claim and a commit
 * in one block) each still get their line.
 */
import type { Address, Hex, PublicClient } from "viem";

import { JobStatus, type JobRecord } from "../chain/jobs.js";
import { formatDuration } from "../chain/format.js";
import { jobVerification, type JobVerification } from "./activity.js";

export type JobProgressUpdate = {
  record: JobRecord;
  /** The audit and dispute, when read (a sampled job). */
  verification?: JobVerification;
  /** The chain's time now (the latest block's timestamp), for "in N s". */
  now: bigint;
};

/** Turns successive reads of one job into progress lines. */
export class JobProgress {
  #status: number = JobStatus.Posted;
  #said = new Set<string>();

  /** The lines for what happened since the last update (none when nothing did). */
  update({ record, verification, now }: JobProgressUpdate): string[] {
    const { job } = record;
    const lines: string[] = [];
    const say = (key: string, line: string) => {
      if (this.#said.has(key)) return;
      this.#said.add(key);
      lines.push(line);
    };
    const inSeconds = (at: number) => (BigInt(at) > now ? `in ${formatDuration(BigInt(at) - now)}` : "now");
    const status = job.status;
    const passed = (s: number) => this.#status < s && status >= s && status !== JobStatus.Expired;

    if (status === JobStatus.Posted) say("waiting", `waiting for a provider to claim it (unclaimed jobs expire ${inSeconds(job.deadline)})`);
    if (passed(JobStatus.Claimed)) say("claimed", `claimed by ${job.provider}`);
    if (passed(JobStatus.Committed)) {
      const reveal = status === JobStatus.Committed ? `; the output is revealed after the sampling seed's block (due ${inSeconds(job.deadline)})` : "";
      say("committed", `committed: ${job.provider} sealed its result${reveal}`);
    }
    if (passed(JobStatus.Revealed)) {
      const audit = job.sampled ? "sampled for audit: a drawn verifier re-runs it" : "not sampled for audit";
      const window = status === JobStatus.Revealed ? `; finalizing ${inSeconds(job.deadline)}, when the challenge window ends` : "";
      say("revealed", `revealed: output root ${short(job.result)}, ${audit}${window}`);
    }
    const audit = verification?.audit;
    if (audit) {
      say("audit committed", `audit committed by ${audit.auditor}`);
      if (audit.state !== "committed") say("audit revealed", `audit revealed by ${audit.auditor}: ${audit.state === "agreed" ? "it agrees" : "it disagrees, a dispute opens"}`);
    }
    const dispute = verification?.dispute;
    if (status === JobStatus.Disputed || dispute) {
      say("disputed", `disputed (${dispute?.reason ?? "challenge"}): a committee of verifiers re-runs it and votes`);
      if (dispute?.resolved) say("resolved", `dispute resolved: ${dispute.resolved.providerFaulted ? "the provider was wrong and is slashed" : "the provider was right"}`);
    }
    if (status === JobStatus.Revealed && now >= BigInt(job.deadline)) say("window closed", "challenge window closed: waiting for a finalize (the provider or any keeper sends it)");
    if (status === JobStatus.Finalized) say("final", "final");
    if (status === JobStatus.Expired) say("expired", "expired: the fee is refunded to the poster (withdraw it with `dinfer provider withdraw`)");
    if (status === JobStatus.Slashed) say("slashed", "the provider's result was found wrong: it was slashed and the fee refunded");
    this.#status = Math.max(this.#status, status);
    return lines;
  }
}

/** 0x1234abcd…9876 for an address or a hash. */
function short(value: Address | Hex): string {
  return value.length > 14 ? `${value.slice(0, 10)}…${value.slice(-4)}` : value;
}

export type ReportProgressParameters = {
  publicClient: PublicClient;
  /** The Verification contract: a sampled or disputed job's audit and dispute are read from its events. */
  verification: Address;
  print: (line: string) => void;
};

/**
 * A callback for `waitForResult`'s `onRecord`: prints each new stage of the job. The chain's time
 * comes from the latest block, the audit and dispute from the verification contract's events once
 * the job is sampled or disputed.
 */
export function reportProgress({ publicClient, verification, print }: ReportProgressParameters): (record: JobRecord) => Promise<void> {
  const progress = new JobProgress();
  return async (record) => {
    const { timestamp } = await publicClient.getBlock({ blockTag: "latest" });
    const followAudit = record.job.sampled || record.job.status === JobStatus.Disputed;
    const audit = followAudit ? await jobVerification({ publicClient, verification, jobId: record.jobId, fromBlock: record.postedBlock }) : undefined;
    for (const line of progress.update({ record, verification: audit, now: timestamp })) print(line);
  };
}
