/**
 * The dApp developer's front door: one client that posts inference jobs, waits for their results and
 * hands back outputs verified against the output root the provider revealed on-chain.
 *
 * ```ts
 * import { createDinferClient } from "./offchain/sdk/client.js";
 *
 * const dinfer = createDinferClient({ publicClient, walletClient, deployment, upload: { serverUrl, token } });
 * const { jobId } = await dinfer.postJob({ modelId: 1, input: { image: "line.png", preprocess: "cls" } });
 * const result = await dinfer.waitForResult(jobId);      // polls until final, fetches, checks the root
 * const [probabilities] = result.tensors();               // the model's outputs, decoded
 * const { market } = await dinfer.terms(result.record.job.terms); // the rules the job was judged by
 * ```
 *
 * Everything here composes the lower-level functions a dApp may also call directly:
 * `offchain/sdk/jobs.ts` (postJob, waitForResult, fetchOutput), `offchain/sdk/image.ts` (image
 * preprocessing for the PaddleOCR models) and `offchain/codec/tensor.ts` (tensor blobs).
 *
 * Signing: transactions go through a `TxSender` (`offchain/chain/sender.ts`: simulate first, nonce
 * from the chain, retries with backoff, never a retried revert), which needs a **local** account
 * (a private key or a keystore key). A client made without one can still wait for and fetch results.
 */
import type { Account, Address, Chain, PublicClient, Transport, WalletClient } from "viem";

import type { Deployment } from "../chain/deployment.js";
import { readJob, type JobRecord } from "../chain/jobs.js";
import { TxSender } from "../chain/sender.js";
import { TermsReader, type Terms } from "../chain/terms.js";
import { decodeTensorBlob, type Tensor } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";
import { allowsPrivateHosts } from "../storage/host-policy.js";
import type { IpfsBlobPublisher, IpfsBlobReader } from "../storage/ipfs-uri.js";
import { checkedFee, jobInputBlob, type JobInput } from "./job-input.js";
// Posting builds on these; they moved beside it (offchain/sdk/job-input.ts) and are still importable from here.
export { checkedFee, jobInputBlob, type CheckedFeeParameters, type JobInput } from "./job-input.js";
import { checkInputFits, readModelInputs, type ModelInputs, type ModelSource } from "./input-check.js";
import {
  deposit as depositTokens,
  depositBalance,
  postJobs,
  waitForResults,
  withdrawDeposit,
  type BatchJobResult,
  type DepositMarket,
  type PostJobsReturnType,
  type WaitForResultsParameters,
} from "./batches.js";
import type { SignedJob } from "../chain/signed-jobs.js";
import { readReplicaJob, type ReplicaRecord } from "../chain/replicas.js";
import {
  postReplicatedJob,
  replicaJobCost,
  waitForReplicatedResult,
  type PostReplicatedJobParameters,
  type PostReplicatedJobReturnType,
  type ReplicaJobCostReturnType,
  type ReplicatedResult,
  type WaitForReplicatedResultParameters,
} from "./replicas.js";
import {
  fetchOutput,
  cancelSignedJob,
  postJob,
  postSignedJob,
  waitForResult,
  type JobResult,
  type PostJobReturnType,
  type WaitForResultParameters,
} from "./jobs.js";

export type CreateDinferClientParameters = {
  /** Reads the chain: job state from events, the registry's terms. */
  publicClient: PublicClient;
  /** Sends transactions. Or give `walletClient` and one is made for it. */
  sender?: TxSender;
  /** A wallet client whose account is local (`privateKeyToAccount`, a keystore key). */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
  /** The protocol's addresses (`loadDeployment` reads them from an Ignition deployment). */
  deployment: Deployment;
  /** Where inputs over 4096 bytes are uploaded: a dinfer blob server with uploads on. */
  upload?: { serverUrl: string; token: string };
  /** Gateway for `ipfs://` output URIs, when no `ipfs` node is given. */
  ipfsGateway?: string;
  /**
   * The dApp's IPFS node (offchain/storage/ipfs.ts `startIpfsNode`, or any `IpfsBlobPublisher &
   * IpfsBlobReader`): inputs over 4096 bytes are put on it (pinned; keep the node up until the job is final,
   * docs/PROTOCOL.md section 5) unless an `inputURI` is given, and `ipfs://` outputs are read through it.
   */
  ipfs?: IpfsBlobPublisher & IpfsBlobReader;
  /** Largest output accepted, bytes (default: the codec's 64 MiB cap). */
  maxOutputBytes?: number;
  /**
   * Read what others chose (a provider's output location, a batch's output list, a model's registered URI) on
   * loopback, private, link-local and other non-public hosts (127.0.0.1, 10.x, 192.168.x, 169.254.x, ::1...,
   * by address or by a hostname that resolves to one: offchain/storage/host-policy.ts). Off, such a read is
   * refused before any request is sent (`PrivateHostRefusedError`, code PRIVATE_HOST_REFUSED, not retryable): a
   * provider cannot make the dApp's server request its own network (an admin port, the cloud's metadata
   * service). Left out: on only on a devnet (chain id 31337, asked of `publicClient` once), the daemons' rule.
   * An `ipfs://` output read through `ipfsGateway` is read even with the gateway on localhost.
   */
  allowPrivateHosts?: boolean;
  /**
   * Check every input against the model's declared inputs before posting (default true): the model's
   * file is fetched once per model from its registered URI (or given per post, `check`) and its sha256
   * checked against the registry. Workers skip an input that does not fit, and its fee waits for expiry.
   */
  checkInput?: boolean;
};

export type ClientPostJobParameters = {
  modelId: number | bigint;
  input: JobInput;
  /** The fee in token units (wei); defaults to the model's price floor in the registry. */
  fee?: bigint;
  /** Seconds a provider has to claim the job (default 600); at most the current terms' `maxClaimDelay`. */
  claimWithin?: number;
  /** An input already stored where providers can fetch it; nothing is uploaded then. */
  inputURI?: string;
  /** Require the result inline (at most 4096 bytes; see `PostJobParameters.inlineOutput`). Default false. */
  inlineOutput?: boolean;
  /**
   * How the input is checked against the model (see `CreateDinferClientParameters.checkInput`):
   * `{ modelBytes }` or `{ modelFile }` give the model's file; `false` skips the check for this post.
   */
  check?: false | ModelSource;
};

export type ClientPostJobReturnType = PostJobReturnType & {
  /** The fee paid. */
  fee: bigint;
  /** The input blob as posted (its SHA-256 is `inputHash`). */
  input: Uint8Array;
};

export type ClientWaitForResultOptions = Pick<WaitForResultParameters, "until" | "timeoutMs" | "pollMs" | "signal">;

/** A job's verified output (`output` hashes to the on-chain root), with a decoder for its tensors. */
export type ClientJobResult = JobResult & {
  /** The output blob's tensors; throws `CodecError` if the provider's output is no tensor blob. */
  tensors: () => Tensor[];
};

/** One job of `postJobs`: as `postJob` takes it, less what a batch does not have (inline input or output). */
export type ClientBatchJobParameters = Omit<ClientPostJobParameters, "claimWithin" | "inlineOutput">;

export type ClientPostJobsOptions = {
  /** Seconds providers have to claim each batch (default 600); at most the current terms' `maxClaimDelay`. */
  claimWithin?: number;
  /** Deposit the shortfall first when the deposit does not cover the batches (default true). */
  topUp?: boolean;
};

export type ClientWaitForResultsOptions = Pick<WaitForResultsParameters, "timeoutMs" | "pollMs" | "signal" | "fromBlock"> & {
  onResult?: (result: ClientBatchJobResult) => void | Promise<void>;
};

/** A batch job's outcome; a finalized one's output decodes with `tensors()`. */
export type ClientBatchJobResult =
  | (Extract<BatchJobResult, { ok: true }> & { tensors: () => Tensor[] })
  | Extract<BatchJobResult, { ok: false }>;

/** A redundant job as `postReplicatedJob` takes it, less what the client holds (sender, chain, upload server). */
export type ClientPostReplicatedJobParameters = Omit<PostReplicatedJobParameters, "sender" | "publicClient" | "deployment" | "upload"> & {
  /** How the input is checked against the model (as `ClientPostJobParameters.check`). */
  check?: false | ModelSource;
};

export type ClientWaitForReplicatedResultOptions = Pick<WaitForReplicatedResultParameters, "timeoutMs" | "pollMs" | "signal" | "onRecord" | "fromBlock">;

/** A redundant job's majority output (checked against its root), with a decoder for its tensors. */
export type ClientReplicatedResult = ReplicatedResult & { tensors: () => Tensor[] };

export type DinferClient = {
  readonly deployment: Deployment;
  /** The account that posts and pays; undefined for a read-only client. */
  readonly account: Address | undefined;
  /**
   * Posts a job: encodes the input, checks it fits the model's declared inputs (`INPUT_DOES_NOT_FIT`,
   * `INPUT_NOT_A_BLOB`; `MODEL_UNAVAILABLE` when the model's file cannot be had to check it), checks the
   * model is active and the fee meets its floor and that
   * `claimWithin` fits the current terms (`CLAIM_WITHIN_TOO_LONG`), approves the market when the
   * allowance is short, then posts inline (<= 4096 bytes) or by URI (uploaded, or `inputURI`).
   */
  postJob: (parameters: ClientPostJobParameters) => Promise<ClientPostJobReturnType>;
  /**
   * Polls a job until it is final (or revealed, with `until: "revealed"`), then fetches its output and
   * checks it against the root on-chain. Throws `JOB_FAILED` if it expired or was slashed, a retryable
   * `JOB_WAIT_TIMEOUT` when time runs out.
   */
  waitForResult: (jobId: bigint, options?: ClientWaitForResultOptions) => Promise<ClientJobResult>;
  /**
   * A job as a signed request handed to one provider (`providerUrl`, its worker's blob server), which runs it
   * and posts it with its commitment in one transaction: the cheapest lone job, no transaction of ours per
   * job. Checked as `postJob` checks it; the fee comes from the JobMarket deposit (topped up when short).
   */
  postSignedJob: (
    parameters: ClientPostJobParameters & { providerUrl: string; provider?: Address },
  ) => Promise<Omit<ClientPostJobReturnType, "txHash"> & { signed: SignedJob; claimBy: bigint }>;
  /** Cancels a signed request nobody posted yet (see `cancelSignedJob`): do it before signing another for the same work. */
  cancelSignedJob: (signed: SignedJob) => Promise<{ jobId: bigint; txHash: `0x${string}` }>;
  /**
   * Posts many jobs in one transaction, paid from the deposit (`deposit`): every input is encoded and checked
   * as `postJob` checks it, the jobs are grouped into one batch per model and fee, and the deposit is topped
   * up first when short (`INSUFFICIENT_TOKENS` when the wallet cannot). Job ids come back in the given order.
   */
  postJobs: (jobs: readonly ClientBatchJobParameters[], options?: ClientPostJobsOptions) => Promise<PostJobsReturnType>;
  /**
   * Waits until every job (from `postJobs`, or bare ids) is final: each result's output checked against its
   * on-chain root, or why it has none (`JOB_FAILED`: expired or slashed, its fee refunded).
   */
  waitForResults: (jobs: WaitForResultsParameters["jobs"], options?: ClientWaitForResultsOptions) => Promise<ClientBatchJobResult[]>;
  /**
   * Adds tokens to the deposit batches are paid from (approving the BatchMarket when needed), or with
   * `"jobs"` to the JobMarket's, which signed requests are paid from.
   */
  deposit: (amount: bigint, market?: DepositMarket) => Promise<{ txHash: `0x${string}`; balance: bigint }>;
  /** Takes unspent deposit back (the BatchMarket's, or the JobMarket's with `"jobs"`). */
  withdrawDeposit: (amount: bigint, market?: DepositMarket) => Promise<{ txHash: `0x${string}`; balance: bigint }>;
  /** An account's unspent deposit (the client's own by default; the BatchMarket's, or the JobMarket's with `"jobs"`). */
  depositBalance: (account?: Address, market?: DepositMarket) => Promise<bigint>;
  /**
   * A revealed job's output, checked against its on-chain root (throws `OUTPUT_ROOT_MISMATCH`; `PRIVATE_HOST_REFUSED`
   * for a location on a private host, see `CreateDinferClientParameters.allowPrivateHosts`).
   */
  fetchOutput: (jobId: bigint) => Promise<Uint8Array>;
  /** A job's state and its input and output locations, rebuilt from the market's events. */
  readJob: (jobId: bigint) => Promise<JobRecord>;
  /**
   * A protocol terms version (`ProtocolTerms.termsOf`): a job's own (`record.job.terms`: its timeouts,
   * challenge window, fee split, sampling rate), or, without a version, the one a job posted now gets.
   */
  terms: (version?: number) => Promise<Terms>;
  /** What a redundant job of `replicas` seats costs: each seat's fee (the model's floor by default) and k x it. */
  replicaJobCost: (parameters: { modelId: number | bigint; replicas: number; feePerReplica?: bigint }) => Promise<ReplicaJobCostReturnType>;
  /**
   * Posts a redundant job, run by `replicas` (2..5) providers at k x the fee: the input checked as `postJob`
   * checks it and uploaded (it goes by URI), the constraints encoded, the ReplicaMarket approved for the total
   * when the allowance is short.
   */
  postReplicatedJob: (parameters: ClientPostReplicatedJobParameters) => Promise<PostReplicatedJobReturnType>;
  /**
   * Waits until more than half of a redundant job's seats revealed one root (or it settled Agreed), then fetches
   * the output from those seats and checks it against the root. Throws `JOB_FAILED` (`details.status`:
   * "expired", "disputed", "no-majority") when no majority can come.
   */
  waitForReplicatedResult: (replicaJobId: bigint, options?: ClientWaitForReplicatedResultOptions) => Promise<ClientReplicatedResult>;
  /** A redundant job's state, seats and constraints. */
  readReplicaJob: (replicaJobId: bigint) => Promise<ReplicaRecord>;
};

/**
 * Makes a client for one deployment. Give `sender` or `walletClient` to post jobs; without either the
 * client only reads (postJob throws `NO_SIGNER`).
 */
export function createDinferClient({
  publicClient,
  sender,
  walletClient,
  deployment,
  upload,
  ipfsGateway,
  ipfs,
  maxOutputBytes,
  checkInput = true,
  allowPrivateHosts,
}: CreateDinferClientParameters): DinferClient {
  const signer = sender ?? (walletClient ? new TxSender({ publicClient, walletClient }) : undefined);
  const market = deployment.market;
  /** Where each job this client posted was posted: later log reads start there, not at block 0. */
  const postedAt = new Map<bigint, bigint>();
  /** The claim deadline of each signed request this client handed a provider. */
  const signedClaimBy = new Map<bigint, bigint>();
  /** Where each redundant job this client posted was posted (its ids are the ReplicaMarket's own). */
  const replicaPostedAt = new Map<bigint, bigint>();
  const read = (jobId: bigint) => readJob({ client: publicClient, market, jobId, fromBlock: postedAt.get(jobId) ?? 0n });
  const terms = new TermsReader({ client: publicClient, market });
  /** `allowPrivateHosts` as given, else the devnet rule on the node's chain id (asked once, again after a failure). */
  let chainRule: Promise<boolean> | undefined;
  const privateHosts = (): Promise<boolean> => {
    if (allowPrivateHosts !== undefined) return Promise.resolve(allowPrivateHosts);
    if (!chainRule) {
      chainRule = publicClient.getChainId().then((chainId) => allowsPrivateHosts({ chainId }));
      chainRule.catch(() => (chainRule = undefined));
    }
    return chainRule;
  };
  /** Each model's declared inputs, read once: its file is frozen in the registry. */
  const modelInputs = new Map<bigint, Promise<ModelInputs>>();
  const inputsOf = (modelId: bigint, source: ModelSource) => {
    let inputs = modelInputs.get(modelId);
    if (!inputs) {
      // Left out, allowPrivateHosts is decided as here (the devnet rule), only when the registered URI is read.
      inputs = readModelInputs({ publicClient, registry: deployment.registry, modelId, source, ipfsGateway, allowPrivateHosts });
      inputs.catch(() => modelInputs.delete(modelId));
      modelInputs.set(modelId, inputs);
    }
    return inputs;
  };

  const needSigner = (): TxSender => {
    if (!signer) {
      throw new NonRetryableError("this client cannot post: give createDinferClient a sender or a walletClient", { code: "NO_SIGNER" });
    }
    return signer;
  };
  const checkClaimWithin = async (claimWithin: number) => {
    const { maxClaimDelay } = (await terms.current()).market;
    if (claimWithin > maxClaimDelay) {
      throw new NonRetryableError(`claimWithin ${claimWithin} s is over the terms' maxClaimDelay of ${maxClaimDelay} s`, {
        code: "CLAIM_WITHIN_TOO_LONG",
        details: { claimWithin, maxClaimDelay },
      });
    }
  };

  return {
    deployment,
    account: signer?.address,

    async postJobs(jobs, { claimWithin = 600, topUp = true } = {}) {
      const sender = needSigner();
      const requests = [];
      for (const [i, { modelId, input, fee, inputURI, check }] of jobs.entries()) {
        const blob = await jobInputBlob(input);
        const paid = await checkedFee({ publicClient, registry: deployment.registry, modelId: BigInt(modelId), fee });
        if (checkInput && check !== false) {
          try {
            checkInputFits({ input: blob, model: await inputsOf(BigInt(modelId), check ?? {}) });
          } catch (error) {
            // Which of many inputs did not fit, with the check's own code and words.
            if (!(error instanceof NonRetryableError)) throw error;
            throw new NonRetryableError(`job ${i} (model ${modelId}): ${error.message}`, {
              code: error.code,
              details: { ...error.details, jobIndex: i },
              cause: error,
            });
          }
        }
        requests.push({ modelId: BigInt(modelId), input: blob, fee: paid, inputURI });
      }
      await checkClaimWithin(claimWithin);
      return postJobs({ sender, publicClient, deployment, jobs: requests, claimWithin, upload, topUp });
    },

    async waitForResults(jobs, { onResult, ...options } = {}) {
      const results = await waitForResults({
        publicClient,
        deployment,
        jobs,
        ipfsGateway,
        maxBytes: maxOutputBytes,
        allowPrivateHosts: await privateHosts(),
        ...options,
        onResult: onResult && ((result) => onResult(batchResultWithTensors(result))),
      });
      return results.map(batchResultWithTensors);
    },

    deposit: (amount, market) => depositTokens({ sender: needSigner(), publicClient, deployment, amount, market }),
    withdrawDeposit: (amount, market) => withdrawDeposit({ sender: needSigner(), publicClient, deployment, amount, market }),
    async depositBalance(account, market) {
      const who = account ?? signer?.address;
      if (!who) throw new NonRetryableError("whose deposit? give an account or a client with a signer", { code: "NO_ACCOUNT" });
      return depositBalance({ publicClient, deployment, account: who, market });
    },

    async postJob({ modelId, input, fee, claimWithin = 600, inputURI, inlineOutput, check }) {
      if (!signer) {
        throw new NonRetryableError("this client cannot post: give createDinferClient a sender or a walletClient", { code: "NO_SIGNER" });
      }
      const blob = await jobInputBlob(input);
      const paid = await checkedFee({ publicClient, registry: deployment.registry, modelId: BigInt(modelId), fee });
      if (checkInput && check !== false) checkInputFits({ input: blob, model: await inputsOf(BigInt(modelId), check ?? {}) });
      const { maxClaimDelay } = (await terms.current()).market;
      if (claimWithin > maxClaimDelay) {
        throw new NonRetryableError(`claimWithin ${claimWithin} s is over the terms' maxClaimDelay of ${maxClaimDelay} s`, {
          code: "CLAIM_WITHIN_TOO_LONG",
          details: { claimWithin, maxClaimDelay },
        });
      }
      const posted = await postJob({ sender: signer, publicClient, deployment, modelId, input: blob, fee: paid, claimWithin, upload, ipfs, inputURI, inlineOutput });
      postedAt.set(posted.jobId, posted.blockNumber);
      return { ...posted, fee: paid, input: blob };
    },

    async postSignedJob({ modelId, input, fee, claimWithin = 600, inputURI, inlineOutput, check, providerUrl, provider }) {
      const sender = needSigner();
      const blob = await jobInputBlob(input);
      const paid = await checkedFee({ publicClient, registry: deployment.registry, modelId: BigInt(modelId), fee });
      if (checkInput && check !== false) checkInputFits({ input: blob, model: await inputsOf(BigInt(modelId), check ?? {}) });
      await checkClaimWithin(claimWithin);
      const posted = await postSignedJob({ sender, publicClient, deployment, modelId, input: blob, fee: paid, claimWithin, upload, ipfs, inputURI, inlineOutput, providerUrl, provider });
      postedAt.set(posted.jobId, posted.blockNumber);
      signedClaimBy.set(posted.jobId, posted.claimBy);
      return { ...posted, fee: paid, input: blob };
    },

    cancelSignedJob: (signed) => cancelSignedJob({ sender: needSigner(), publicClient, deployment, signed }),

    async waitForResult(jobId, options = {}) {
      const result = await waitForResult({
        publicClient,
        market,
        jobId,
        fromBlock: postedAt.get(jobId),
        claimBy: signedClaimBy.get(jobId),
        ipfsGateway,
        ipfs,
        maxBytes: maxOutputBytes,
        allowPrivateHosts: await privateHosts(),
        ...options,
      });
      return withTensors(result);
    },

    async fetchOutput(jobId) {
      return fetchOutput({ record: await read(jobId), ipfsGateway, ipfs, maxBytes: maxOutputBytes, allowPrivateHosts: await privateHosts() });
    },

    readJob: read,

    replicaJobCost: ({ modelId, replicas, feePerReplica }) => replicaJobCost({ publicClient, deployment, modelId, replicas, feePerReplica }),

    async postReplicatedJob({ check, ...parameters }) {
      const sender = needSigner();
      const blob = await jobInputBlob(parameters.input);
      if (checkInput && check !== false) checkInputFits({ input: blob, model: await inputsOf(BigInt(parameters.modelId), check ?? {}) });
      if (parameters.claimBy === undefined) await checkClaimWithin(parameters.claimWithinSeconds ?? 600);
      const posted = await postReplicatedJob({ sender, publicClient, deployment, upload, ...parameters, input: { blob } });
      replicaPostedAt.set(posted.replicaJobId, posted.blockNumber);
      return posted;
    },

    async waitForReplicatedResult(replicaJobId, options = {}) {
      const result = await waitForReplicatedResult({
        publicClient,
        deployment,
        replicaJobId,
        fromBlock: replicaPostedAt.get(replicaJobId),
        ipfsGateway,
        maxBytes: maxOutputBytes,
        allowPrivateHosts: await privateHosts(),
        ...options,
      });
      let decoded: Tensor[] | undefined;
      return { ...result, tensors: () => (decoded ??= decodeTensorBlob(result.output)) };
    },

    readReplicaJob: (replicaJobId) =>
      readReplicaJob({ client: publicClient, replicaMarket: deployment.replicaMarket, replicaJobId, fromBlock: replicaPostedAt.get(replicaJobId) ?? 0n }),

    terms: (version) => (version === undefined ? terms.current() : terms.of(version)),
  };
}

function batchResultWithTensors(result: BatchJobResult): ClientBatchJobResult {
  if (!result.ok) return result;
  let decoded: Tensor[] | undefined;
  return { ...result, tensors: () => (decoded ??= decodeTensorBlob(result.output)) };
}

function withTensors(result: JobResult): ClientJobResult {
  let decoded: Tensor[] | undefined;
  return { ...result, tensors: () => (decoded ??= decodeTensorBlob(result.output)) };
}
