/**
 * Redundant jobs from a dApp (contracts/ReplicaMarket.sol, docs/PROTOCOL.md "Redundant jobs"): one input run
 * by k = 2..5 providers, each committing blind, then revealing. `postReplicatedJob` posts one (k x the fee, and
 * k committee reserves that come back unless seats are disputed); `waitForReplicatedResult` returns as soon as
 * a majority of the seats revealed one root, with the output fetched from those seats and checked against it.
 *
 * ```ts
 * const { replicaJobId, blockNumber, total } = await postReplicatedJob({
 *   sender, publicClient, deployment, modelId: 1, input: { tensors: [x] }, replicas: 3,
 *   upload: { serverUrl, token }, constraints: { executionProviders: ["gpu"], minReputation: 0.9 },
 * });
 * const { output, agreeing, final } = await waitForReplicatedResult({ publicClient, deployment, replicaJobId, fromBlock: blockNumber });
 * ```
 *
 * A majority is what a dApp can act on before the job settles when it trusts that most seats are honest; the
 * chain's own verdict (`final`: settled Agreed) comes at `settle`, and a disagreement goes to committees.
 */
import { erc20Abi, getAddress, type Address, type Hex, type Log, type PublicClient } from "viem";

import { replicaMarketAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { encodeExecutionProviders, encodeRegion, type ExecutionProviderName } from "../chain/profiles.js";
import { majorityRoot, readReplicaJob, REPLICA_STATUS_NAMES, ReplicaStatus, type ReplicaConstraints, type ReplicaRecord } from "../chain/replicas.js";
import type { TxSender } from "../chain/sender.js";
import { blobId } from "../codec/tensor.js";
import { NonRetryableError, RetryableError } from "../errors.js";
import { privateHostsAllowed } from "../storage/host-policy.js";
import { readOutput } from "../storage/output.js";
import { uploadBlob } from "../storage/upload.js";
import { refuseCollateralDropBefore } from "./collateral.js";
import { checkedFee, jobInputBlob, type JobInput } from "./job-input.js";
import { decodeEvent } from "../chain/events.js";

/** ReplicaMarket.MIN_REPLICAS and MAX_REPLICAS: seats a job may have. */
export const MIN_REPLICAS = 2;
export const MAX_REPLICAS = 5;
/** ReplicaMarket.MAX_ALLOWLIST. */
export const MAX_ALLOWLIST = 16;
const PPM = 1_000_000;

/** Who may take a seat, as a dApp says it; `replicaConstraints` encodes it for the contract. */
export type ReplicaConstraintsInput = {
  /** The only providers that may take a seat: at least one per seat, at most 16 (default: any staked provider). */
  allowlist?: readonly Address[];
  /** The region a provider's profile must declare, e.g. "eu-west" (default: any). */
  region?: string;
  /** A provider's profile must declare one of these (default: any). */
  executionProviders?: readonly ExecutionProviderName[];
  /** The least reputation a seat's provider should have, 0..1 (carried for workers to honour, not enforced on-chain). */
  minReputation?: number;
};

/** The contract's `Constraints` for a dApp's; a `BAD_CONSTRAINTS` error (or the region's `BAD_REGION`) names what is wrong. */
export function replicaConstraints(input: ReplicaConstraintsInput = {}, replicas: number): ReplicaConstraints {
  const allowlist = (input.allowlist ?? []).map((address) => {
    try {
      return getAddress(address);
    } catch (error) {
      throw new NonRetryableError(`allowlist entry "${address}" is not an address`, { code: "BAD_CONSTRAINTS", details: { address }, cause: error });
    }
  });
  if (new Set(allowlist).size !== allowlist.length) {
    throw new NonRetryableError("the allowlist names a provider twice: name each once", { code: "BAD_CONSTRAINTS", details: { allowlist } });
  }
  if (allowlist.length > 0 && (allowlist.length < replicas || allowlist.length > MAX_ALLOWLIST)) {
    throw new NonRetryableError(`the allowlist names ${allowlist.length} providers: it needs one per seat (${replicas}) and at most ${MAX_ALLOWLIST}`, {
      code: "BAD_CONSTRAINTS",
      details: { allowlist: allowlist.length, replicas },
    });
  }
  const { minReputation = 0 } = input;
  if (!Number.isFinite(minReputation) || minReputation < 0 || minReputation > 1) {
    throw new NonRetryableError(`minReputation ${minReputation} is not between 0 and 1 (a reputation score, e.g. 0.9)`, { code: "BAD_CONSTRAINTS", details: { minReputation } });
  }
  return {
    allowlist,
    region: encodeRegion(input.region ?? ""),
    executionProviders: encodeExecutionProviders(input.executionProviders ?? []),
    minReputationPpm: Math.round(minReputation * PPM),
  };
}

export type ReplicaJobCostParameters = {
  publicClient: PublicClient;
  deployment: Pick<Deployment, "registry" | "replicaMarket">;
  modelId: number | bigint;
  /** Seats, 2..5. */
  replicas: number;
  /** Each seat's fee; the model's price floor when left out. */
  feePerReplica?: bigint;
};

export type ReplicaJobCostReturnType = {
  replicas: number;
  /** Each seat's fee: what its provider is paid (less the protocol fee and the audit levy). */
  feePerReplica: bigint;
  /** Each seat's committee reserve: it pays the committee if the seat is disputed, and comes back at settle otherwise. */
  reservePerSeat: bigint;
  /** What the post pulls: k x (fee + reserve). */
  total: bigint;
};

/**
 * What a redundant job costs before it is posted, as the ReplicaMarket quotes it under the current terms: each
 * seat's fee (checked against the model: active, at least its floor), each seat's committee reserve, and the
 * total pulled at post, k x (fee + reserve). Throws `REPLICAS_INVALID` for k outside 2..5.
 */
export async function replicaJobCost({ publicClient, deployment, modelId, replicas, feePerReplica }: ReplicaJobCostParameters): Promise<ReplicaJobCostReturnType> {
  if (!Number.isInteger(replicas) || replicas < MIN_REPLICAS || replicas > MAX_REPLICAS) {
    throw new NonRetryableError(`a redundant job has ${MIN_REPLICAS} to ${MAX_REPLICAS} seats, not ${replicas}`, { code: "REPLICAS_INVALID", details: { replicas } });
  }
  const fee = await checkedFee({ publicClient, registry: deployment.registry, modelId: BigInt(modelId), fee: feePerReplica });
  const [total, reservePerSeat] = await publicClient.readContract({ address: deployment.replicaMarket, abi: replicaMarketAbi, functionName: "quote", args: [fee, BigInt(replicas)] });
  return { replicas, feePerReplica: fee, reservePerSeat, total };
}

export type PostReplicatedJobParameters = {
  sender: TxSender;
  publicClient: PublicClient;
  deployment: Deployment;
  modelId: number | bigint;
  /** The input, in any form a single job takes (`JobInput`); it goes by URI (a redundant job has no inline input). */
  input: JobInput;
  /** Seats, 2..5: that many distinct providers run it. */
  replicas: number;
  /** Each seat's fee; the model's price floor when left out. */
  feePerReplica?: bigint;
  /** The last second (unix) a seat may be taken; or give `claimWithinSeconds`. */
  claimBy?: bigint;
  /** Seconds from now seats may be taken (default 600); at most the terms' `maxClaimDelay`. */
  claimWithinSeconds?: number;
  constraints?: ReplicaConstraintsInput;
  /** Where the input is uploaded: a dinfer blob server accepting uploads. */
  upload?: { serverUrl: string; token: string };
  /** An input already stored where providers can fetch it; nothing is uploaded then. */
  inputURI?: string;
};

export type PostReplicatedJobReturnType = {
  replicaJobId: bigint;
  txHash: Hex;
  /** The block it was posted in: where reading its events starts (`waitForReplicatedResult`'s `fromBlock`). */
  blockNumber: bigint;
  /** What was pulled: `replicas` x (`feePerReplica` + `reservePerSeat`). */
  total: bigint;
  feePerReplica: bigint;
  /** Each seat's committee reserve (back at settle unless the seat goes to a committee). */
  reservePerSeat: bigint;
  claimBy: bigint;
  inputHash: Hex;
  inputURI: string;
  /** The input blob as posted (its SHA-256 is `inputHash`). */
  input: Uint8Array;
};

/**
 * Posts a redundant job: checks the seat count, the fee (the model's floor by default) and the constraints,
 * uploads the input (or takes `inputURI`), approves the ReplicaMarket for exactly the total when its
 * allowance is short, then posts, pulling the total `replicaJobCost` quotes: k x (fee + committee reserve).
 */
export async function postReplicatedJob({
  sender,
  publicClient,
  deployment,
  modelId,
  input,
  replicas,
  feePerReplica,
  claimBy,
  claimWithinSeconds,
  constraints,
  upload,
  inputURI,
}: PostReplicatedJobParameters): Promise<PostReplicatedJobReturnType> {
  if (claimBy !== undefined && claimWithinSeconds !== undefined) {
    throw new NonRetryableError("give claimBy or claimWithinSeconds, not both", { code: "BAD_CLAIM_BY" });
  }
  const cost = await replicaJobCost({ publicClient, deployment, modelId, replicas, feePerReplica });
  const encoded = replicaConstraints(constraints, replicas);
  const blob = await jobInputBlob(input);
  let uri = inputURI;
  if (!uri) {
    if (!upload) {
      throw new NonRetryableError("a redundant job's input goes by URI (it has no inline input): give an upload server or an input URI", { code: "INPUT_NEEDS_URI" });
    }
    uri = (await uploadBlob({ serverUrl: upload.serverUrl, token: upload.token, bytes: blob })).url;
  }
  const lastClaim = claimBy ?? (await publicClient.getBlock()).timestamp + BigInt(claimWithinSeconds ?? 600);
  await refuseCollateralDropBefore({ publicClient, registry: deployment.registry, modelId, claimBy: lastClaim });
  const allowance = await publicClient.readContract({ address: deployment.token, abi: erc20Abi, functionName: "allowance", args: [sender.address, deployment.replicaMarket] });
  if (allowance < cost.total) {
    await sender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [deployment.replicaMarket, cost.total] });
  }
  const request = {
    modelId: BigInt(modelId),
    feePerReplica: cost.feePerReplica,
    claimBy: lastClaim,
    replicas,
    inputHash: blobId(blob),
    inputURI: uri,
    constraints: encoded,
  };
  const { hash, receipt } = await sender.send({ address: deployment.replicaMarket, abi: replicaMarketAbi, functionName: "post", args: [request] });
  return {
    replicaJobId: postedReplicaJobId(receipt.logs, deployment.replicaMarket),
    txHash: hash,
    blockNumber: receipt.blockNumber,
    total: cost.total,
    feePerReplica: cost.feePerReplica,
    reservePerSeat: cost.reservePerSeat,
    claimBy: lastClaim,
    inputHash: request.inputHash,
    inputURI: uri,
    input: blob,
  };
}

/** The redundant job id from a post's receipt (its `ReplicaJobPosted` log). */
export function postedReplicaJobId(logs: readonly Pick<Log, "address" | "data" | "topics">[], replicaMarket: Address): bigint {
  for (const log of logs) {
    if (log.address.toLowerCase() !== replicaMarket.toLowerCase()) continue;
    try {
      const decoded = decodeEvent({ abi: replicaMarketAbi, data: log.data, topics: log.topics });
      if (decoded.eventName === "ReplicaJobPosted") return decoded.args.replicaJobId;
    } catch {
      // another event
    }
  }
  throw new NonRetryableError("no ReplicaJobPosted event in the receipt", { code: "NO_JOB_POSTED" });
}

export type WaitForReplicatedResultParameters = {
  publicClient: PublicClient;
  deployment: Pick<Deployment, "replicaMarket">;
  replicaJobId: bigint;
  /** The block it was posted in (`postReplicatedJob` returns it): its events are read from there. */
  fromBlock?: bigint;
  timeoutMs?: number;
  pollMs?: number;
  ipfsGateway?: string;
  maxBytes?: number;
  signal?: AbortSignal;
  /** Told the job's state at every read, before the wait ends (a progress display). */
  onRecord?: (record: ReplicaRecord) => void | Promise<void>;
  /**
   * Read the seats' output locations on loopback, private or link-local hosts: each seat's provider chose its own
   * (offchain/sdk/jobs.ts `FetchOutputParameters.allowPrivateHosts`). Left out: on only on a devnet (chain id
   * 31337, asked of `publicClient`), as the daemons decide it.
   */
  allowPrivateHosts?: boolean;
};

export type ReplicatedResult = {
  record: ReplicaRecord;
  /** The output, checked against `outputRoot`. */
  output: Uint8Array;
  /** The root the majority (or the settled agreement) revealed. */
  outputRoot: Hex;
  /** Settled Agreed: the chain paid the seats for this root. Otherwise a majority of seats only (still open, or disputed). */
  final: boolean;
  /** Seats that revealed `outputRoot`. */
  agreeing: number;
};

/**
 * What ended a redundant job without a result (`JOB_FAILED`'s `details.status`): "expired" (nobody took a seat
 * by claimBy), "disputed" (settled with no majority: its seats went to committees), "no-majority" (reveals
 * closed, or too few seats are left to make one, and it is not settled yet).
 */
export type ReplicatedJobFailure = "expired" | "disputed" | "no-majority";

/**
 * Polls the redundant job until more than half of its k seats revealed one root (or it settled Agreed), then
 * fetches the output from those seats' URIs (the first that serves bytes with that root) and returns it. Throws
 * a `JOB_FAILED` error when no majority can come (see `ReplicatedJobFailure`), the output location's own error
 * when none of the agreeing seats serves the output (`OUTPUT_ROOT_MISMATCH`, `OUTPUT_NOT_SERVED` ...), and a
 * retryable `JOB_WAIT_TIMEOUT` when time runs out.
 */
export async function waitForReplicatedResult({
  publicClient,
  deployment,
  replicaJobId,
  fromBlock,
  timeoutMs = 300_000,
  pollMs = 500,
  ipfsGateway,
  maxBytes,
  signal,
  onRecord,
  allowPrivateHosts,
}: WaitForReplicatedResultParameters): Promise<ReplicatedResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const record = await readReplicaJob({ client: publicClient, replicaMarket: deployment.replicaMarket, replicaJobId, fromBlock });
    await onRecord?.(record);
    const root = majorityRoot(record) ?? (record.status === ReplicaStatus.Agreed ? record.agreedRoot : undefined);
    if (root) {
      const agreeingSeats = record.seats.filter((seat) => seat.revealed && seat.outputRoot.toLowerCase() === root.toLowerCase());
      const privateHosts = await privateHostsAllowed(allowPrivateHosts, publicClient);
      const { bytes } = await readOutput({
        root,
        uris: agreeingSeats.map((seat) => seat.outputURI),
        ipfsGateway,
        maxBytes,
        signal,
        // The seats chose their locations: a file:// one is read only where private hosts are.
        allowPrivateHosts: privateHosts,
        allowFileUris: privateHosts,
      });
      return { record, output: bytes, outputRoot: root, final: record.status === ReplicaStatus.Agreed, agreeing: agreeingSeats.length };
    }
    const failure = failureOf(record, (await publicClient.getBlock()).timestamp);
    if (failure) {
      throw new NonRetryableError(`redundant job ${replicaJobId}: ${failure.why}`, {
        code: "JOB_FAILED",
        details: { replicaJobId: replicaJobId.toString(), status: failure.status, chainStatus: REPLICA_STATUS_NAMES[record.status], revealed: record.revealed, replicas: record.replicas },
      });
    }
    if (Date.now() > deadline) {
      throw new RetryableError(`redundant job ${replicaJobId} has no majority yet (${record.committed} of ${record.replicas} seats taken, ${record.revealed} revealed)`, {
        code: "JOB_WAIT_TIMEOUT",
        details: { status: REPLICA_STATUS_NAMES[record.status], committed: record.committed, revealed: record.revealed },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Why a job with no majority will never have one, or undefined while it still may. */
function failureOf(record: ReplicaRecord, now: bigint): { status: ReplicatedJobFailure; why: string } | undefined {
  if (record.status === ReplicaStatus.Expired || (record.committed === 0 && now > record.claimBy)) {
    return { status: "expired", why: "expired: no provider took a seat by its claimBy; what the poster paid goes back to it at settle" };
  }
  if (record.status === ReplicaStatus.Disputed) {
    const jobs = record.seats.filter((seat) => seat.jobId !== 0n).map((seat) => seat.jobId);
    return { status: "disputed", why: `settled disputed with no majority: its revealed seats went to committees as JobMarket jobs ${jobs.join(", ")}, each judged there` };
  }
  const counts = new Map<string, number>();
  for (const seat of record.seats) if (seat.revealed) counts.set(seat.outputRoot.toLowerCase(), (counts.get(seat.outputRoot.toLowerCase()) ?? 0) + 1);
  const most = Math.max(0, ...counts.values());
  // Seats not revealed yet: every seat while seats can be taken, the committed ones after claimBy.
  const pending = (now > record.claimBy ? record.committed : record.replicas) - record.revealed;
  if ((most + pending) * 2 <= record.replicas) {
    return { status: "no-majority", why: `no majority is possible: ${record.revealed} of ${record.replicas} seats revealed, at most ${most} on one root, ${pending} left to reveal` };
  }
  if (record.revealDeadline !== 0n && now > record.revealDeadline) {
    return { status: "no-majority", why: `reveals closed at ${record.revealDeadline} with no majority (${record.revealed} of ${record.replicas} seats revealed, at most ${most} on one root): settle it (anyone may) for the chain's verdict` };
  }
  return undefined;
}
