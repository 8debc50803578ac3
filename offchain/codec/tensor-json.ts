/**
 * Tensors as JSON, for people: what `dinfer tensor encode` reads and `dinfer tensor decode` writes.
 *
 * ```json
 * { "x": { "dtype": "float32", "dims": [1, 4], "data": [0.5, 1, 1.5, 2] },
 *   "mask": [[1, 0], [0, 1]] }
 * ```
 * A tensor is either `{ dtype, dims, data }` (`data` flat in row-major order, or nested like `dims`;
 * `dims` may be left out for nested data) or a bare nested array, whose dims are its nesting and whose
 * dtype is the default (float32). Elements are numbers; bool takes true/false or 0/1; NaN and the
 * infinities are the strings "NaN", "Infinity", "-Infinity"; int64 also takes decimal strings (JSON
 * numbers lose precision past 2^53), and `tensorsToJson` writes such values as strings.
 */
import { CodecError } from "../errors.js";
import { float16ToNumber, isDType, tensorFromArray, tensorToArray, type DType, type Tensor } from "./tensor.js";

/** One tensor as `tensorsToJson` writes it. */
export type TensorJson = { dtype: DType; dims: number[]; data: (number | string | boolean)[] };

export type TensorsFromJsonParameters = {
  json: unknown;
  /** The dtype of bare nested arrays (default float32). */
  defaultDtype?: DType;
  /** Names the file in errors. */
  source?: string;
};

/** The tensors a JSON value describes (see the module comment); throws `CodecError` naming the tensor and the field. */
export function tensorsFromJson({ json, defaultDtype = "float32", source = "json" }: TensorsFromJsonParameters): Tensor[] {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new CodecError({ field: source, problem: 'expected an object of named tensors: { "x": { "dtype": "float32", "dims": [1, 4], "data": [...] } }' });
  }
  return Object.entries(json as Record<string, unknown>).map(([name, value]) => {
    const field = `${source}.${name}`;
    if (Array.isArray(value)) return fromNested({ name, dtype: defaultDtype, nested: value, field });
    if (value === null || typeof value !== "object") throw new CodecError({ field, problem: "expected { dtype, dims, data } or a nested array" });
    const { dtype = defaultDtype, dims, data } = value as { dtype?: unknown; dims?: unknown; data?: unknown };
    if (!isDType(dtype)) throw new CodecError({ field: `${field}.dtype`, problem: `unknown dtype ${JSON.stringify(dtype)} (float16, float32, float64, int8, uint8, int32, int64, bool)` });
    if (!Array.isArray(data)) throw new CodecError({ field: `${field}.data`, problem: "expected an array of elements" });
    if (dims === undefined) return fromNested({ name, dtype, nested: data, field });
    if (!Array.isArray(dims) || !dims.every((dim) => Number.isInteger(dim) && dim >= 0)) {
      throw new CodecError({ field: `${field}.dims`, problem: "expected an array of non-negative integers" });
    }
    const flat = data.flat(Infinity);
    const count = dims.reduce((product: number, dim: number) => product * dim, 1);
    if (flat.length !== count) {
      throw new CodecError({ field: `${field}.data`, problem: `holds ${flat.length} elements, dims [${dims.join(", ")}] need ${count}` });
    }
    return build({ name, dtype, dims, flat, field });
  });
}

/** Tensors as JSON (`TensorJson` by name), every element exact: int64 past 2^53 and non-finite floats as strings. */
export function tensorsToJson(tensors: readonly Tensor[]): Record<string, TensorJson> {
  return Object.fromEntries(tensors.map((tensor) => [tensor.name, { dtype: tensor.dtype, dims: [...tensor.dims], data: elementsOf(tensor) }]));
}

/** A tensor's elements as JSON values, in row-major order (`limit`: at most that many). */
export function elementsOf(tensor: Tensor, limit = Infinity): (number | string | boolean)[] {
  const array = tensorToArray(tensor);
  const count = Math.min(array.length, limit);
  const out: (number | string | boolean)[] = [];
  for (let i = 0; i < count; i++) {
    const value = array[i]!;
    if (tensor.dtype === "bool") out.push(value === 1);
    else if (typeof value === "bigint") out.push(Number.isSafeInteger(Number(value)) ? Number(value) : value.toString());
    else out.push(jsonNumber(tensor.dtype === "float16" ? float16ToNumber(value) : value));
  }
  return out;
}

/** Rounds a number to IEEE 754 half precision (to nearest, ties to even), as its 16 bits. */
export function numberToFloat16(value: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow: infinity
  if (e <= 0) {
    if (e < -10) return sign; // underflow: zero
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the right rounding (up to infinity).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

function fromNested({ name, dtype, nested, field }: { name: string; dtype: DType; nested: unknown[]; field: string }): Tensor {
  const dims: number[] = [];
  for (let level: unknown = nested; Array.isArray(level); level = level[0]) dims.push(level.length);
  const check = (value: unknown, depth: number, path: string): void => {
    if (depth === dims.length) {
      if (Array.isArray(value)) throw new CodecError({ field: `${field}${path}`, problem: "nested deeper than its siblings: the array is not rectangular" });
      return;
    }
    if (!Array.isArray(value) || value.length !== dims[depth]) {
      throw new CodecError({ field: `${field}${path}`, problem: `expected an array of ${dims[depth]} (dims [${dims.join(", ")}] from the first elements): the array is not rectangular` });
    }
    value.forEach((item, i) => check(item, depth + 1, `${path}[${i}]`));
  };
  check(nested, 0, "");
  return build({ name, dtype, dims, flat: nested.flat(Infinity), field });
}

function build({ name, dtype, dims, flat, field }: { name: string; dtype: DType; dims: number[]; flat: unknown[]; field: string }): Tensor {
  const values = flat.map((value, i) => element(value, dtype, `${field}.data[${i}]`));
  return tensorFromArray({ name, dtype, dims, values: values as never });
}

const INTEGER_RANGES: Partial<Record<DType, [number, number]>> = { int8: [-128, 127], uint8: [0, 255], int32: [-(2 ** 31), 2 ** 31 - 1] };

function element(value: unknown, dtype: DType, field: string): number | bigint {
  const bad = (problem: string) => new CodecError({ field, problem });
  if (dtype === "bool") {
    if (value === true || value === 1) return 1;
    if (value === false || value === 0) return 0;
    throw bad(`${JSON.stringify(value)} is not a bool (true, false, 0 or 1)`);
  }
  if (dtype === "int64") {
    if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
    if (typeof value === "string" && /^-?[0-9]+$/.test(value)) {
      const big = BigInt(value);
      if (big >= -(2n ** 63n) && big < 2n ** 63n) return big;
    }
    throw bad(`${JSON.stringify(value)} is not an int64 (an integer, or a decimal string past 2^53)`);
  }
  const number = typeof value === "string" ? { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity }[value] : value;
  if (typeof number !== "number") throw bad(`${JSON.stringify(value)} is not a number`);
  const range = INTEGER_RANGES[dtype];
  if (range && !(Number.isInteger(number) && number >= range[0] && number <= range[1])) throw bad(`${JSON.stringify(value)} is not an ${dtype}`);
  return dtype === "float16" ? numberToFloat16(number) : number;
}

function jsonNumber(value: number): number | string {
  return Number.isFinite(value) ? value : String(value);
}
