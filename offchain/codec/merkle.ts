/**
 * Output root: a Merkle tree over a blob's 4096-byte chunks (docs/PROTOCOL.md section 5), the same tree
 * `contracts/libraries/OutputRoot.sol` computes and verifies.
 *
 * - chunks: 4096 bytes each, the last may be shorter; an empty blob is one empty chunk
 * - leaf_i = sha256(uint32(i) as 4 bytes big-endian || chunk_i)
 * - parent = sha256(left || right), level by level; an odd last node is carried up unchanged
 * - the root of one chunk is its leaf
 *
 * Leaves and parents share no domain tag, so a 60-byte chunk can hash like a parent. A verifier
 * must take `leafCount` from a trusted source (the committed blob's size), never from the prover.
 */
import { bytesToHex, hexToBytes, type Hex } from "viem";

import { CodecError } from "../errors.js";
import { sha256Bytes, sha256Of } from "./sha256.js";

export const CHUNK_SIZE = 4096;
const MAX_LEAF_INDEX = 0xffff_ffff;
const BYTES32_HEX = /^0x[0-9a-fA-F]{64}$/;

/** A chunk, its position, and the sibling hashes from its leaf up to the root (bottom-up). */
export type ChunkProof = {
  index: number;
  leafCount: number;
  chunk: Uint8Array;
  /** One per level where the node has a sibling; levels where it is carried up are skipped. */
  siblings: Hex[];
};

/** Number of chunks (leaves) of a blob of this many bytes; at least one. */
export function leafCountOf(byteLength: number): number {
  return Math.max(1, Math.ceil(byteLength / CHUNK_SIZE));
}

/** Splits a blob into its chunks (views, not copies); an empty blob gives one empty chunk. */
export function chunkBlob(blob: Uint8Array): Uint8Array[] {
  return Array.from({ length: leafCountOf(blob.length) }, (_, i) => blob.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE));
}

/** sha256(abi.encodePacked(uint32(index), chunk)). */
export function leafHash(index: number, chunk: Uint8Array): Hex {
  return bytesToHex(leafBytes(index, chunk));
}

/** The root over the blob's chunks. */
export function outputRoot(blob: Uint8Array): Hex {
  const levels = buildLevels(blob);
  return bytesToHex(levels[levels.length - 1]![0]!);
}

/** The proof that chunk `index` of `blob` is under `outputRoot(blob)`. */
export function chunkProof(blob: Uint8Array, index: number): ChunkProof {
  const leafCount = leafCountOf(blob.length);
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) {
    throw new CodecError({ field: "index", problem: `chunk ${index} out of range, the blob has ${leafCount}` });
  }
  const siblings: Hex[] = [];
  let position = index;
  for (const level of buildLevels(blob).slice(0, -1)) {
    const sibling = level[position ^ 1];
    if (sibling !== undefined) siblings.push(bytesToHex(sibling));
    position >>= 1;
  }
  return { index, leafCount, chunk: chunkBlob(blob)[index]!, siblings };
}

export type VerifyChunkProofParameters = ChunkProof & { root: Hex };

/**
 * Whether `chunk` is chunk `index` of a `leafCount`-chunk blob with this root. False, never a
 * throw, for any malformed proof: a non-last chunk that is not exactly 4096 bytes, a last chunk
 * over 4096 bytes or empty (unless it is the only one), an out-of-range index, a wrong number of
 * siblings. Same rules as `OutputRoot.verifyChunk`.
 */
export function verifyChunkProof({ root, index, leafCount, chunk, siblings }: VerifyChunkProofParameters): boolean {
  if (!isWellFormedChunk(index, leafCount, chunk) || !isBytes32(root) || !siblings.every(isBytes32)) return false;
  let node = leafBytes(index, chunk);
  let position = index;
  let used = 0;
  for (let width = leafCount; width > 1; width = Math.ceil(width / 2)) {
    const isRight = position % 2 === 1;
    if (isRight || position + 1 < width) {
      if (used === siblings.length) return false;
      const sibling = hexToBytes(siblings[used++]!);
      node = isRight ? parentBytes(sibling, node) : parentBytes(node, sibling);
    }
    position = Math.floor(position / 2);
  }
  return used === siblings.length && bytesToHex(node) === root.toLowerCase();
}

/** All levels of the tree, leaves first, root last (a one-node level). */
function buildLevels(blob: Uint8Array): Uint8Array[][] {
  const levels = [chunkBlob(blob).map((chunk, i) => leafBytes(i, chunk))];
  while (levels.at(-1)!.length > 1) levels.push(parentLevel(levels.at(-1)!));
  return levels;
}

function parentLevel(nodes: Uint8Array[]): Uint8Array[] {
  return Array.from({ length: Math.ceil(nodes.length / 2) }, (_, j) => {
    const right = nodes[2 * j + 1];
    return right === undefined ? nodes[2 * j]! : parentBytes(nodes[2 * j]!, right);
  });
}

/** Scratch for a leaf's or a node's preimage: hashed in one call (`sha256Of`), reused (the calls are synchronous). */
const leafInput = new Uint8Array(4 + CHUNK_SIZE);
const leafIndex = new DataView(leafInput.buffer);
const pairInput = new Uint8Array(64);

function leafBytes(index: number, chunk: Uint8Array): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index > MAX_LEAF_INDEX) {
    throw new CodecError({ field: "index", problem: `leaf index ${index} is not a u32` });
  }
  // A proof's chunk may be malformed (over 4096 bytes): hash it from parts rather than overflow the scratch.
  if (chunk.length > CHUNK_SIZE) {
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, index, false);
    return sha256Bytes(prefix, chunk);
  }
  leafIndex.setUint32(0, index, false);
  leafInput.set(chunk, 4);
  return sha256Of(leafInput.subarray(0, 4 + chunk.length));
}

function parentBytes(left: Uint8Array, right: Uint8Array): Uint8Array {
  pairInput.set(left, 0);
  pairInput.set(right, 32);
  return sha256Of(pairInput);
}

function isWellFormedChunk(index: number, leafCount: number, chunk: Uint8Array): boolean {
  if (!Number.isInteger(leafCount) || leafCount < 1 || leafCount > MAX_LEAF_INDEX + 1) return false;
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) return false;
  if (!(chunk instanceof Uint8Array)) return false;
  if (index < leafCount - 1) return chunk.length === CHUNK_SIZE;
  return chunk.length <= CHUNK_SIZE && (chunk.length > 0 || leafCount === 1);
}

function isBytes32(value: unknown): value is Hex {
  return typeof value === "string" && BYTES32_HEX.test(value);
}
