import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

import { concat, encodeAbiParameters, encodePacked, keccak256, sha256, toHex, type Address, type Hex } from "viem";

import { commitment, deriveBatchSalt, deriveSalt } from "../../offchain/codec/commitment.js";
import { CHUNK_SIZE, chunkBlob, chunkProof, leafHash, outputRoot, verifyChunkProof } from "../../offchain/codec/merkle.js";
import {
  blobId,
  DEFAULT_MAX_BLOB_BYTES,
  decodeTensorBlob,
  encodeTensorBlob,
  float16ToNumber,
  tensorFromArray,
  tensorToArray,
  type DType,
  type Tensor,
} from "../../offchain/codec/tensor.js";
import { CodecError, DinferError, NonRetryableError, RetryableError } from "../../offchain/errors.js";
import {
  buildVectors,
  renderJson,
  renderSolidityTest,
  VECTORS_JSON_PATH,
  VECTORS_SOLIDITY_PATH,
  type CodecVectors,
  type TensorSpec,
} from "../../scripts/gen-vectors.js";

const utf8 = (text: string) => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array) => toHex(bytes);
const fromHex = (value: string) => Uint8Array.from(Buffer.from(value.slice(2), "hex"));

/** Asserts that `run` throws a CodecError for `field`. */
function assertCodecError(run: () => unknown, field: string): CodecError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CodecError, `expected a CodecError for ${field}, got ${String(caught)}`);
  assert.equal(caught.field, field, caught.message);
  return caught;
}

/** Bytes where byte i is (i * 131 + seed) % 256. */
function filler(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + seed) % 256);
}

describe("errors", () => {
  it("CodecError is a non-retryable DinferError with the field, a code, details and a cause", () => {
    const cause = new Error("inner");
    const error = new CodecError({ field: "tensors[1].name", problem: "duplicate name", details: { a: 1 }, cause });
    assert.ok(error instanceof NonRetryableError);
    assert.ok(error instanceof DinferError);
    assert.ok(!(error instanceof RetryableError));
    assert.equal(error.name, "CodecError");
    assert.equal(error.code, "CODEC");
    assert.equal(error.message, "tensors[1].name: duplicate name");
    assert.deepEqual(error.details, { a: 1 });
    assert.equal(error.cause, cause);
  });
});

describe("tensor blob encoding", () => {
  const oneOfEach: Tensor[] = [
    tensorFromArray({ name: "f32", dtype: "float32", values: new Float32Array([1.5, -0, Infinity, NaN]) }),
    tensorFromArray({ name: "f16", dtype: "float16", values: new Uint16Array([0x3c00, 0xc000]) }),
    tensorFromArray({ name: "f64", dtype: "float64", values: [Math.PI, -1e300] }),
    tensorFromArray({ name: "i8", dtype: "int8", values: [-128, 127] }),
    tensorFromArray({ name: "u8", dtype: "uint8", values: [0, 255] }),
    tensorFromArray({ name: "i32", dtype: "int32", dims: [2, 2], values: [-(2 ** 31), 2 ** 31 - 1, 0, 1] }),
    tensorFromArray({ name: "i64", dtype: "int64", values: [-(2n ** 63n), 2n ** 63n - 1n] }),
    tensorFromArray({ name: "b", dtype: "bool", values: [true, false, 1] }),
  ];

  it("round-trips every dtype with its values", () => {
    const decoded = decodeTensorBlob(encodeTensorBlob(oneOfEach));
    const byName = new Map(decoded.map((tensor) => [tensor.name, tensor]));
    for (const original of oneOfEach) {
      const tensor = byName.get(original.name)!;
      assert.equal(tensor.dtype, original.dtype);
      assert.deepEqual(tensor.dims, original.dims);
      assert.deepEqual([...tensorToArray(tensor)], [...tensorToArray(original)]);
    }
    assert.deepEqual([...tensorToArray(byName.get("i64")!)], [-(2n ** 63n), 2n ** 63n - 1n]);
    assert.deepEqual([...tensorToArray(byName.get("b")!)], [1, 0, 1]);
    assert.ok(Number.isNaN(tensorToArray(byName.get("f32")!)[3]!));
    assert.ok(Object.is(tensorToArray(byName.get("f32")!)[1], -0));
  });

  it("writes the header fields little-endian exactly as docs/PROTOCOL.md section 5 lays them out", () => {
    const blob = encodeTensorBlob([tensorFromArray({ name: "ab", dtype: "int32", dims: [1, 2], values: [1, -2] })]);
    const expected = concat([
      "0x44544e31", // "DTN1"
      "0x01000000", // count 1
      "0x0200", // name length 2
      "0x6162", // "ab"
      "0x06", // int32
      "0x02", // rank 2
      "0x01000000", // dims[0] = 1
      "0x02000000", // dims[1] = 2
      "0x01000000", // 1
      "0xfeffffff", // -2
    ]);
    assert.equal(hex(blob), expected);
  });

  it("encodes a scalar as one element and a tensor with a zero dim as no data", () => {
    const scalar = tensorFromArray({ name: "s", dtype: "float64", dims: [], values: [2] });
    const empty = tensorFromArray({ name: "e", dtype: "float64", dims: [4, 0], values: [] });
    const [decodedEmpty, decodedScalar] = decodeTensorBlob(encodeTensorBlob([scalar, empty]));
    assert.deepEqual([...tensorToArray(decodedScalar!)], [2]);
    assert.deepEqual(decodedScalar!.dims, []);
    assert.equal(decodedEmpty!.data.length, 0);
    assert.deepEqual(decodedEmpty!.dims, [4, 0]);
  });

  it("sorts tensors by UTF-8 bytes, which differs from JS string order", () => {
    const names = ["\uFF61", "\u{1F600}", "b", "B", "\u00e9"];
    const blob = encodeTensorBlob(names.map((name) => tensorFromArray({ name, dtype: "uint8", values: [1] })));
    const order = decodeTensorBlob(blob).map((tensor) => tensor.name);
    assert.deepEqual(order, ["B", "b", "\u00e9", "\uFF61", "\u{1F600}"]);
    assert.notDeepEqual(order, [...names].sort(), "JS sort puts U+1F600 (a surrogate pair) before U+FF61");
  });

  it("encodes the same bytes whatever order the tensors are given in", () => {
    const reversed = [...oneOfEach].reverse();
    assert.equal(hex(encodeTensorBlob(reversed)), hex(encodeTensorBlob(oneOfEach)));
  });

  it("keeps a leading byte-order mark as part of a name", () => {
    const [tensor] = decodeTensorBlob(encodeTensorBlob([tensorFromArray({ name: "\uFEFFx", dtype: "uint8", values: [1] })]));
    assert.equal(tensor!.name, "\uFEFFx");
  });

  it("decodes the largest rank, 8", () => {
    const dims = [1, 2, 1, 2, 1, 2, 1, 2];
    const [tensor] = decodeTensorBlob(encodeTensorBlob([tensorFromArray({ name: "r8", dtype: "int8", dims, values: new Int8Array(16) })]));
    assert.deepEqual(tensor!.dims, dims);
  });

  it("rejects duplicate names, naming the later tensor", () => {
    const t = (name: string) => tensorFromArray({ name, dtype: "uint8", values: [1] });
    assertCodecError(() => encodeTensorBlob([t("a"), t("b"), t("a")]), "tensors[2].name");
  });

  it("rejects a name with a lone surrogate, which has no UTF-8 form", () => {
    assertCodecError(() => tensorFromArray({ name: "x\uD800", dtype: "uint8", values: [1] }), "tensor.name");
  });

  it("rejects a name over 65535 UTF-8 bytes", () => {
    assertCodecError(() => tensorFromArray({ name: "\u00e9".repeat(32768), dtype: "uint8", values: [1] }), "tensor.name");
  });

  it("rejects data whose length does not match prod(dims) * sizeof(dtype)", () => {
    const tensor: Tensor = { name: "a", dtype: "float32", dims: [2], data: new Uint8Array(7) };
    assertCodecError(() => encodeTensorBlob([tensor]), "tensors[0].data");
    assertCodecError(() => tensorFromArray({ name: "a", dtype: "int32", dims: [3], values: [1, 2] }), "tensor.data");
  });

  it("rejects huge dims without allocating", () => {
    const tensor: Tensor = { name: "a", dtype: "float64", dims: [2 ** 32 - 1, 2 ** 32 - 1], data: new Uint8Array(8) };
    assertCodecError(() => encodeTensorBlob([tensor]), "tensors[0].data");
  });

  it("rejects bool values other than 0 and 1", () => {
    assertCodecError(() => tensorFromArray({ name: "m", dtype: "bool", values: [0, 2] }), "tensor.data");
  });

  it("rejects rank over 8, dims that are not u32, and unknown dtypes", () => {
    const base = { name: "a", data: new Uint8Array(1) };
    assertCodecError(() => encodeTensorBlob([{ ...base, dtype: "uint8", dims: Array(9).fill(1) }]), "tensors[0].rank");
    assertCodecError(() => encodeTensorBlob([{ ...base, dtype: "uint8", dims: [1.5] }]), "tensors[0].dims[0]");
    assertCodecError(() => encodeTensorBlob([{ ...base, dtype: "uint8", dims: [2 ** 32] }]), "tensors[0].dims[0]");
    assertCodecError(() => encodeTensorBlob([{ ...base, dtype: "uint16" as DType, dims: [1] }]), "tensors[0].dtype");
  });

  it("refuses to encode a blob over the size cap", () => {
    const tensor = tensorFromArray({ name: "a", dtype: "uint8", values: new Uint8Array(100) });
    assertCodecError(() => encodeTensorBlob([tensor], { maxBytes: 100 }), "blob");
    assert.equal(encodeTensorBlob([tensor], { maxBytes: 8 + 2 + 1 + 2 + 4 + 100 }).length, 117);
  });

  it("copies values into the tensor, so later changes to the input do not leak in", () => {
    const values = new Float32Array([1, 2]);
    const tensor = tensorFromArray({ name: "a", dtype: "float32", values });
    values[0] = 9;
    assert.deepEqual([...tensorToArray(tensor)], [1, 2]);
  });

  it("views aligned data in place and copies unaligned data", () => {
    // Name "a": data starts at 8 + 2 + 1 + 1 + 1 + 4 = 17 (unaligned); name "abcd": at 20 (aligned).
    for (const [name, aligned] of [["a", false], ["abcd", true]] as const) {
      const blob = encodeTensorBlob([tensorFromArray({ name, dtype: "float32", values: [1.25, -3] })]);
      const [tensor] = decodeTensorBlob(blob);
      assert.equal(tensor!.data.buffer, blob.buffer, "decoded data views the blob");
      const values = tensorToArray(tensor!);
      assert.deepEqual([...values], [1.25, -3]);
      assert.equal(values.buffer === blob.buffer, aligned);
    }
  });

  it("decodes float16 bits exactly", () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0001, 2 ** -24],
      [0x0400, 2 ** -14],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x8000, -0],
    ];
    for (const [bits, value] of cases) assert.ok(Object.is(float16ToNumber(bits), value), `0x${bits.toString(16)}`);
    assert.ok(Number.isNaN(float16ToNumber(0x7e00)));
  });

  it("names its blob by SHA-256", () => {
    const blob = encodeTensorBlob([]);
    assert.equal(blobId(blob), sha256(blob));
    assert.equal(hex(blob), "0x44544e3100000000");
  });
});

describe("tensor blob decoding", () => {
  const vectors: CodecVectors = JSON.parse(readFileSync(VECTORS_JSON_PATH, "utf8"));

  for (const { name, blob, maxBytes, field } of vectors.malformed) {
    it(`rejects ${name} at ${field}`, () => {
      assertCodecError(() => decodeTensorBlob(fromHex(blob), { maxBytes }), field);
    });
  }

  it("rejects the second of two tensors by its own index", () => {
    const good = encodeTensorBlob([tensorFromArray({ name: "a", dtype: "uint8", values: [1] })]);
    const second = encodeTensorBlob([tensorFromArray({ name: "b", dtype: "bool", values: [1] })]);
    const blob = concat([hex(good.subarray(0, 4)), "0x02000000", hex(good.subarray(8)), hex(second.subarray(8, -1)), "0x05"]);
    assertCodecError(() => decodeTensorBlob(fromHex(blob)), "tensors[1].data");
  });

  it("fails fast on a claim of 2^256 bytes of data", () => {
    const blob = fromHex(
      concat(["0x44544e3101000000", "0x0100", "0x61", "0x03", "0x08", `0x${"ffffffff".repeat(8)}`, "0x00"]),
    );
    const started = performance.now();
    const error = assertCodecError(() => decodeTensorBlob(blob), "tensors[0].data");
    assert.ok(performance.now() - started < 100);
    assert.match(error.message, /need \d+ bytes, 1 remain/);
  });

  it("accepts a blob exactly at the size cap and rejects one byte more", () => {
    const blob = encodeTensorBlob([tensorFromArray({ name: "a", dtype: "uint8", values: new Uint8Array(10) })]);
    assert.equal(decodeTensorBlob(blob, { maxBytes: blob.length }).length, 1);
    assertCodecError(() => decodeTensorBlob(blob, { maxBytes: blob.length - 1 }), "blob");
  });

  it("caps blobs at 64 MiB by default", () => {
    assert.equal(DEFAULT_MAX_BLOB_BYTES, 64 * 1024 * 1024);
    assertCodecError(() => decodeTensorBlob(new Uint8Array(DEFAULT_MAX_BLOB_BYTES + 1)), "blob");
  });

  it("rejects a size cap that is not a byte count", () => {
    assertCodecError(() => decodeTensorBlob(new Uint8Array(8), { maxBytes: Number.NaN }), "maxBytes");
    assertCodecError(() => encodeTensorBlob([], { maxBytes: -1 }), "maxBytes");
  });

  it("rejects input that is not a Uint8Array", () => {
    assertCodecError(() => decodeTensorBlob("0x44544e3100000000" as unknown as Uint8Array), "blob");
  });

  it("accepts the smallest tensors the count check allows (5 bytes each)", () => {
    const names = ["", "a", "b"];
    const blob = encodeTensorBlob(names.map((name) => tensorFromArray({ name, dtype: "bool", dims: [], values: [1] })));
    assert.equal(blob.length, 8 + 5 + 6 + 6);
    assert.deepEqual(decodeTensorBlob(blob).map((t) => t.name), names);
  });

  it("reports an invalid UTF-8 name with the decoder's error as the cause", () => {
    const blob = fromHex(concat(["0x44544e3101000000", "0x0100", "0xff", "0x05", "0x00", "0x07"]));
    const error = assertCodecError(() => decodeTensorBlob(blob), "tensors[0].name");
    assert.ok(error.cause instanceof TypeError);
  });
});

/** Output root computed the obvious way, recursively over explicit leaves. */
function referenceRoot(blob: Uint8Array): Hex {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < blob.length; offset += CHUNK_SIZE) chunks.push(blob.slice(offset, offset + CHUNK_SIZE));
  if (chunks.length === 0) chunks.push(new Uint8Array());
  let level: Hex[] = chunks.map((chunk, i) => sha256(encodePacked(["uint32", "bytes"], [i, hex(chunk)])));
  while (level.length > 1) {
    const next: Hex[] = [];
    for (let j = 0; j < level.length; j += 2) next.push(j + 1 < level.length ? sha256(concat([level[j]!, level[j + 1]!])) : level[j]!);
    level = next;
  }
  return level[0]!;
}

describe("output root", () => {
  const pair = (left: Hex, right: Hex) => sha256(concat([left, right]));
  const leaves = (blob: Uint8Array) => chunkBlob(blob).map((chunk, i) => leafHash(i, chunk));

  it("hashes a leaf as sha256(abi.encodePacked(uint32 index, chunk))", () => {
    const chunk = filler(100);
    assert.equal(leafHash(258, chunk), sha256(encodePacked(["uint32", "bytes"], [258, hex(chunk)])));
    assert.equal(leafHash(258, chunk), sha256(concat(["0x00000102", hex(chunk)])));
  });

  it("treats an empty blob as one empty chunk whose leaf is the root", () => {
    assert.deepEqual(chunkBlob(new Uint8Array()).map((c) => c.length), [0]);
    assert.equal(outputRoot(new Uint8Array()), sha256("0x00000000"));
  });

  it("makes the root of one chunk its leaf, up to exactly 4096 bytes", () => {
    for (const length of [1, 4095, 4096]) {
      const blob = filler(length);
      assert.equal(outputRoot(blob), leafHash(0, blob));
    }
  });

  it("splits at 4096 bytes, the last chunk possibly shorter", () => {
    assert.deepEqual(chunkBlob(filler(4097)).map((c) => c.length), [4096, 1]);
    assert.deepEqual(chunkBlob(filler(8192)).map((c) => c.length), [4096, 4096]);
    assert.deepEqual(chunkBlob(filler(10000)).map((c) => c.length), [4096, 4096, 1808]);
  });

  it("carries an odd last node up unchanged (3 and 5 chunks)", () => {
    const three = filler(2 * CHUNK_SIZE + 10);
    const [a, b, c] = leaves(three);
    assert.equal(outputRoot(three), pair(pair(a!, b!), c!));
    const five = filler(4 * CHUNK_SIZE + 1);
    const l = leaves(five);
    assert.equal(outputRoot(five), pair(pair(pair(l[0]!, l[1]!), pair(l[2]!, l[3]!)), l[4]!));
  });

  it("matches a reference tree for every chunk count from 1 to 17", () => {
    for (let count = 1; count <= 17; count++) {
      const blob = filler((count - 1) * CHUNK_SIZE + 1 + ((count * 977) % CHUNK_SIZE), count);
      assert.equal(outputRoot(blob), referenceRoot(blob), `${count} chunks`);
    }
  });

  it("changes when any single byte changes", () => {
    const blob = filler(3 * CHUNK_SIZE);
    const root = outputRoot(blob);
    for (const offset of [0, 4095, 4096, 3 * CHUNK_SIZE - 1]) {
      const changed = blob.slice();
      changed[offset]! ^= 1;
      assert.notEqual(outputRoot(changed), root, `byte ${offset}`);
    }
  });
});

describe("chunk proofs", () => {
  it("verify for every chunk of blobs of 1 to 17 chunks", () => {
    for (let count = 1; count <= 17; count++) {
      const blob = filler((count - 1) * CHUNK_SIZE + 1 + ((count * 577) % CHUNK_SIZE), count);
      const root = outputRoot(blob);
      for (let index = 0; index < count; index++) {
        const proof = chunkProof(blob, index);
        assert.equal(proof.leafCount, count);
        assert.ok(verifyChunkProof({ root, ...proof }), `${count} chunks, index ${index}`);
      }
    }
  });

  it("skip the levels where the node is carried up without a sibling", () => {
    const blob = filler(4 * CHUNK_SIZE + 1); // 5 leaves: leaf 4 is carried up twice, then meets the rest
    assert.equal(chunkProof(blob, 4).siblings.length, 1);
    assert.equal(chunkProof(blob, 0).siblings.length, 3);
    assert.deepEqual(chunkProof(filler(10), 0).siblings, []);
  });

  it("fail when the chunk, index, root, a sibling or the number of siblings changes", () => {
    const blob = filler(6 * CHUNK_SIZE + 2000);
    const root = outputRoot(blob);
    const proof = chunkProof(blob, 2);
    const tampered = proof.chunk.slice();
    tampered[100]! ^= 0x80;
    const flipped = [...proof.siblings];
    flipped[1] = keccak256(flipped[1]!);
    assert.ok(verifyChunkProof({ root, ...proof }));
    assert.ok(!verifyChunkProof({ root, ...proof, chunk: tampered }));
    assert.ok(!verifyChunkProof({ root, ...proof, index: 3 }));
    assert.ok(!verifyChunkProof({ root: keccak256(root), ...proof }));
    assert.ok(!verifyChunkProof({ root, ...proof, siblings: flipped }));
    assert.ok(!verifyChunkProof({ root, ...proof, siblings: proof.siblings.slice(0, -1) }));
    assert.ok(!verifyChunkProof({ root, ...proof, siblings: [...proof.siblings, root] }));
  });

  it("refuse a short non-last chunk, an empty last chunk, or an out-of-range index", () => {
    // Roots built by hand for shapes no real blob has, so only the shape check can reject them.
    const shortFirst = sha256(concat([leafHash(0, filler(10)), leafHash(1, filler(1))]));
    assert.ok(!verifyChunkProof({ root: shortFirst, index: 0, leafCount: 2, chunk: filler(10), siblings: [leafHash(1, filler(1))] }));
    const full = filler(CHUNK_SIZE);
    const emptyLast = sha256(concat([leafHash(0, full), leafHash(1, new Uint8Array())]));
    assert.ok(!verifyChunkProof({ root: emptyLast, index: 1, leafCount: 2, chunk: new Uint8Array(), siblings: [leafHash(0, full)] }));
    const one = outputRoot(full);
    assert.ok(!verifyChunkProof({ root: one, index: 1, leafCount: 1, chunk: full, siblings: [] }));
    assert.ok(!verifyChunkProof({ root: one, index: 0, leafCount: 0, chunk: full, siblings: [] }));
    assert.ok(verifyChunkProof({ root: outputRoot(new Uint8Array()), index: 0, leafCount: 1, chunk: new Uint8Array(), siblings: [] }));
  });

  it("return false instead of throwing on malformed hex or numbers", () => {
    const blob = filler(5000);
    const root = outputRoot(blob);
    const proof = chunkProof(blob, 1);
    assert.ok(!verifyChunkProof({ root, ...proof, siblings: ["0x1234"] }));
    assert.ok(!verifyChunkProof({ root: "0xzz" as Hex, ...proof }));
    assert.ok(!verifyChunkProof({ root, ...proof, index: 0.5 }));
    assert.ok(!verifyChunkProof({ root, ...proof, leafCount: Number.NaN }));
    assert.ok(verifyChunkProof({ root: root.toUpperCase().replace("0X", "0x") as Hex, ...proof }), "root case does not matter");
  });

  it("cannot be made for a chunk that does not exist", () => {
    assertCodecError(() => chunkProof(filler(5000), 2), "index");
  });
});

describe("commitment", () => {
  const base = {
    chainId: 31337n,
    jobMarket: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Address,
    jobId: 7n,
    provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address,
    outputRoot: keccak256("0x01"),
    salt: keccak256("0x02"),
  };

  it("equals keccak256(abi.encode(uint256, address, uint256, address, bytes32, bytes32))", () => {
    const encoded = encodeAbiParameters(
      [{ type: "uint256" }, { type: "address" }, { type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "bytes32" }],
      [base.chainId, base.jobMarket, base.jobId, base.provider, base.outputRoot, base.salt],
    );
    assert.equal(commitment(base), keccak256(encoded));
  });

  it("changes when any field changes", () => {
    const changes = {
      chainId: 1n,
      jobMarket: "0x5FbDB2315678afecb367f032d93F642f64180aa4",
      jobId: 8n,
      provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C9",
      outputRoot: keccak256("0x03"),
      salt: keccak256("0x04"),
    } as const;
    for (const [key, value] of Object.entries(changes)) {
      assert.notEqual(commitment({ ...base, [key]: value } as typeof base), commitment(base), key);
    }
  });

  it("accepts numbers and bigints, and addresses in any letter case", () => {
    const lower = { ...base, jobMarket: base.jobMarket.toLowerCase() as Address, chainId: 31337, jobId: 7 };
    assert.equal(commitment(lower), commitment(base));
  });

  it("rejects a malformed address, bytes32 or uint256, naming the field", () => {
    assertCodecError(() => commitment({ ...base, jobMarket: "0x1234" as Address }), "jobMarket");
    assertCodecError(() => commitment({ ...base, provider: "70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address }), "provider");
    assertCodecError(() => commitment({ ...base, outputRoot: "0x01" }), "outputRoot");
    assertCodecError(() => commitment({ ...base, salt: `${base.salt}00` as Hex }), "salt");
    assertCodecError(() => commitment({ ...base, jobId: -1n }), "jobId");
    assertCodecError(() => commitment({ ...base, chainId: 2n ** 256n }), "chainId");
    assertCodecError(() => commitment({ ...base, jobId: 2 ** 60 }), "jobId");
  });
});

describe("salt", () => {
  const workerSecret = keccak256(utf8("secret"));

  it("is HMAC-SHA256(secret, uint256(chainId) || uint256(jobId)) with 32-byte big-endian words", () => {
    const message = concat([toHex(31337n, { size: 32 }), toHex(2n ** 200n + 5n, { size: 32 })]);
    const expected = createHmac("sha256", fromHex(workerSecret)).update(fromHex(message)).digest("hex");
    assert.equal(deriveSalt({ workerSecret, chainId: 31337n, jobId: 2n ** 200n + 5n }), `0x${expected}`);
  });

  it("is the same for the same job and differs per chain and per job", () => {
    const salt = deriveSalt({ workerSecret, chainId: 1, jobId: 1 });
    assert.equal(deriveSalt({ workerSecret: fromHex(workerSecret), chainId: 1n, jobId: 1n }), salt);
    assert.notEqual(deriveSalt({ workerSecret, chainId: 2, jobId: 1 }), salt);
    assert.notEqual(deriveSalt({ workerSecret, chainId: 1, jobId: 2 }), salt);
  });

  it("of a batch is HMAC-SHA256(secret, \"dinfer batch salt\" || uint256(chainId) || uint256(batchId)), never a job's of the same number", () => {
    const message = concat([toHex("dinfer batch salt"), toHex(31337n, { size: 32 }), toHex(7n, { size: 32 })]);
    const expected = createHmac("sha256", fromHex(workerSecret)).update(fromHex(message)).digest("hex");
    assert.equal(deriveBatchSalt({ workerSecret, chainId: 31337n, batchId: 7n }), `0x${expected}`);
    assert.notEqual(deriveBatchSalt({ workerSecret, chainId: 31337n, batchId: 7n }), deriveSalt({ workerSecret, chainId: 31337n, jobId: 7n }));
    assert.notEqual(deriveBatchSalt({ workerSecret, chainId: 31337n, batchId: 8n }), deriveBatchSalt({ workerSecret, chainId: 31337n, batchId: 7n }));
    assertCodecError(() => deriveBatchSalt({ workerSecret: `0x${"ab".repeat(15)}`, chainId: 1, batchId: 1 }), "workerSecret");
  });

  it("refuses a secret under 16 bytes or not bytes", () => {
    assertCodecError(() => deriveSalt({ workerSecret: `0x${"ab".repeat(15)}`, chainId: 1, jobId: 1 }), "workerSecret");
    assertCodecError(() => deriveSalt({ workerSecret: "secret" as Hex, chainId: 1, jobId: 1 }), "workerSecret");
  });
});

/** Builds a tensor from the vectors' human-readable form, independently of the generator. */
function tensorFromSpec(spec: TensorSpec): Tensor {
  assert.equal(hex(utf8(spec.name)), spec.nameUtf8);
  if (spec.pattern) {
    const { multiplier, offset, modulus } = spec.pattern;
    const values = Uint8Array.from({ length: spec.dims[0]! }, (_, i) => (i * multiplier + offset) % modulus);
    return tensorFromArray({ name: spec.name, dtype: "uint8", dims: spec.dims, values });
  }
  const values = spec.values!.map((value) => {
    switch (spec.dtype) {
      case "int64":
        return BigInt(value as string);
      case "float16":
        return Number(value);
      case "bool":
        return value === true ? 1 : 0;
      default:
        return value === "-0" ? -0 : Number(value);
    }
  });
  return tensorFromArray({ name: spec.name, dtype: spec.dtype, dims: spec.dims, values: values as never });
}

describe("codec vectors (test/vectors/codec.json)", () => {
  const vectors: CodecVectors = JSON.parse(readFileSync(VECTORS_JSON_PATH, "utf8"));
  const context = vectors.commitmentContext;

  it("equal what scripts/gen-vectors.ts renders", () => {
    assert.equal(readFileSync(VECTORS_JSON_PATH, "utf8"), renderJson(buildVectors()), "run: npx tsx scripts/gen-vectors.ts");
  });

  it("match test/OutputRootVectors.t.sol as rendered from them", () => {
    assert.equal(readFileSync(VECTORS_SOLIDITY_PATH, "utf8"), renderSolidityTest(vectors), "run: npx tsx scripts/gen-vectors.ts");
  });

  it("cover the shapes the format must handle", () => {
    const leafCounts = new Set(vectors.blobs.map((v) => v.leafCount));
    for (const count of [1, 2, 3, 4, 5, 7]) assert.ok(leafCounts.has(count), `${count} chunks`);
    const sizes = new Set(vectors.blobs.map((v) => v.byteLength));
    for (const size of [8, CHUNK_SIZE, CHUNK_SIZE + 1, 4 * CHUNK_SIZE]) assert.ok(sizes.has(size), `${size} bytes`);
    const dtypes = new Set(vectors.blobs.flatMap((v) => v.tensors.map((t) => t.dtype)));
    assert.equal(dtypes.size, 8);
    assert.ok(vectors.malformed.length >= 20);
  });

  for (const vector of vectors.blobs) {
    it(`reproduce blob "${vector.name}": bytes, id, root, proofs, salt and commitment`, () => {
      const blob = encodeTensorBlob(vector.tensors.map(tensorFromSpec));
      assert.equal(hex(blob), vector.blob);
      assert.equal(blob.length, vector.byteLength);
      assert.equal(hex(encodeTensorBlob(decodeTensorBlob(blob))), vector.blob, "decode then encode");
      assert.equal(blobId(blob), vector.blobId);
      assert.equal(outputRoot(blob), vector.outputRoot);
      assert.equal(referenceRoot(blob), vector.outputRoot);
      assert.equal(chunkBlob(blob).length, vector.leafCount);
      for (const expected of vector.proofs) {
        const proof = chunkProof(blob, expected.index);
        assert.deepEqual(proof.siblings, expected.siblings);
        assert.equal(proof.chunk.length, expected.length);
        assert.equal(hex(proof.chunk), hex(blob.subarray(expected.offset, expected.offset + expected.length)));
        assert.equal(leafHash(expected.index, proof.chunk), expected.leaf);
        assert.ok(verifyChunkProof({ root: vector.outputRoot, ...proof }));
      }
      const jobId = BigInt(vector.commitment.jobId);
      const salt = deriveSalt({ workerSecret: context.workerSecret, chainId: BigInt(context.chainId), jobId });
      assert.equal(salt, vector.commitment.salt);
      const expected = commitment({ ...context, chainId: BigInt(context.chainId), jobId, outputRoot: vector.outputRoot, salt });
      assert.equal(expected, vector.commitment.commitment);
    });
  }

  it("reproduce every commitment example", () => {
    for (const c of vectors.commitments) {
      const chainId = BigInt(c.chainId);
      const jobId = BigInt(c.jobId);
      assert.equal(deriveSalt({ workerSecret: c.workerSecret, chainId, jobId }), c.salt, c.description);
      assert.equal(commitment({ ...c, chainId, jobId }), c.commitment, c.description);
    }
  });
});
