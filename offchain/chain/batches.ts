/**
 * A batch's state, rebuilt from the BatchMarket's events, and the two Merkle trees the contract checks
 * (contracts/BatchMarket.sol, IBatchMarket; docs/PROTOCOL.md "Batches").
 *
 * The market stores only `keccak256(abi.encode(batch))` per batch and every call passes the whole `Batch`
 * back. Each event carries the fields its step changed, so folding a batch's events in order gives its
 * current state; `hashBatch` of that state equals `batchMarket.batchHash(batchId)`. The jobs of a batch
 * have ordinary JobMarket ids (`firstJobId + index`); one that was split out is an ordinary job from then on
 * (`readJob` follows it).
 *
 * Trees: OpenZeppelin's `MerkleProof` with sorted pairs (`Hashes.commutativeKeccak256`), leaves in job order,
 * an odd last node carried up a level unchanged. A leaf is `keccak256(abi.encode(jobId, value))`: the
 * job's commitment in the commitment tree, its output root in the result tree.
 */
import {
  concatHex,
  encodeAbiParameters,
  keccak256,
  numberToHex,
  type Address,
  type DecodeEventLogReturnType,
  type Hex,
  type PublicClient,
} from "viem";

import { NonRetryableError } from "../errors.js";
import { batchMarketAbi } from "./abis.js";
import type { JobLogInput } from "./jobs.js";
import { findReplicaOfJob } from "./replicas.js";
import { decodeEvent } from "./events.js";

export const BatchStatus = {
  None: 0,
  Posted: 1,
  Claimed: 2,
  Committed: 3,
  Revealed: 4,
  Finalized: 5,
  Expired: 6,
} as const;
export type BatchStatus = (typeof BatchStatus)[keyof typeof BatchStatus];

/** Mirrors `IBatchMarket.Batch`, field for field. */
export type Batch = {
  poster: Address;
  modelId: number;
  terms: number;
  feePerJob: bigint;
  collateralPerJob: bigint;
  count: number;
  firstJobId: bigint;
  status: BatchStatus;
  /** claimBy, commitBy, revealBy or the end of the challenge window, by status. */
  deadline: number;
  provider: Address;
  commitBlock: bigint;
  /** The commitment root while Committed, the result root from Revealed on. */
  result: Hex;
};

/** Everything a batch's events say beyond its state: its inputs, its outputs, its split jobs. */
export type BatchRecord = {
  batchId: bigint;
  batch: Batch;
  /** Per job, in job order. */
  inputHashes: readonly Hex[];
  inputURIs: readonly string[];
  postedBlock: bigint;
  /** From BatchRevealed: each job's output root, in job order (split jobs' too). */
  outputRoots?: readonly Hex[];
  outputURI?: string;
  /** Job index -> the JobMarket status it was split out as (3 Committed: sampled, 4 Revealed: to be challenged). */
  split: ReadonlyMap<number, number>;
  /** From BatchFinalized: the provider's payout for the unsplit jobs. */
  payout?: bigint;
  /** From BatchExpired: the refund to the poster. */
  refund?: bigint;
};

const BATCH_TUPLE = {
  type: "tuple",
  components: [
    { name: "poster", type: "address" },
    { name: "modelId", type: "uint32" },
    { name: "terms", type: "uint32" },
    { name: "feePerJob", type: "uint96" },
    { name: "collateralPerJob", type: "uint96" },
    { name: "count", type: "uint16" },
    { name: "firstJobId", type: "uint64" },
    { name: "status", type: "uint8" },
    { name: "deadline", type: "uint32" },
    { name: "provider", type: "address" },
    { name: "commitBlock", type: "uint64" },
    { name: "result", type: "bytes32" },
  ],
} as const;

const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";
const ZERO_HASH: Hex = "0x0000000000000000000000000000000000000000000000000000000000000000";

/** keccak256(abi.encode(batch)): what the market stores for a batch in this state. */
export function hashBatch(batch: Batch): Hex {
  return keccak256(encodeAbiParameters([BATCH_TUPLE], [batch]));
}

// ------------------------------------------------------------------ trees

/** A tree leaf: `keccak256(abi.encode(jobId, value))`. */
export function batchLeaf(jobId: bigint, value: Hex): Hex {
  return keccak256(concatHex([numberToHex(jobId, { size: 32 }), value]));
}

function hashPair(a: Hex, b: Hex): Hex {
  return BigInt(a) < BigInt(b) ? keccak256(concatHex([a, b])) : keccak256(concatHex([b, a]));
}

/** Every level of the tree over `leaves`, leaves first. */
function levelsOf(leaves: readonly Hex[]): Hex[][] {
  if (leaves.length === 0) throw new NonRetryableError("a batch tree needs at least one leaf", { code: "EMPTY_BATCH_TREE" });
  const levels: Hex[][] = [[...leaves]];
  for (let level = levels[0]!; level.length > 1; level = levels[levels.length - 1]!) {
    const next: Hex[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    levels.push(next);
  }
  return levels;
}

/** The root over `leaves`, as BatchMarket computes it. */
export function batchTreeRoot(leaves: readonly Hex[]): Hex {
  const levels = levelsOf(leaves);
  return levels[levels.length - 1]![0]!;
}

/** The siblings of leaf `index` from the leaf up (none at a level where it is carried up): `MerkleProof.verify`'s proof. */
export function batchTreeProof(leaves: readonly Hex[], index: number): Hex[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new NonRetryableError(`leaf ${index} out of range, the tree has ${leaves.length}`, { code: "BAD_LEAF_INDEX" });
  }
  const proof: Hex[] = [];
  let position = index;
  for (const level of levelsOf(leaves).slice(0, -1)) {
    const sibling = position ^ 1;
    if (sibling < level.length) proof.push(level[sibling]!);
    position >>= 1;
  }
  return proof;
}

/** `MerkleProof.verify`: whether `proof` leads from `leaf` to `root`. */
export function verifyBatchProof(root: Hex, leaf: Hex, proof: readonly Hex[]): boolean {
  return proof.reduce((node, sibling) => hashPair(node, sibling), leaf) === root;
}

/** A job's commitment salt: `keccak256(abi.encode(batchSalt, jobId))` (IBatchMarket.revealBatch). */
export function batchJobSalt(batchSalt: Hex, jobId: bigint): Hex {
  return keccak256(concatHex([batchSalt, numberToHex(jobId, { size: 32 })]));
}

export type BatchTreesParameters = {
  chainId: bigint | number;
  jobMarket: Address;
  provider: Address;
  firstJobId: bigint;
  /** Each job's output root, in job order. */
  outputRoots: readonly Hex[];
  batchSalt: Hex;
  /**
   * Indices of the jobs already split out of the batch when it is revealed (its sampled ones): revealBatch takes
   * each of them by its commitment, not its output root, so that the batch's reveal never publishes a sampled
   * job's output before its auditor's blind commit (BatchMarket `_leavesOf`).
   */
  split?: ReadonlySet<number>;
};

export type BatchTreesReturnType = {
  /** Each job's commitment: exactly what an ordinary job of that id would hold. */
  commitments: Hex[];
  commitmentLeaves: Hex[];
  commitmentRoot: Hex;
  resultLeaves: Hex[];
  resultRoot: Hex;
  /** What revealBatch takes, in job order: the output root, or for a job already split out its commitment. */
  revealValues: Hex[];
};

/** The commitment and result trees of a batch's outputs, as revealBatch recomputes them. */
export function batchTrees({ chainId, jobMarket, provider, firstJobId, outputRoots, batchSalt, split = new Set() }: BatchTreesParameters): BatchTreesReturnType {
  const ids = outputRoots.map((_, i) => firstJobId + BigInt(i));
  // Commitments.hash (offchain/codec/commitment.ts computes the same; that module's HMAC needs a dependency the
  // SDK package does not carry).
  const commitments = outputRoots.map((outputRoot, i) =>
    keccak256(
      encodeAbiParameters(
        [{ type: "uint256" }, { type: "address" }, { type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "bytes32" }],
        [BigInt(chainId), jobMarket, ids[i]!, provider, outputRoot, batchJobSalt(batchSalt, ids[i]!)],
      ),
    ),
  );
  const commitmentLeaves = commitments.map((c, i) => batchLeaf(ids[i]!, c));
  const revealValues = outputRoots.map((r, i) => (split.has(i) ? commitments[i]! : r));
  const resultLeaves = revealValues.map((v, i) => batchLeaf(ids[i]!, v));
  return {
    commitments,
    commitmentLeaves,
    commitmentRoot: batchTreeRoot(commitmentLeaves),
    resultLeaves,
    resultRoot: batchTreeRoot(resultLeaves),
    revealValues,
  };
}

// ------------------------------------------------------------------ events

type BatchMarketEvent = DecodeEventLogReturnType<typeof batchMarketAbi>;
/** A BatchMarket event about one batch: its args carry the `batchId`. */
export type BatchEvent = Extract<BatchMarketEvent, { args: { batchId: bigint } }>;
export type DecodedBatchLog = BatchEvent & { blockNumber: bigint };

/** Decodes a BatchMarket log; undefined for logs that are not about one batch. */
export function decodeBatchLog(log: JobLogInput): DecodedBatchLog | undefined {
  if (log.topics.length === 0) return undefined;
  let event: BatchMarketEvent;
  try {
    event = decodeEvent({ abi: batchMarketAbi, data: log.data, topics: log.topics });
  } catch {
    return undefined;
  }
  return "batchId" in event.args ? ({ ...event, blockNumber: log.blockNumber ?? 0n } as DecodedBatchLog) : undefined;
}

/** Applies one decoded event to a batch record (a new record for BatchPosted). */
export function applyBatchLog(record: BatchRecord | undefined, log: DecodedBatchLog): BatchRecord | undefined {
  if (log.eventName === "BatchPosted") {
    const a = log.args;
    return {
      batchId: a.batchId,
      batch: {
        poster: a.poster,
        modelId: Number(a.modelId),
        terms: a.terms,
        feePerJob: a.feePerJob,
        collateralPerJob: a.collateralPerJob,
        count: Number(a.count),
        firstJobId: a.firstJobId,
        status: BatchStatus.Posted,
        deadline: Number(a.claimBy),
        provider: ZERO_ADDRESS,
        commitBlock: 0n,
        result: ZERO_HASH,
      },
      inputHashes: a.inputHashes,
      inputURIs: a.inputURIs,
      postedBlock: log.blockNumber,
      split: new Map(),
    };
  }
  if (!record) return undefined;
  const batch = { ...record.batch };
  const next: BatchRecord = { ...record, batch };
  switch (log.eventName) {
    case "BatchClaimed":
      batch.status = BatchStatus.Claimed;
      batch.provider = log.args.provider;
      batch.deadline = Number(log.args.commitBy);
      break;
    case "BatchCommitted":
      // claimAndCommitBatch emits no BatchClaimed: the committer is the provider.
      batch.status = BatchStatus.Committed;
      batch.provider = log.args.provider;
      batch.deadline = Number(log.args.revealBy);
      batch.commitBlock = log.blockNumber;
      batch.result = log.args.commitmentRoot;
      break;
    case "BatchRevealed": {
      const roots = log.args.outputRoots;
      batch.status = BatchStatus.Revealed;
      batch.deadline = Number(log.args.challengeEnd);
      batch.result = batchTreeRoot(roots.map((r, i) => batchLeaf(batch.firstJobId + BigInt(i), r)));
      next.outputRoots = roots;
      next.outputURI = log.args.outputURI;
      break;
    }
    case "JobSplit":
      // The batch's state does not change (the split bitmap is kept beside it).
      next.split = new Map([...record.split, [Number(log.args.index), Number(log.args.status)]]);
      break;
    case "BatchFinalized":
      batch.status = BatchStatus.Finalized;
      next.payout = log.args.payout;
      break;
    case "BatchExpired":
      batch.status = BatchStatus.Expired;
      next.refund = log.args.refund;
      break;
    default:
      return record;
  }
  return next;
}

/** Folds any number of logs (in chain order) into batch records, keyed by batch id. */
export function foldBatchLogs(logs: readonly JobLogInput[], into: Map<bigint, BatchRecord> = new Map()): Map<bigint, BatchRecord> {
  for (const log of logs) {
    const decoded = decodeBatchLog(log);
    if (!decoded) continue;
    const next = applyBatchLog(into.get(decoded.args.batchId), decoded);
    if (next) into.set(decoded.args.batchId, next);
  }
  return into;
}

export type ReadBatchParameters = {
  client: PublicClient;
  batchMarket: Address;
  batchId: bigint;
  /** The first block to search; the block the batch was posted in when known. */
  fromBlock?: bigint;
  /** Read as of this block; default: the latest, asked for. */
  blockNumber?: bigint;
};

/**
 * Rebuilds a batch from its logs (filtered on-node by the indexed batchId) and checks it against the hash
 * the market stores, so a caller never sends a stale state.
 */
export async function readBatch({ client, batchMarket, batchId, fromBlock = 0n, blockNumber: at }: ReadBatchParameters): Promise<BatchRecord> {
  const blockNumber = at ?? (await client.getBlockNumber({ cacheTime: 0 }));
  const logs = await client.request({
    method: "eth_getLogs",
    params: [
      { address: batchMarket, fromBlock: numberToHex(fromBlock), toBlock: numberToHex(blockNumber), topics: [null, numberToHex(batchId, { size: 32 })] },
    ],
  });
  const record = foldBatchLogs(logs.map((l) => ({ data: l.data, topics: l.topics, blockNumber: BigInt(l.blockNumber ?? 0) }))).get(batchId);
  const stored = await client.readContract({ address: batchMarket, abi: batchMarketAbi, functionName: "batchHash", args: [batchId], blockNumber });
  if (!record) {
    throw new NonRetryableError(`batch ${batchId} not found`, { code: "BATCH_NOT_FOUND", details: { batchId: batchId.toString() } });
  }
  if (hashBatch(record.batch) !== stored) {
    throw new NonRetryableError("batch state from logs does not match the market's hash", {
      code: "BATCH_STATE_MISMATCH",
      details: { batchId: batchId.toString(), stored, rebuilt: hashBatch(record.batch) },
    });
  }
  return record;
}

export type FindBatchOfJobParameters = {
  client: PublicClient;
  batchMarket: Address;
  jobId: bigint;
  fromBlock?: bigint;
};

/**
 * The batch a job id belongs to, or undefined when no batch holds it (an ordinary job). Scans BatchPosted
 * (its job ids are not indexed); pass `fromBlock` on a long chain.
 */
export async function findBatchOfJob({ client, batchMarket, jobId, fromBlock = 0n }: FindBatchOfJobParameters): Promise<bigint | undefined> {
  const posted = await client.getContractEvents({ address: batchMarket, abi: batchMarketAbi, eventName: "BatchPosted", fromBlock, toBlock: "latest" });
  for (const log of posted) {
    const { batchId, firstJobId, count } = log.args;
    if (batchId !== undefined && firstJobId !== undefined && count !== undefined && jobId >= firstJobId && jobId < firstJobId + count) {
      return batchId;
    }
  }
  return undefined;
}

// ------------------------------------------------------------------ jobs of a batch

/**
 * A batch job's state as a dApp sees it: `split` jobs live on in the JobMarket (read them with `readJob`);
 * the others follow their batch.
 */
export type BatchJobStatus = "posted" | "claimed" | "committed" | "revealed" | "finalized" | "expired" | "split";

export type BatchJob = {
  jobId: bigint;
  index: number;
  batchId: bigint;
  inputHash: Hex;
  inputURI: string;
  status: BatchJobStatus;
  /**
   * From the batch's reveal. A sampled job split out before it has none here: the batch reveals its commitment
   * instead, and its output root is what the JobMarket reveals for it.
   */
  outputRoot?: Hex;
  outputURI?: string;
};

/** `JobSplit`'s status of a sampled job split out before the batch's reveal (JobMarket's Committed). */
const SPLIT_SAMPLED = 3;

const STATUS_NAMES: Record<BatchStatus, BatchJobStatus> = {
  [BatchStatus.None]: "posted",
  [BatchStatus.Posted]: "posted",
  [BatchStatus.Claimed]: "claimed",
  [BatchStatus.Committed]: "committed",
  [BatchStatus.Revealed]: "revealed",
  [BatchStatus.Finalized]: "finalized",
  [BatchStatus.Expired]: "expired",
};

/** Each job of a batch, in job order. */
export function batchJobs(record: BatchRecord): BatchJob[] {
  const { batch } = record;
  return Array.from({ length: batch.count }, (_, index) => ({
    jobId: batch.firstJobId + BigInt(index),
    index,
    batchId: record.batchId,
    inputHash: record.inputHashes[index]!,
    inputURI: record.inputURIs[index]!,
    status: record.split.has(index) ? "split" : STATUS_NAMES[batch.status],
    outputRoot: record.split.get(index) === SPLIT_SAMPLED ? undefined : record.outputRoots?.[index],
    outputURI: record.outputURI,
  }));
}

/** One job of a batch, by its JobMarket id; throws JOB_NOT_IN_BATCH when the id is not the batch's. */
export function batchJob(record: BatchRecord, jobId: bigint): BatchJob {
  const index = Number(jobId - record.batch.firstJobId);
  if (jobId < record.batch.firstJobId || index >= record.batch.count) {
    throw new NonRetryableError(`job ${jobId} is not in batch ${record.batchId}`, {
      code: "JOB_NOT_IN_BATCH",
      details: { jobId: jobId.toString(), batchId: record.batchId.toString() },
    });
  }
  return batchJobs(record)[index]!;
}

/**
 * A job imported into the JobMarket (`JobImported`) carries no input there: a job split out of a batch has it
 * in its batch's `BatchPosted`, a redundant job's disputed seat in its `ReplicaJobPosted` (when `replicaMarket`
 * is given). Returns the record with that input hash and URI; any other record as it is.
 */
export async function withBatchInput<R extends { jobId: bigint; inputHash: Hex; inputURI: string; inlineInput: Hex }>({
  record,
  client,
  batchMarket,
  replicaMarket,
  fromBlock = 0n,
}: {
  record: R;
  client: PublicClient;
  batchMarket: Address;
  replicaMarket?: Address;
  fromBlock?: bigint;
}): Promise<R> {
  const imported = record.inputURI === "" && record.inlineInput === "0x" && /^0x0{64}$/.test(record.inputHash);
  if (!imported) return record;
  const batchId = await findBatchOfJob({ client, batchMarket, jobId: record.jobId, fromBlock });
  if (batchId === undefined) {
    const replica = replicaMarket && (await findReplicaOfJob({ client, replicaMarket, jobId: record.jobId, fromBlock }));
    return replica ? { ...record, inputHash: replica.record.inputHash, inputURI: replica.record.inputURI } : record;
  }
  const job = batchJob(await readBatch({ client, batchMarket, batchId, fromBlock }), record.jobId);
  return { ...record, inputHash: job.inputHash, inputURI: job.inputURI };
}
