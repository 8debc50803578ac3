/**
 * `dinfer challenge <jobId>`: what challenging a revealed result costs and pays (docs/PROTOCOL.md,
 * section 7, "Challenge" and "Dispute"), said before anything is sent, then the bond approved and
 * `Verification.challenge` sent. A challenge the chain would refuse (not revealed, window closed, already
 * disputed, bond not in the wallet) is refused here with the reason, before any transaction.
 */
import { erc20Abi, type Hash } from "viem";

import { verificationAbi } from "../chain/abis.js";
import { enumName, formatDate, formatDuration, formatTokens, formatWhen, JOB_STATUS_NAMES } from "../chain/format.js";
import { JobStatus, readJob, type JobRecord } from "../chain/jobs.js";
import { TermsReader } from "../chain/terms.js";
import { challengeEconomics, DisputeState } from "../verifier/decide.js";
import { readDispute } from "../verifier/views.js";
import { ActionRefusedError, type ActionContext } from "./actions.js";

export type ChallengePlan = {
  record: JobRecord;
  bond: bigint;
  /** Seconds left in the challenge window (the job's deadline against the chain's time). */
  secondsLeft: bigint;
  committeeSize: number;
  /** The sentences said before asking. */
  message: string;
};

/** Reads the job, its terms and the account's balance; refuses what the chain would refuse. */
export async function planChallenge({ publicClient, sender, deployment, jobId }: Omit<ActionContext, "say"> & { jobId: bigint }): Promise<ChallengePlan> {
  const record = await readJob({ client: publicClient, market: deployment.market, jobId });
  const { job } = record;
  const [terms, dispute, block, balance] = await Promise.all([
    new TermsReader({ client: publicClient, market: deployment.market }).of(job.terms),
    readDispute({ publicClient, verification: deployment.verification, jobId }),
    publicClient.getBlock(),
    publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "balanceOf", args: [sender.address] }),
  ]);
  const now = block.timestamp;
  if (dispute.state !== DisputeState.None) {
    throw new ActionRefusedError(`job ${jobId} is already disputed (one dispute per job): follow it with \`dinfer audit ${jobId} --model ${job.modelId}=<path>\``, {
      code: "CHALLENGE_REFUSED",
    });
  }
  if (job.status !== JobStatus.Revealed) {
    throw new ActionRefusedError(
      `job ${jobId} is ${enumName(JOB_STATUS_NAMES, job.status)}, not Revealed: only a revealed result can be challenged, inside its challenge window`,
      { code: "CHALLENGE_REFUSED" },
    );
  }
  const deadline = BigInt(job.deadline);
  if (now > deadline) {
    throw new ActionRefusedError(`job ${jobId}'s challenge window closed at ${formatWhen(deadline, now)}: its result can no longer be challenged`, {
      code: "CHALLENGE_REFUSED",
    });
  }
  const v = terms.verification;
  const bond = v.challengeBond;
  if (balance < bond) {
    throw new ActionRefusedError(
      `a challenge posts a bond of ${formatTokens(bond)} and ${sender.address} holds ${formatTokens(balance)}: get ${formatTokens(bond - balance)} more first`,
      { code: "CHALLENGE_REFUSED" },
    );
  }
  const e = challengeEconomics({
    bond,
    collateral: job.collateral,
    challengerRewardBps: v.challengerRewardBps,
    providerRewardBps: v.providerRewardBps,
    committeeSize: v.committeeSize,
  });
  const secondsLeft = deadline - now;
  const message = [
    `challenge job ${jobId} (model ${job.modelId}, provider ${job.provider}): ${formatDuration(secondsLeft)} left to challenge (the window closes at ${formatDate(deadline)}).`,
    `  bond       ${formatTokens(bond)} from ${sender.address} (it holds ${formatTokens(balance)})`,
    `  judged by  a committee of ${v.committeeSize} verifiers, drawn at random from the verifier set`,
    `  if wrong   the provider's ${formatTokens(job.collateral)} collateral is slashed and the dApp refunded; the finder's share (${v.challengerRewardBps / 100}%, ${formatTokens(e.ifFaulted.posterFinderShare)}) goes to the dApp that posted the job; ${formatTokens(e.ifFaulted.challengerGets)} of your bond comes back`,
    `  if right   (a quorum upholds the result) you lose the bond: ${formatTokens(e.ifUpheld.toProvider)} to the provider, up to ${formatTokens(e.committeePay)} to the committee, the rest to the treasury`,
    `  no quorum  the bond comes back`,
  ].join("\n");
  return { record, bond, secondsLeft, committeeSize: v.committeeSize, message };
}

export type ChallengeReturnType = { hash: Hash; bond: bigint; seedBlock: bigint; modelId: number };

/**
 * Says the plan, asks `confirm` (it throws to stop), approves the bond to Verification and challenges.
 * The dispute is the job's: it is followed by the job id.
 */
export async function challenge({
  publicClient,
  sender,
  deployment,
  say = () => {},
  jobId,
  confirm,
}: ActionContext & { jobId: bigint; confirm: (question: string) => Promise<void> }): Promise<ChallengeReturnType> {
  const plan = await planChallenge({ publicClient, sender, deployment, jobId });
  say(plan.message);
  await confirm(`Post the ${formatTokens(plan.bond)} bond and challenge job ${jobId}?`);
  await sender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [deployment.verification, plan.bond] });
  const { hash } = await sender.send({ address: deployment.verification, abi: verificationAbi, functionName: "challenge", args: [jobId, plan.record.job] });
  const dispute = await readDispute({ publicClient, verification: deployment.verification, jobId });
  return { hash, bond: plan.bond, seedBlock: dispute.seedBlock, modelId: plan.record.job.modelId };
}
