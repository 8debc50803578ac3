/**
 * Deletes the blobs of a worker's stores that no job can need any more, so that what a provider's disk holds is
 * bounded by its throughput over a fixed time rather than by its whole history: a det job keeps a 4.9 MB input and
 * a 1.6 MB output, about 78 MB a second at 12 jobs a second (a day's retention alone is then 6.7 TB: a busy
 * provider sizes `blobRetentionSeconds` and its disk together).
 *
 * When a blob is no longer needed, from the files alone:
 * - A blob is rewritten each time a job keeps it (`put` writes a new file, `adopt` moves one written when the
 *   input was read, after the job was posted). A file's modification time is therefore no earlier than the
 *   posting of the last job that kept it.
 * - No job is judged longer than the longest job lifetime the protocol allows, `lifetime` here
 *   (`ProtocolTerms.requiredUnbondingPeriod`, which covers every terms version ever set). A job split out of a
 *   batch lives at most that long after its split, and the batch lived at most that long before it.
 * - So a file older than twice the lifetime is needed by no job. `retention` more keeps it for the dApps that
 *   fetch their outputs late.
 * - And whatever that argument misses, the blobs that the worker's open jobs name in its journal (`protectedIds`,
 *   read at each step) are never deleted: a redundant job's settle has no deadline, so its seats' blobs are
 *   needed for as long as it stays open, and a host clock that was wrong when a file was written cannot age an
 *   open job's blob. While an open entry does not yet name everything it kept (a journal of an older worker,
 *   till the entry's next step adds it), no step runs, for at most `maxWaitMs` (an hour): an entry whose step
 *   never comes must not stop pruning for good, and what it kept is then kept by its age alone.
 *
 * "Now" is the earlier of the wall clock and the chain's head time. A chain that stalls stretches every
 * deadline, so its jobs' blobs are not aged meanwhile; a devnet whose time runs ahead ages nothing early.
 * Each step lists one of the 256 shard directories of each store, so no step holds the event loop long,
 * and a sweep of every blob takes 256 steps. Only files named by a blob id in their shard are deleted; what
 * else a store's directory holds (its `.tmp`, staged inputs) is left alone.
 */
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";

import type { Logger } from "../log.js";
import type { LocalBlobStore } from "./local.js";

/** What one step deleted. */
export type PruneStepResult = { shard: string; removed: number; bytes: number };

/** Blob ids to keep, and how many open entries do not name all they kept yet (none when left out). */
export type ProtectedIds = Iterable<string> & { unnamed?: number };

export type BlobPrunerParameters = {
  stores: readonly LocalBlobStore[];
  /**
   * The longest job lifetime, seconds (ProtocolTerms.requiredUnbondingPeriod); read at the start of each sweep.
   * It only grows on chain, so a smaller answer than one read before (a faulty node) is not taken.
   */
  lifetimeSeconds: () => Promise<bigint>;
  /** Kept this long beyond twice the lifetime, seconds. */
  retentionSeconds: number;
  /**
   * Blob ids never deleted (the open jobs' inputs and outputs, `openEntriesProtect`), read at each step, with
   * how many open entries do not name all they kept yet (`unnamed`): while any do, the step waits.
   */
  protectedIds: () => ProtectedIds;
  /** Longest wait for unnamed entries, ms (from the first step that found some); default an hour. */
  maxWaitMs?: number;
  /** Least wall-clock time between two steps, ms; default 15 s (a whole sweep in about an hour). */
  stepIntervalMs?: number;
  log: Logger;
  /** The wall clock, ms since the epoch; tests pass a fake. */
  now?: () => number;
};

const SHARDS = 256;
const BLOB_FILE = /^[0-9a-f]{64}$/;
/** A file `pruneShard` moved aside in the store's `.tmp`: `pruned.<id>.<random>`. */
const MOVED_ASIDE = "pruned.";

export class BlobPruner {
  readonly #p: BlobPrunerParameters & { stepIntervalMs: number; maxWaitMs: number; now: () => number };
  #shard = 0;
  #lifetimeSeconds: bigint | undefined;
  #lastStepAt = -Infinity;
  #running: Promise<void> | undefined;
  #waitingSince: number | undefined;

  constructor(parameters: BlobPrunerParameters) {
    if (!Number.isSafeInteger(parameters.retentionSeconds) || parameters.retentionSeconds < 0) {
      throw new RangeError(`retentionSeconds must be a non-negative integer, got ${parameters.retentionSeconds}`);
    }
    this.#p = { stepIntervalMs: 15_000, maxWaitMs: 3_600_000, now: Date.now, ...parameters };
  }

  /**
   * Called at each head (seconds since the epoch): starts the next step in the background when the last one
   * ended and started `stepIntervalMs` ago or more. A step that fails is logged; the next one goes on.
   */
  tick(headTimestamp: bigint): void {
    const wall = this.#p.now();
    if (this.#running !== undefined || wall - this.#lastStepAt < this.#p.stepIntervalMs) return;
    this.#lastStepAt = wall;
    this.#running = this.step(Math.min(wall, Number(headTimestamp) * 1000))
      .then((result) => {
        if (result === undefined) return;
        const { removed, bytes, shard } = result;
        if (removed > 0) this.#p.log.info({ msg: "old blobs deleted", shard, blobs: removed, bytes });
      })
      .catch((error: unknown) => this.#p.log.warn({ msg: "blob pruning failed", err: error instanceof Error ? error.message : String(error) }))
      .finally(() => (this.#running = undefined));
  }

  /**
   * Deletes, in the next shard of every store, the blobs older than `nowMs` less twice the lifetime and the
   * retention; `undefined` (nothing done, the same shard next time) while the protected ids are not all known.
   */
  async step(nowMs: number): Promise<PruneStepResult | undefined> {
    if (this.#shard === 0 || this.#lifetimeSeconds === undefined) {
      // First, and whatever the chain says: a file left aside reads as missing till it is back.
      for (const store of this.#p.stores) await restoreMovedAside(store.dir);
      const read = await this.#p.lifetimeSeconds();
      this.#lifetimeSeconds = this.#lifetimeSeconds === undefined || read > this.#lifetimeSeconds ? read : this.#lifetimeSeconds;
    }
    // Read after the chain read: an entry that ended meanwhile only keeps its blobs one step longer.
    const ids = this.#p.protectedIds();
    const unnamed = ids.unnamed ?? 0;
    if (unnamed === 0) this.#waitingSince = undefined;
    else {
      const wall = this.#p.now();
      if (this.#waitingSince === undefined) {
        this.#waitingSince = wall;
        this.#p.log.warn({ msg: "blob pruning waits: open jobs of an older worker's journal do not name their inputs yet (their next steps add them)", entries: unnamed, max_wait_s: this.#p.maxWaitMs / 1000 });
      }
      if (wall - this.#waitingSince < this.#p.maxWaitMs) return undefined;
      if (this.#shard === 0) this.#p.log.warn({ msg: "blob pruning goes on: open jobs still do not name their inputs; those inputs are kept by their age alone", entries: unnamed });
    }
    const keep = new Set([...ids].map((id) => id.toLowerCase().replace(/^0x/, "")));
    const shard = this.#shard.toString(16).padStart(2, "0");
    this.#shard = (this.#shard + 1) % SHARDS;
    const keptMs = (2 * Number(this.#lifetimeSeconds) + this.#p.retentionSeconds) * 1000;
    const result: PruneStepResult = { shard, removed: 0, bytes: 0 };
    for (const store of this.#p.stores) {
      const { removed, bytes } = await pruneShard({ storeDir: store.dir, shard, olderThanMs: nowMs - keptMs, keep });
      result.removed += removed;
      result.bytes += bytes;
    }
    return result;
  }

  /** Waits for a step under way. */
  async close(): Promise<void> {
    await this.#running;
  }
}

/**
 * Deletes the blob files in one shard of a store last modified before `olderThanMs`. A file is moved aside
 * first and its age read again there: a job that kept the blob again meanwhile (a new file renamed into place)
 * gets its file back, bytes the same (the blob is its id's).
 */
export async function pruneShard({
  storeDir,
  shard,
  olderThanMs,
  keep = new Set(),
}: {
  storeDir: string;
  shard: string;
  olderThanMs: number;
  /** Blob ids (64 hex digits, lowercase) never deleted. */
  keep?: ReadonlySet<string>;
}): Promise<{ removed: number; bytes: number }> {
  const dir = path.join(storeDir, shard);
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { removed: 0, bytes: 0 };
    throw error;
  }
  const aside = path.join(storeDir, ".tmp");
  let removed = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (!entry.isFile() || !BLOB_FILE.test(entry.name) || !entry.name.startsWith(shard) || keep.has(entry.name)) continue;
    const file = path.join(dir, entry.name);
    const stats = await lstat(file).catch(() => undefined); // gone meanwhile: nothing to do
    if (stats === undefined || !stats.isFile() || stats.mtimeMs >= olderThanMs) continue;
    await mkdir(aside, { recursive: true });
    const moved = path.join(aside, `${MOVED_ASIDE}${entry.name}.${randomBytes(6).toString("hex")}`);
    try {
      await rename(file, moved);
    } catch {
      continue; // gone meanwhile
    }
    const movedStats = await lstat(moved).catch(() => undefined);
    if (movedStats === undefined || movedStats.mtimeMs >= olderThanMs) {
      // Kept again just now: back in place (a failure here leaves it for the next sweep's start to put back).
      await rename(moved, file).catch(() => {});
      continue;
    }
    await rm(moved, { force: true });
    removed++;
    bytes += movedStats.size;
  }
  return { removed, bytes };
}

/**
 * Puts back the files a step moved aside and did not finish with (the process died between the move and the
 * delete or the move back): a blob whose place is empty gets its file back, else the copy aside goes.
 */
async function restoreMovedAside(storeDir: string): Promise<void> {
  const aside = path.join(storeDir, ".tmp");
  let names: string[];
  try {
    names = await readdir(aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  for (const name of names) {
    const id = /^pruned\.([0-9a-f]{64})\.[0-9a-f]+$/.exec(name)?.[1];
    if (id === undefined) continue;
    const place = path.join(storeDir, id.slice(0, 2), id);
    if (await lstat(place).then(() => true, () => false)) await rm(path.join(aside, name), { force: true });
    else {
      await mkdir(path.dirname(place), { recursive: true });
      await rename(path.join(aside, name), place);
    }
  }
}

/**
 * What a worker's open journal entries protect (`protectedIds`): every blob id they name, and how many of them
 * kept an output (`outputRoot`, or an older worker's `outputId`; a batch's `outputs`) without naming the input
 * kept with it (`inputHash`; a batch's `inputs`), as entries of older workers' journals do till their next step
 * adds it.
 */
export function openEntriesProtect(entries: readonly unknown[]): ProtectedIds {
  return Object.assign(blobIdsIn(entries), { unnamed: entries.filter(keptButUnnamed).length });
}

/**
 * Whether a journal entry kept an output without naming the input kept with it (see `openEntriesProtect`): what
 * the workers' steps fill in from the chain, and what the pruner waits for.
 */
export function keptButUnnamed(entry: unknown): boolean {
  const d = (entry ?? {}) as Record<string, unknown>;
  return ((d.outputRoot !== undefined || d.outputId !== undefined) && d.inputHash === undefined) || (d.outputs !== undefined && d.inputs === undefined);
}

/** The blob ids (32-byte hex, `0x` and all) in any string of `values`, nested objects and arrays included: an open job's journal data names its input and output so. */
export function blobIdsIn(values: Iterable<unknown>): Set<string> {
  const ids = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === "string") for (const match of value.matchAll(/0x[0-9a-fA-F]{64}/g)) ids.add(match[0].slice(2).toLowerCase());
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === "object") Object.values(value).forEach(visit);
  };
  for (const value of values) visit(value);
  return ids;
}
