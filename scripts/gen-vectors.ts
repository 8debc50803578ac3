/**
 * Generates the codec test vectors shared by TypeScript and Solidity:
 *   test/vectors/codec.json        tensor blobs, blob ids, output roots, chunk proofs,
 *                                  commitments and salts, malformed blobs with the field at fault
 *   test/OutputRootVectors.t.sol   the same roots, proofs and commitments as Solidity tests
 *
 * Deterministic: no randomness, no clock. `test/offchain/codec.test.ts` checks that the committed
 * files equal what this script renders, so they cannot drift.
 *
 *   npx tsx scripts/gen-vectors.ts
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, getAddress, type Address, type Hex } from "viem";

import { commitment, deriveSalt } from "../offchain/codec/commitment.js";
import { CHUNK_SIZE, chunkProof, leafCountOf, leafHash, outputRoot } from "../offchain/codec/merkle.js";
import { blobId, encodeTensorBlob, tensorFromArray, type DType, type Tensor } from "../offchain/codec/tensor.js";

export const VECTORS_JSON_PATH: string = fileURLToPath(new URL("../test/vectors/codec.json", import.meta.url));
export const VECTORS_SOLIDITY_PATH: string = fileURLToPath(new URL("../test/OutputRootVectors.t.sol", import.meta.url));

/** Byte `i` of a pattern tensor's data is `(i * multiplier + offset) % modulus`. */
export const PATTERN = { multiplier: 31, offset: 7, modulus: 251 } as const;

/** Header bytes before the data of a one-tensor blob named "bytes" of rank-1 uint8. */
const PATTERN_HEADER_BYTES = 4 + 4 + 2 + "bytes".length + 1 + 1 + 4;

/** Commitment inputs shared by every blob vector (the job id is the vector's position + 1). */
export const COMMITMENT_CONTEXT = {
  chainId: 31337n,
  jobMarket: getAddress("0x5fbdb2315678afecb367f032d93f642f64180aa3"),
  provider: getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8"),
  workerSecret: bytesToHex(keccak_256(new TextEncoder().encode("dinfer test vector worker secret"))),
} as const;

/** A JSON element value: numbers, or strings for NaN/Infinity/-0, int64 (decimal) and float16 (hex bits). */
export type JsonValue = number | string | boolean;

/** A tensor as a person reads it: its values, or a byte pattern for large uint8 data. */
export type TensorSpec = {
  name: string;
  nameUtf8: Hex;
  dtype: DType;
  dims: number[];
  values?: JsonValue[];
  pattern?: typeof PATTERN;
};

export type ProofVector = { index: number; offset: number; length: number; leaf: Hex; siblings: Hex[] };

export type BlobVector = {
  name: string;
  description: string;
  tensors: TensorSpec[];
  byteLength: number;
  blob: Hex;
  blobId: Hex;
  leafCount: number;
  outputRoot: Hex;
  proofs: ProofVector[];
  commitment: { jobId: string; salt: Hex; commitment: Hex };
};

export type CommitmentVector = {
  description: string;
  chainId: string;
  jobMarket: Address;
  jobId: string;
  provider: Address;
  outputRoot: Hex;
  workerSecret: Hex;
  salt: Hex;
  commitment: Hex;
};

export type MalformedVector = { name: string; blob: Hex; maxBytes?: number; field: string };

export type CodecVectors = {
  format: string;
  generatedBy: string;
  chunkSize: number;
  pattern: typeof PATTERN & { rule: string };
  commitmentContext: { chainId: string; jobMarket: Address; provider: Address; workerSecret: Hex; jobId: string };
  blobs: BlobVector[];
  commitments: CommitmentVector[];
  malformed: MalformedVector[];
};

type TensorInput = Omit<TensorSpec, "nameUtf8">;
type BlobInput = { name: string; description: string; tensors: TensorInput[] };

const BLOB_INPUTS: BlobInput[] = [
  { name: "emptySet", description: "no tensors: magic and a zero count", tensors: [] },
  {
    name: "scalar",
    description: "one rank-0 float32",
    tensors: [{ name: "x", dtype: "float32", dims: [], values: [1.5] }],
  },
  {
    name: "allDtypes",
    description: "one tensor of each dtype, with float edge values",
    tensors: [
      { name: "f32", dtype: "float32", dims: [7], values: [0, "-0", 1.5, -2.25, "Infinity", "-Infinity", "NaN"] },
      { name: "f16", dtype: "float16", dims: [5], values: ["0x0000", "0x3c00", "0xc000", "0x7bff", "0x0001"] },
      { name: "f64", dtype: "float64", dims: [3], values: [0.1, -1e300, 5e-324] },
      { name: "i8", dtype: "int8", dims: [4], values: [-128, -1, 0, 127] },
      { name: "u8", dtype: "uint8", dims: [3], values: [0, 128, 255] },
      { name: "i32", dtype: "int32", dims: [3], values: [-2147483648, 0, 2147483647] },
      {
        name: "i64",
        dtype: "int64",
        dims: [3],
        values: ["-9223372036854775808", "1", "9223372036854775807"],
      },
      { name: "mask", dtype: "bool", dims: [4], values: [true, false, false, true] },
    ],
  },
  {
    name: "multiDim",
    description: "rank-3 int32, rank-2 float64, and a tensor with a zero dim (no data)",
    tensors: [
      { name: "grid", dtype: "int32", dims: [2, 3, 4], values: Array.from({ length: 24 }, (_, i) => i * 7 - 50) },
      { name: "matrix", dtype: "float64", dims: [2, 2], values: [1, 0, 0, -1] },
      { name: "none", dtype: "float32", dims: [3, 0, 2], values: [] },
    ],
  },
  {
    name: "nameOrder",
    description:
      "names given unsorted; the blob orders them by UTF-8 bytes, which differs from JS (UTF-16) order for U+1F600 vs U+FEFF/U+FF61; a leading BOM is part of a name",
    tensors: ["b", "a", "B", "\u00e9", "z", "\u{1F600}", "\uFF61", "a0", "\uFEFFbom"].map((name, i) => ({
      name,
      dtype: "uint8" as const,
      dims: [1],
      values: [i],
    })),
  },
  patternInput("oneChunk", "1000 bytes: one short chunk", 1000),
  patternInput("oneFullChunk", "exactly 4096 bytes: one full chunk", CHUNK_SIZE),
  patternInput("twoChunksOneByte", "4097 bytes: a full chunk and a 1-byte chunk", CHUNK_SIZE + 1),
  patternInput("threeChunks", "three chunks (odd count: the last leaf is carried up)", 3 * CHUNK_SIZE - 1000),
  patternInput("fourChunks", "exactly four full chunks", 4 * CHUNK_SIZE),
  patternInput("fiveChunks", "five chunks, the last 1 byte (carried up two levels)", 4 * CHUNK_SIZE + 1),
  patternInput("sevenChunks", "seven chunks, the last 2000 bytes", 6 * CHUNK_SIZE + 2000),
];

function patternInput(name: string, description: string, byteLength: number): BlobInput {
  return {
    name,
    description,
    tensors: [{ name: "bytes", dtype: "uint8", dims: [byteLength - PATTERN_HEADER_BYTES], pattern: PATTERN }],
  };
}

/** The data bytes of a pattern tensor. */
export function patternBytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * PATTERN.multiplier + PATTERN.offset) % PATTERN.modulus);
}

/** Parses one JSON element value of a dtype (see `JsonValue`). */
export function parseJsonValue(dtype: DType, value: JsonValue): number | bigint {
  if (dtype === "int64") return BigInt(value as string);
  if (dtype === "bool") return value ? 1 : 0;
  if (dtype === "float16") return Number.parseInt(value as string, 16);
  if (value === "-0") return -0;
  return typeof value === "string" ? Number(value) : (value as number);
}

function tensorFromInput({ name, dtype, dims, values, pattern }: TensorInput): Tensor {
  if (pattern !== undefined) return tensorFromArray({ name, dtype: "uint8", dims, values: patternBytes(dims[0]!) });
  const parsed = (values ?? []).map((value) => parseJsonValue(dtype, value));
  return tensorFromArray({ name, dtype, dims, values: parsed as never });
}

function blobVector(input: BlobInput, position: number): BlobVector {
  const blob = encodeTensorBlob(input.tensors.map(tensorFromInput));
  const root = outputRoot(blob);
  const leafCount = leafCountOf(blob.length);
  const proofIndices = [...new Set([0, Math.floor(leafCount / 2), leafCount - 1])];
  const jobId = BigInt(position + 1);
  const salt = deriveSalt({ workerSecret: COMMITMENT_CONTEXT.workerSecret, chainId: COMMITMENT_CONTEXT.chainId, jobId });
  return {
    name: input.name,
    description: input.description,
    tensors: input.tensors.map((tensor) => ({
      name: tensor.name,
      nameUtf8: bytesToHex(new TextEncoder().encode(tensor.name)),
      dtype: tensor.dtype,
      dims: tensor.dims,
      ...(tensor.pattern ? { pattern: tensor.pattern } : { values: tensor.values ?? [] }),
    })),
    byteLength: blob.length,
    blob: bytesToHex(blob),
    blobId: blobId(blob),
    leafCount,
    outputRoot: root,
    proofs: proofIndices.map((index) => {
      const proof = chunkProof(blob, index);
      const offset = index * CHUNK_SIZE;
      return { index, offset, length: proof.chunk.length, leaf: leafHash(index, proof.chunk), siblings: proof.siblings };
    }),
    commitment: {
      jobId: jobId.toString(),
      salt,
      commitment: commitment({ ...COMMITMENT_CONTEXT, jobId, outputRoot: root, salt }),
    },
  };
}

function commitmentVectors(): CommitmentVector[] {
  const max = (1n << 256n) - 1n;
  const cases = [
    {
      description: "chain 1, job 0, lower-case addresses",
      chainId: 1n,
      jobMarket: "0x00000000000000000000000000000000000000aa" as Address,
      jobId: 0n,
      provider: "0xffffffffffffffffffffffffffffffffffffffff" as Address,
      outputRoot: `0x${"00".repeat(32)}` as Hex,
      workerSecret: `0x${"11".repeat(16)}` as Hex,
    },
    {
      description: "the largest chainId and jobId (uint256 max)",
      chainId: max,
      jobMarket: COMMITMENT_CONTEXT.jobMarket,
      jobId: max,
      provider: COMMITMENT_CONTEXT.provider,
      outputRoot: `0x${"ff".repeat(32)}` as Hex,
      workerSecret: COMMITMENT_CONTEXT.workerSecret,
    },
    {
      description: "an auditor commitment: same shape, the auditor's address",
      chainId: COMMITMENT_CONTEXT.chainId,
      jobMarket: COMMITMENT_CONTEXT.jobMarket,
      jobId: 42n,
      provider: getAddress("0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"),
      outputRoot: bytesToHex(keccak_256(new TextEncoder().encode("auditor output"))),
      workerSecret: bytesToHex(keccak_256(new TextEncoder().encode("auditor secret"))),
    },
  ];
  return cases.map(({ chainId, jobId, ...rest }) => {
    const salt = deriveSalt({ workerSecret: rest.workerSecret, chainId, jobId });
    return {
      ...rest,
      chainId: chainId.toString(),
      jobId: jobId.toString(),
      salt,
      commitment: commitment({ ...rest, chainId, jobId, salt }),
    };
  });
}

/** Raw blob pieces for malformed vectors: every field is written as given, valid or not. */
type RawTensor = { name: string | number[]; dtype: number; rank?: number; dims: number[]; data: number[] };

function rawBlob({ magic = "DTN1", count, tensors, trailing = [] }: {
  magic?: string;
  count?: number;
  tensors: RawTensor[];
  trailing?: number[];
}): Hex {
  const bytes: number[] = [...new TextEncoder().encode(magic), ...u32(count ?? tensors.length)];
  for (const t of tensors) {
    const name = typeof t.name === "string" ? [...new TextEncoder().encode(t.name)] : t.name;
    bytes.push(...u16(name.length), ...name, t.dtype, t.rank ?? t.dims.length, ...t.dims.flatMap(u32), ...t.data);
  }
  return bytesToHex(Uint8Array.from([...bytes, ...trailing]));
}

function u16(value: number): number[] {
  return [value & 0xff, value >>> 8];
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

const FLOAT32 = 1;
const FLOAT64 = 3;
const UINT8 = 5;
const BOOL = 8;
const WIDE_TENSOR_BYTES = 2 + 1 + 1 + 1 + 4 + 16;
const one = (name: string | number[], dtype = UINT8): RawTensor => ({ name, dtype, dims: [1], data: [7] });

function malformedVectors(): MalformedVector[] {
  const slice = (hex: Hex, bytes: number) => hex.slice(0, 2 + 2 * bytes) as Hex;
  const valid = rawBlob({ tensors: [one("a"), one("b")] });
  // Two 25-byte tensors: cutting into the second leaves enough bytes to pass the count check.
  const wide = (name: string): RawTensor => ({ name, dtype: UINT8, dims: [16], data: Array(16).fill(3) });
  const twoWide = rawBlob({ tensors: [wide("a"), wide("b")] });
  const cases: MalformedVector[] = [
    { name: "empty input", blob: "0x", field: "magic" },
    { name: "magic cut short", blob: "0x44544e", field: "magic" },
    { name: "wrong magic", blob: rawBlob({ magic: "DTN2", tensors: [] }), field: "magic" },
    { name: "count cut short", blob: slice(rawBlob({ tensors: [] }), 6), field: "count" },
    { name: "count far above what the bytes can hold", blob: rawBlob({ count: 1000, tensors: [one("a")] }), field: "count" },
    { name: "count one above the tensors present", blob: rawBlob({ count: 3, tensors: [one("a"), one("b")] }), field: "tensors[2].name" },
    { name: "name length cut short", blob: slice(twoWide, 8 + WIDE_TENSOR_BYTES + 1), field: "tensors[1].name" },
    { name: "name longer than the bytes left", blob: slice(twoWide, 8 + WIDE_TENSOR_BYTES + 2), field: "tensors[1].name" },
    { name: "names out of order", blob: rawBlob({ tensors: [one("b"), one("a")] }), field: "tensors[1].name" },
    { name: "uppercase sorts before lowercase", blob: rawBlob({ tensors: [one("a"), one("B")] }), field: "tensors[1].name" },
    { name: "duplicate names", blob: rawBlob({ tensors: [one("a"), one("a")] }), field: "tensors[1].name" },
    {
      name: "UTF-16 order instead of UTF-8 order",
      blob: rawBlob({ tensors: [one("\u{1F600}"), one("\uFF61")] }),
      field: "tensors[1].name",
    },
    { name: "name not UTF-8 (0xff)", blob: rawBlob({ tensors: [one([0xff])] }), field: "tensors[0].name" },
    { name: "name with an overlong encoding", blob: rawBlob({ tensors: [one([0xc0, 0xaf])] }), field: "tensors[0].name" },
    { name: "name with an encoded surrogate", blob: rawBlob({ tensors: [one([0xed, 0xa0, 0x80])] }), field: "tensors[0].name" },
    { name: "name with a cut multi-byte sequence", blob: rawBlob({ tensors: [one([0x61, 0xc3])] }), field: "tensors[0].name" },
    { name: "dtype 0", blob: rawBlob({ tensors: [one("a", 0)] }), field: "tensors[0].dtype" },
    { name: "dtype 9", blob: rawBlob({ tensors: [one("a"), one("b", 9)] }), field: "tensors[1].dtype" },
    {
      name: "rank 9",
      blob: rawBlob({ tensors: [{ name: "a", dtype: UINT8, dims: Array(9).fill(1), data: [1] }] }),
      field: "tensors[0].rank",
    },
    {
      name: "dims cut short",
      blob: rawBlob({ tensors: [{ name: "a", dtype: UINT8, rank: 2, dims: [1], data: [0, 0] }] }),
      field: "tensors[0].dims[1]",
    },
    {
      name: "data shorter than prod(dims) * 4",
      blob: rawBlob({ tensors: [{ name: "a", dtype: FLOAT32, dims: [4], data: Array(15).fill(0) }] }),
      field: "tensors[0].data",
    },
    {
      name: "scalar with no data",
      blob: rawBlob({ tensors: [{ name: "a", dtype: FLOAT64, dims: [], data: [] }] }),
      field: "tensors[0].data",
    },
    {
      name: "data longer than prod(dims) * 4 (the extra byte is trailing)",
      blob: rawBlob({ tensors: [{ name: "a", dtype: FLOAT32, dims: [1], data: [0, 0, 0, 0, 0] }] }),
      field: "trailing",
    },
    {
      name: "dims 2^32-1 x 2^32-1 of float64",
      blob: rawBlob({ tensors: [{ name: "a", dtype: FLOAT64, dims: [0xffffffff, 0xffffffff], data: [] }] }),
      field: "tensors[0].data",
    },
    {
      name: "rank 8 of 2^32-1",
      blob: rawBlob({ tensors: [{ name: "a", dtype: FLOAT64, dims: Array(8).fill(0xffffffff), data: [1] }] }),
      field: "tensors[0].data",
    },
    {
      name: "bool byte 2",
      blob: rawBlob({ tensors: [{ name: "a", dtype: BOOL, dims: [3], data: [0, 1, 2] }] }),
      field: "tensors[0].data",
    },
    { name: "trailing byte after a valid blob", blob: rawBlob({ tensors: [one("a")], trailing: [0] }), field: "trailing" },
    { name: "blob over the size cap", blob: valid, maxBytes: 20, field: "blob" },
  ];
  return cases;
}

/** Builds every vector from scratch. */
export function buildVectors(): CodecVectors {
  return {
    format: "dinfer codec vectors v1 (docs/PROTOCOL.md section 5)",
    generatedBy: "scripts/gen-vectors.ts",
    chunkSize: CHUNK_SIZE,
    pattern: { ...PATTERN, rule: "data[i] = (i * multiplier + offset) % modulus, uint8" },
    commitmentContext: {
      chainId: COMMITMENT_CONTEXT.chainId.toString(),
      jobMarket: COMMITMENT_CONTEXT.jobMarket,
      provider: COMMITMENT_CONTEXT.provider,
      workerSecret: COMMITMENT_CONTEXT.workerSecret,
      jobId: "each blob vector's position in `blobs`, plus 1",
    },
    blobs: BLOB_INPUTS.map(blobVector),
    commitments: commitmentVectors(),
    malformed: malformedVectors(),
  };
}

/** The JSON file's exact text: two-space indents, arrays of plain values on one line. */
export function renderJson(vectors: CodecVectors): string {
  return `${formatJson(vectors, "")}\n`;
}

function formatJson(value: unknown, indent: string): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.every((item) => item === null || typeof item !== "object")) {
      return `[${value.map((item) => JSON.stringify(item)).join(", ")}]`;
    }
    return `[\n${value.map((item) => inner + formatJson(item, inner)).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    if (entries.length === 0) return "{}";
    return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${formatJson(item, inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

/** The Solidity test file's exact text. */
export function renderSolidityTest(vectors: CodecVectors): string {
  const vectorTests = vectors.blobs.map(renderBlobTest).join("\n");
  const commitmentChecks = vectors.commitments
    .map(
      (c) =>
        `        // ${c.description}\n` +
        `        _checkCommitment(\n            ${c.chainId},\n            ${getAddress(c.jobMarket)},\n            ${c.jobId},\n` +
        `            ${getAddress(c.provider)},\n            ${c.outputRoot},\n            ${c.salt},\n            ${c.commitment}\n        );\n`,
    )
    .join("");
  return SOLIDITY_TEMPLATE.replace("/*VECTOR_TESTS*/\n", () => vectorTests)
    .replace("/*COMMITMENT_CHECKS*/\n", () => commitmentChecks)
    .replaceAll("/*CHAIN_ID*/", vectors.commitmentContext.chainId)
    .replaceAll("/*JOB_MARKET*/", vectors.commitmentContext.jobMarket)
    .replaceAll("/*PROVIDER*/", vectors.commitmentContext.provider);
}

function renderBlobTest(vector: BlobVector): string {
  const chunks = vector.leafCount === 1 ? "1 chunk" : `${vector.leafCount} chunks`;
  const lines = [
    `    /// @dev ${vector.name}: ${vector.description} (${vector.byteLength} bytes, ${chunks})`,
    `    function test_vector_${vector.name}() public view {`,
    `        bytes memory blob = ${renderBlobExpression(vector)};`,
    `        bytes32 root = ${vector.outputRoot};`,
    `        uint256 leafCount = ${vector.leafCount};`,
    `        _checkBlob(blob, ${vector.blobId}, leafCount, root);`,
  ];
  vector.proofs.forEach((proof, p) => {
    const declaration = p === 0 ? "bytes32[] memory siblings" : "siblings";
    lines.push(`        ${declaration} = new bytes32[](${proof.siblings.length});`);
    proof.siblings.forEach((sibling, k) => lines.push(`        siblings[${k}] = ${sibling};`));
    lines.push(`        _checkProof(blob, root, leafCount, ${proof.index}, ${proof.leaf}, siblings);`);
  });
  lines.push(
    `        bytes32 salt = ${vector.commitment.salt};`,
    `        _checkCommitment(CHAIN_ID, JOB_MARKET, ${vector.commitment.jobId}, PROVIDER, root, salt, ${vector.commitment.commitment});`,
    "    }",
    "",
  );
  return lines.join("\n");
}

/** A pattern blob is its header as a literal plus `_pattern(n)`; other blobs are one literal. */
function renderBlobExpression(vector: BlobVector): string {
  const pattern = vector.tensors.length === 1 ? vector.tensors[0]!.pattern : undefined;
  if (pattern === undefined) return `hex"${vector.blob.slice(2)}"`;
  const dataLength = vector.tensors[0]!.dims[0]!;
  const header = vector.blob.slice(2, 2 + 2 * (vector.byteLength - dataLength));
  return `bytes.concat(hex"${header}", _pattern(${dataLength}))`;
}

const SOLIDITY_TEMPLATE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// GENERATED by scripts/gen-vectors.ts from the vectors in test/vectors/codec.json; do not edit.
// test/offchain/codec.test.ts fails if this file differs from what the script renders.

import {Commitments} from "../contracts/libraries/Commitments.sol";
import {OutputRoot} from "../contracts/libraries/OutputRoot.sol";

/// @notice OutputRoot and Commitments against the TypeScript codec's vectors, plus fuzzed
///         agreement with plain-Solidity reference implementations.
contract OutputRootVectorsTest {
    uint256 private constant CHAIN_ID = /*CHAIN_ID*/;
    address private constant JOB_MARKET = /*JOB_MARKET*/;
    address private constant PROVIDER = /*PROVIDER*/;
    uint256 private constant CHUNK_SIZE = OutputRoot.CHUNK_SIZE;

    error Mismatch(string what, bytes32 expected, bytes32 actual);
    error Unexpected(string what);

/*VECTOR_TESTS*/
    function test_commitmentExamples() public pure {
/*COMMITMENT_CHECKS*/
    }

    function testFuzz_hashMatchesAbiEncode(
        uint256 chainId,
        address jobMarket,
        uint256 jobId,
        address account,
        bytes32 outputRoot,
        bytes32 salt
    ) public pure {
        _eq(
            "hash",
            keccak256(abi.encode(chainId, jobMarket, jobId, account, outputRoot, salt)),
            Commitments.hash(chainId, jobMarket, jobId, account, outputRoot, salt)
        );
    }

    function test_hashIgnoresDirtyUpperAddressBits() public pure {
        address clean = JOB_MARKET;
        address dirty;
        assembly {
            dirty := or(shl(160, 0xdead), clean)
        }
        _eq(
            "dirty address",
            Commitments.hash(1, clean, 2, clean, bytes32(0), bytes32(0)),
            Commitments.hash(1, dirty, 2, dirty, bytes32(0), bytes32(0))
        );
    }

    function test_hashLeavesFreeMemoryPointer() public pure {
        uint256 before;
        uint256 afterwards;
        assembly {
            before := mload(0x40)
        }
        Commitments.hash(1, JOB_MARKET, 2, PROVIDER, bytes32(uint256(3)), bytes32(uint256(4)));
        assembly {
            afterwards := mload(0x40)
        }
        _eq("free memory pointer", bytes32(before), bytes32(afterwards));
    }

    function testFuzz_rootOfOneChunkIsItsLeaf(bytes memory blob) public view {
        if (blob.length > CHUNK_SIZE) return;
        _eq("root", OutputRoot.leaf(0, blob), OutputRoot.root(blob));
    }

    function testFuzz_rootMatchesReferenceAndKeepsBlob(uint256 length, uint256 seed) public view {
        bytes memory blob = _filler(length % (9 * CHUNK_SIZE + 1), seed);
        bytes32 id = keccak256(blob);
        uint256 blobLength = blob.length;
        _eq("root", _referenceRoot(blob), OutputRoot.root(blob));
        _eq("blob bytes", id, keccak256(blob));
        _eq("blob length", bytes32(blobLength), bytes32(blob.length));
    }

    function testFuzz_everyChunkProofVerifies(uint256 length, uint256 seed, uint256 indexSeed) public view {
        bytes memory blob = _filler(length % (9 * CHUNK_SIZE + 1), seed);
        uint256 leafCount = OutputRoot.leafCountOf(blob.length);
        uint256 index = indexSeed % leafCount;
        bytes32 root = OutputRoot.root(blob);
        bytes memory chunk = _chunk(blob, index);
        bytes32[] memory siblings = _referenceProof(blob, index);
        _true("proof verifies", OutputRoot.verifyChunk(root, index, leafCount, chunk, siblings));
        _true("index + 1 fails", !OutputRoot.verifyChunk(root, index + 1, leafCount, chunk, siblings));
    }

    function test_verifyChunkRejectsMalformedShapes() public view {
        bytes32[] memory none = new bytes32[](0);
        bytes memory full = new bytes(CHUNK_SIZE);
        bytes32 fullRoot = OutputRoot.leaf(0, full);
        _true("one full chunk verifies", OutputRoot.verifyChunk(fullRoot, 0, 1, full, none));
        _true("leafCount 0", !OutputRoot.verifyChunk(fullRoot, 0, 0, full, none));
        _true("index >= leafCount", !OutputRoot.verifyChunk(fullRoot, 1, 1, full, none));
        _true("leafCount over 2^32", !OutputRoot.verifyChunk(fullRoot, 0, (1 << 32) + 1, full, none));
        _true("chunk over 4096 bytes", !OutputRoot.verifyChunk(fullRoot, 0, 1, new bytes(CHUNK_SIZE + 1), none));
        _true("the empty blob's chunk verifies", OutputRoot.verifyChunk(OutputRoot.root(""), 0, 1, "", none));
        // A short non-last chunk or an empty last chunk of a longer blob is refused before hashing.
        bytes32[] memory one = new bytes32[](1);
        one[0] = OutputRoot.leaf(1, hex"01");
        bytes32 twoRoot = sha256(abi.encodePacked(OutputRoot.leaf(0, hex"00"), one[0]));
        _true("short non-last chunk", !OutputRoot.verifyChunk(twoRoot, 0, 2, hex"00", one));
        one[0] = OutputRoot.leaf(0, full);
        bytes32 emptyLastRoot = sha256(abi.encodePacked(one[0], OutputRoot.leaf(1, "")));
        _true("empty last chunk", !OutputRoot.verifyChunk(emptyLastRoot, 1, 2, "", one));
    }

    function _checkBlob(bytes memory blob, bytes32 expectedId, uint256 expectedLeafCount, bytes32 expectedRoot)
        private
        view
    {
        _eq("blobId", expectedId, sha256(blob));
        _eq("leafCount", bytes32(expectedLeafCount), bytes32(OutputRoot.leafCountOf(blob.length)));
        _eq("root", expectedRoot, OutputRoot.root(blob));
        _eq("reference root", expectedRoot, _referenceRoot(blob));
        _eq("blob unchanged by root", expectedId, sha256(blob));
    }

    function _checkProof(
        bytes memory blob,
        bytes32 root,
        uint256 leafCount,
        uint256 index,
        bytes32 expectedLeaf,
        bytes32[] memory siblings
    ) private view {
        bytes memory chunk = _chunk(blob, index);
        _eq("leaf", expectedLeaf, OutputRoot.leaf(uint32(index), chunk));
        _eq("leaf of encodePacked", expectedLeaf, sha256(abi.encodePacked(uint32(index), chunk)));
        _true("proof verifies", OutputRoot.verifyChunk(root, index, leafCount, chunk, siblings));
        _true("wrong root", !OutputRoot.verifyChunk(root ^ bytes32(uint256(1)), index, leafCount, chunk, siblings));
        _true("tampered chunk", !OutputRoot.verifyChunk(root, index, leafCount, _tampered(chunk), siblings));
        _true("other index", !OutputRoot.verifyChunk(root, index ^ 1, leafCount, chunk, siblings));
        _true("extra sibling", !OutputRoot.verifyChunk(root, index, leafCount, chunk, _appended(siblings, root)));
        if (siblings.length == 0) return;
        bytes32[] memory shorter = new bytes32[](siblings.length - 1);
        for (uint256 k; k < shorter.length; ++k) {
            shorter[k] = siblings[k];
        }
        _true("missing sibling", !OutputRoot.verifyChunk(root, index, leafCount, chunk, shorter));
        bytes32[] memory flipped = _appended(shorter, siblings[shorter.length] ^ bytes32(uint256(1)));
        _true("flipped sibling", !OutputRoot.verifyChunk(root, index, leafCount, chunk, flipped));
    }

    function _checkCommitment(
        uint256 chainId,
        address jobMarket,
        uint256 jobId,
        address account,
        bytes32 outputRoot,
        bytes32 salt,
        bytes32 expected
    ) private pure {
        _eq("commitment", expected, Commitments.hash(chainId, jobMarket, jobId, account, outputRoot, salt));
        _eq(
            "commitment of abi.encode",
            expected,
            keccak256(abi.encode(chainId, jobMarket, jobId, account, outputRoot, salt))
        );
    }

    /// @dev Byte i is (i * ${PATTERN.multiplier} + ${PATTERN.offset}) % ${PATTERN.modulus}, as in the vectors' pattern tensors.
    function _pattern(uint256 length) private pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = bytes1(uint8((i * ${PATTERN.multiplier} + ${PATTERN.offset}) % ${PATTERN.modulus}));
        }
    }

    /// @dev Pseudo-random bytes from a seed: whole words, then the tail byte by byte, so the
    ///      padding after the last byte stays zero.
    function _filler(uint256 length, uint256 seed) private pure returns (bytes memory out) {
        out = new bytes(length);
        uint256 words = length / 32;
        for (uint256 w; w < words; ++w) {
            bytes32 word = _word(seed, w);
            assembly ("memory-safe") {
                mstore(add(add(out, 0x20), mul(w, 0x20)), word)
            }
        }
        bytes32 last = _word(seed, words);
        for (uint256 i = words * 32; i < length; ++i) {
            out[i] = last[i % 32];
        }
    }

    function _word(uint256 seed, uint256 index) private pure returns (bytes32 word) {
        assembly ("memory-safe") {
            mstore(0x00, seed)
            mstore(0x20, index)
            word := keccak256(0x00, 0x40)
        }
    }

    function _chunk(bytes memory blob, uint256 index) private pure returns (bytes memory out) {
        uint256 start = index * CHUNK_SIZE;
        uint256 end = start + CHUNK_SIZE;
        if (end > blob.length) end = blob.length;
        out = new bytes(end - start);
        assembly ("memory-safe") {
            mcopy(add(out, 0x20), add(add(blob, 0x20), start), sub(end, start))
        }
    }

    function _tampered(bytes memory chunk) private pure returns (bytes memory out) {
        if (chunk.length == 0) return hex"00";
        out = bytes.concat(chunk);
        out[0] = out[0] ^ 0x01;
    }

    function _appended(bytes32[] memory list, bytes32 extra) private pure returns (bytes32[] memory out) {
        out = new bytes32[](list.length + 1);
        for (uint256 k; k < list.length; ++k) {
            out[k] = list[k];
        }
        out[list.length] = extra;
    }

    /// @dev The leaves, copied chunk by chunk and hashed with abi.encodePacked: no assembly.
    function _referenceLeaves(bytes memory blob) private pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](OutputRoot.leafCountOf(blob.length));
        for (uint256 i; i < leaves.length; ++i) {
            leaves[i] = sha256(abi.encodePacked(uint32(i), _chunk(blob, i)));
        }
    }

    function _parentLevel(bytes32[] memory nodes) private pure returns (bytes32[] memory parents) {
        parents = new bytes32[]((nodes.length + 1) / 2);
        for (uint256 j; j < parents.length; ++j) {
            parents[j] = 2 * j + 1 < nodes.length ? sha256(abi.encodePacked(nodes[2 * j], nodes[2 * j + 1])) : nodes[2 * j];
        }
    }

    function _referenceRoot(bytes memory blob) private pure returns (bytes32) {
        bytes32[] memory level = _referenceLeaves(blob);
        while (level.length > 1) {
            level = _parentLevel(level);
        }
        return level[0];
    }

    function _referenceProof(bytes memory blob, uint256 index) private pure returns (bytes32[] memory siblings) {
        bytes32[] memory level = _referenceLeaves(blob);
        siblings = new bytes32[](0);
        while (level.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < level.length) siblings = _appended(siblings, level[sibling]);
            level = _parentLevel(level);
            index /= 2;
        }
    }

    function _eq(string memory what, bytes32 expected, bytes32 actual) private pure {
        if (expected != actual) revert Mismatch(what, expected, actual);
    }

    function _true(string memory what, bool condition) private pure {
        if (!condition) revert Unexpected(what);
    }
}
`;

function main(): void {
  const vectors = buildVectors();
  writeFileSync(VECTORS_JSON_PATH, renderJson(vectors));
  writeFileSync(VECTORS_SOLIDITY_PATH, renderSolidityTest(vectors));
  console.log(`wrote ${VECTORS_JSON_PATH} (${vectors.blobs.length} blobs, ${vectors.malformed.length} malformed) and ${VECTORS_SOLIDITY_PATH}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
