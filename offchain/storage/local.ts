/**
 * A blob store over a local directory, the default store of a worker.
 *
 * Layout: `<dir>/<first two hex digits>/<64 hex digits>`, so no directory grows past 1/256 of
 * the blobs. Writes go to `<dir>/.tmp/` first, are flushed, then renamed into place: a crash
 * leaves either the whole blob or none (at worst a stray temp file), never a torn one. Every read
 * is hashed; a file that no longer matches its name is an error, never returned. `put` always
 * rewrites, so putting the right bytes again repairs a corrupted copy.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";

import type { Hex } from "viem";

import { blobId, DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { parseBlobId, verifyBlob } from "./blob-id.js";
import { BlobNotFoundError, BlobTooLargeError } from "./errors.js";
import { validateMaxBytes } from "./read-capped.js";
import type { BlobStore } from "./store.js";

export type LocalBlobStoreParameters = {
  /** The store's directory; created on the first `put`. */
  dir: string;
  /** Largest blob `put` accepts and `get` reads; defaults to the codec's cap (64 MiB). */
  maxBytes?: number;
};

export class LocalBlobStore implements BlobStore {
  readonly dir: string;
  readonly maxBytes: number;

  constructor({ dir, maxBytes = DEFAULT_MAX_BLOB_BYTES }: LocalBlobStoreParameters) {
    validateMaxBytes(maxBytes);
    this.dir = path.resolve(dir);
    this.maxBytes = maxBytes;
  }

  /** Where blob `id` lives (whether or not it is stored). */
  pathOf(id: Hex): string {
    const hex = parseBlobId(id).slice(2);
    return path.join(this.dir, hex.slice(0, 2), hex);
  }

  async put(bytes: Uint8Array): Promise<Hex> {
    if (bytes.byteLength > this.maxBytes) {
      throw new BlobTooLargeError({ source: "put", maxBytes: this.maxBytes, size: bytes.byteLength });
    }
    const id = blobId(bytes);
    const target = this.pathOf(id);
    await mkdir(path.dirname(target), { recursive: true });
    await writeAtomically({ target, bytes, tempDir: path.join(this.dir, ".tmp") });
    return id;
  }

  async get(id: Hex): Promise<Uint8Array> {
    const file = this.pathOf(id);
    const bytes = await readFileCapped({ file, maxBytes: this.maxBytes, id });
    return verifyBlob({ bytes, expected: id, source: file });
  }

  async has(id: Hex): Promise<boolean> {
    try {
      return (await stat(this.pathOf(id))).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }
}

/** Writes `bytes` to a fresh temp file, flushes it, and renames it over `target`. */
async function writeAtomically({ target, bytes, tempDir }: { target: string; bytes: Uint8Array; tempDir: string }) {
  await mkdir(tempDir, { recursive: true });
  const temp = path.join(tempDir, `${path.basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}`);
  const handle = await open(temp, "wx");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

/** The file's bytes, refusing one over `maxBytes` before reading it. */
async function readFileCapped({ file, maxBytes, id }: { file: string; maxBytes: number; id: Hex }): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    if (isMissing(error)) throw new BlobNotFoundError({ source: id, details: { path: file }, cause: error });
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new BlobTooLargeError({ source: id, maxBytes, size });
    const buffer = await handle.readFile();
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } finally {
    await handle.close();
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
