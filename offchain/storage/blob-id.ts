/**
 * Blob ids: SHA-256 of the blob bytes as 0x-prefixed lowercase hex (docs/PROTOCOL.md section 5), the
 * same `blobId` the codec computes. Ids from outside (URLs, URIs, configs) go through
 * `parseBlobId`; bytes from outside go through `verifyBlob` before anyone uses them.
 */
import type { Hex } from "viem";

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

export type VerifyBlobParameters = {
  bytes: Uint8Array;
  /** The blob id the bytes must hash to. */
  expected: Hex;
  /** Where the bytes came from, for the error message (a path, a URL). */
  source: string;
};

/** Returns the bytes if they hash to `expected`, else throws `BlobHashMismatchError`. */
export function verifyBlob({ bytes, expected, source }: VerifyBlobParameters): Uint8Array {
  const wanted = parseBlobId(expected, "expectedHash");
  const actual = blobId(bytes);
  if (actual !== wanted) throw new BlobHashMismatchError({ expected: wanted, actual, source });
  return bytes;
}
