/**
 * A job's state, rebuilt from the JobMarket's events.
 *
 * The market stores only `keccak256(abi.encode(job))` per job and every call passes the whole `Job`
 * back. Each event carries the fields that its step changed, so folding a job's events in order
 * gives its current state; `hashJob` of that state equals `market.jobHash(jobId)`.
 */
import {
  encodeAbiParameters,
  keccak256,
  numberToHex,
  type Address,
  type DecodeEventLogReturnType,
  type Hex,
  type PublicClient,
} from "viem";

import { NonRetryableError } from "../errors.js";
import { jobMarketAbi } from "./abis.js";
import { decodeEvent } from "./events.js";

export const JobStatus = {
  None: 0,
  Posted: 1,
  Claimed: 2,
  Committed: 3,
  Revealed: 4,
  Disputed: 5,
  Finalized: 6,
  Expired: 7,
  Slashed: 8,
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** Mirrors `IJobMarket.Job`, field for field. */
export type Job = {
  poster: Address;
  modelId: number;
  /** The protocol terms version the job is judged by (ProtocolTerms), fixed at post. */
  terms: number;
  fee: bigint;
  collateral: bigint;
  callbackGasLimit: number;
  status: JobStatus;
  deadline: number;
  provider: Address;
  commitBlock: bigint;
  result: Hex;
  /** Until the reveal: the poster requires an inline output; from the reveal: it was revealed inline. */
  inlineOutput: boolean;
  /** Whether the job is audited; fixed at reveal. */
  sampled: boolean;
};

/** Everything a job's events say beyond its state: where its input and output live. */
export type JobRecord = {
  jobId: bigint;
  job: Job;
  inputHash: Hex;
  inputURI: string;
  inlineInput: Hex;
  outputURI?: string;
  inlineOutput?: Hex;
  postedBlock: bigint;
};

const JOB_TUPLE = {
  type: "tuple",
  components: [
    { name: "poster", type: "address" },
    { name: "modelId", type: "uint32" },
    { name: "terms", type: "uint32" },
    { name: "fee", type: "uint96" },
    { name: "collateral", type: "uint96" },
    { name: "callbackGasLimit", type: "uint32" },
    { name: "status", type: "uint8" },
    { name: "deadline", type: "uint32" },
    { name: "provider", type: "address" },
    { name: "commitBlock", type: "uint64" },
    { name: "result", type: "bytes32" },
    { name: "inlineOutput", type: "bool" },
    { name: "sampled", type: "bool" },
  ],
} as const;

const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";
const ZERO_HASH: Hex = "0x0000000000000000000000000000000000000000000000000000000000000000";

/** keccak256(abi.encode(job)): what the market stores for a job in this state. */
export function hashJob(job: Job): Hex {
  return keccak256(encodeAbiParameters([JOB_TUPLE], [job]));
}

type JobMarketEvent = DecodeEventLogReturnType<typeof jobMarketAbi>;

/** A JobMarket event about one job: its args carry the `jobId`. */
export type JobEvent = Extract<JobMarketEvent, { args: { jobId: bigint } }>;

export type DecodedJobLog = JobEvent & { blockNumber: bigint };

function isJobEvent(event: JobMarketEvent): event is JobEvent {
  return "jobId" in event.args;
}

/** A log as viem or the node's JSON-RPC gives it (the block number parsed). */
export type JobLogInput = { data: Hex; topics: readonly Hex[]; blockNumber: bigint | null };

/** Decodes a JobMarket log; returns undefined for logs that are not about one job. */
export function decodeJobLog(log: JobLogInput): DecodedJobLog | undefined {
  if (log.topics.length === 0) return undefined;
  let event: JobMarketEvent;
  try {
    event = decodeEvent({ abi: jobMarketAbi, data: log.data, topics: log.topics });
  } catch {
    return undefined;
  }
  return isJobEvent(event) ? { ...event, blockNumber: log.blockNumber ?? 0n } : undefined;
}

/**
 * Applies one decoded event to a job record (a new record for JobPosted). Events that change no
 * state (JobFinalized's payout, Credited) still move the status where they end the job.
 */
export function applyJobLog(record: JobRecord | undefined, log: DecodedJobLog): JobRecord | undefined {
  if (log.eventName === "JobPosted") {
    const a = log.args;
    return {
      jobId: a.jobId,
      job: {
        poster: a.poster,
        modelId: Number(a.modelId),
        terms: a.terms,
        fee: a.fee,
        collateral: a.collateral,
        callbackGasLimit: a.callbackGasLimit,
        status: JobStatus.Posted,
        deadline: Number(a.claimBy),
        provider: ZERO_ADDRESS,
        commitBlock: 0n,
        result: ZERO_HASH,
        inlineOutput: a.inlineOutput,
        sampled: false,
      },
      inputHash: a.inputHash,
      inputURI: a.inputURI,
      inlineInput: a.inlineInput,
      postedBlock: log.blockNumber,
    };
  }
  if (log.eventName === "JobImported") {
    // A batch's job split out into the market (IBatchMarket): its whole state is in the event, its inputs in
    // the BatchMarket's BatchPosted.
    const j = log.args.job;
    return {
      jobId: log.args.jobId,
      job: { ...j, status: j.status as JobStatus },
      inputHash: ZERO_HASH,
      inputURI: "",
      inlineInput: "0x",
      postedBlock: log.blockNumber,
    };
  }
  if (!record) return undefined;
  const job = { ...record.job };
  const next: JobRecord = { ...record, job };
  switch (log.eventName) {
    case "JobClaimed":
      job.status = JobStatus.Claimed;
      job.provider = log.args.provider;
      job.deadline = Number(log.args.commitBy);
      break;
    case "ResultCommitted":
      // claimAndCommit emits no JobClaimed: the committer is the provider.
      job.status = JobStatus.Committed;
      job.provider = log.args.provider;
      job.result = log.args.commitment;
      job.deadline = Number(log.args.revealBy);
      job.commitBlock = log.blockNumber;
      break;
    case "ResultRevealed":
      job.status = JobStatus.Revealed;
      job.result = log.args.outputRoot;
      job.deadline = Number(log.args.challengeEnd);
      job.inlineOutput = log.args.inlineOutput.length > 2;
      job.sampled = log.args.sampled;
      next.outputURI = log.args.outputURI;
      next.inlineOutput = log.args.inlineOutput;
      break;
    case "JobDisputed":
      job.status = JobStatus.Disputed;
      break;
    case "JobFinalized":
      job.status = JobStatus.Finalized;
      break;
    case "JobExpired":
      job.status = JobStatus.Expired;
      break;
    case "DisputeSettled":
      job.status = log.args.providerFaulted ? JobStatus.Slashed : JobStatus.Finalized;
      break;
    default:
      return record;
  }
  return next;
}

/** Folds any number of logs (in chain order) into job records, keyed by job id. */
export function foldJobLogs(
  logs: readonly JobLogInput[],
  into: Map<bigint, JobRecord> = new Map(),
): Map<bigint, JobRecord> {
  for (const log of logs) {
    const decoded = decodeJobLog(log);
    if (!decoded) continue;
    const jobId = decoded.args.jobId;
    const next = applyJobLog(into.get(jobId), decoded);
    if (next) into.set(jobId, next);
  }
  return into;
}

export type ReadJobParameters = {
  client: PublicClient;
  market: Address;
  jobId: bigint;
  /** The first block to search; the block the job was posted in when known. */
  fromBlock?: bigint;
  /** Read as of this block (a head the caller has just read); default: the latest, asked for. */
  blockNumber?: bigint;
};

/**
 * Rebuilds a job from its logs (filtered on-node by the indexed jobId) and checks the result
 * against the hash the market stores, so a caller never sends a stale state.
 */
export async function readJob({ client, market, jobId, fromBlock = 0n, blockNumber: at }: ReadJobParameters): Promise<JobRecord> {
  // Logs and hash are read at the same block: a block mined between two "latest" reads would make
  // a correct state look mismatched.
  const blockNumber = at ?? (await client.getBlockNumber({ cacheTime: 0 }));
  const logs = await client.request({
    method: "eth_getLogs",
    params: [
      { address: market, fromBlock: numberToHex(fromBlock), toBlock: numberToHex(blockNumber), topics: [null, numberToHex(jobId, { size: 32 })] },
    ],
  });
  const records = foldJobLogs(
    logs.map((l) => ({ data: l.data, topics: l.topics, blockNumber: BigInt(l.blockNumber ?? 0) })),
  );
  const record = records.get(jobId);
  const stored = await client.readContract({ address: market, abi: jobMarketAbi, functionName: "jobHash", args: [jobId], blockNumber });
  if (!record) {
    throw new NonRetryableError("job not found", { code: "JOB_NOT_FOUND", details: { jobId: jobId.toString() } });
  }
  if (hashJob(record.job) !== stored) {
    throw new NonRetryableError("job state from logs does not match the market's hash", {
      code: "JOB_STATE_MISMATCH",
      details: { jobId: jobId.toString(), stored, rebuilt: hashJob(record.job) },
    });
  }
  return record;
}
