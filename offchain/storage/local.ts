/**
 * A blob store over a local directory, the default store of a worker.
 *
 * Layout: `<dir>/<first two hex digits>/<64 hex digits>`, so no directory grows past 1/256 of
 * the blobs. Writes go to `<dir>/.tmp/` first, are flushed, then renamed into place: a crash
 * leaves either the whole blob or none (at worst a stray temp file), never a torn one. Reads are
 * hashed; a file that no longer matches its name is an error, never returned. The store remembers,
 * in memory, the files it wrote or verified itself (inode, size, modification time), and reads those
 * back without hashing them again while they are unchanged: a blob server answering every GET for a
 * 4.9 MB input would otherwise hash it every time. A new process hashes every file on its first read.
 * `put` always rewrites, so putting the right bytes again repairs a corrupted copy.
 *
 * Staging: a blob may be written before anyone knows whether it is kept (a hashing thread writes the input it
 * read and checked, before the worker runs and commits the job). It goes to the store's staging directory
 * (`openStaging`: `.tmp/staged/`, by `writeStaged`), and is then flushed and moved into place by `adopt` (a
 * rename) or deleted by `discard`. Nothing staged is served. What is staged lives as long as its process:
 * `closeStaging` deletes it, and so does the next `openStaging` after a crash.
 *
 * A store names its blobs by their blob id, or, a store of outputs (`address: "outputRoot"`), by their output
 * root: the hash a job commits to, which the worker computes anyway, so an output is hashed once.
 */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { mkdir, open, rename, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";

import type { Hex } from "viem";

import { DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";
import { addressOf, parseBlobId, verifyBlob, type ContentAddress } from "./blob-id.js";
import { BlobNotFoundError, BlobTooLargeError } from "./errors.js";
import { validateMaxBytes } from "./read-capped.js";
import type { BlobStore, PutOptions } from "./store.js";

export type LocalBlobStoreParameters = {
  /** The store's directory; created on the first `put`. */
  dir: string;
  /** Largest blob `put` accepts and `get` reads; defaults to the codec's cap (64 MiB). */
  maxBytes?: number;
  /** How blobs are named and checked: by blob id (the default) or by output root (a store of outputs). */
  address?: ContentAddress;
};

/** Files known to match their id, by id: their identity as it was then. */
const KNOWN_FILES_KEPT = 4_096;

export class LocalBlobStore implements BlobStore {
  readonly dir: string;
  readonly maxBytes: number;
  readonly address: ContentAddress;
  readonly #known = new Map<Hex, string>();

  constructor({ dir, maxBytes = DEFAULT_MAX_BLOB_BYTES, address = "blobId" }: LocalBlobStoreParameters) {
    validateMaxBytes(maxBytes);
    this.dir = path.resolve(dir);
    this.maxBytes = maxBytes;
    this.address = address;
  }

  /** Where blob `id` lives (whether or not it is stored). */
  pathOf(id: Hex): string {
    return blobPath(this.dir, id);
  }

  async put(bytes: Uint8Array, { knownId }: PutOptions = {}): Promise<Hex> {
    if (bytes.byteLength > this.maxBytes) {
      throw new BlobTooLargeError({ source: "put", maxBytes: this.maxBytes, size: bytes.byteLength });
    }
    const id = knownId === undefined ? addressOf(bytes, this.address) : parseBlobId(knownId, "knownId");
    this.#known.delete(id);
    await keepBlob({ ...this.keeping(), id, bytes });
    if (knownId === undefined) {
      // After the rename, which changes the file's ctime; none when it was moved away at once (a prune step,
      // offchain/storage/prune.ts, looking at an older copy moves it back).
      const written = await stat(this.pathOf(id)).catch((error: unknown) => {
        if (isMissing(error)) return undefined;
        throw error;
      });
      if (written !== undefined) this.#remember(id, written);
    }
    return id;
  }

  /**
   * Where and how `keepBlob` writes into this store from any thread (a hashing thread keeps the output it has
   * just hashed for its root: InferenceRunner.run's `keepOutput`). A file written so is read back as any other:
   * hashed on its first `get` (a rename gives it a new inode, so no identity remembered before matches it).
   */
  keeping(): BlobKeep {
    return { dir: this.dir, maxBytes: this.maxBytes };
  }

  async get(id: Hex): Promise<Uint8Array> {
    const file = this.pathOf(id);
    const { bytes, stats } = await readFileCapped({ file, maxBytes: this.maxBytes, id });
    if (this.#known.get(id) === identity(stats)) return bytes;
    verifyBlob({ bytes, expected: id, source: file, address: this.address });
    this.#remember(id, stats);
    return bytes;
  }

  #remember(id: Hex, stats: Stats): void {
    this.#known.delete(id);
    this.#known.set(id, identity(stats));
    if (this.#known.size > KNOWN_FILES_KEPT) this.#known.delete(this.#known.keys().next().value as Hex);
  }

  /**
   * The store's staging directory, created empty: whatever a process before left staged there (a crash, a kill)
   * was never adopted, so it is deleted. A store with staging belongs to one process at a time (a worker's, as
   * its data dir does).
   */
  async openStaging(): Promise<string> {
    const dir = this.#stagingDir();
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Removes the staging directory and whatever is still staged in it. */
  async closeStaging(): Promise<void> {
    await rm(this.#stagingDir(), { recursive: true, force: true });
  }

  /**
   * Moves a staged file (`writeStaged`, in this store's staging directory) into place as blob `id`, which its
   * writer checked its bytes against (as `put`'s `knownId`: the store hashes it on its first `get`). It is
   * flushed first (staging does not: a file discarded within seconds never reaches the disk), so a crash
   * leaves the whole blob or none, as `put` does; over `maxBytes` it is refused, as by `put`. `via` does that
   * file work (`adoptStaged`, here by default; a hashing thread's, HashPool.adopt, for a worker).
   */
  async adopt(file: string, id: Hex, via: (adopt: StagedAdoption) => Promise<void> = adoptStaged): Promise<void> {
    parseBlobId(id, "id");
    if (path.dirname(path.resolve(file)) !== this.#stagingDir()) {
      throw new NonRetryableError(`adopt: ${file} is not in the staging directory of the store at ${this.dir}`, { code: "INVALID_ARGUMENT", details: { file } });
    }
    this.#known.delete(id);
    await via({ ...this.keeping(), file, id });
  }

  /** Deletes a staged file that is not kept; one already gone is no error. */
  async discard(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  #stagingDir(): string {
    return path.join(this.dir, ".tmp", "staged");
  }

  async has(id: Hex): Promise<boolean> {
    return (await this.size(id)) !== undefined;
  }

  async size(id: Hex): Promise<number | undefined> {
    try {
      const stats = await stat(this.pathOf(id));
      return stats.isFile() ? stats.size : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }
}

/** A store's directory and its size limit: enough for `keepBlob` to write a blob into it from any thread. */
export type BlobKeep = { dir: string; maxBytes: number };

/** A staged file (in the store's staging directory, checked by `adopt`) to move into the store at `dir` as blob `id`. */
export type StagedAdoption = BlobKeep & { file: string; id: Hex };

/**
 * `adopt`'s file work, from any thread (`adopt`'s `via`: a hashing thread, so that the open, flush, close and
 * rename leave the main thread): the staged file flushed and renamed into place as blob `id`; refused over
 * `maxBytes`.
 */
export async function adoptStaged({ dir, maxBytes, file, id }: StagedAdoption): Promise<void> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new BlobTooLargeError({ source: file, maxBytes, size });
    await handle.sync();
  } finally {
    await handle.close();
  }
  const target = blobPath(dir, id);
  await intoDir(path.dirname(target), () => rename(file, target));
}

/** Where blob `id` lives in the store at `dir`. */
function blobPath(dir: string, id: Hex): string {
  const hex = parseBlobId(id).slice(2);
  return path.join(dir, hex.slice(0, 2), hex);
}

/**
 * Writes blob `id`'s bytes into the store at `dir` as its `put` does (a temp file, flushed, renamed into place;
 * refused over `maxBytes`), from any thread; the caller vouches that the bytes are blob `id` (hashed them for
 * it).
 */
export async function keepBlob({ dir, maxBytes, id, bytes }: BlobKeep & { id: Hex; bytes: Uint8Array }): Promise<void> {
  if (bytes.byteLength > maxBytes) throw new BlobTooLargeError({ source: "put", maxBytes, size: bytes.byteLength });
  await writeAtomically({ target: blobPath(dir, id), bytes, tempDir: path.join(dir, ".tmp") });
}

/**
 * Directories this thread has made or found, so that each is made once (a `mkdir -p`, one more trip through
 * libuv's pool) rather than before every blob written into it. Bounded: past the cap it starts over.
 */
const madeDirs = new Set<string>();
const MADE_DIRS_KEPT = 4_096;

/**
 * Runs `op`, which creates or moves a file into `dir`, with `dir` made first unless this thread made or found it
 * before; where `op` finds it missing all the same (deleted since), `dir` is made again and `op` run once more.
 */
async function intoDir<T>(dir: string, op: () => Promise<T>): Promise<T> {
  const make = async () => {
    await mkdir(dir, { recursive: true });
    if (madeDirs.size >= MADE_DIRS_KEPT) madeDirs.clear();
    madeDirs.add(dir);
  };
  if (!madeDirs.has(dir)) return make().then(op);
  try {
    return await op();
  } catch (error) {
    if (!isMissing(error)) throw error;
    madeDirs.delete(dir);
    await make();
    return op();
  }
}

/** A file's identity: a rewrite or a replacement changes it. */
function identity(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/**
 * Writes blob `id`'s bytes to a fresh file in `dir` (a store's staging directory, `openStaging`), not flushed,
 * and returns its path, for the store's `adopt` (which flushes it) or `discard`. It runs in any thread: a hashing
 * thread stages the input it has just read and checked. On failure no file is left.
 */
export async function writeStaged({ dir, id, bytes }: { dir: string; id: Hex; bytes: Uint8Array }): Promise<string> {
  const file = path.join(dir, `${parseBlobId(id, "id").slice(2)}.${uniqueSuffix()}`);
  await writeNew(file, bytes, { flush: false });
  return file;
}

/** This thread's prefix of the names `uniqueSuffix` gives, drawn once, and how many it gave. */
const threadPrefix = randomBytes(6).toString("hex");
let suffixes = 0;

/**
 * A file name's suffix no other thread or process draws (a random prefix per thread, then a count): a temp or
 * staged file per blob written, where drawing random bytes for each was 1.5% of a hashing thread's CPU. The files
 * are opened with "wx", so a clash could only fail a write, never overwrite.
 */
function uniqueSuffix(): string {
  return `${threadPrefix}${(suffixes++).toString(36)}`;
}

/** Writes `bytes` to a new file, flushed unless asked not to; on failure no file is left. */
async function writeNew(file: string, bytes: Uint8Array, { flush }: { flush: boolean }): Promise<void> {
  const handle = await open(file, "wx");
  try {
    await writeAll(handle, bytes);
    if (flush) await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(file).catch(() => {});
    throw error;
  }
  await handle.close();
}

/** Writes `bytes` to a fresh temp file in `tempDir`, flushes it, and renames it over `target`. */
async function writeAtomically({ target, bytes, tempDir }: { target: string; bytes: Uint8Array; tempDir: string }): Promise<void> {
  const temp = path.join(tempDir, `${path.basename(target)}.${process.pid}.${uniqueSuffix()}`);
  await intoDir(tempDir, () => writeNew(temp, bytes, { flush: true }));
  try {
    await intoDir(path.dirname(target), () => rename(temp, target));
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

/**
 * All of `bytes` into the file, from its start, in as few writes as the system takes (one for a file of any
 * size here). `FileHandle.writeFile` writes in 512 KiB pieces, each a trip from the main thread to libuv's
 * pool and back: ten for a det input.
 */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, offset);
    if (bytesWritten <= 0) throw new Error(`a write of ${bytes.byteLength - offset} bytes wrote nothing`);
    offset += bytesWritten;
  }
}

/** The file's bytes and stats, refusing one over `maxBytes` before reading it. */
async function readFileCapped({ file, maxBytes, id }: { file: string; maxBytes: number; id: Hex }): Promise<{ bytes: Uint8Array; stats: Stats }> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    if (isMissing(error)) throw new BlobNotFoundError({ source: id, details: { path: file }, cause: error });
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (stats.size > maxBytes) throw new BlobTooLargeError({ source: id, maxBytes, size: stats.size });
    const buffer = await handle.readFile();
    return { bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), stats };
  } finally {
    await handle.close();
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
