/**
 * The tolerance comparison every verifier applies to a provider's output (docs/PROTOCOL.md section 7).
 *
 * A GPU and a CPU running the same model differ in nearly every float element, so verifiers
 * compare outputs under the model's registered policy instead of by hash:
 * - `allclose(absTol, relTol)`: |a - b| <= absTol + relTol * |b| elementwise,
 * - `argmax(axis)`: the same top-1 index in every row along `axis`,
 * - `exact`: byte-equal tensor data,
 * always after checking that both outputs hold the same tensor names, dtypes and shapes.
 *
 * `b` is always the verifier's own output (`expected`), `a` the provider's (`actual`): the
 * relative term scales with the value the verifier trusts, not with what the provider claims.
 *
 * Honest noise must never be slashed and garbage must always be: a provider's output that does not
 * decode is reported as a disagreement, never thrown. What is thrown is the verifier's own
 * trouble (its output does not decode, the policy is malformed or does not fit the model), since
 * neither may count against the provider.
 */
import { Buffer } from "node:buffer";

import { CodecError, NonRetryableError } from "../errors.js";
import {
  decodeTensorBlob,
  DEFAULT_MAX_BLOB_BYTES,
  DTYPES,
  float16ToNumber,
  tensorToArray,
  type DType,
  type Tensor,
} from "./tensor.js";

/** How two outputs of a model are compared; the off-chain form of `IModelRegistry.Tolerance`. */
export type TolerancePolicy =
  | { kind: "allclose"; absTol: number; relTol: number }
  | { kind: "argmax"; axis: number }
  | { kind: "exact" };

/** Policy kinds by their on-chain `ToleranceKind` value. */
export const TOLERANCE_KINDS: readonly TolerancePolicy["kind"][] = ["allclose", "argmax", "exact"];

/** On-chain tolerances are fixed point with 12 decimals (1e12 = 1.0). */
export const TOLERANCE_DECIMALS = 12;

const E12 = 10n ** BigInt(TOLERANCE_DECIMALS);
const UINT64_MAX = 2n ** 64n - 1n;
const INT8_MIN = -128n;
const INT8_MAX = 127n;

export type InvalidToleranceErrorParameters = {
  /** The offending field, e.g. "tolerance.kind", "policy.axis". */
  field: string;
  problem: string;
  details?: Record<string, unknown>;
  cause?: unknown;
};

/**
 * A tolerance policy that is malformed or does not fit the model's outputs. It is the verifier's
 * (or the model owner's) problem, never the provider's, so it is thrown rather than reported.
 */
export class InvalidToleranceError extends NonRetryableError {
  override name = "InvalidToleranceError";
  readonly field: string;

  constructor({ field, problem, details, cause }: InvalidToleranceErrorParameters) {
    super(`${field}: ${problem}`, { code: "INVALID_TOLERANCE", details, cause });
    this.field = field;
  }
}

/** `IModelRegistry.Tolerance` as viem returns it (uint64 as bigint, enum and int8 as number), or all numbers. */
export type ToleranceFromChainParameters = {
  kind: number | bigint;
  axis: number | bigint;
  absTolE12: number | bigint;
  relTolE12: number | bigint;
};

/**
 * Converts the on-chain tolerance struct into a policy. Tolerances are converted from their
 * 12-decimal fixed point to the nearest double (100000n gives exactly the literal 1e-7). Throws
 * `InvalidToleranceError` for an unknown kind, a field out of its Solidity type's range, or a
 * numeric tolerance on argmax/exact (which the registry refuses too).
 */
export function toleranceFromChain({ kind, axis, absTolE12, relTolE12 }: ToleranceFromChainParameters): TolerancePolicy {
  const kindValue = toBigInt(kind, "tolerance.kind");
  const absE12 = uint64(absTolE12, "tolerance.absTolE12");
  const relE12 = uint64(relTolE12, "tolerance.relTolE12");
  const known = kindValue >= 0n && kindValue < BigInt(TOLERANCE_KINDS.length);
  const policyKind = known ? TOLERANCE_KINDS[Number(kindValue)] : undefined;
  if (policyKind === undefined) {
    throw new InvalidToleranceError({
      field: "tolerance.kind",
      problem: `unknown tolerance kind ${kindValue} (0 Allclose, 1 Argmax, 2 Exact)`,
      details: { kind: String(kind) },
    });
  }
  if (policyKind === "allclose") return { kind: "allclose", absTol: fromE12(absE12), relTol: fromE12(relE12) };
  if (absE12 !== 0n || relE12 !== 0n) {
    throw new InvalidToleranceError({
      field: absE12 !== 0n ? "tolerance.absTolE12" : "tolerance.relTolE12",
      problem: `${policyKind} takes no numeric tolerance, got absTolE12 ${absE12} and relTolE12 ${relE12}`,
    });
  }
  if (policyKind === "exact") return { kind: "exact" };
  const axisValue = toBigInt(axis, "tolerance.axis");
  if (axisValue < INT8_MIN || axisValue > INT8_MAX) {
    throw new InvalidToleranceError({ field: "tolerance.axis", problem: `${axisValue} is not an int8` });
  }
  return { kind: "argmax", axis: Number(axisValue) };
}

/** How one tensor compared. Errors are over all elements, whatever the policy (information for argmax and exact). */
export type TensorComparison = {
  name: string;
  dtype: DType;
  dims: number[];
  /** Number of elements (1 for a scalar, 0 for an empty tensor). */
  elements: number;
  /**
   * max |a - b|. A pair where either side is NaN or infinite and the two are not equal in the
   * sense of `compareOutputs` counts as Infinity (NaN and NaN, or equal infinities, count as 0).
   */
  maxAbsError: number;
  /**
   * max |a - b| / |b| over the elements whose expected value b is not 0 (a relative error against
   * 0 means nothing); non-finite pairs count as for `maxAbsError`. 0 when every b is 0.
   */
  maxRelError: number;
  /** allclose: elements outside tolerance; argmax: rows with a different top-1; exact: elements whose bytes differ. */
  mismatches: number;
  /**
   * Row-major index of the first mismatching element (allclose, exact) or row (argmax: rows are
   * numbered row-major over the dims without `axis`); absent when nothing mismatches.
   */
  firstMismatch?: number;
};

export type CompareOutputsParameters = {
  /** The verifier's own output blob: the reference, `b` in the allclose formula. */
  expected: Uint8Array;
  /** The provider's output blob under judgement, `a` in the allclose formula. */
  actual: Uint8Array;
  policy: TolerancePolicy;
  /** Size cap for each blob, as for `decodeTensorBlob`; a provider blob over it disagrees. */
  maxBytes?: number;
};

export type CompareOutputsReturnType = {
  verdict: "agree" | "disagree";
  /** Why the outputs disagree, naming the tensor and the difference; absent when they agree. */
  reason?: string;
  /** One entry per tensor, by name; empty when the provider's output does not decode or differs in structure. */
  tensors: TensorComparison[];
};

/**
 * Compares the provider's output (`actual`) with the verifier's own (`expected`) under `policy`.
 *
 * Byte-equal blobs agree without comparing elements. A provider blob that does not decode, or
 * whose tensor names, dtypes or shapes differ from the expected ones, disagrees with a reason.
 *
 * Floats (float16, float32, float64) are compared as doubles. NaN or an infinity in the provider's
 * output where the expected value is finite (or the other way round) is always outside tolerance,
 * whatever the tolerances; NaN against NaN and equal infinities count as equal. Integer dtypes
 * are compared numerically (int64 as bigint, with its exact difference), bool as 0/1.
 *
 * Argmax: in each row along `axis` (negative counts from the end, as in numpy), the index of the
 * maximum must be the same; ties go to the first index, NaN counts as the maximum (numpy's rule),
 * and a row whose top-1 is NaN on one side only differs. Rows along an empty axis agree.
 *
 * Throws `CodecError` when `expected` does not decode, `InvalidToleranceError` when the policy is
 * malformed or its axis does not exist in an expected tensor: neither is the provider's fault.
 */
export function compareOutputs({
  expected,
  actual,
  policy,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
}: CompareOutputsParameters): CompareOutputsReturnType {
  checkPolicy(policy);
  const reference = decodeExpected(expected, maxBytes);
  if (policy.kind === "argmax") reference.forEach((tensor) => normalizeAxis(policy.axis, tensor));
  if (bytesEqual(expected, actual)) return { verdict: "agree", tensors: reference.map(identicalComparison) };

  let provided: Tensor[];
  try {
    provided = decodeTensorBlob(actual, { maxBytes });
  } catch (error) {
    return { verdict: "disagree", reason: `provider output does not decode: ${messageOf(error)}`, tensors: [] };
  }
  const structural = structureDifference(reference, provided);
  if (structural !== undefined) return { verdict: "disagree", reason: structural, tensors: [] };

  // Same names in the same (sorted) order from here on.
  const results = reference.map((tensor, i) => compareTensor(tensor, provided[i]!, policy));
  const tensors = results.map(({ comparison }) => comparison);
  const failing = results.filter(({ reason }) => reason !== undefined);
  if (failing.length === 0) return { verdict: "agree", tensors };
  const more = failing.length > 1 ? `; ${failing.length - 1} more tensor(s) disagree` : "";
  return { verdict: "disagree", reason: `${failing[0]!.reason}${more}`, tensors };
}

// ---------------------------------------------------------------------------------------------
// Policy and structure

function checkPolicy(policy: TolerancePolicy): void {
  switch (policy?.kind) {
    case "allclose":
      for (const field of ["absTol", "relTol"] as const) {
        const value = policy[field];
        if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
          throw new InvalidToleranceError({ field: `policy.${field}`, problem: `${String(value)} is not a finite number >= 0` });
        }
      }
      return;
    case "argmax":
      if (!Number.isSafeInteger(policy.axis)) {
        throw new InvalidToleranceError({ field: "policy.axis", problem: `${String(policy.axis)} is not an integer` });
      }
      return;
    case "exact":
      return;
    default:
      throw new InvalidToleranceError({
        field: "policy.kind",
        problem: `unknown policy kind ${String((policy as { kind?: unknown } | undefined)?.kind)}`,
      });
  }
}

/** The axis as an index into `tensor.dims`; an axis the tensor does not have throws. */
function normalizeAxis(axis: number, tensor: Tensor): number {
  const rank = tensor.dims.length;
  if (axis < -rank || axis >= rank) {
    throw new InvalidToleranceError({
      field: "policy.axis",
      problem: `axis ${axis} does not exist in tensor "${tensor.name}" of rank ${rank}`,
      details: { tensor: tensor.name, dims: tensor.dims },
    });
  }
  return axis < 0 ? axis + rank : axis;
}

function decodeExpected(expected: Uint8Array, maxBytes: number): Tensor[] {
  try {
    return decodeTensorBlob(expected, { maxBytes });
  } catch (cause) {
    const problem = `the verifier's own output does not decode (${messageOf(cause)})`;
    throw new CodecError({ field: "expected", problem, cause });
  }
}

/** The first difference in tensor names, dtypes or dims, or undefined when the structures match. */
function structureDifference(reference: readonly Tensor[], provided: readonly Tensor[]): string | undefined {
  const providedNames = new Set(provided.map(({ name }) => name));
  const referenceNames = new Set(reference.map(({ name }) => name));
  const missing = reference.find(({ name }) => !providedNames.has(name));
  if (missing !== undefined) return `provider output lacks tensor ${quote(missing.name)}`;
  const extra = provided.find(({ name }) => !referenceNames.has(name));
  if (extra !== undefined) return `provider output has unexpected tensor ${quote(extra.name)}`;
  // Both blobs hold the same set of names, each sorted: index i is the same tensor on both sides.
  for (let i = 0; i < reference.length; i++) {
    const want = reference[i]!;
    const got = provided[i]!;
    if (want.dtype !== got.dtype) return `tensor ${quote(want.name)}: dtype ${got.dtype}, expected ${want.dtype}`;
    if (want.dims.length !== got.dims.length || want.dims.some((dim, j) => dim !== got.dims[j])) {
      return `tensor ${quote(want.name)}: dims ${formatDims(got.dims)}, expected ${formatDims(want.dims)}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Per-tensor comparison

/** Elements as a typed array the kernels read: float32/float64 as they are, int64 as bigint, the rest widened. */
type Values = Float32Array | Float64Array | BigInt64Array;

type ErrorStats = { maxAbsError: number; maxRelError: number; mismatches: number; firstMismatch: number };

type TensorResult = { comparison: TensorComparison; reason?: string };

function compareTensor(reference: Tensor, provided: Tensor, policy: TolerancePolicy): TensorResult {
  const expectedValues = valuesOf(reference);
  const actualValues = valuesOf(provided);
  const [absTol, relTol] = policy.kind === "allclose" ? [policy.absTol, policy.relTol] : [0, 0];
  const stats = measure(actualValues, expectedValues, absTol, relTol);
  const { name, dtype, dims } = reference;
  const elements = expectedValues.length;
  const comparison = (mismatches: number, firstMismatch: number): TensorComparison => ({
    name,
    dtype,
    dims: [...dims],
    elements,
    maxAbsError: stats.maxAbsError,
    maxRelError: stats.maxRelError,
    mismatches,
    ...(mismatches > 0 ? { firstMismatch } : {}),
  });
  const at = (index: number) =>
    `${formatIndex(dims, index)} (expected ${formatValue(expectedValues, index)}, got ${formatValue(actualValues, index)})`;

  switch (policy.kind) {
    case "allclose": {
      const { mismatches, firstMismatch } = stats;
      if (mismatches === 0) return { comparison: comparison(0, -1) };
      return {
        comparison: comparison(mismatches, firstMismatch),
        reason:
          `tensor ${quote(name)}: ${mismatches} of ${elements} elements outside allclose(absTol=${absTol}, relTol=${relTol}), ` +
          `first at ${at(firstMismatch)}; max abs error ${stats.maxAbsError}`,
      };
    }
    case "exact": {
      const { mismatches, firstMismatch } = byteMismatches(provided.data, reference.data, DTYPES[dtype].size);
      if (mismatches === 0) return { comparison: comparison(0, -1) };
      return {
        comparison: comparison(mismatches, firstMismatch),
        reason: `tensor ${quote(name)}: ${mismatches} of ${elements} elements differ in bytes, first at ${at(firstMismatch)}`,
      };
    }
    case "argmax": {
      const axis = normalizeAxis(policy.axis, reference);
      const rows = argmaxMismatches(actualValues, expectedValues, dims, axis);
      if (rows.mismatches === 0) return { comparison: comparison(0, -1) };
      const { row, start, length, stride } = rows.first;
      const want = rowArgmax(expectedValues, start, length, stride);
      const got = rowArgmax(actualValues, start, length, stride);
      const gotText = got === want ? `index ${got}, NaN on one side only` : `index ${got}`;
      return {
        comparison: comparison(rows.mismatches, row),
        reason:
          `tensor ${quote(name)}: argmax along axis ${axis} differs in ${rows.mismatches} of ${rows.total} rows, ` +
          `first row ${formatRow(dims, axis, row)} (expected index ${want}, got ${gotText})`,
      };
    }
  }
}

function identicalComparison({ name, dtype, dims, data }: Tensor): TensorComparison {
  const elements = data.length / DTYPES[dtype].size;
  return { name, dtype, dims: [...dims], elements, maxAbsError: 0, maxRelError: 0, mismatches: 0 };
}

let float16Table: Float32Array | undefined;

/** Every float16 bit pattern's value (float32 holds each exactly); built on first use. */
function float16Values(): Float32Array {
  if (float16Table === undefined) {
    float16Table = new Float32Array(0x10000);
    for (let bits = 0; bits < 0x10000; bits++) float16Table[bits] = float16ToNumber(bits);
  }
  return float16Table;
}

/**
 * The tensor's elements in one of three array kinds, so the hot loops see few element kinds and
 * stay fast. float32/float64/int64 are views when aligned; the others are widened copies (exact).
 */
function valuesOf(tensor: Tensor): Values {
  switch (tensor.dtype) {
    case "float32":
    case "float64":
    case "int64":
      return tensorToArray(tensor) as Values;
    case "float16": {
      const bits = tensorToArray(tensor as Tensor<"float16">);
      const table = float16Values();
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
      return out;
    }
    case "int8":
    case "uint8":
    case "int32":
    case "bool":
      return new Float64Array(tensorToArray(tensor) as Int8Array | Uint8Array | Int32Array);
  }
}

/** Error statistics and allclose mismatches over all elements; `actual` is a, `expected` is b. */
function measure(actual: Values, expected: Values, absTol: number, relTol: number): ErrorStats {
  if (actual instanceof BigInt64Array || expected instanceof BigInt64Array) {
    return measureInt64(actual as BigInt64Array, expected as BigInt64Array, absTol, relTol);
  }
  return measureFloats(actual, expected, absTol, relTol);
}

function measureFloats(
  actual: Float32Array | Float64Array,
  expected: Float32Array | Float64Array,
  absTol: number,
  relTol: number,
): ErrorStats {
  let maxAbsError = 0;
  let maxRelError = 0;
  let mismatches = 0;
  let firstMismatch = -1;
  const length = expected.length;
  for (let i = 0; i < length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const diff = a > b ? a - b : b - a; // NaN when either is NaN
    const magnitude = b < 0 ? -b : b;
    // `diff < Infinity` keeps an infinite b from passing through an infinite relTol * |b|.
    if (diff <= absTol + relTol * magnitude && diff < Infinity) {
      if (diff > maxAbsError) maxAbsError = diff;
      if (magnitude !== 0 && diff / magnitude > maxRelError) maxRelError = diff / magnitude;
      continue;
    }
    // Outside the formula: equal infinities (Inf - Inf is NaN) and NaN against NaN still agree.
    if (a === b || (a !== a && b !== b)) continue;
    mismatches++;
    if (firstMismatch < 0) firstMismatch = i;
    const finite = diff < Infinity && magnitude < Infinity; // false for NaN too
    const absError = finite ? diff : Infinity;
    if (absError > maxAbsError) maxAbsError = absError;
    if (magnitude !== 0) {
      const relError = finite ? diff / magnitude : Infinity;
      if (relError > maxRelError) maxRelError = relError;
    }
  }
  return { maxAbsError, maxRelError, mismatches, firstMismatch };
}

/**
 * int64 with exact differences. Equal elements are skipped on their 32-bit halves, so an honest
 * output (usually identical) allocates no bigint; `diff <= tolerance` compares a bigint with a
 * double exactly.
 */
function measureInt64(actual: BigInt64Array, expected: BigInt64Array, absTol: number, relTol: number): ErrorStats {
  const actualHalves = new Int32Array(actual.buffer, actual.byteOffset, actual.length * 2);
  const expectedHalves = new Int32Array(expected.buffer, expected.byteOffset, expected.length * 2);
  let maxAbsError = 0;
  let maxRelError = 0;
  let mismatches = 0;
  let firstMismatch = -1;
  for (let i = 0; i < expected.length; i++) {
    if (actualHalves[2 * i] === expectedHalves[2 * i] && actualHalves[2 * i + 1] === expectedHalves[2 * i + 1]) continue;
    const a = actual[i]!;
    const b = expected[i]!;
    const diff = a > b ? a - b : b - a;
    const magnitude = Number(b < 0n ? -b : b);
    const absError = Number(diff);
    if (absError > maxAbsError) maxAbsError = absError;
    if (magnitude !== 0 && absError / magnitude > maxRelError) maxRelError = absError / magnitude;
    if (!(diff <= absTol + relTol * magnitude)) {
      mismatches++;
      if (firstMismatch < 0) firstMismatch = i;
    }
  }
  return { maxAbsError, maxRelError, mismatches, firstMismatch };
}

/** Elements (of `size` bytes) whose bytes differ. */
function byteMismatches(actual: Uint8Array, expected: Uint8Array, size: number): { mismatches: number; firstMismatch: number } {
  let mismatches = 0;
  let firstMismatch = -1;
  if (bytesEqual(actual, expected)) return { mismatches, firstMismatch };
  for (let offset = 0; offset < expected.length; offset += size) {
    for (let k = 0; k < size; k++) {
      if (actual[offset + k] !== expected[offset + k]) {
        mismatches++;
        if (firstMismatch < 0) firstMismatch = offset / size;
        break;
      }
    }
  }
  return { mismatches, firstMismatch };
}

type RowSpan = { row: number; start: number; length: number; stride: number };

/** Rows along `axis` whose top-1 differs: `total` rows, the first mismatching one described by `first`. */
function argmaxMismatches(
  actual: Values,
  expected: Values,
  dims: readonly number[],
  axis: number,
): { mismatches: number; total: number; first: RowSpan } {
  const length = dims[axis]!;
  const stride = dims.slice(axis + 1).reduce((product, dim) => product * dim, 1);
  const outer = dims.slice(0, axis).reduce((product, dim) => product * dim, 1);
  const first: RowSpan = { row: -1, start: 0, length, stride };
  // No elements: nothing to compare (and outer * stride may be huge when another dim is 0).
  if (expected.length === 0) return { mismatches: 0, total: outer * stride, first };
  let mismatches = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < stride; j++) {
      const start = o * length * stride + j;
      const want = rowArgmax(expected, start, length, stride);
      const got = rowArgmax(actual, start, length, stride);
      const at = start + want * stride;
      if (got !== want || isNaNValue(actual[at]!) !== isNaNValue(expected[at]!)) {
        if (mismatches === 0) Object.assign(first, { row: o * stride + j, start });
        mismatches++;
      }
    }
  }
  return { mismatches, total: outer * stride, first };
}

/** numpy's argmax of one row: the first maximum, or the first NaN if there is one. */
function rowArgmax(values: Values, start: number, length: number, stride: number): number {
  let best = 0;
  let bestValue = values[start]!;
  if (bestValue !== bestValue) return 0;
  for (let k = 1, i = start + stride; k < length; k++, i += stride) {
    const value = values[i]!;
    if (value !== value) return k;
    if (value > bestValue) {
      bestValue = value;
      best = k;
    }
  }
  return best;
}

function isNaNValue(value: number | bigint): boolean {
  return value !== value;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A bigint from a bigint or a safe integer number; anything else throws for `field`. */
function toBigInt(value: number | bigint, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw new InvalidToleranceError({ field, problem: `${String(value)} is not an integer` });
}

function uint64(value: number | bigint, field: string): bigint {
  const result = toBigInt(value, field);
  if (result < 0n || result > UINT64_MAX) throw new InvalidToleranceError({ field, problem: `${result} is not a uint64` });
  return result;
}

/** The double nearest to value / 1e12 (one rounding, through the decimal string). */
function fromE12(value: bigint): number {
  return Number(`${value / E12}.${(value % E12).toString().padStart(TOLERANCE_DECIMALS, "0")}`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function formatDims(dims: readonly number[]): string {
  return `[${dims.join(", ")}]`;
}

/** A row-major flat index as coordinates. */
function unravel(dims: readonly number[], index: number): number[] {
  const coordinates = new Array<number>(dims.length);
  let rest = index;
  for (let k = dims.length - 1; k >= 0; k--) {
    coordinates[k] = rest % dims[k]!;
    rest = Math.floor(rest / dims[k]!);
  }
  return coordinates;
}

/** An element's coordinates, e.g. [0, 2, 1]. */
function formatIndex(dims: readonly number[], index: number): string {
  return formatDims(unravel(dims, index));
}

/** A row along `axis`, numpy-style: [0, :, 3]. */
function formatRow(dims: readonly number[], axis: number, row: number): string {
  const coordinates: (number | string)[] = unravel(
    dims.filter((_, k) => k !== axis),
    row,
  );
  coordinates.splice(axis, 0, ":");
  return `[${coordinates.join(", ")}]`;
}

function formatValue(values: Values, index: number): string {
  const value = values[index]!;
  return Object.is(value, -0) ? "-0" : String(value);
}
