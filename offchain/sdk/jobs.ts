/**
 * What a dApp needs to use dinfer from TypeScript: post a job from a tensor blob, wait for its
 * result, fetch the output and verify it against the root on-chain. `offchain/sdk/client.ts` wraps
 * these in one client (inputs from tensors or images, fee checks); these are its building blocks.
 *
 * ```ts
 * const { jobId } = await postJob({ sender, publicClient, deployment, modelId: 1, input, fee: parseEther("2") });
 * const result = await waitForResult({ publicClient, market: deployment.market, jobId });
 * const tensors = decodeTensorBlob(result.output);
 * ```
 */
import { bytesToHex, erc20Abi, getAddress, maxUint256, type Address, type Hex, type Log, type PublicClient } from "viem";

import { jobMarketAbi, modelRegistryAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { JobStatus, readJob, type JobRecord } from "../chain/jobs.js";
import type { TxSender } from "../chain/sender.js";
import { encodeSignedJob, isSignedJobId, SIGNED_JOB_CANCELLED, signedJobArg, signedJobId, signJob, type SignedJob } from "../chain/signed-jobs.js";
import { blobId } from "../codec/tensor.js";
import { deposit } from "./batches.js";
import { refuseCollateralDropBefore } from "./collateral.js";
import { NonRetryableError, RetryableError } from "../errors.js";
import { privateHostsAllowed } from "../storage/host-policy.js";
import type { IpfsBlobPublisher, IpfsBlobReader } from "../storage/ipfs-uri.js";
import { readOutput } from "../storage/output.js";
import { uploadBlob } from "../storage/upload.js";
import { decodeEvent } from "../chain/events.js";

export const INLINE_INPUT_MAX = 4096;

export type PostJobParameters = {
  sender: TxSender;
  publicClient: PublicClient;
  deployment: Deployment;
  modelId: number | bigint;
  /** The input tensor blob (offchain/codec/tensor.ts encodeTensorBlob). */
  input: Uint8Array;
  fee: bigint;
  /** Seconds from now a provider has to claim it (default 600). */
  claimWithin?: number;
  /** Where a blob over 4096 bytes goes: a dinfer blob server accepting uploads. */
  upload?: { serverUrl: string; token: string };
  /**
   * Or put a blob over 4096 bytes on IPFS: added and pinned on this node (the dApp's, offchain/storage/ipfs.ts
   * `startIpfsNode`), and posted as `ipfs://<cid>`. The poster keeps it: the node must stay up, reachable by
   * the providers and verifiers (their `ipfs.peers`, or dialling theirs), until the job is final
   * (docs/PROTOCOL.md, section 5). Taken before `upload` when both are given.
   */
  ipfs?: IpfsBlobPublisher;
  /** An input already stored elsewhere (its URI); the blob is then not uploaded. */
  inputURI?: string;
  /**
   * Require the result to be revealed inline (at most 4096 bytes, in the reveal's event): readers then
   * need no fetch, and a consumer contract's callback gets the output itself. Providers whose output
   * does not fit leave such a job alone. Default false.
   */
  inlineOutput?: boolean;
};

export type PostJobReturnType = {
  jobId: bigint;
  inputHash: Hex;
  /** Empty when the input went inline. */
  inputURI: string;
  txHash: Hex;
  /** The block the job was posted in: where reading its events can start (`waitForResult`'s `fromBlock`). */
  blockNumber: bigint;
};

/**
 * Posts a job: inline when the input fits in 4096 bytes, else uploaded (or at `inputURI`). When the
 * market's allowance is short of the fee, first approves it for an unlimited amount (one approval
 * for every later job).
 */
export async function postJob({
  sender,
  publicClient,
  deployment,
  modelId,
  input,
  fee,
  claimWithin = 600,
  upload,
  ipfs,
  inputURI,
  inlineOutput = false,
}: PostJobParameters): Promise<PostJobReturnType> {
  const request = await jobRequestFor({ publicClient, modelId, input, fee, claimWithin, upload, ipfs, inputURI, inlineOutput });
  await refuseCollateralDropBefore({ publicClient, registry: deployment.registry, modelId, claimBy: request.claimBy });
  const me = sender.address;
  const allowance = await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "allowance", args: [me, deployment.market] });
  if (allowance < fee) {
    await sender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [deployment.market, maxUint256] });
  }
  const { hash, receipt } = await sender.send({ address: deployment.market, abi: jobMarketAbi, functionName: "postJob", args: [request] });
  const jobId = postedJobId(receipt.logs, deployment.market);
  return { jobId, inputHash: request.inputHash, inputURI: request.inputURI, txHash: hash, blockNumber: receipt.blockNumber };
}

export type PostSignedJobParameters = Omit<PostJobParameters, "sender"> & {
  /** Signs the request (its account is the poster and pays the fee from its JobMarket deposit). */
  sender: TxSender;
  /** The provider's blob server (its worker's `blob_url`): the request is handed to it (POST /jobs). */
  providerUrl: string;
  /**
   * The only provider that may post the request; by default the one at `providerUrl` (its `GET /jobs`). A
   * dinfer worker takes only requests that name it: one open to any provider can be posted by whoever copies
   * it from the worker's pending transaction.
   */
  provider?: Address;
  /** Deposit into the JobMarket what the deposit lacks for the fee first (default true). */
  topUp?: boolean;
};

export type PostSignedJobReturnType = Omit<PostJobReturnType, "txHash"> & {
  signed: SignedJob;
  /** Until then its provider may post it (then it can no longer be posted, and nothing is owed). */
  claimBy: bigint;
};

/**
 * A job as a signed request (EIP-712) handed to one provider, which runs it and posts it with its
 * commitment in one transaction (JobMarket.postSignedAndCommit): no transaction of the dApp's per job, and
 * the cheapest lone job. The fee comes from the poster's JobMarket deposit (topped up first when short).
 * The job's id is known at once; `waitForResult` waits for it. A provider that refuses the request says
 * why (`SIGNED_JOB_REFUSED`); one that takes it and never posts it costs nothing but the wait until
 * `claimWithin` passes (then the request can no longer be posted).
 */
export async function postSignedJob({
  sender,
  publicClient,
  deployment,
  modelId,
  input,
  fee,
  claimWithin = 600,
  upload,
  ipfs,
  inputURI,
  inlineOutput = false,
  providerUrl,
  provider,
  topUp = true,
}: PostSignedJobParameters): Promise<PostSignedJobReturnType> {
  const base = providerUrl.replace(/\/$/, "");
  const chainId = await publicClient.getChainId();
  provider ??= await providerAt(base, { chainId, market: deployment.market });
  const request = await jobRequestFor({ publicClient, modelId, input, fee, claimWithin, upload, ipfs, inputURI, inlineOutput });
  // A signed request carries the collateral in force as its floor: one that drops before its claimBy could no
  // longer be posted, and the provider's run would be wasted.
  await refuseCollateralDropBefore({ publicClient, registry: deployment.registry, modelId, claimBy: request.claimBy });
  const me = sender.address;
  const held = await publicClient.readContract({ address: deployment.market, abi: jobMarketAbi, functionName: "deposits", args: [me] });
  if (held < fee) {
    if (!topUp) {
      throw new NonRetryableError(`the JobMarket deposit holds ${held} (wei), less than the fee ${fee}: deposit first`, { code: "INSUFFICIENT_DEPOSIT" });
    }
    await deposit({ sender, publicClient, deployment, amount: fee - held, market: "jobs" });
  }
  const blockNumber = await publicClient.getBlockNumber();
  // The job may carry no less collateral than the model asks now: a provider owning the model cannot lower it
  // for our job between our signature and its post.
  const [, , minCollateral] = await publicClient.readContract({ address: deployment.registry, abi: modelRegistryAbi, functionName: "terms", args: [BigInt(modelId)] });
  const signed = await signJob(sender, { chainId, market: deployment.market }, request, { provider, minCollateral });
  const url = `${base}/jobs`;
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: encodeSignedJob(signed) });
  } catch (error) {
    throw new RetryableError(`the provider at ${url} cannot be reached: ${(error as Error).message}`, { code: "PROVIDER_UNREACHABLE", cause: error });
  }
  const answer = (await response.json().catch(() => ({}))) as { jobId?: string; error?: string; message?: string };
  if (response.status !== 202 || answer.jobId === undefined) {
    throw new NonRetryableError(`the provider at ${url} did not take the job: ${answer.message ?? `HTTP ${response.status}`}`, {
      code: answer.error ?? "SIGNED_JOB_REFUSED",
      details: { status: response.status },
    });
  }
  const jobId = BigInt(answer.jobId);
  const expected = signedJobId({ chainId, market: deployment.market }, signed);
  if (jobId !== expected) {
    throw new NonRetryableError(`the provider answered job ${jobId}, not the request's id ${expected}`, { code: "SIGNED_JOB_ID_MISMATCH" });
  }
  return { jobId, inputHash: request.inputHash, inputURI: request.inputURI, blockNumber, signed, claimBy: request.claimBy };
}

/** The account of the worker at `base` (its `GET /jobs`), checked to be on our chain and market. */
async function providerAt(base: string, { chainId, market }: { chainId: number; market: Address }): Promise<Address> {
  let about: { provider?: string; chainId?: number; market?: string };
  try {
    const response = await fetch(`${base}/jobs`);
    about = (await response.json()) as typeof about;
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    throw new RetryableError(`the provider at ${base} did not say who it is (GET /jobs): ${(error as Error).message}`, { code: "PROVIDER_UNREACHABLE", cause: error });
  }
  if (about.chainId !== chainId || about.market?.toLowerCase() !== market.toLowerCase() || typeof about.provider !== "string") {
    throw new NonRetryableError(`the provider at ${base} serves chain ${about.chainId} market ${about.market}, not chain ${chainId} market ${market}`, { code: "PROVIDER_ELSEWHERE" });
  }
  return getAddress(about.provider);
}

export type CancelSignedJobParameters = { sender: TxSender; publicClient: PublicClient; deployment: Deployment; signed: SignedJob };

/**
 * Cancels a signed request nobody posted yet (only its poster can): it can never be posted after this. Sign
 * a new request only after cancelling one you gave up waiting for, or both may be posted and paid.
 * Reverts `SignedJobUsed` (with its sentence) once the request was posted.
 */
export async function cancelSignedJob({ sender, publicClient, deployment, signed }: CancelSignedJobParameters): Promise<{ jobId: bigint; txHash: Hex }> {
  const { hash } = await sender.send({ address: deployment.market, abi: jobMarketAbi, functionName: "cancelSignedJob", args: [signedJobArg(signed)] });
  return { jobId: signedJobId({ chainId: await publicClient.getChainId(), market: deployment.market }, signed), txHash: hash };
}

/** The holder of a poster's pin of its input on its IPFS node (`IpfsBlobPublisher.unpin` it once the job is final). */
export function posterInputHolder(inputHash: Hex): string {
  return `poster:${inputHash.toLowerCase()}`;
}

/** The market's request for an input: inline when it fits, else by URI (put on IPFS or uploaded when none is given). */
async function jobRequestFor({
  publicClient,
  modelId,
  input,
  fee,
  claimWithin,
  upload,
  ipfs,
  inputURI,
  inlineOutput,
}: Pick<PostJobParameters, "publicClient" | "modelId" | "input" | "fee" | "upload" | "ipfs" | "inputURI"> & { claimWithin: number; inlineOutput: boolean }) {
  const inputHash = blobId(input);
  let uri = inputURI ?? "";
  const inline = !inputURI && input.length <= INLINE_INPUT_MAX;
  if (!inline && !inputURI) {
    if (ipfs) uri = (await ipfs.add(input, { holder: posterInputHolder(inputHash) })).uri;
    else if (upload) uri = (await uploadBlob({ serverUrl: upload.serverUrl, token: upload.token, bytes: input })).url;
    else {
      throw new NonRetryableError(
        `the input is ${input.length} bytes: over ${INLINE_INPUT_MAX} it cannot go inline; give an upload server, an IPFS node or an input URI`,
        { code: "INPUT_NEEDS_URI" },
      );
    }
  }
  const now = (await publicClient.getBlock()).timestamp;
  return {
    modelId: BigInt(modelId),
    fee,
    claimBy: now + BigInt(claimWithin),
    inputHash,
    inputURI: inline ? "" : uri,
    inlineInput: (inline ? bytesToHex(input) : "0x") as Hex,
    callbackGasLimit: 0,
    inlineOutput,
  };
}

/** The job id from a postJob receipt's JobPosted log. */
export function postedJobId(logs: readonly Pick<Log, "address" | "data" | "topics">[], market: Address): bigint {
  for (const log of logs) {
    if (log.address.toLowerCase() !== market.toLowerCase()) continue;
    try {
      const decoded = decodeEvent({ abi: jobMarketAbi, data: log.data, topics: log.topics });
      if (decoded.eventName === "JobPosted") return decoded.args.jobId;
    } catch {
      // another event
    }
  }
  throw new NonRetryableError("no JobPosted event in the receipt", { code: "NO_JOB_POSTED" });
}

export type WaitForResultParameters = {
  publicClient: PublicClient;
  market: Address;
  jobId: bigint;
  /** The block the job was posted in, when known (`postJob` returns it): its events are read from there. */
  fromBlock?: bigint;
  /** "revealed": as soon as the output is revealed (it may still be challenged); "final" (default). */
  until?: "revealed" | "final";
  timeoutMs?: number;
  pollMs?: number;
  ipfsGateway?: string;
  /** An IPFS node that reads an `ipfs://` output (the gateway is then not used). */
  ipfs?: IpfsBlobReader;
  maxBytes?: number;
  signal?: AbortSignal;
  /** Told the job's state at every read, before the wait ends (a progress display: offchain/sdk/progress.ts). */
  onRecord?: (record: JobRecord) => void | Promise<void>;
  /** A signed job's claimBy (`postSignedJob` returns it): past it, a job still not posted never will be. */
  claimBy?: bigint;
  /**
   * Read an output location on a loopback, private or link-local host (127.0.0.1, 10.x, 169.254.169.254...; see
   * `FetchOutputParameters.allowPrivateHosts`). Left out: on only on a devnet (chain id 31337, asked of
   * `publicClient`), as the daemons decide it.
   */
  allowPrivateHosts?: boolean;
};

export type JobResult = { record: JobRecord; output: Uint8Array; outputRoot: Hex; final: boolean };

/** Polls the job until it is revealed or final, then fetches and verifies its output. */
export async function waitForResult({
  publicClient,
  market,
  jobId,
  fromBlock,
  until = "final",
  timeoutMs = 300_000,
  pollMs = 500,
  ipfsGateway,
  ipfs,
  maxBytes,
  signal,
  onRecord,
  claimBy,
  allowPrivateHosts,
}: WaitForResultParameters): Promise<JobResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    let record: JobRecord;
    try {
      record = await readJob({ client: publicClient, market, jobId, fromBlock });
    } catch (error) {
      // A signed request its provider has not posted yet (it posts once it ran it): wait for it, until its
      // claimBy when known (then it can never be posted: nothing was paid).
      if (!(isSignedJobId(jobId) && error instanceof NonRetryableError && error.code === "JOB_NOT_FOUND")) throw error;
      const stored = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "jobHash", args: [jobId] });
      if (BigInt(stored) === SIGNED_JOB_CANCELLED) {
        throw new NonRetryableError(`signed job ${jobId} was cancelled by its poster: it can never be posted, and nothing was paid`, { code: "JOB_FAILED", details: { status: "cancelled" } });
      }
      const now = claimBy === undefined ? undefined : (await publicClient.getBlock()).timestamp;
      if (claimBy !== undefined && now! > claimBy) {
        throw new NonRetryableError(`signed job ${jobId} was not posted before its claimBy: it never will be, and nothing was paid`, { code: "JOB_FAILED", details: { status: "unposted" } });
      }
      if (Date.now() > deadline) {
        // Not retryable as it is: a new request for the same work may be posted beside this one, and both paid.
        throw new NonRetryableError(
          `signed job ${jobId} is not posted yet; its provider may still post it${claimBy === undefined ? " until its claimBy" : ` until ${claimBy}`}: wait longer, or cancel it (cancelSignedJob) before signing another`,
          { code: "SIGNED_JOB_PENDING", details: { status: "unposted" } },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      continue;
    }
    await onRecord?.(record);
    const { status } = record.job;
    if (status === JobStatus.Expired || status === JobStatus.Slashed) {
      throw new NonRetryableError(`job ${jobId} ended ${status === JobStatus.Expired ? "expired" : "slashed"}: no result`, {
        code: "JOB_FAILED",
        details: { jobId: jobId.toString(), status },
      });
    }
    const ready = status === JobStatus.Finalized || (until === "revealed" && status >= JobStatus.Revealed);
    if (ready) {
      const output = await fetchOutput({ record, ipfsGateway, ipfs, maxBytes, signal, allowPrivateHosts: await privateHostsAllowed(allowPrivateHosts, publicClient) });
      return { record, output, outputRoot: record.job.result, final: status === JobStatus.Finalized };
    }
    if (Date.now() > deadline) {
      throw new RetryableError(`job ${jobId} has no result yet`, { code: "JOB_WAIT_TIMEOUT", details: { status } });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * A revealed job's output, from its inline bytes or its output URI, checked against the output root the
 * provider revealed on-chain: read as the verifier reads it (offchain/storage/output.ts), so a
 * `.../blobs/<id>` URI is checked by its id too and an `ipfs://<cid>` URI is read through the `ipfs` node
 * (else `ipfsGateway`), bound by the root alone. An http(s) URI on a private host is refused unread unless
 * `allowPrivateHosts` is given (see `FetchOutputParameters`).
 * Throws the location's own error (`BlobNotFoundError`, a retryable `BlobUnavailableError`,
 * `OutputRootMismatchError` with code OUTPUT_ROOT_MISMATCH, `PrivateHostRefusedError` ...) or `NO_OUTPUT_URI`.
 */
export async function fetchOutput({ record, ipfsGateway, ipfs, maxBytes, signal, allowPrivateHosts = false }: FetchOutputParameters): Promise<Uint8Array> {
  const { bytes } = await readOutput({
    root: record.job.result,
    inline: record.inlineOutput,
    uris: [record.outputURI],
    ipfsGateway,
    ipfs,
    maxBytes,
    signal,
    // A dApp reads what its own machine serves (a same-machine worker's file:// output) only where it reads its own
    // network: a provider's file:// location is as much a request into the dApp's machine as one to 127.0.0.1.
    allowFileUris: allowPrivateHosts,
    allowPrivateHosts,
  });
  return bytes;
}

export type FetchOutputParameters = {
  record: JobRecord;
  /** Base URL of an IPFS HTTP gateway, for an `ipfs://` output URI. */
  ipfsGateway?: string;
  /** An IPFS node that reads an `ipfs://` output URI (the gateway is then not used). */
  ipfs?: IpfsBlobReader;
  maxBytes?: number;
  signal?: AbortSignal;
  /**
   * Read an http(s) output URI whose host is, or resolves to, a loopback, private, link-local or otherwise
   * non-public address (offchain/storage/host-policy.ts). The provider chose the URI: a dApp's server that reads
   * it blindly can be made to send requests into its own network (an admin port on 127.0.0.1, the cloud's
   * metadata service at 169.254.169.254). Default false: such a read is refused before any request is sent
   * (`PrivateHostRefusedError`, not retryable). This function has no chain to ask, so it does not follow the
   * devnet rule the client and `waitForResult` apply: on a devnet, or when the providers you deal with serve on
   * your private network, pass true (or `allowsPrivateHosts({ chainId })`). An `ipfs://` URI read through
   * `ipfsGateway` is read even when the gateway is on localhost: the gateway is your choice, not the provider's.
   * A `file://` output URI (a worker on the dApp's own machine) is read only with this on.
   */
  allowPrivateHosts?: boolean;
};
