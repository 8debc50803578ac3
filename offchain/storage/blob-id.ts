/**
 * Blob ids: SHA-256 of the blob bytes as 0x-prefixed lowercase hex (docs/PROTOCOL.md section 5), the
 * same `blobId` the codec computes. Ids from outside (URLs, URIs, configs) go through
 * `parseBlobId`; bytes from outside go through `verifyBlob` before anyone uses them.
 *
 * Outputs are addressed by their output root instead (the hash their job commits to), so that a worker
 * hashes an output once: a store of outputs names and checks its files by root (`ContentAddress`).
 */
import type { Hex } from "viem";

import { outputRoot } from "../codec/merkle.js";
import { blobId } from "../codec/tensor.js";
import { BlobHashMismatchError, InvalidBlobIdError } from "./errors.js";

const BLOB_ID = /^0x[0-9a-fA-F]{64}$/;

/** Whether `value` is a blob id (either hex case). */
export function isBlobId(value: unknown): value is Hex {
  return typeof value === "string" && BLOB_ID.test(value);
}

/** The id in canonical (lowercase) form; throws `InvalidBlobIdError` naming `field` otherwise. */
export function parseBlobId(value: unknown, field = "id"): Hex {
  if (!isBlobId(value)) throw new InvalidBlobIdError({ field, value });
  return value.toLowerCase() as Hex;
}

/** How a blob is named (docs/PROTOCOL.md section 5): by its blob id (SHA-256 of the bytes), or, an output, by its output root. */
export type ContentAddress = "blobId" | "outputRoot";

/** The name of `bytes` under `address`. */
export function addressOf(bytes: Uint8Array, address: ContentAddress): Hex {
  return address === "outputRoot" ? outputRoot(bytes) : blobId(bytes);
}

export type VerifyBlobParameters = {
  bytes: Uint8Array;
  /** The hash the bytes must have: their blob id, or their output root with `address` "outputRoot". */
  expected: Hex;
  /** Where the bytes came from, for the error message (a path, a URL). */
  source: string;
  address?: ContentAddress;
};

/** Returns the bytes if they hash to `expected`, else throws `BlobHashMismatchError`. */
export function verifyBlob({ bytes, expected, source, address = "blobId" }: VerifyBlobParameters): Uint8Array {
  const wanted = parseBlobId(expected, "expectedHash");
  const actual = addressOf(bytes, address);
  if (actual !== wanted) throw new BlobHashMismatchError({ expected: wanted, actual, source });
  return bytes;
}
