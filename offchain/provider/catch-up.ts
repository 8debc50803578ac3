/**
 * New models catch up. The worker's log poller keeps one cursor for all its models: a worker
 * restarted with a model it did not serve before would start past that model's jobs posted
 * meanwhile, and they would expire unseen. So every served model has a marker in the journal (a
 * cursor named `<poller>:model:<id>`) once the worker has seen its jobs up to the poller's cursor;
 * at start, a model without one gets its JobPosted events read (filtered on-node by the indexed
 * modelId) from `maxClaimDelay` before the cursor's block, since no job older than that can still
 * be claimed, up to the cursor, and the still-claimable ones become candidates. Then its marker is
 * written. A crash before that only repeats the scan (recording a candidate is idempotent).
 */
import { getAbiItem, type AbiEvent, type Address, type PublicClient } from "viem";

import { jobMarketAbi } from "../chain/abis.js";
import type { CursorStore } from "../chain/poller.js";
import type { Logger } from "../log.js";

export type CatchUpModelsParameters = {
  publicClient: PublicClient;
  market: Address;
  store: CursorStore;
  /** The log poller's cursor name. */
  cursorName: string;
  modelIds: readonly number[];
  /** The market's longest claim delay, seconds (the current terms'). */
  maxClaimDelay: number;
  /** Records the jobs found (the worker's `onPosted`). */
  onPosted: (jobs: { jobId: bigint; modelId: number; postedBlock: bigint; poster: Address; claimBy: bigint }[]) => number;
  /** Blocks per `eth_getLogs`. */
  maxBlocksPerQuery?: number;
  log: Logger;
};

const ZERO_HASH = `0x${"0".repeat(64)}` as const;

/** Catches the served models without a marker up to the poller's cursor; returns the number of jobs it added. */
export async function catchUpModels({
  publicClient,
  market,
  store,
  cursorName,
  modelIds,
  maxClaimDelay,
  onPosted,
  maxBlocksPerQuery = 1_000,
  log,
}: CatchUpModelsParameters): Promise<number> {
  const markerOf = (id: number) => `${cursorName}:model:${id}`;
  const missing: number[] = [];
  for (const id of modelIds) if ((await store.get(markerOf(id))) === undefined) missing.push(id);
  if (missing.length === 0) return 0;
  const cursor = await store.get(cursorName);
  // A first start: the poller reads from its start block, every model's jobs included.
  const mark = async () => {
    for (const id of missing) await store.set(markerOf(id), cursor ?? { block: 0n, hash: ZERO_HASH, recent: [{ number: 0n, hash: ZERO_HASH }] });
  };
  if (cursor === undefined) return (await mark(), 0);

  const { timestamp: now } = await publicClient.getBlock({ blockNumber: cursor.block });
  const cutoff = now - BigInt(maxClaimDelay);
  // Walk back a range at a time to the first range that starts before the cutoff (one block read per range).
  const span = BigInt(maxBlocksPerQuery);
  let from = cursor.block;
  while (from > 0n) {
    from = from > span ? from - span : 0n;
    if ((await publicClient.getBlock({ blockNumber: from })).timestamp < cutoff) break;
  }
  const event = getAbiItem({ abi: jobMarketAbi, name: "JobPosted" }) as AbiEvent;
  let added = 0;
  for (let start = from; start <= cursor.block; start += span) {
    const end = start + span - 1n < cursor.block ? start + span - 1n : cursor.block;
    const logs = await publicClient.getLogs({ address: market, event, args: { modelId: missing.map(BigInt) }, fromBlock: start, toBlock: end, strict: true } as Parameters<PublicClient["getLogs"]>[0]);
    const open = logs.flatMap((l) => {
      const args = (l as unknown as { args: { jobId: bigint; modelId: bigint; poster: Address; claimBy: bigint } }).args;
      return args.claimBy >= now ? [{ jobId: args.jobId, modelId: Number(args.modelId), postedBlock: l.blockNumber!, poster: args.poster, claimBy: args.claimBy }] : [];
    });
    added += onPosted(open);
  }
  await mark();
  log.info({ msg: "new models caught up", models: missing, from_block: from.toString(), to_block: cursor.block.toString(), jobs: added });
  return added;
}
