/**
 * Result commitments and the salts that hide them (docs/PROTOCOL.md section 5), matching
 * `contracts/libraries/Commitments.sol`.
 *
 * commitment = keccak256(abi.encode(uint256 chainId, address jobMarket, uint256 jobId,
 *                                   address provider, bytes32 outputRoot, bytes32 salt))
 *   i.e. keccak256 over six 32-byte words, 192 bytes:
 *   [0..32)    chainId, big-endian
 *   [32..64)   12 zero bytes || jobMarket (20 bytes)
 *   [64..96)   jobId, big-endian
 *   [96..128)  12 zero bytes || provider (20 bytes)  (the auditor's address for an auditor commitment)
 *   [128..160) outputRoot
 *   [160..192) salt
 *
 * salt = HMAC-SHA256(key = workerSecret, message = chainId || jobId)
 *   where the message is 64 bytes: chainId as a 32-byte big-endian uint256, then jobId likewise.
 *   Derived, not stored, so a restarted worker can always reveal what it committed.
 *
 * batchSalt = HMAC-SHA256(key = workerSecret, message = "dinfer batch salt" || chainId || batchId)
 *   (17 ASCII bytes, then two 32-byte big-endian words): the secret a batch's per-job salts come from
 *   (IBatchMarket.revealBatch: job `jobId`'s salt is keccak256(abi.encode(batchSalt, jobId))). The tag keeps
 *   batch 7's salt from being job 7's, which a reveal of job 7 would publish.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes, type Address, type Hex } from "viem";

import { CodecError } from "../errors.js";

/** Shortest worker secret accepted: a guessable secret makes salts guessable, and commitments open. */
export const MIN_WORKER_SECRET_BYTES = 16;

const MAX_UINT256 = (1n << 256n) - 1n;
const ADDRESS_HEX = /^0x[0-9a-fA-F]{40}$/;
const BYTES32_HEX = /^0x[0-9a-fA-F]{64}$/;

export type CommitmentParameters = {
  chainId: bigint | number;
  jobMarket: Address;
  jobId: bigint | number;
  /** The committing account: the provider, or the auditor for an auditor commitment. */
  provider: Address;
  outputRoot: Hex;
  salt: Hex;
};

/** keccak256(abi.encode(chainId, jobMarket, jobId, provider, outputRoot, salt)) as 0x hex. */
export function commitment({ chainId, jobMarket, jobId, provider, outputRoot, salt }: CommitmentParameters): Hex {
  const words = [
    uint256Word(chainId, "chainId"),
    addressWord(jobMarket, "jobMarket"),
    uint256Word(jobId, "jobId"),
    addressWord(provider, "provider"),
    bytes32Word(outputRoot, "outputRoot"),
    bytes32Word(salt, "salt"),
  ];
  return bytesToHex(keccak_256(concatBytes(words)));
}

export type DeriveSaltParameters = {
  /** At least 16 bytes, raw or as 0x hex. */
  workerSecret: Uint8Array | Hex;
  chainId: bigint | number;
  jobId: bigint | number;
};

/** HMAC-SHA256(workerSecret, uint256(chainId) || uint256(jobId)) as a bytes32 hex. */
export function deriveSalt({ workerSecret, chainId, jobId }: DeriveSaltParameters): Hex {
  const key = secretBytes(workerSecret);
  const message = concatBytes([uint256Word(chainId, "chainId"), uint256Word(jobId, "jobId")]);
  return bytesToHex(hmac(sha256, key, message));
}

export type DeriveBatchSaltParameters = {
  workerSecret: Uint8Array | Hex;
  chainId: bigint | number;
  batchId: bigint | number;
};

const BATCH_SALT_TAG = new TextEncoder().encode("dinfer batch salt");

/** HMAC-SHA256(workerSecret, "dinfer batch salt" || uint256(chainId) || uint256(batchId)) as a bytes32 hex. */
export function deriveBatchSalt({ workerSecret, chainId, batchId }: DeriveBatchSaltParameters): Hex {
  const key = secretBytes(workerSecret);
  const message = concatBytes([BATCH_SALT_TAG, uint256Word(chainId, "chainId"), uint256Word(batchId, "batchId")]);
  return bytesToHex(hmac(sha256, key, message));
}

/** A uint256 as one 32-byte big-endian ABI word. */
export function uint256Word(value: bigint | number, field: string): Uint8Array {
  const n = toUint256(value, field);
  const word = new Uint8Array(32);
  const view = new DataView(word.buffer);
  for (let i = 0; i < 4; i++) view.setBigUint64(i * 8, (n >> BigInt(192 - 64 * i)) & 0xffff_ffff_ffff_ffffn, false);
  return word;
}

/** An address as one ABI word: 12 zero bytes, then its 20 bytes. Any letter case is accepted. */
export function addressWord(address: string, field: string): Uint8Array {
  if (typeof address !== "string" || !ADDRESS_HEX.test(address)) {
    throw new CodecError({ field, problem: `not a 20-byte hex address: ${String(address)}` });
  }
  const word = new Uint8Array(32);
  word.set(hexToBytes(address as Hex), 12);
  return word;
}

/** A bytes32 given as 0x plus 64 hex digits. */
export function bytes32Word(value: string, field: string): Uint8Array {
  if (typeof value !== "string" || !BYTES32_HEX.test(value)) {
    throw new CodecError({ field, problem: `not a 32-byte hex value: ${String(value)}` });
  }
  return hexToBytes(value as Hex);
}

function toUint256(value: bigint | number, field: string): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new CodecError({ field, problem: `${value} is not a safe integer; pass a bigint` });
  }
  if (typeof value !== "bigint" && typeof value !== "number") {
    throw new CodecError({ field, problem: "must be a bigint or a number" });
  }
  const n = BigInt(value);
  if (n < 0n || n > MAX_UINT256) throw new CodecError({ field, problem: `${n} is not a uint256` });
  return n;
}

function secretBytes(secret: Uint8Array | Hex): Uint8Array {
  let bytes: Uint8Array;
  if (secret instanceof Uint8Array) bytes = secret;
  else if (typeof secret === "string" && /^0x([0-9a-fA-F]{2})*$/.test(secret)) bytes = hexToBytes(secret);
  else throw new CodecError({ field: "workerSecret", problem: "must be bytes or 0x hex" });
  if (bytes.length < MIN_WORKER_SECRET_BYTES) {
    throw new CodecError({ field: "workerSecret", problem: `${bytes.length} bytes, at least ${MIN_WORKER_SECRET_BYTES} required` });
  }
  return bytes;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
