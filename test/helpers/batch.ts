/**
 * Test driver for the BatchMarket (contracts/BatchMarket.sol): the batch trees (leaves, roots, proofs, as
 * IBatchMarket defines them), a fold of the batch events into batch states, and one call per batch step. Each
 * job's output root and salt are the market driver's (`d.outputOf`), so a split job continues with the market
 * driver (`d.reveal`, `d.finalize`) and the verification driver unchanged.
 */
import { encodeAbiParameters, keccak256, parseEther, toHex, type Hash, type Hex, type TransactionReceipt, decodeEventLog } from "viem";

import type { System, Connection } from "./fixture.js";
import type { marketDriver, Wallet } from "./market.js";

type MarketDriver = ReturnType<typeof marketDriver>;

export const BatchStatus = { None: 0, Posted: 1, Claimed: 2, Committed: 3, Revealed: 4, Finalized: 5, Expired: 6 } as const;

export type Batch = {
  poster: Hex;
  modelId: number;
  terms: number;
  feePerJob: bigint;
  collateralPerJob: bigint;
  count: number;
  firstJobId: bigint;
  status: number;
  deadline: number;
  provider: Hex;
  commitBlock: bigint;
  result: Hex;
};

/** A tree leaf: `keccak256(abi.encode(jobId, value))`. */
export function leafOf(jobId: bigint, value: Hex): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "bytes32" }], [jobId, value]));
}

function hashPair(a: Hex, b: Hex): Hex {
  const [x, y] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return keccak256(`0x${x.slice(2)}${y.slice(2)}`);
}

/** Every level of the tree over `leaves`, leaves first: pairs hashed sorted, an odd last node carried up. */
export function levelsOf(leaves: Hex[]): Hex[][] {
  const levels = [leaves];
  while (levels.at(-1)!.length > 1) {
    const level = levels.at(-1)!;
    const next: Hex[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level.at(-1)!);
    levels.push(next);
  }
  return levels;
}

export const rootOf = (leaves: Hex[]): Hex => levelsOf(leaves).at(-1)![0]!;

/** The siblings of leaf `index` from the leaf up (none at a level where the node is carried up). */
export function proofOf(leaves: Hex[], index: number): Hex[] {
  const proof: Hex[] = [];
  const levels = levelsOf(leaves);
  for (let l = 0; l < levels.length - 1; l++) {
    const level = levels[l]!;
    const sibling = index ^ 1;
    if (sibling < level.length) proof.push(level[sibling]!);
    index >>= 1;
  }
  return proof;
}

/** A real-length input URI (an IPFS CIDv1 raw-leaves address is 66 characters with its scheme). */
export const inputUriOf = (i: number) => `ipfs://bafkrei${keccak256(toHex(`input ${i}`)).slice(2, 54)}`;
/** A 32-byte input hash with no zero bytes to speak of (as a real keccak256 is). */
export const inputHashOf = (i: number) => keccak256(toHex(`input blob ${i}`));

export type BatchDriverParameters = { connection: Connection; sys: System; d: MarketDriver; modelId?: bigint };

export function batchDriver({ connection, sys, d, modelId = 1n }: BatchDriverParameters) {
  const { batchMarket, publicClient, dapp, provider, keeper } = sys;
  const batches = new Map<bigint, Batch>();
  const outputs = new Map<bigint, Hex>(); // jobId -> output root revealed in its batch (overrides)
  const splitCommitments = new Map<bigint, Hex>(); // jobId -> commitment of a sampled job split out (its reveal value)

  function fold(receipt: TransactionReceipt) {
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== batchMarket.address.toLowerCase()) continue;
      let ev;
      try {
        ev = decodeEventLog({ abi: batchMarket.abi, data: log.data, topics: log.topics });
      } catch {
        continue;
      }
      const a = ev.args as Record<string, unknown>;
      const id = a.batchId as bigint | undefined;
      if (id === undefined) continue;
      const b = batches.get(id);
      switch (ev.eventName) {
        case "BatchPosted":
          batches.set(id, {
            poster: a.poster as Hex,
            modelId: Number(a.modelId),
            terms: Number(a.terms),
            feePerJob: a.feePerJob as bigint,
            collateralPerJob: a.collateralPerJob as bigint,
            count: Number(a.count),
            firstJobId: a.firstJobId as bigint,
            status: BatchStatus.Posted,
            deadline: Number(a.claimBy),
            provider: "0x0000000000000000000000000000000000000000",
            commitBlock: 0n,
            result: `0x${"0".repeat(64)}`,
          });
          break;
        case "BatchClaimed":
          Object.assign(b!, { status: BatchStatus.Claimed, provider: a.provider, deadline: Number(a.commitBy) });
          break;
        case "BatchCommitted":
          Object.assign(b!, {
            status: BatchStatus.Committed,
            provider: a.provider,
            deadline: Number(a.revealBy),
            commitBlock: receipt.blockNumber,
            result: a.commitmentRoot,
          });
          break;
        case "BatchRevealed": {
          const roots = a.outputRoots as Hex[];
          Object.assign(b!, {
            status: BatchStatus.Revealed,
            deadline: Number(a.challengeEnd),
            result: rootOf(roots.map((r, i) => leafOf(b!.firstJobId + BigInt(i), r))),
          });
          break;
        }
        case "BatchFinalized":
          b!.status = BatchStatus.Finalized;
          break;
        case "BatchExpired":
          b!.status = BatchStatus.Expired;
          break;
      }
    }
  }

  async function send(tx: Promise<Hash>) {
    const receipt = await d.jobs.send(tx); // folds the market's logs (JobImported) too
    fold(receipt);
    return receipt;
  }

  const batch = (batchId: bigint): Batch => {
    const b = batches.get(batchId);
    if (!b) throw new Error(`batch ${batchId} not tracked`);
    return { ...b };
  };
  const jobIds = (batchId: bigint) => Array.from({ length: batch(batchId).count }, (_, i) => batch(batchId).firstJobId + BigInt(i));

  /** A request of `count` jobs with real-length URIs, claimBy ten minutes out. */
  async function request(count: number, overrides: Record<string, unknown> = {}) {
    return {
      modelId,
      feePerJob: parseEther("10"),
      claimBy: (await d.now()) + 600n,
      inputHashes: Array.from({ length: count }, (_, i) => inputHashOf(i)),
      inputURIs: Array.from({ length: count }, (_, i) => inputUriOf(i)),
      ...overrides,
    };
  }

  /** Mints and deposits `amount` for `by` (the dApp). */
  async function fund(amount: bigint, by: Wallet = dapp) {
    await sys.token.write.mint([by.account.address, amount]);
    await sys.token.write.approve([batchMarket.address, amount], { account: by.account });
    return send(batchMarket.write.deposit([amount], { account: by.account }));
  }

  async function post(count: number, overrides: Record<string, unknown> = {}, by: Wallet = dapp) {
    await send(batchMarket.write.postBatch([await request(count, overrides)], { account: by.account }));
    return batchMarket.read.batchCount();
  }

  /** The batch's secret salt, and a job's commitment salt derived from it (IBatchMarket.revealBatch). */
  const batchSaltOf = (batchId: bigint) => keccak256(toHex(`batch salt ${batchId}`));
  const batchOfJob = (jobId: bigint) => [...batches.entries()].find(([, x]) => jobId >= x.firstJobId && jobId < x.firstJobId + BigInt(x.count))![0];
  const saltOf = (jobId: bigint): Hex => leafOf(BigInt(batchSaltOf(batchOfJob(jobId))), toHex(jobId, { size: 32 }));

  /** The output root of a job as committed (the market driver's, unless `wrong` overrides it). */
  const outputRootOf = (jobId: bigint) => outputs.get(jobId) ?? d.outputOf(jobId).outputRoot;

  async function commitmentLeaves(batchId: bigint, by: Wallet = provider) {
    const leaves: Hex[] = [];
    for (const jobId of jobIds(batchId)) {
      const c = await d.commitmentOf(jobId, { outputRoot: outputRootOf(jobId), salt: saltOf(jobId), by });
      leaves.push(leafOf(jobId, c));
    }
    return leaves;
  }

  /** Claims and commits; `wrong` maps job ids to the (wrong) output roots committed for them. */
  async function claimAndCommit(batchId: bigint, { by = provider, wrong = new Map<bigint, Hex>() } = {}) {
    for (const [jobId, root] of wrong) outputs.set(jobId, root);
    const root = rootOf(await commitmentLeaves(batchId, by));
    return send(batchMarket.write.claimAndCommitBatch([batchId, batch(batchId), root], { account: by.account }));
  }

  async function claim(batchId: bigint, by: Wallet = provider) {
    return send(batchMarket.write.claimBatch([batchId, batch(batchId)], { account: by.account }));
  }

  async function commit(batchId: bigint, by: Wallet = provider) {
    const root = rootOf(await commitmentLeaves(batchId, by));
    return send(batchMarket.write.commitBatch([batchId, batch(batchId), root], { account: by.account }));
  }

  /** Mines until a call sent now runs after the batch's seed block. */
  async function waitForSeed(batchId: bigint) {
    const seedBlock = batch(batchId).commitBlock + BigInt((await batchMarket.read.marketTermsOf([BigInt(batch(batchId).terms)])).seedDelay);
    const missing = seedBlock - (await publicClient.getBlockNumber());
    if (missing >= 0n) await connection.networkHelpers.mine(missing + 1n);
  }

  /** Indices of the sampled jobs (the seed block mined). */
  async function sampled(batchId: bigint) {
    const bits = await batchMarket.read.sampledBitmap([batch(batchId)]);
    return Array.from({ length: batch(batchId).count }, (_, i) => i).filter((i) => (bits >> BigInt(i)) & 1n);
  }

  /**
   * A batch of 8 posted and committed (`commit`: claimAndCommit by default), its seed mined, whose sampled jobs
   * are as `wanted` (at least one by default). At 50% sampling one seed in 256 samples none of 8 and one in 256
   * all (the seed is a block hash, which the wall clock's timestamps make differ run to run): another batch
   * follows, up to 8.
   */
  async function postSampled({
    commit: commitBatch = (batchId: bigint): Promise<unknown> => claimAndCommit(batchId),
    wanted = (indices: number[]) => indices.length > 0,
  }: { commit?: (batchId: bigint) => Promise<unknown>; wanted?: (indices: number[]) => boolean } = {}) {
    for (let attempt = 0; attempt < 8; attempt++) {
      const batchId = await post(8);
      await commitBatch(batchId);
      await waitForSeed(batchId);
      const indices = await sampled(batchId);
      if (wanted(indices)) return { batchId, sampled: indices };
    }
    throw new Error("eight batches running sampled none of the jobs wanted");
  }

  async function splitSampled(batchId: bigint, index: number, by: Wallet = keeper, { proofIndex = index, leafJob }: { proofIndex?: number; leafJob?: bigint } = {}) {
    const leaves = await commitmentLeaves(batchId);
    const jobId = leafJob ?? batch(batchId).firstJobId + BigInt(index);
    const c = await d.commitmentOf(jobId, { outputRoot: outputRootOf(jobId), salt: saltOf(jobId) });
    const receipt = await send(batchMarket.write.splitSampled([batchId, batch(batchId), BigInt(index), c, proofOf(leaves, proofIndex)], { account: by.account }));
    splitCommitments.set(jobId, c);
    return receipt;
  }

  /** What revealBatch takes for a job: its output root, or its commitment once it was split out (sampled). */
  const revealValueOf = (jobId: bigint) => splitCommitments.get(jobId) ?? outputRootOf(jobId);

  function revealArgs(batchId: bigint) {
    const ids = jobIds(batchId);
    return [batchId, batch(batchId), ids.map(revealValueOf), batchSaltOf(batchId), "ipfs://bafybatchoutputs"] as const;
  }

  async function reveal(batchId: bigint, by: Wallet = provider) {
    return send(batchMarket.write.revealBatch(revealArgs(batchId), { account: by.account }));
  }

  function resultLeaves(batchId: bigint) {
    return jobIds(batchId).map((id) => leafOf(id, revealValueOf(id)));
  }

  async function splitRevealed(batchId: bigint, index: number, by: Wallet = keeper) {
    const jobId = batch(batchId).firstJobId + BigInt(index);
    return send(
      batchMarket.write.splitRevealed([batchId, batch(batchId), BigInt(index), outputRootOf(jobId), proofOf(resultLeaves(batchId), index)], {
        account: by.account,
      }),
    );
  }

  const pastDeadline = (batchId: bigint) => d.at(batch(batchId).deadline + 1);

  async function finalize(batchId: bigint, by: Wallet = keeper) {
    await pastDeadline(batchId);
    return send(batchMarket.write.finalizeBatch([batchId, batch(batchId)], { account: by.account }));
  }

  async function expire(batchId: bigint, by: Wallet = keeper) {
    return send(batchMarket.write.expireBatch([batchId, batch(batchId)], { account: by.account }));
  }

  return {
    batches,
    batch,
    jobIds,
    request,
    fund,
    post,
    send,
    outputRootOf,
    saltOf,
    batchSaltOf,
    commitmentLeaves,
    resultLeaves,
    claim,
    commit,
    claimAndCommit,
    waitForSeed,
    sampled,
    postSampled,
    splitSampled,
    revealArgs,
    reveal,
    splitRevealed,
    pastDeadline,
    finalize,
    expire,
  };
}
