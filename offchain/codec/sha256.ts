/**
 * SHA-256 over large byte arrays: blob ids and output roots (docs/PROTOCOL.md section 5). Blobs are
 * megabytes (a 640x640 float32 image is 4.9 MB) and every blob is hashed where it is read, stored
 * and committed, so the hash is on the worker's hot path. Node's built-in SHA-256 uses the CPU's
 * SHA extensions: about 1,660 MiB/s here against 334 MiB/s for keccak-256 in WebAssembly
 * (`npm run bench:hashing`, bench/results/hashing.json), and the EVM has it as a precompile for the few bytes hashed on chain.
 */
import { createHash, hash } from "node:crypto";

/** SHA-256 of the concatenation of `parts`, as 32 bytes. */
export function sha256Bytes(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/**
 * SHA-256 of one byte array in one call (no Hash object): an output root hashes one leaf per 4096-byte chunk and
 * one node per pair, ~800 small inputs for a det output, where this is 2.5x faster than `sha256Bytes`.
 */
export function sha256Of(bytes: Uint8Array): Uint8Array {
  return hash("sha256", bytes, "buffer");
}
