/**
 * Tensor blobs ("DTN1"): the canonical byte encoding of a set of named tensors (docs/PROTOCOL.md section 5).
 *
 * ```
 * "DTN1"                      4 bytes magic
 * u32 count                   little-endian, as every integer below
 * per tensor, sorted by name (UTF-8 bytes, ascending, no duplicates):
 *   u16 nameLength, name (UTF-8)
 *   u8 dtype, u8 rank (<= 8), u32 dims[rank]
 *   data: prod(dims) * sizeof(dtype) bytes, little-endian (rank 0: one element; bool: 0 or 1)
 * ```
 *
 * The encoding is canonical: a blob that decodes re-encodes to the same bytes, so its SHA-256
 * (the blob id) names its content.
 */
import { bytesToHex, type Hex } from "viem";

import { CodecError } from "../errors.js";
import { sha256Bytes } from "./sha256.js";

export const TENSOR_BLOB_MAGIC: Uint8Array = new Uint8Array([0x44, 0x54, 0x4e, 0x31]); // "DTN1"
export const MAX_RANK = 8;
export const MAX_NAME_BYTES = 0xffff;
export const MAX_DIM = 0xffff_ffff;
/** Decoders and encoders refuse blobs larger than this unless told otherwise. */
export const DEFAULT_MAX_BLOB_BYTES: number = 64 * 1024 * 1024;

/** Wire code and element size of each dtype. */
export const DTYPES = {
  float32: { code: 1, size: 4 },
  float16: { code: 2, size: 2 },
  float64: { code: 3, size: 8 },
  int8: { code: 4, size: 1 },
  uint8: { code: 5, size: 1 },
  int32: { code: 6, size: 4 },
  int64: { code: 7, size: 8 },
  bool: { code: 8, size: 1 },
} as const;

export type DType = keyof typeof DTYPES;

/**
 * One named tensor. `data` holds the elements as raw little-endian bytes, exactly
 * prod(dims) * sizeof(dtype) of them. Tensors returned by `decodeTensorBlob` view the input
 * bytes without copying.
 */
export type Tensor<D extends DType = DType> = {
  name: string;
  dtype: D;
  dims: number[];
  data: Uint8Array;
};

/** The typed array that holds each dtype's elements; float16 is its raw IEEE 754 half bits. */
export type TypedArrayFor<D extends DType> = {
  float32: Float32Array;
  float16: Uint16Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
}[D];

/** A plain element value of each dtype (float16: raw half bits). */
export type ElementFor<D extends DType> = D extends "int64" ? bigint : D extends "bool" ? number | boolean : number;

type TypedArrayConstructor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArrayFor<DType>;
  new (length: number): TypedArrayFor<DType>;
  from(values: ArrayLike<unknown>): TypedArrayFor<DType>;
  readonly BYTES_PER_ELEMENT: number;
};

const ARRAY_CONSTRUCTORS: Record<DType, TypedArrayConstructor> = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
} as unknown as Record<DType, TypedArrayConstructor>;

const DTYPE_BY_CODE: ReadonlyMap<number, DType> = new Map(
  (Object.keys(DTYPES) as DType[]).map((dtype) => [DTYPES[dtype].code, dtype]),
);

/** Smallest encoding of one tensor: empty name (2), dtype (1), rank 0 (1), one 1-byte element. */
const MIN_TENSOR_BYTES = 5;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// `ignoreBOM` keeps a leading U+FEFF in the name instead of silently dropping it, so decoding and
// re-encoding give the same bytes.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** The dtype with this wire code, or undefined. */
export function dtypeFromCode(code: number): DType | undefined {
  return DTYPE_BY_CODE.get(code);
}

/** Whether `value` names a dtype. */
export function isDType(value: unknown): value is DType {
  return typeof value === "string" && Object.hasOwn(DTYPES, value);
}

/** Number of elements a tensor of these dims holds (1 for a scalar); exact for any u32 dims. */
export function elementCount(dims: readonly number[]): bigint {
  return dims.reduce((product, dim) => product * BigInt(dim), 1n);
}

/** Compares byte strings lexicographically, as the blob orders tensor names. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

export type TensorFromArrayParameters<D extends DType> = {
  name: string;
  dtype: D;
  /** The elements, in row-major order. float16 takes raw half bits; bool takes 0/1 or booleans. */
  values: TypedArrayFor<D> | ArrayLike<ElementFor<D>>;
  /** Defaults to one dimension holding all values. */
  dims?: readonly number[];
};

/** Builds a tensor from its elements, copying them into little-endian bytes. */
export function tensorFromArray<D extends DType>({
  name,
  dtype,
  values,
  dims = [values.length],
}: TensorFromArrayParameters<D>): Tensor<D> {
  if (!isDType(dtype)) throw new CodecError({ field: "dtype", problem: `unknown dtype ${String(dtype)}` });
  const Ctor = ARRAY_CONSTRUCTORS[dtype];
  const array = values instanceof Ctor ? values : Ctor.from(dtype === "bool" ? Array.from(values, Number) : values);
  // Always a copy: the tensor must not change when the caller reuses its array.
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength).slice();
  const tensor: Tensor<D> = { name, dtype, dims: [...dims], data: toLittleEndian(bytes, DTYPES[dtype].size) };
  validateTensor(tensor);
  return tensor;
}

/**
 * The tensor's elements as the matching typed array. Shares memory with `tensor.data` when its
 * offset is aligned (and the host is little-endian), otherwise copies.
 */
export function tensorToArray<D extends DType>(tensor: Tensor<D>): TypedArrayFor<D> {
  const Ctor = ARRAY_CONSTRUCTORS[tensor.dtype];
  const { data } = tensor;
  const size = Ctor.BYTES_PER_ELEMENT;
  const aligned = data.byteOffset % size === 0 && HOST_IS_LITTLE_ENDIAN ? data : toLittleEndian(data.slice(), size);
  return new Ctor(aligned.buffer, aligned.byteOffset, aligned.byteLength / size) as TypedArrayFor<D>;
}

/** Decodes IEEE 754 half-precision bits to a number (exact). */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Checks one tensor on its own: name, dtype, rank, dims, data size, bool values. `field` prefixes
 * the error fields (e.g. "tensors[3]").
 */
export function validateTensor(tensor: Tensor, field = "tensor"): void {
  const nameBytes = encodeName(tensor.name, `${field}.name`);
  if (nameBytes.length > MAX_NAME_BYTES) {
    throw new CodecError({ field: `${field}.name`, problem: `name is ${nameBytes.length} bytes, more than ${MAX_NAME_BYTES}` });
  }
  if (!isDType(tensor.dtype)) {
    throw new CodecError({ field: `${field}.dtype`, problem: `unknown dtype ${String(tensor.dtype)}` });
  }
  if (!Array.isArray(tensor.dims) || tensor.dims.length > MAX_RANK) {
    throw new CodecError({ field: `${field}.rank`, problem: `rank must be at most ${MAX_RANK}` });
  }
  tensor.dims.forEach((dim, j) => {
    if (!Number.isInteger(dim) || dim < 0 || dim > MAX_DIM) {
      throw new CodecError({ field: `${field}.dims[${j}]`, problem: `dim ${dim} is not a u32` });
    }
  });
  if (!(tensor.data instanceof Uint8Array)) {
    throw new CodecError({ field: `${field}.data`, problem: "data must be a Uint8Array" });
  }
  const expected = elementCount(tensor.dims) * BigInt(DTYPES[tensor.dtype].size);
  if (BigInt(tensor.data.length) !== expected) {
    throw new CodecError({
      field: `${field}.data`,
      problem: `data is ${tensor.data.length} bytes, dims [${tensor.dims.join(", ")}] of ${tensor.dtype} need ${expected}`,
    });
  }
  if (tensor.dtype === "bool") checkBoolBytes(tensor.data, `${field}.data`);
}

export type EncodeTensorBlobOptions = { maxBytes?: number };

/** Encodes tensors as a canonical blob: sorted by name bytes; duplicates and invalid tensors throw. */
export function encodeTensorBlob(
  tensors: readonly Tensor[],
  { maxBytes = DEFAULT_MAX_BLOB_BYTES }: EncodeTensorBlobOptions = {},
): Uint8Array {
  checkMaxBytes(maxBytes);
  const entries = sortedEntries(tensors);
  const size = entries.reduce((sum, { tensor, nameBytes }) => sum + encodedTensorSize(tensor, nameBytes), 8);
  if (size > maxBytes) {
    throw new CodecError({ field: "blob", problem: `blob would be ${size} bytes, over the cap of ${maxBytes}` });
  }
  return writeBlob(entries, size);
}

export type DecodeTensorBlobOptions = { maxBytes?: number };

/**
 * Decodes and validates a blob. Throws only `CodecError`, naming the offending field. The
 * returned tensors' `data` are views into `bytes` (no copy).
 */
export function decodeTensorBlob(
  bytes: Uint8Array,
  { maxBytes = DEFAULT_MAX_BLOB_BYTES }: DecodeTensorBlobOptions = {},
): Tensor[] {
  checkMaxBytes(maxBytes);
  if (!(bytes instanceof Uint8Array)) throw new CodecError({ field: "blob", problem: "blob must be a Uint8Array" });
  if (bytes.length > maxBytes) {
    throw new CodecError({ field: "blob", problem: `blob is ${bytes.length} bytes, over the cap of ${maxBytes}` });
  }
  const reader = new ByteReader(bytes);
  const count = readHeader(reader);
  const tensors: Tensor[] = [];
  let previousName: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const { tensor, nameBytes } = readTensor(reader, `tensors[${i}]`, previousName);
    tensors.push(tensor);
    previousName = nameBytes;
  }
  if (reader.remaining > 0) {
    throw new CodecError({ field: "trailing", problem: `${reader.remaining} bytes after the last tensor` });
  }
  return tensors;
}

/** The blob id: SHA-256 of the blob bytes, as 0x-prefixed hex. */
export function blobId(bytes: Uint8Array): Hex {
  return bytesToHex(sha256Bytes(bytes));
}

/** Reads the magic and the tensor count; a count the remaining bytes cannot hold fails here. */
function readHeader(reader: ByteReader): number {
  const magic = reader.bytes(4, "magic");
  if (compareBytes(magic, TENSOR_BLOB_MAGIC) !== 0) {
    throw new CodecError({ field: "magic", problem: `expected "DTN1" (0x44544e31), got ${bytesToHex(magic)}` });
  }
  const count = reader.u32("count");
  if (count * MIN_TENSOR_BYTES > reader.remaining) {
    throw new CodecError({
      field: "count",
      problem: `${count} tensors need at least ${count * MIN_TENSOR_BYTES} bytes, ${reader.remaining} remain`,
    });
  }
  return count;
}

type Entry = { tensor: Tensor; index: number; nameBytes: Uint8Array };

/** Validated tensors with their UTF-8 names, sorted by name bytes; a duplicate name throws. */
function sortedEntries(tensors: readonly Tensor[]): Entry[] {
  const entries = tensors.map((tensor, index) => {
    validateTensor(tensor, `tensors[${index}]`);
    return { tensor, index, nameBytes: utf8Encoder.encode(tensor.name) };
  });
  entries.sort((a, b) => compareBytes(a.nameBytes, b.nameBytes));
  for (let k = 1; k < entries.length; k++) {
    if (compareBytes(entries[k - 1]!.nameBytes, entries[k]!.nameBytes) === 0) {
      const [first, second] = [entries[k - 1]!.index, entries[k]!.index].sort((a, b) => a - b);
      throw new CodecError({ field: `tensors[${second}].name`, problem: `duplicate of tensors[${first}].name` });
    }
  }
  return entries;
}

/** Name length, name, dtype, rank, dims, data. */
function encodedTensorSize(tensor: Tensor, nameBytes: Uint8Array): number {
  return 2 + nameBytes.length + 1 + 1 + 4 * tensor.dims.length + tensor.data.length;
}

function writeBlob(entries: readonly Entry[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(TENSOR_BLOB_MAGIC, 0);
  view.setUint32(4, entries.length, true);
  let offset = 8;
  for (const { tensor, nameBytes } of entries) {
    view.setUint16(offset, nameBytes.length, true);
    out.set(nameBytes, offset + 2);
    offset += 2 + nameBytes.length;
    view.setUint8(offset++, DTYPES[tensor.dtype].code);
    view.setUint8(offset++, tensor.dims.length);
    for (const dim of tensor.dims) {
      view.setUint32(offset, dim, true);
      offset += 4;
    }
    out.set(tensor.data, offset);
    offset += tensor.data.length;
  }
  return out;
}

function checkMaxBytes(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new CodecError({ field: "maxBytes", problem: `${maxBytes} is not a byte count` });
  }
}

function readTensor(
  reader: ByteReader,
  field: string,
  previousName: Uint8Array | undefined,
): { tensor: Tensor; nameBytes: Uint8Array } {
  const nameBytes = reader.bytes(reader.u16(`${field}.name`), `${field}.name`);
  const name = decodeName(nameBytes, `${field}.name`);
  if (previousName !== undefined) checkNameOrder(previousName, nameBytes, `${field}.name`);
  const code = reader.u8(`${field}.dtype`);
  const dtype = dtypeFromCode(code);
  if (dtype === undefined) throw new CodecError({ field: `${field}.dtype`, problem: `unknown dtype code ${code}` });
  const rank = reader.u8(`${field}.rank`);
  if (rank > MAX_RANK) throw new CodecError({ field: `${field}.rank`, problem: `rank ${rank} is over ${MAX_RANK}` });
  const dims = Array.from({ length: rank }, (_, j) => reader.u32(`${field}.dims[${j}]`));
  // BigInt: eight u32 dims can multiply far past 2^53; compare with what is left before reading.
  const size = elementCount(dims) * BigInt(DTYPES[dtype].size);
  if (size > BigInt(reader.remaining)) {
    throw new CodecError({
      field: `${field}.data`,
      problem: `dims [${dims.join(", ")}] of ${dtype} need ${size} bytes, ${reader.remaining} remain`,
    });
  }
  const data = reader.bytes(Number(size), `${field}.data`);
  if (dtype === "bool") checkBoolBytes(data, `${field}.data`);
  return { tensor: { name, dtype, dims, data }, nameBytes };
}

function checkNameOrder(previous: Uint8Array, current: Uint8Array, field: string): void {
  const order = compareBytes(previous, current);
  if (order === 0) throw new CodecError({ field, problem: "duplicate name" });
  if (order > 0) throw new CodecError({ field, problem: "names are not sorted by UTF-8 bytes" });
}

function checkBoolBytes(data: Uint8Array, field: string): void {
  const offset = data.findIndex((byte) => byte > 1);
  if (offset !== -1) {
    throw new CodecError({ field, problem: `bool element ${offset} is ${data[offset]}, not 0 or 1`, details: { offset } });
  }
}

function decodeName(bytes: Uint8Array, field: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new CodecError({ field, problem: "name is not valid UTF-8", cause });
  }
}

/** UTF-8 bytes of a name; a string with lone surrogates has no UTF-8 form and is refused. */
function encodeName(name: unknown, field: string): Uint8Array {
  if (typeof name !== "string") throw new CodecError({ field, problem: "name must be a string" });
  const bytes = utf8Encoder.encode(name);
  if (utf8Decoder.decode(bytes) !== name) throw new CodecError({ field, problem: "name has a lone UTF-16 surrogate" });
  return bytes;
}

/** Returns `bytes` with each `size`-byte element in little-endian order (swapped in place on big-endian hosts). */
function toLittleEndian(bytes: Uint8Array, size: number): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN || size === 1) return bytes;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  return bytes;
}

/** Sequential little-endian reads that fail with a CodecError naming the field when input runs out. */
class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly input: Uint8Array) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  get remaining(): number {
    return this.input.length - this.offset;
  }

  bytes(length: number, field: string): Uint8Array {
    this.need(length, field);
    const out = this.input.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.offset++);
  }

  u16(field: string): number {
    this.need(2, field);
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  private need(length: number, field: string): void {
    if (length > this.remaining) {
      throw new CodecError({ field, problem: `truncated: needs ${length} bytes, ${this.remaining} remain` });
    }
  }
}
