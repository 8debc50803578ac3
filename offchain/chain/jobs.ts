/**
 * A job's state, rebuilt from the JobMarket's events.
 *
 * The market stores only `keccak256(abi.encode(job))` per job and every call passes the whole `Job`
 * back. Each event carries the fields that its step changed, so folding a job's events in order
 * gives its current state; `hashJob` of that state equals `market.jobHash(jobId)`.
 */
import {
  decodeFunctionResult,
  encodeAbiParameters,
  encodeFunctionData,
  numberToHex,
  type Address,
  type DecodeEventLogReturnType,
  type Hex,
  type PublicClient,
} from "viem";

import { hexToBytes } from "../codec/hex.js";
import { NonRetryableError } from "../errors.js";
import { jobMarketAbi } from "./abis.js";
import { decodeEvent } from "./events.js";
import { viemKeccak256, type Keccak256 } from "./keccak.js";

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
export function hashJob(job: Job, keccak: Keccak256 = viemKeccak256): Hex {
  return keccak(hexToBytes(encodeAbiParameters([JOB_TUPLE], [job])));
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

/** A receipt's logs (by identity): their job events, decoded once. */
const receiptJobLogs = new WeakMap<readonly object[], DecodedJobLog[]>();

/**
 * The JobMarket job events among a receipt's logs (those `market` emitted), in order, decoded once per
 * logs array: every step a grouped transaction (a multicall of many jobs' reveals) carried reads the same
 * receipt, and decoding all its logs for each of them cost the worker time quadratic in the group's size.
 */
export function jobLogsOf(logs: readonly (JobLogInput & { address: Address })[], market: Address): DecodedJobLog[] {
  let decoded = receiptJobLogs.get(logs);
  if (decoded === undefined) {
    const own = market.toLowerCase();
    decoded = [];
    for (const log of logs) {
      if (log.address.toLowerCase() !== own) continue;
      const event = decodeJobLog(log);
      if (event !== undefined) decoded.push(event);
    }
    receiptJobLogs.set(logs, decoded);
  }
  return decoded;
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
  /** The keccak-256 that checks the job's state against the market's hash; default viem's. */
  keccak?: Keccak256;
};

/**
 * Rebuilds a job from its logs (filtered on-node by the indexed jobId) and checks the result
 * against the hash the market stores, so a caller never sends a stale state.
 */
export async function readJob({ client, market, jobId, fromBlock = 0n, blockNumber: at, keccak }: ReadJobParameters): Promise<JobRecord> {
  // Logs and hash are read at the same block: a block mined between two "latest" reads would make
  // a correct state look mismatched.
  const blockNumber = at ?? (await client.getBlockNumber({ cacheTime: 0 }));
  const read = (await readJobsAt({ client, market, jobs: [{ jobId, fromBlock }], blockNumber, keccak })).get(jobId)!;
  if (read instanceof Error) throw read;
  return read;
}

/** Posted jobs a JobReader holds for their first read; the oldest go first (read later, their logs are read). */
const MAX_KNOWN_JOBS = 4_096;
/** The most characters of input URI and inline input (hex) a held record may carry: MAX_KNOWN_JOBS of them stay under 10 MB. */
const MAX_KNOWN_RECORD_CHARS = 2_048;

/**
 * Jobs one shared read asks for at most: the length of its eth_getLogs topic list, which nodes cap
 * (geth at 1,000 per position), and of its multicall.
 */
export const MAX_JOBS_PER_READ = 100;

export type ReadJobsAtParameters = {
  client: PublicClient;
  market: Address;
  /** At most MAX_JOBS_PER_READ distinct jobs, each with the first block to search for it. */
  jobs: readonly { jobId: bigint; fromBlock?: bigint }[];
  blockNumber: bigint;
  /** As in ReadJobParameters. */
  keccak?: Keccak256;
};

/**
 * Several jobs as of one block, in two requests whatever their number: one eth_getLogs over all their ids
 * (from the earliest `fromBlock`) and one eth_call for their stored hashes (the market's `multicall` of
 * `jobHash`; a plain `jobHash` for a single job), sent together. Each job maps to its record, checked as
 * `readJob` checks it, or to the error `readJob` throws for it alone (not found, state mismatch); a failed
 * request rejects the whole read.
 */
export async function readJobsAt(parameters: ReadJobsAtParameters): Promise<Map<bigint, JobRecord | NonRetryableError>> {
  return (await readJobsKnowing(parameters)).results;
}

/**
 * `readJobsAt` where some of the jobs' records are `known` already (a job as its JobPosted log gave it): those
 * are left out of the eth_getLogs (no log read at all when every job is known) and checked by their stored hash
 * alone. A known record whose hash the market no longer stores (the job moved on since: claimed, cancelled) is
 * no answer: its job is in `stale`, for a read of its logs. The records not in `known` are read as
 * `readJobsAt` reads them.
 */
async function readJobsKnowing({
  client,
  market,
  jobs,
  blockNumber,
  keccak,
  known,
  ahead = [],
}: ReadJobsAtParameters & { known?: ReadonlyMap<bigint, JobRecord>; ahead?: readonly bigint[] }): Promise<{
  results: Map<bigint, JobRecord | NonRetryableError>;
  stale: bigint[];
  /** The stored hashes of the `ahead` jobs, read in the same call. */
  aheadHashes: Map<bigint, Hex>;
}> {
  const ids = [...new Set(jobs.map(({ jobId }) => jobId))];
  if (ids.length === 0) return { results: new Map(), stale: [], aheadHashes: new Map() };
  const extra = ahead.filter((jobId) => !ids.includes(jobId));
  if (ids.length + extra.length > MAX_JOBS_PER_READ) throw new RangeError(`readJobsAt: ${ids.length + extra.length} jobs, at most ${MAX_JOBS_PER_READ} per read: split them`);
  const logged = known === undefined ? ids : ids.filter((jobId) => !known.has(jobId));
  const fromBlock = jobs.reduce((least, { jobId, fromBlock = 0n }) => (fromBlock < least && !known?.has(jobId) ? fromBlock : least), blockNumber);
  const topic = logged.map((jobId) => numberToHex(jobId, { size: 32 }));
  const [logs, stored] = await Promise.all([
    topic.length === 0
      ? []
      : client.request({
          method: "eth_getLogs",
          params: [{ address: market, fromBlock: numberToHex(fromBlock), toBlock: numberToHex(blockNumber), topics: [null, topic.length === 1 ? topic[0]! : topic] }],
        }),
    storedHashes({ client, market, ids: [...ids, ...extra], blockNumber }),
  ]);
  const aheadHashes = new Map(extra.map((jobId, i) => [jobId, stored[ids.length + i]!]));
  const records = foldJobLogs(logs.map((l) => ({ data: l.data, topics: l.topics, blockNumber: BigInt(l.blockNumber ?? 0) })));
  const results = new Map<bigint, JobRecord | NonRetryableError>();
  const stale: bigint[] = [];
  for (const [i, jobId] of ids.entries()) {
    const given = known?.get(jobId);
    if (given !== undefined) {
      if (hashJob(given.job, keccak) === stored[i]) results.set(jobId, given);
      else stale.push(jobId);
      continue;
    }
    const record = records.get(jobId);
    if (!record) {
      results.set(jobId, new NonRetryableError("job not found", { code: "JOB_NOT_FOUND", details: { jobId: jobId.toString() } }));
      continue;
    }
    const rebuilt = hashJob(record.job, keccak);
    if (rebuilt !== stored[i]) {
      results.set(jobId, new NonRetryableError("job state from logs does not match the market's hash", { code: "JOB_STATE_MISMATCH", details: { jobId: jobId.toString(), stored: stored[i], rebuilt } }));
      continue;
    }
    results.set(jobId, record);
  }
  return { results, stale, aheadHashes };
}

/** `jobHash` of each job, in order, as of `blockNumber`: one eth_call. */
async function storedHashes({ client, market, ids, blockNumber }: { client: PublicClient; market: Address; ids: readonly bigint[]; blockNumber: bigint }): Promise<Hex[]> {
  if (ids.length === 1) return [await client.readContract({ address: market, abi: jobMarketAbi, functionName: "jobHash", args: [ids[0]!], blockNumber })];
  const calls = ids.map((jobId) => encodeFunctionData({ abi: jobMarketAbi, functionName: "jobHash", args: [jobId] }));
  const { data } = await client.call({ to: market, data: encodeFunctionData({ abi: jobMarketAbi, functionName: "multicall", args: [calls] }), blockNumber });
  const results = decodeFunctionResult({ abi: jobMarketAbi, functionName: "multicall", data: data ?? "0x" });
  return results.map((result) => decodeFunctionResult({ abi: jobMarketAbi, functionName: "jobHash", data: result }));
}

type WaitingRead = { fromBlock: bigint; settle: { resolve: (record: JobRecord) => void; reject: (error: unknown) => void }[] };

/**
 * Known jobs a read of a fresh job asks the stored hash of ahead, besides its own: a worker starts its fresh jobs
 * one by one as its pipeline frees up (a dozen or more per block on a busy GPU), each a read at the same head.
 */
const HASHES_READ_AHEAD = MAX_JOBS_PER_READ / 2;

/**
 * `readJob` with reads shared: reads as of the same block asked for in the same turn of the event loop (a
 * worker's tick starting the steps of every job due at its head) go out together after that turn, in
 * `readJobsAt` reads of up to MAX_JOBS_PER_READ jobs (those posted closest together share one): two
 * requests for all of them rather than two each. Each caller gets its own job's record or error, as from
 * `readJob`. A shared read that fails is made again job by job, so that a failure stays with the job
 * it belongs to: a job posted long ago widens the shared log range, which a node that caps ranges refuses.
 * A read of the latest block (no `blockNumber`) goes out alone, as `readJob`.
 *
 * A job `know`n as posted (its JobPosted log, which the caller's log poller delivered) is read the first time
 * by its stored hash alone: no log read for it, one request for a fresh job rather than two. Its record is
 * handed out only when the market stores that record's hash at the block read; else (the job moved on) its
 * logs are read as for any job. Each known record serves one read: later reads of the job read its logs.
 * A read of known jobs also asks for the stored hashes of the next known ones (up to HASHES_READ_AHEAD, the
 * oldest first), kept for the block it read: a known job read later at that same block is checked against its
 * hash with no request at all. A worker starting its fresh jobs one by one as its inference frees up so makes one
 * request per block for them, not one per job. Only the last block's hashes are kept; `forget` drops them.
 */
export class JobReader {
  readonly #client: PublicClient;
  readonly #market: Address;
  readonly #keccak: Keccak256 | undefined;
  /** Reads waiting for the end of this turn: by block, then by job. */
  readonly #queued = new Map<bigint, Map<bigint, WaitingRead>>();
  /** Jobs as posted, not read yet (oldest first; at most MAX_KNOWN_JOBS). */
  readonly #known = new Map<bigint, JobRecord>();
  /** Stored hashes of known jobs read ahead, as of one block (the latest read ahead at). */
  #ahead: { blockNumber: bigint; hashes: Map<bigint, Hex> } | undefined;
  /** One more each time the hashes read ahead are dropped: a read started before keeps none of its own. */
  #aheadEpoch = 0;
  /** The head block the caller last ticked at (`atHead`). */
  #headHash: Hex | undefined;

  constructor({ client, market, keccak }: { client: PublicClient; market: Address; keccak?: Keccak256 }) {
    this.#client = client;
    this.#market = market;
    this.#keccak = keccak;
  }

  read({ jobId, fromBlock = 0n, blockNumber }: Omit<ReadJobParameters, "client" | "market">): Promise<JobRecord> {
    if (blockNumber === undefined) return readJob({ client: this.#client, market: this.#market, jobId, fromBlock, keccak: this.#keccak });
    return new Promise((resolve, reject) => {
      if (this.#queued.size === 0) setImmediate(() => this.#flush());
      let atBlock = this.#queued.get(blockNumber);
      if (atBlock === undefined) this.#queued.set(blockNumber, (atBlock = new Map()));
      const waiting = atBlock.get(jobId);
      if (waiting === undefined) atBlock.set(jobId, { fromBlock, settle: [{ resolve, reject }] });
      else {
        if (fromBlock < waiting.fromBlock) waiting.fromBlock = fromBlock;
        waiting.settle.push({ resolve, reject });
      }
    });
  }

  /**
   * A job as its JobPosted log gave it (`applyJobLog`), for its first read. The log must come from a block the
   * caller's poller delivered (confirmed as it confirms blocks); `forget` drops every such record on a reorg.
   * The market's hash covers the job's state, not its input (the URI, the inline bytes, the input hash): only a
   * reorg could give one job id another input, and the daemon loop polls at every new head block, one at the
   * same height too, so the poller reports a replaced block (and the caller forgets) before the next tick reads.
   * A read already in flight then is exposed as a read of the logs is: its requests name a height, not a block.
   * The provider worker also compares each redelivered JobPosted with what it journaled of the job, and takes a job
   * whose post was replaced up afresh (ProviderWorker `onPostedAgain`): what it ran or committed was for the old one.
   */
  know(record: JobRecord): void {
    // A record of a long input URI or a large inline input is read from its logs when needed, not held.
    if (record.job.status !== JobStatus.Posted || record.inputURI.length + record.inlineInput.length > MAX_KNOWN_RECORD_CHARS) return;
    this.#known.delete(record.jobId);
    this.#known.set(record.jobId, record);
    if (this.#known.size > MAX_KNOWN_JOBS) this.#known.delete(this.#known.keys().next().value!);
  }

  /** Drops the records `know` was given (the chain reorganized: a block they came from may be gone). */
  forget(): void {
    this.#known.clear();
    this.#dropReadAhead();
  }

  /**
   * The head the caller reads at now. Another block than the last one (a new height, or a block that replaced the
   * head at the same height, which the caller's poller may not report as a reorg until it is confirmed) drops the
   * hashes read ahead: they were read at a height, and another block at that height may store other hashes.
   */
  atHead(hash: Hex): void {
    if (hash === this.#headHash) return;
    this.#headHash = hash;
    this.#dropReadAhead();
  }

  #dropReadAhead(): void {
    this.#ahead = undefined;
    this.#aheadEpoch++;
  }

  #flush(): void {
    const queued = [...this.#queued];
    this.#queued.clear();
    for (const [blockNumber, atBlock] of queued) {
      const reads = [...atBlock].sort(([, a], [, b]) => (a.fromBlock < b.fromBlock ? -1 : a.fromBlock > b.fromBlock ? 1 : 0));
      for (let i = 0; i < reads.length; i += MAX_JOBS_PER_READ) this.#read(blockNumber, reads.slice(i, i + MAX_JOBS_PER_READ));
    }
  }

  /** One shared read; when it fails, one read per job (a failure stays with its own job). Known records are used up here. */
  #read(blockNumber: bigint, reads: [bigint, WaitingRead][]): void {
    let known: Map<bigint, JobRecord> | undefined;
    for (const [jobId] of reads) {
      const record = this.#known.get(jobId);
      if (record === undefined) continue;
      this.#known.delete(jobId);
      (known ??= new Map()).set(jobId, record);
    }
    if (known !== undefined) {
      reads = this.#settleReadAhead(blockNumber, reads, known);
      if (reads.length === 0) return;
    }
    const ahead = known === undefined ? [] : this.#nextKnown(Math.min(HASHES_READ_AHEAD, MAX_JOBS_PER_READ - reads.length));
    const epoch = this.#aheadEpoch;
    const jobs = reads.map(([jobId, { fromBlock }]) => ({ jobId, fromBlock }));
    readJobsKnowing({ client: this.#client, market: this.#market, blockNumber, keccak: this.#keccak, jobs, known, ahead }).then(
      ({ results, stale, aheadHashes }) => {
        // Hashes read before a drop (a reorg, a new head) may be another block's: not kept.
        if (aheadHashes.size > 0 && epoch === this.#aheadEpoch && (this.#ahead === undefined || this.#ahead.blockNumber <= blockNumber)) {
          if (this.#ahead?.blockNumber !== blockNumber) this.#ahead = { blockNumber, hashes: new Map() };
          for (const [jobId, hash] of aheadHashes) if (this.#known.has(jobId)) this.#ahead.hashes.set(jobId, hash);
        }
        if (stale.length > 0) this.#read(blockNumber, reads.filter(([jobId]) => stale.includes(jobId)));
        for (const [jobId, { settle }] of reads) {
          const read = results.get(jobId);
          if (read === undefined) continue; // stale: read again above
          for (const { resolve, reject } of settle) {
            if (read instanceof Error) reject(read);
            else resolve(read);
          }
        }
      },
      (error: unknown) => {
        if (reads.length > 1) for (const read of reads) this.#read(blockNumber, [read]);
        else for (const { reject } of reads[0]![1].settle) reject(error);
      },
    );
  }

  /**
   * Settles the reads of `known` jobs whose stored hash at `blockNumber` was read ahead: the record where the hash
   * matches it, and a job that moved on (no match) is left to read its logs, its record dropped from `known`.
   * Returns the reads still to make.
   */
  #settleReadAhead(blockNumber: bigint, reads: [bigint, WaitingRead][], known: Map<bigint, JobRecord>): [bigint, WaitingRead][] {
    const hashes = this.#ahead?.blockNumber === blockNumber ? this.#ahead.hashes : undefined;
    if (hashes === undefined) return reads;
    return reads.filter(([jobId, { settle }]) => {
      const record = known.get(jobId);
      const stored = hashes.get(jobId);
      if (record === undefined || stored === undefined) return true;
      hashes.delete(jobId);
      known.delete(jobId);
      if (hashJob(record.job, this.#keccak) !== stored) return true;
      for (const { resolve } of settle) resolve(record);
      return false;
    });
  }

  /** Up to `count` known jobs, the oldest first. */
  #nextKnown(count: number): bigint[] {
    const ids: bigint[] = [];
    for (const jobId of this.#known.keys()) {
      if (ids.length === count) break;
      ids.push(jobId);
    }
    return ids;
  }
}
