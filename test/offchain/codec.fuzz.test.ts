import assert from "node:assert/strict";

import { decodeTensorBlob, encodeTensorBlob, MAX_RANK, type DType, type Tensor } from "../../offchain/codec/tensor.js";
import { CodecError } from "../../offchain/errors.js";

/**
 * Feeds the tensor blob decoder valid, mutated and random blobs from a seeded PRNG. Each must
 * either decode and re-encode to the very same bytes, or throw a CodecError; nothing else.
 * Reproduce a failure with the seed and case number it reports:
 *   CODEC_FUZZ_SEED=<seed> npx mocha --import=tsx test/offchain/codec.fuzz.test.ts
 */
const SEED = Number(process.env.CODEC_FUZZ_SEED ?? 0x64696e66);
const CASES = Number(process.env.CODEC_FUZZ_CASES ?? 100_000);

/** sfc32: a small, fast, seedable 32-bit PRNG. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    [this.a, this.b, this.c] = [0x9e3779b9, seed >>> 0, (seed * 0x85ebca6b) >>> 0];
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    return Uint8Array.from({ length }, () => this.int(256));
  }
}

const DTYPES: DType[] = ["float32", "float16", "float64", "int8", "uint8", "int32", "int64", "bool"];
const SIZES: Record<DType, number> = { float32: 4, float16: 2, float64: 8, int8: 1, uint8: 1, int32: 4, int64: 8, bool: 1 };
// Names that stress sorting and UTF-8: empty, case, multi-byte, astral, a leading BOM.
const NAME_PARTS = ["", "a", "b", "A", "x_1", "\u00e9", "\uFF61", "\u{1F600}", "\uFEFF", "input", "z"];
const INTERESTING_U32 = [0, 1, 2, 3, 7, 8, 9, 255, 256, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

function randomTensor(rng: Rng, name: string): Tensor {
  const dtype = rng.pick(DTYPES);
  const rank = rng.chance(0.05) ? MAX_RANK : rng.int(4);
  const dims = Array.from({ length: rank }, () => (rank > 3 ? 1 + rng.int(2) : rng.int(5)));
  const count = dims.reduce((p, d) => p * d, 1);
  const data = dtype === "bool" ? Uint8Array.from({ length: count }, () => rng.int(2)) : rng.bytes(count * SIZES[dtype]);
  return { name, dtype, dims, data };
}

function randomTensorSet(rng: Rng): Tensor[] {
  const names = new Set<string>();
  const wanted = rng.int(5);
  for (let i = 0; i < wanted; i++) names.add(rng.pick(NAME_PARTS) + rng.pick(NAME_PARTS));
  return [...names].map((name) => randomTensor(rng, name));
}

function setU32(bytes: Uint8Array, offset: number, value: number): void {
  if (offset + 4 <= bytes.length) new DataView(bytes.buffer, bytes.byteOffset).setUint32(offset, value, true);
}

/** One random change to a valid blob. */
function mutate(rng: Rng, blob: Uint8Array, other: Uint8Array): Uint8Array {
  const out = blob.slice();
  const at = (extra = 0) => rng.int(out.length + extra);
  switch (rng.int(9)) {
    case 0: // flip 1 to 4 bits
      for (let k = 1 + rng.int(4); k > 0 && out.length > 0; k--) out[at()]! ^= 1 << rng.int(8);
      return out;
    case 1: // truncate
      return out.subarray(0, at());
    case 2: // extend
      return Uint8Array.from([...out, ...rng.bytes(1 + rng.int(8))]);
    case 3: // overwrite a byte
      if (out.length > 0) out[at()] = rng.int(256);
      return out;
    case 4: {
      // insert a byte
      const i = at(1);
      return Uint8Array.from([...out.subarray(0, i), rng.int(256), ...out.subarray(i)]);
    }
    case 5: {
      // delete a byte
      const i = at();
      return Uint8Array.from([...out.subarray(0, i), ...out.subarray(i + 1)]);
    }
    case 6: // an interesting u32 anywhere (count, dims, data)
      setU32(out, at(), rng.pick(INTERESTING_U32));
      return out;
    case 7: // splice two blobs
      return Uint8Array.from([...out.subarray(0, at(1)), ...other.subarray(rng.int(other.length + 1))]);
    default: // the count field
      setU32(out, 4, rng.chance(0.5) ? rng.int(8) : rng.pick(INTERESTING_U32));
      return out;
  }
}

/** A header built field by field with hostile values: unknown dtypes, rank up to 10, huge dims. */
function randomHeaderBlob(rng: Rng): Uint8Array {
  const bytes: number[] = [0x44, 0x54, 0x4e, 0x31];
  const u32 = (v: number) => bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  const count = rng.int(3);
  u32(rng.chance(0.9) ? count : rng.pick(INTERESTING_U32));
  for (let i = 0; i < count; i++) {
    const name = rng.chance(0.8) ? [...new TextEncoder().encode(rng.pick(NAME_PARTS))] : [...rng.bytes(rng.int(4))];
    bytes.push(name.length & 0xff, name.length >>> 8, ...name, rng.int(10));
    const rank = rng.int(11);
    bytes.push(rank);
    for (let j = 0; j < rank; j++) u32(rng.chance(0.5) ? rng.pick(INTERESTING_U32) : rng.int(4));
    bytes.push(...rng.bytes(rng.int(24)));
  }
  return Uint8Array.from(bytes);
}

function randomBytesBlob(rng: Rng): Uint8Array {
  const body = rng.bytes(rng.int(64));
  return rng.chance(0.5) ? Uint8Array.from([0x44, 0x54, 0x4e, 0x31, ...body]) : body;
}

type Outcome = { decoded: boolean; field?: string };

/** Decodes; a success must re-encode to the same bytes, a failure must be a CodecError. */
function check(bytes: Uint8Array, where: string, maxBytes?: number): Outcome {
  let tensors: Tensor[];
  try {
    tensors = decodeTensorBlob(bytes, { maxBytes });
  } catch (error) {
    if (error instanceof CodecError) return { decoded: false, field: error.field.replace(/\[\d+\]/g, "[]") };
    throw new Error(`${where}: decoder threw ${String(error)} for 0x${Buffer.from(bytes).toString("hex")}`, { cause: error });
  }
  const again = encodeTensorBlob(tensors, { maxBytes });
  assert.ok(Buffer.from(again).equals(bytes), `${where}: decoded blob re-encodes differently: 0x${Buffer.from(bytes).toString("hex")}`);
  return { decoded: true };
}

describe(`tensor blob decoder under fuzzing (seed ${SEED}, ${CASES} cases)`, function () {
  this.timeout(120_000);

  it("decodes or throws a CodecError for every valid, mutated and random blob, and never hangs", () => {
    const rng = new Rng(SEED);
    const fields = new Map<string, number>();
    let decoded = 0;
    let slowest = 0;
    let previous = encodeTensorBlob(randomTensorSet(rng));
    for (let n = 0; n < CASES; n++) {
      const where = `seed ${SEED}, case ${n}`;
      const kind = n % 10;
      let bytes: Uint8Array;
      if (kind < 2) {
        bytes = encodeTensorBlob(randomTensorSet(rng));
        previous = bytes;
      } else if (kind < 7) {
        bytes = mutate(rng, previous, encodeTensorBlob(randomTensorSet(rng)));
      } else if (kind < 9) {
        bytes = randomHeaderBlob(rng);
      } else {
        bytes = randomBytesBlob(rng);
      }
      const maxBytes = rng.chance(0.02) ? rng.int(64) : undefined;
      const started = performance.now();
      const outcome = check(bytes, where, maxBytes);
      slowest = Math.max(slowest, performance.now() - started);
      if (kind < 2 && maxBytes === undefined) assert.ok(outcome.decoded, `${where}: a freshly encoded blob failed to decode`);
      if (outcome.decoded) decoded++;
      else fields.set(outcome.field!, (fields.get(outcome.field!) ?? 0) + 1);
    }
    if (process.env.CODEC_FUZZ_VERBOSE) console.log({ decoded, slowestMs: slowest, rejectedAt: Object.fromEntries(fields) });
    // The fuzzer must reach every check, or a passing run would mean little.
    const expected = ["blob", "magic", "count", "tensors[].name", "tensors[].dtype", "tensors[].rank", "tensors[].dims[]", "tensors[].data", "trailing"];
    for (const field of expected) assert.ok((fields.get(field) ?? 0) > 0, `no case was rejected at ${field}: ${JSON.stringify([...fields])}`);
    assert.ok(decoded > CASES / 5, `only ${decoded} of ${CASES} cases decoded`);
    assert.ok(slowest < 1000, `slowest decode took ${slowest.toFixed(1)} ms`);
  });
});
