/**
 * Signed job requests a dApp hands this worker (POST /jobs on its blob server, offchain/chain/signed-jobs.ts):
 * what the worker checks before it takes one, and the job it will become once posted. The worker runs an
 * admitted request like a posted job and posts it with its commitment (JobMarket.postSignedAndCommit), one
 * transaction instead of the dApp's post and its own claimAndCommit.
 */
import { keccak256, sha256, toHex, zeroAddress, type Abi, type Address, type PublicClient } from "viem";

import { jobMarketAbi, modelRegistryAbi } from "../chain/abis.js";
import { classifyChainError, ContractRevertError } from "../chain/errors.js";
import { formatTokens } from "../chain/format.js";
import { describeRevert } from "../chain/revert-messages.js";
import { JobStatus, type JobRecord } from "../chain/jobs.js";
import { signedJobArg, signedJobId, signerOf, type SignedJob, type SignedJobDomain } from "../chain/signed-jobs.js";
import { NonRetryableError } from "../errors.js";
import type { LoadedModel } from "./job-runner.js";

/** A request this worker does not take; its message says why (answered as HTTP 400). */
export class SignedJobRefusedError extends NonRetryableError {
  constructor(message: string) {
    super(message, { code: "SIGNED_JOB_REFUSED" });
    this.name = "SignedJobRefusedError";
  }
}

/** Seconds a request must leave before its claim deadline: time to fetch, run and post it. */
export const SIGNED_JOB_MIN_LEAD_SECONDS = 10n;

export type AdmitSignedJobParameters = {
  publicClient: PublicClient;
  market: Address;
  registry: Address;
  domain: SignedJobDomain;
  me: Address;
  models: ReadonlyMap<number, LoadedModel>;
  /** The terms version a post now gets (the market's current one). */
  termsVersion: number;
  head: { number: bigint; timestamp: bigint };
  /** Fees of the poster's requests this worker took and has not posted yet. */
  promised?: bigint;
};

/**
 * The checks that need no queue: the signature, that the request names us, the model and our price, the
 * claim deadline's lead, and the poster's deposit against this fee (one chain read). A flood of requests from
 * posters with no deposit is refused here, concurrently, before it reaches the admission queue.
 */
export async function precheckSignedJob(p: Pick<AdmitSignedJobParameters, "publicClient" | "market" | "domain" | "me" | "models" | "head">, signed: SignedJob): Promise<void> {
  const { request } = signed;
  const signer = await signerOf(p.domain, signed).catch(() => zeroAddress);
  if (signer.toLowerCase() !== signed.poster.toLowerCase()) {
    refuse(`the signature is not the poster's (${signed.poster}): sign the request with the poster's key for market ${p.domain.market} on chain ${p.domain.chainId}`);
  }
  // A request open to any provider could be copied from our pending transaction by a watcher that posts it
  // first with a made-up commitment: our run is lost. We take only requests that name us (GET /jobs says who).
  if (signed.provider === zeroAddress) refuse(`the request names no provider: name this worker, ${p.me} (GET /jobs), so nobody can post it before us`);
  if (signed.provider.toLowerCase() !== p.me.toLowerCase()) refuse(`the request is for provider ${signed.provider}; this worker is ${p.me}`);
  const model = p.models.get(Number(request.modelId));
  if (model === undefined || request.modelId > BigInt(Number.MAX_SAFE_INTEGER)) refuse(`model ${request.modelId} is not served here`);
  if (request.fee < model!.minFee) {
    refuse(`fee ${formatTokens(request.fee)} is below this worker's price ${formatTokens(model!.minFee)} for model ${request.modelId}`);
  }
  if (request.callbackGasLimit !== 0) refuse("a signed request cannot ask for a callback: post it from the consumer contract");
  if (request.claimBy < p.head.timestamp + SIGNED_JOB_MIN_LEAD_SECONDS) {
    refuse(`claimBy ${request.claimBy} leaves less than ${SIGNED_JOB_MIN_LEAD_SECONDS} s (chain time is ${p.head.timestamp}): sign a later claimBy`);
  }
  const deposit = await p.publicClient.readContract({ address: p.market, abi: jobMarketAbi, functionName: "deposits", args: [signed.poster] });
  if (deposit < request.fee) {
    refuse(`the poster's deposit ${formatTokens(deposit)} does not cover the fee ${formatTokens(request.fee)}: deposit more (dinfer deposit add --jobs)`);
  }
}

function refuse(message: string): never {
  throw new SignedJobRefusedError(message);
}

/**
 * After `precheckSignedJob`: checks `signed` against the poster's other requests we took and as the market
 * will (the post simulated), and returns the job it becomes once posted, in the Posted state (its id known
 * now). Run one at a time (the poster's deposit is shared by its requests).
 */
export async function admitSignedJob(p: AdmitSignedJobParameters, signed: SignedJob): Promise<JobRecord> {
  const { request } = signed;
  const jobId = signedJobId(p.domain, signed);
  const [stored, deposit, terms] = await Promise.all([
    p.publicClient.readContract({ address: p.market, abi: jobMarketAbi, functionName: "jobHash", args: [jobId] }),
    p.publicClient.readContract({ address: p.market, abi: jobMarketAbi, functionName: "deposits", args: [signed.poster] }),
    p.publicClient.readContract({ address: p.registry, abi: modelRegistryAbi, functionName: "terms", args: [request.modelId] }),
  ]);
  if (BigInt(stored) !== 0n) refuse(`the request was posted already (job ${jobId})`);
  // The poster's other requests we took and have not posted yet are paid from the same deposit: a poster
  // cannot have us run more than its deposit pays for (then withdraw it, and every post of ours reverts).
  const promised = p.promised ?? 0n;
  if (deposit < promised + request.fee) {
    refuse(
      `the poster's deposit ${formatTokens(deposit)} does not cover the fee ${formatTokens(request.fee)}` +
        (promised > 0n ? ` beside ${formatTokens(promised)} of its requests this worker has not posted yet` : "") +
        ": deposit more (dinfer deposit add --jobs)",
    );
  }
  // Everything else the market checks (the model active, its price floor, the input's form, the claim
  // deadline's bounds, our free stake for the collateral) is checked by the post itself, simulated now
  // with a stand-in commitment: a request we take is one we can post.
  try {
    await p.publicClient.simulateContract({
      account: p.me,
      address: p.market,
      abi: jobMarketAbi,
      functionName: "postSignedAndCommit",
      args: [signedJobArg(signed), signed.signature, keccak256(toHex("dinfer: admission probe"))],
    });
  } catch (error) {
    const classified = classifyChainError({ error, abi: jobMarketAbi as Abi });
    if (!(classified instanceof ContractRevertError)) throw classified;
    refuse(`the market would refuse it: ${describeRevert(classified)}`);
  }
  // The simulation refused an inactive model (ModelInactive): what is left of its terms is the collateral.
  const [, , collateral] = terms;
  return signedJobRecord(p.domain, signed, { collateral, termsVersion: p.termsVersion, postedBlock: p.head.number });
}

/** The job a signed request becomes once posted, in the Posted state (the market's own fields given). */
export function signedJobRecord(
  domain: SignedJobDomain,
  signed: SignedJob,
  { collateral, termsVersion, postedBlock }: { collateral: bigint; termsVersion: number; postedBlock: bigint },
): JobRecord {
  const { request } = signed;
  return {
    jobId: signedJobId(domain, signed),
    job: {
      poster: signed.poster,
      modelId: Number(request.modelId),
      terms: termsVersion,
      fee: request.fee,
      collateral,
      callbackGasLimit: request.callbackGasLimit,
      status: JobStatus.Posted,
      deadline: Number(request.claimBy),
      provider: zeroAddress,
      commitBlock: 0n,
      result: `0x${"0".repeat(64)}`,
      inlineOutput: request.inlineOutput,
      sampled: false,
    },
    inputHash: request.inlineInput.length > 2 ? sha256(request.inlineInput) : request.inputHash,
    inputURI: request.inputURI,
    inlineInput: request.inlineInput,
    postedBlock,
  };
}
