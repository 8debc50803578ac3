import assert from "node:assert/strict";

import { encodeTensorBlob, tensorFromArray, type DType, type Tensor, type TypedArrayFor } from "../../offchain/codec/tensor.js";
import {
  compareOutputs,
  InvalidToleranceError,
  toleranceFromChain,
  type CompareOutputsReturnType,
  type TolerancePolicy,
} from "../../offchain/codec/tolerance.js";
import { CodecError, NonRetryableError } from "../../offchain/errors.js";

type Values<D extends DType> = TypedArrayFor<D> | ArrayLike<D extends "int64" ? bigint : number>;

function tensor<D extends DType>(dtype: D, values: Values<D>, dims?: number[], name = "out"): Tensor<D> {
  return tensorFromArray({ name, dtype, values: values as TypedArrayFor<D>, dims });
}

const blob = (...tensors: Tensor[]) => encodeTensorBlob(tensors);

function compare(expected: Tensor | Tensor[], actual: Tensor | Tensor[], policy: TolerancePolicy): CompareOutputsReturnType {
  const list = (t: Tensor | Tensor[]) => (Array.isArray(t) ? t : [t]);
  return compareOutputs({ expected: blob(...list(expected)), actual: blob(...list(actual)), policy });
}

const allclose = (absTol: number, relTol: number): TolerancePolicy => ({ kind: "allclose", absTol, relTol });
const argmax = (axis: number): TolerancePolicy => ({ kind: "argmax", axis });
const EXACT: TolerancePolicy = { kind: "exact" };

/** The next double above x (x finite, > 0). */
function nextUp64(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

/** The next float32 above x (x a finite float32, > 0). */
function nextUp32(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  view.setUint32(0, view.getUint32(0) + 1);
  return view.getFloat32(0);
}

/** Asserts that `run` throws an InvalidToleranceError for `field` whose message contains `text`. */
function assertInvalid(run: () => unknown, field: string, text?: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidToleranceError, `expected an InvalidToleranceError, got ${String(error)}`);
    assert.ok(error instanceof NonRetryableError);
    assert.equal(error.field, field, error.message);
    if (text !== undefined) assert.ok(error.message.includes(text), error.message);
    return true;
  });
}

function assertAgree(report: CompareOutputsReturnType): void {
  assert.equal(report.verdict, "agree", report.reason);
  assert.equal(report.reason, undefined);
}

function assertDisagree(report: CompareOutputsReturnType, ...fragments: string[]): string {
  assert.equal(report.verdict, "disagree");
  assert.ok(report.reason !== undefined);
  for (const fragment of fragments) assert.ok(report.reason.includes(fragment), `reason "${report.reason}" lacks "${fragment}"`);
  return report.reason;
}

describe("toleranceFromChain", () => {
  it("converts allclose tolerances from 12-decimal fixed point to the nearest doubles", () => {
    assert.deepEqual(toleranceFromChain({ kind: 0, axis: 0, absTolE12: 100_000n, relTolE12: 1_000_000_000n }), {
      kind: "allclose",
      absTol: 1e-7,
      relTol: 1e-3,
    });
    assert.deepEqual(toleranceFromChain({ kind: 0n, axis: 0n, absTolE12: 10n ** 12n, relTolE12: 1 }), {
      kind: "allclose",
      absTol: 1,
      relTol: 1e-12,
    });
    // Each result is the literal itself, not a value one rounding away from it.
    const fromE12 = (absTolE12: bigint, relTolE12: bigint) => toleranceFromChain({ kind: 0, axis: 0, absTolE12, relTolE12 });
    assert.deepEqual(fromE12(1_000_000n, 300_000_000_000n), { kind: "allclose", absTol: 1e-6, relTol: 0.3 });
    assert.deepEqual(fromE12(2_500_000_000_000n, 10_000_000_000n), { kind: "allclose", absTol: 2.5, relTol: 0.01 });
    const max = toleranceFromChain({ kind: 0, axis: 0, absTolE12: 2n ** 64n - 1n, relTolE12: 0 }) as { absTol: number };
    assert.equal(max.absTol, 18446744.073709551615);
  });

  it("ignores the axis of an allclose or exact policy", () => {
    const policy = toleranceFromChain({ kind: 0, axis: 3, absTolE12: 0, relTolE12: 0 });
    assert.deepEqual(policy, { kind: "allclose", absTol: 0, relTol: 0 });
    assert.deepEqual(toleranceFromChain({ kind: 2, axis: -1, absTolE12: 0n, relTolE12: 0n }), { kind: "exact" });
  });

  it("keeps the sign of an argmax axis, from a number or a bigint", () => {
    assert.deepEqual(toleranceFromChain({ kind: 1, axis: -1, absTolE12: 0n, relTolE12: 0n }), { kind: "argmax", axis: -1 });
    assert.deepEqual(toleranceFromChain({ kind: 1n, axis: 2n, absTolE12: 0, relTolE12: 0 }), { kind: "argmax", axis: 2 });
    assert.deepEqual(toleranceFromChain({ kind: 1, axis: -128, absTolE12: 0, relTolE12: 0 }), { kind: "argmax", axis: -128 });
  });

  it("rejects unknown kinds, naming the kind", () => {
    const withKind = (kind: number | bigint) => () => toleranceFromChain({ kind, axis: 0, absTolE12: 0, relTolE12: 0 });
    assertInvalid(withKind(3), "tolerance.kind", "unknown tolerance kind 3");
    assertInvalid(withKind(255n), "tolerance.kind", "255");
    assertInvalid(withKind(-1), "tolerance.kind");
    assertInvalid(withKind(0.5), "tolerance.kind", "not an integer");
  });

  it("rejects fields outside their Solidity types", () => {
    assertInvalid(() => toleranceFromChain({ kind: 0, axis: 0, absTolE12: -1n, relTolE12: 0 }), "tolerance.absTolE12", "uint64");
    assertInvalid(
      () => toleranceFromChain({ kind: 0, axis: 0, absTolE12: 0, relTolE12: 2n ** 64n }),
      "tolerance.relTolE12",
      "uint64",
    );
    assertInvalid(() => toleranceFromChain({ kind: 0, axis: 0, absTolE12: 1.5, relTolE12: 0 }), "tolerance.absTolE12");
    assertInvalid(() => toleranceFromChain({ kind: 1, axis: 128, absTolE12: 0, relTolE12: 0 }), "tolerance.axis", "int8");
    assertInvalid(() => toleranceFromChain({ kind: 1, axis: -129n, absTolE12: 0, relTolE12: 0 }), "tolerance.axis", "int8");
  });

  it("rejects a numeric tolerance on argmax or exact, as the registry does", () => {
    assertInvalid(() => toleranceFromChain({ kind: 1, axis: 0, absTolE12: 1, relTolE12: 0 }), "tolerance.absTolE12", "argmax");
    assertInvalid(() => toleranceFromChain({ kind: 2, axis: 0, absTolE12: 0, relTolE12: 1n }), "tolerance.relTolE12", "exact");
  });
});

describe("compareOutputs: structure and decoding", () => {
  it("agrees at once on byte-equal blobs, NaN included, and reports zero errors", () => {
    const values = new Float32Array([1, NaN, -Infinity, 0.5]);
    const bytes = blob(tensor("float32", values, [2, 2]), tensor("int64", [7n], [], "n"));
    const report = compareOutputs({ expected: bytes, actual: bytes.slice(), policy: allclose(0, 0) });
    assertAgree(report);
    assert.deepEqual(report.tensors, [
      { name: "n", dtype: "int64", dims: [], elements: 1, maxAbsError: 0, maxRelError: 0, mismatches: 0 },
      { name: "out", dtype: "float32", dims: [2, 2], elements: 4, maxAbsError: 0, maxRelError: 0, mismatches: 0 },
    ]);
  });

  it("reports a truncated provider blob as a disagreement naming the decode error", () => {
    const bytes = blob(tensor("float32", [1, 2, 3]));
    const report = compareOutputs({ expected: bytes, actual: bytes.subarray(0, bytes.length - 1), policy: allclose(1, 1) });
    assertDisagree(report, "does not decode", "tensors[0].data", "remain");
    assert.deepEqual(report.tensors, []);
  });

  it("reports garbage, an empty blob, trailing bytes and an oversized blob as disagreements", () => {
    const bytes = blob(tensor("float32", [1, 2, 3]));
    const garbage = Uint8Array.from({ length: bytes.length }, (_, i) => (i * 97 + 13) % 256);
    assertDisagree(compareOutputs({ expected: bytes, actual: garbage, policy: EXACT }), "does not decode", "magic");
    assertDisagree(compareOutputs({ expected: bytes, actual: new Uint8Array(0), policy: EXACT }), "does not decode", "magic");
    const trailing = new Uint8Array([...bytes, 0]);
    assertDisagree(compareOutputs({ expected: bytes, actual: trailing, policy: EXACT }), "does not decode", "trailing");
    const big = blob(tensor("float32", new Float32Array(100)));
    const capped = compareOutputs({ expected: bytes, actual: big, policy: allclose(1e9, 1), maxBytes: bytes.length + 10 });
    assertDisagree(capped, "does not decode", "over the cap");
  });

  it("throws a CodecError, not a verdict, when the verifier's own output does not decode", () => {
    const bytes = blob(tensor("float32", [1]));
    assert.throws(
      () => compareOutputs({ expected: bytes.subarray(1), actual: bytes, policy: EXACT }),
      (error: unknown) => error instanceof CodecError && error.field === "expected" && error.message.includes("magic"),
    );
  });

  it("disagrees when a tensor is missing, extra or renamed, naming it", () => {
    const a = tensor("float32", [1], [1], "a");
    const b = tensor("float32", [1], [1], "b");
    const c = tensor("float32", [1], [1], "c");
    assertDisagree(compare([a, b], [a], allclose(1, 1)), 'lacks tensor "b"');
    assertDisagree(compare([a], [a, c], allclose(1, 1)), 'unexpected tensor "c"');
    assertDisagree(compare([a, b], [a, c], allclose(1, 1)), 'lacks tensor "b"');
    assert.deepEqual(compare([a, b], [a, c], allclose(1, 1)).tensors, []);
  });

  it("disagrees on a different dtype even when the values are equal", () => {
    const want = tensor("float32", [1, 2], [2], "logits");
    const got = tensor("float64", [1, 2], [2], "logits");
    assertDisagree(compare(want, got, allclose(1, 1)), '"logits"', "dtype float64, expected float32");
  });

  it("disagrees on a transposed shape even when the data bytes are equal", () => {
    const values = [1, 2, 3, 4, 5, 6];
    const want = tensor("float32", values, [2, 3]);
    const got = tensor("float32", values, [3, 2]);
    assert.deepEqual(want.data, got.data);
    assertDisagree(compare(want, got, EXACT), '"out"', "dims [3, 2], expected [2, 3]");
    assertDisagree(compare(tensor("float32", [1], []), tensor("float32", [1], [1]), allclose(1, 1)), "dims [1], expected []");
  });

  it("rejects a malformed policy by throwing, whatever the blobs", () => {
    const bytes = blob(tensor("float32", [1]));
    const run = (policy: unknown) => () => compareOutputs({ expected: bytes, actual: bytes, policy: policy as TolerancePolicy });
    assertInvalid(run({ kind: "allclose", absTol: -1, relTol: 0 }), "policy.absTol");
    assertInvalid(run({ kind: "allclose", absTol: 0, relTol: NaN }), "policy.relTol");
    assertInvalid(run({ kind: "allclose", absTol: Infinity, relTol: 0 }), "policy.absTol");
    assertInvalid(run({ kind: "argmax", axis: 0.5 }), "policy.axis");
    assertInvalid(run({ kind: "close enough" }), "policy.kind", "close enough");
  });
});

describe("compareOutputs: allclose", () => {
  it("agrees exactly at the absolute tolerance and disagrees one ulp past it (float64)", () => {
    assertAgree(compare(tensor("float64", [1]), tensor("float64", [1.5]), allclose(0.5, 0)));
    assertAgree(compare(tensor("float64", [1]), tensor("float64", [0.5]), allclose(0.5, 0)));
    const report = compare(tensor("float64", [1]), tensor("float64", [nextUp64(1.5)]), allclose(0.5, 0));
    assertDisagree(report, '"out"', "1 of 1 elements", "first at [0]", "got 1.5000000000000002");
    assert.equal(report.tensors[0]!.mismatches, 1);
    assert.equal(report.tensors[0]!.firstMismatch, 0);
  });

  it("agrees exactly at the relative tolerance and disagrees one ulp past it", () => {
    assertAgree(compare(tensor("float64", [2]), tensor("float64", [3]), allclose(0, 0.5)));
    assertAgree(compare(tensor("float64", [-2]), tensor("float64", [-1]), allclose(0, 0.5)));
    assertDisagree(compare(tensor("float64", [2]), tensor("float64", [nextUp64(3)]), allclose(0, 0.5)));
    assertDisagree(compare(tensor("float64", [-2]), tensor("float64", [-nextUp64(3)]), allclose(0, 0.5)));
  });

  it("adds the absolute and relative terms, at the float32 boundary", () => {
    // tolerance = 0.5 + 0.01 * 100 = 1.5
    assertAgree(compare(tensor("float32", [100]), tensor("float32", [101.5]), allclose(0.5, 0.01)));
    assertDisagree(compare(tensor("float32", [100]), tensor("float32", [nextUp32(101.5)]), allclose(0.5, 0.01)));
    assertDisagree(compare(tensor("float32", [100]), tensor("float32", [101.5]), allclose(0.5, 0)));
    assertDisagree(compare(tensor("float32", [100]), tensor("float32", [101.5]), allclose(0, 0.01)));
  });

  it("scales the relative term by the verifier's value, not the provider's", () => {
    // expected 10: tolerance 5 < 10; expected 20: tolerance 10.
    assertDisagree(compare(tensor("float64", [10]), tensor("float64", [20]), allclose(0, 0.5)));
    assertAgree(compare(tensor("float64", [20]), tensor("float64", [10]), allclose(0, 0.5)));
  });

  it("reports max abs and relative errors, the relative one over nonzero expected values only", () => {
    const report = compare(tensor("float64", [1, 0, -4, 8]), tensor("float64", [1.25, 0.5, -5, 8]), allclose(1, 0));
    assertAgree(report);
    assert.deepEqual(report.tensors, [
      { name: "out", dtype: "float64", dims: [4], elements: 4, maxAbsError: 1, maxRelError: 0.25, mismatches: 0 },
    ]);
  });

  it("counts every element outside tolerance and locates the first one by coordinates", () => {
    const want = tensor("float32", [0, 0, 0, 0, 0, 0], [2, 3]);
    const got = tensor("float32", [0, 0.05, 0, 0.5, 0, -0.25], [2, 3]);
    const report = compare(want, got, allclose(0.1, 0));
    assertDisagree(
      report,
      "2 of 6 elements outside allclose(absTol=0.1, relTol=0)",
      "first at [1, 0] (expected 0, got 0.5)",
      "max abs error 0.5",
    );
    assert.equal(report.tensors[0]!.mismatches, 2);
    assert.equal(report.tensors[0]!.firstMismatch, 3);
    assert.equal(report.tensors[0]!.maxAbsError, 0.5);
  });

  it("disagrees on NaN from the provider where the verifier has a number, whatever the tolerance", () => {
    const report = compare(tensor("float32", [1, 2]), tensor("float32", [1, NaN]), allclose(1e6, 1));
    assertDisagree(report, "first at [1] (expected 2, got NaN)");
    assert.equal(report.tensors[0]!.maxAbsError, Infinity);
    assert.equal(report.tensors[0]!.maxRelError, Infinity);
    assertDisagree(compare(tensor("float32", [NaN]), tensor("float32", [2]), allclose(1e6, 1)));
  });

  it("counts NaN against NaN as equal, whatever the NaN's bits", () => {
    // Different NaN payloads, so the blobs are not byte-equal and the elements are compared.
    const quiet = new Float32Array(new Uint32Array([0x7fc00000, 0x3f800000]).buffer);
    const other = new Float32Array(new Uint32Array([0xffc00001, 0x3f800000]).buffer);
    const report = compare(tensor("float32", quiet), tensor("float32", other), allclose(0, 0));
    assertAgree(report);
    assert.equal(report.tensors[0]!.maxAbsError, 0);
  });

  it("counts equal infinities as equal and any other infinity as a disagreement", () => {
    const want = tensor("float64", [Infinity, -Infinity, 0.5]);
    assertAgree(compare(want, tensor("float64", [Infinity, -Infinity, 0.25]), allclose(0.25, 0)));
    assertDisagree(compare(want, tensor("float64", [-Infinity, -Infinity, 0.5]), allclose(1e6, 1)), "got -Infinity");
    // Provider infinite where the verifier is finite, even with a relative tolerance of 1.
    assertDisagree(compare(tensor("float64", [3]), tensor("float64", [Infinity]), allclose(1e6, 1)));
    // Verifier infinite, provider finite: relTol * |Inf| must not swallow the difference.
    const report = compare(tensor("float64", [Infinity]), tensor("float64", [1e300]), allclose(1e6, 1));
    assertDisagree(report);
    assert.equal(report.tensors[0]!.maxAbsError, Infinity);
    assertDisagree(compare(tensor("float64", [Infinity]), tensor("float64", [NaN]), allclose(1e6, 1)));
  });

  it("compares float16 through its half-precision values", () => {
    // 0x3c00 = 1, 0x3c01 = 1 + 2^-10, 0x3c02 = 1 + 2^-9
    assertAgree(compare(tensor("float16", [0x3c00]), tensor("float16", [0x3c01]), allclose(2 ** -10, 0)));
    const report = compare(tensor("float16", [0x3c00]), tensor("float16", [0x3c02]), allclose(2 ** -10, 0));
    assertDisagree(report, "expected 1, got 1.001953125");
    assert.equal(report.tensors[0]!.maxAbsError, 2 ** -9);
    // NaN payloads (0x7e00, 0x7e01) agree; +Inf (0x7c00) against 65504 (0x7bff) does not.
    assertAgree(compare(tensor("float16", [0x7e00]), tensor("float16", [0x7e01]), allclose(0, 0)));
    assertDisagree(compare(tensor("float16", [0x7bff]), tensor("float16", [0x7c00]), allclose(1e6, 1)));
  });

  it("compares int64 exactly, beyond where doubles would round the difference away", () => {
    const base = 2n ** 62n;
    const want = tensor("int64", [base + 1n, -3n]);
    const got = tensor("int64", [base + 2n, -3n]);
    const strict = compare(want, got, allclose(0, 0));
    assertDisagree(strict, "first at [0]", `expected ${base + 1n}, got ${base + 2n}`);
    assert.equal(strict.tensors[0]!.maxAbsError, 1);
    assert.equal(strict.tensors[0]!.mismatches, 1);
    assertAgree(compare(want, got, allclose(1, 0)));
    assertDisagree(compare(want, got, allclose(0.999, 0)));
    const extremes = compare(tensor("int64", [-(2n ** 63n)]), tensor("int64", [2n ** 63n - 1n]), allclose(1e6, 0.5));
    assertDisagree(extremes);
    assert.equal(extremes.tensors[0]!.maxAbsError, 2 ** 64);
  });

  it("compares small integer dtypes numerically, so absTol 1 admits off-by-one quantization", () => {
    assertAgree(compare(tensor("uint8", [10, 200, 0]), tensor("uint8", [11, 199, 0]), allclose(1, 0)));
    assertDisagree(compare(tensor("uint8", [10, 200, 0]), tensor("uint8", [11, 199, 0]), allclose(0.99, 0)), "2 of 3");
    assertAgree(compare(tensor("int8", [-128, 127]), tensor("int8", [-127, 126]), allclose(1, 0)));
    const wide = compare(tensor("int32", [-2_000_000_000]), tensor("int32", [2_000_000_000]), allclose(0, 0));
    assert.equal(wide.tensors[0]!.maxAbsError, 4_000_000_000);
  });

  it("compares bool as 0 and 1", () => {
    assertDisagree(compare(tensor("bool", [1, 0]), tensor("bool", [0, 0]), allclose(0.5, 0)), "expected 1, got 0");
    assertAgree(compare(tensor("bool", [1, 0]), tensor("bool", [0, 0]), allclose(1, 0)));
  });

  it("agrees on empty tensors and compares scalars", () => {
    const empties = [tensor("float32", [], [0], "a"), tensor("int64", [], [2, 0, 3], "b")];
    const scalar = (value: number) => tensor("float32", [value], [], "c");
    const report = compare([...empties, scalar(1)], [...empties, scalar(1.1)], allclose(0.2, 0));
    assertAgree(report);
    assert.deepEqual(
      report.tensors.map(({ name, elements, mismatches }) => [name, elements, mismatches]),
      [
        ["a", 0, 0],
        ["b", 0, 0],
        ["c", 1, 0],
      ],
    );
    assertDisagree(compare(tensor("float32", [1], []), tensor("float32", [2], []), allclose(0.5, 0)), "first at []");
  });

  it("names the first disagreeing tensor and counts the others", () => {
    const want = [tensor("float32", [1], [1], "a"), tensor("float32", [1], [1], "b"), tensor("float32", [1], [1], "c")];
    const got = [tensor("float32", [1], [1], "a"), tensor("float32", [2], [1], "b"), tensor("float32", [3], [1], "c")];
    const report = compare(want, got, allclose(0.5, 0));
    const reason = assertDisagree(report, 'tensor "b"', "1 more tensor(s) disagree");
    assert.ok(!reason.includes('tensor "a"'));
    assert.deepEqual(
      report.tensors.map(({ mismatches }) => mismatches),
      [0, 1, 1],
    );
  });

  it("compares 4M float32 elements (a 1x1x2048x2048 map) well under a second", function () {
    this.timeout(60_000);
    const count = 4 * 1024 * 1024;
    const want = new Float32Array(count);
    const got = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      want[i] = (i % 1000) / 1000;
      got[i] = want[i]! + (i % 7) * 1e-7;
    }
    got[123_456] = want[123_456]! + 0.01;
    got[count - 1] = NaN;
    const expected = blob(tensor("float32", want, [1, 1, 2048, 2048], "det"));
    const actual = blob(tensor("float32", got, [1, 1, 2048, 2048], "det"));
    compareOutputs({ expected, actual, policy: allclose(1e-5, 1e-4) }); // warm up
    const started = performance.now();
    const report = compareOutputs({ expected, actual, policy: allclose(1e-5, 1e-4) });
    const elapsed = performance.now() - started;
    assertDisagree(report, "2 of 4194304 elements", "first at [0, 0, 60, 576]");
    assert.equal(report.tensors[0]!.firstMismatch, 123_456);
    // Generous for a loaded CI host; per-element allocation would take several times this.
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
  });
});

describe("compareOutputs: argmax", () => {
  // A [2, 3, 4] tensor whose value at (i, j, k) is 100i + 10j + k, so every maximum is unique:
  // along axis 2 at k = 3, along axis 1 at j = 2, along axis 0 at i = 1.
  const dims = [2, 3, 4];
  const base = () =>
    Float64Array.from({ length: 24 }, (_, n) => 100 * Math.floor(n / 12) + 10 * (Math.floor(n / 4) % 3) + (n % 4));
  const at = (i: number, j: number, k: number) => 12 * i + 4 * j + k;

  it("agrees when every row's top-1 is the same, reporting the error as information", () => {
    const got = base().map((v) => v + 0.5);
    const report = compare(tensor("float64", base(), dims), tensor("float64", got, dims), argmax(-1));
    assertAgree(report);
    assert.equal(report.tensors[0]!.maxAbsError, 0.5);
    assert.equal(report.tensors[0]!.mismatches, 0);
  });

  it("counts the rows whose top-1 moved along a negative axis, as numpy counts it", () => {
    const got = base();
    got[at(1, 2, 0)] = 1000; // row (1, 2, :) now peaks at k = 0; column (1, :, 0) still peaks at j = 2
    const want = tensor("float64", base(), dims);
    const actual = tensor("float64", got, dims);
    for (const axis of [-1, 2]) {
      const report = compare(want, actual, argmax(axis));
      assertDisagree(report, "argmax along axis 2 differs in 1 of 6 rows", "first row [1, 2, :] (expected index 3, got index 0)");
      assert.equal(report.tensors[0]!.mismatches, 1);
      assert.equal(report.tensors[0]!.firstMismatch, 5);
      assert.equal(report.tensors[0]!.maxAbsError, 1000 - 120);
    }
    assertAgree(compare(want, actual, argmax(-2)));
    // Along the middle axis, a row in the second block: (1, :, 3) now peaks at j = 0.
    const middle = base();
    middle[at(1, 0, 3)] = 1000;
    for (const axis of [1, -2]) {
      const report = compare(want, tensor("float64", middle, dims), argmax(axis));
      assertDisagree(report, "argmax along axis 1 differs in 1 of 8 rows", "first row [1, :, 3] (expected index 2, got index 0)");
      assert.equal(report.tensors[0]!.firstMismatch, 7);
    }
    // Along axis 0, (:, 2, 0) now peaks at i = 1 as before: still agrees. Move a top-1 to i = 0.
    got[at(0, 0, 1)] = 500;
    for (const axis of [0, -3]) {
      const report = compare(want, tensor("float64", got, dims), argmax(axis));
      assertDisagree(report, "differs in 1 of 12 rows", "first row [:, 0, 1] (expected index 1, got index 0)");
      assert.equal(report.tensors[0]!.firstMismatch, 1);
    }
  });

  it("resolves ties to the first index", () => {
    const row = (values: number[]) => tensor("float64", values, [1, 4]);
    // Tie at 1 and 2 picks 1: agrees with a unique peak at 1, disagrees with a unique peak at 2.
    assertAgree(compare(row([0, 5, 4.9, 0]), row([0, 5, 5, 0]), argmax(1)));
    assertDisagree(compare(row([0, 4.9, 5, 0]), row([0, 5, 5, 0]), argmax(1)), "expected index 2, got index 1");
    assertAgree(compare(row([7, 7, 7, 7]), row([7, 6, 6, 6]), argmax(-1)));
  });

  it("treats NaN as the maximum but never lets a provider NaN stand for the verifier's number", () => {
    const row = (values: number[]) => tensor("float32", values, [1, 3]);
    // The provider's NaN sits where the verifier's maximum is: same index, still a mismatch.
    assertDisagree(compare(row([0, 5, 1]), row([0, NaN, 1]), argmax(1)), "index 1, NaN on one side only");
    assertDisagree(compare(row([0, 5, 1]), row([NaN, 0, 0]), argmax(1)), "expected index 1, got index 0");
    assertAgree(compare(row([NaN, 5, 1]), row([NaN, 4, 1]), argmax(1)));
  });

  it("works on int64, float16 and bool rows", () => {
    const big = 2n ** 62n; // neighbours that doubles cannot tell apart
    const longs = (values: bigint[]) => tensor("int64", values, [1, 3]);
    assertAgree(compare(longs([1n, big + 1n, big]), longs([0n, big + 1n, big]), argmax(1)));
    assertDisagree(compare(longs([1n, big + 1n, big]), longs([1n, big, big + 1n]), argmax(1)), "expected index 1, got index 2");
    const halves = (values: number[]) => tensor("float16", values);
    assertDisagree(compare(halves([0x3c00, 0x3c01]), halves([0x3c01, 0x3c00]), argmax(0)), "expected index 1, got index 0");
    assertAgree(compare(tensor("bool", [0, 1, 1]), tensor("bool", [0, 1, 0]), argmax(0)));
  });

  it("agrees on rows along an empty axis and on tensors without elements", () => {
    const empty = tensor("float32", [], [2, 0, 3], "a");
    // A second tensor that differs (so the blobs are not byte-equal) but keeps every top-1.
    const want = tensor("float32", [1, 2], [1, 1, 2], "z");
    const got = tensor("float32", [1, 3], [1, 1, 2], "z");
    for (const axis of [0, 1, 2, -2]) {
      const report = compare([empty, want], [empty, got], argmax(axis));
      assertAgree(report);
      assert.deepEqual(report.tensors[0], {
        name: "a",
        dtype: "float32",
        dims: [2, 0, 3],
        elements: 0,
        maxAbsError: 0,
        maxRelError: 0,
        mismatches: 0,
      });
    }
  });

  it("throws when the axis does not exist in the verifier's tensor, since that is the policy's fault", () => {
    const bytes = blob(tensor("float64", base(), dims));
    const other = blob(tensor("float64", base().map((v) => -v), dims));
    assertInvalid(
      () => compareOutputs({ expected: bytes, actual: other, policy: argmax(3) }),
      "policy.axis",
      'axis 3 does not exist in tensor "out" of rank 3',
    );
    assertInvalid(() => compareOutputs({ expected: bytes, actual: other, policy: argmax(-4) }), "policy.axis");
    const scalar = blob(tensor("float32", [1], []));
    assertInvalid(() => compareOutputs({ expected: scalar, actual: scalar, policy: argmax(0) }), "policy.axis");
  });
});

describe("compareOutputs: exact", () => {
  it("disagrees on any byte difference, even -0 against 0, which allclose accepts", () => {
    const want = tensor("float32", [0, 1, 2]);
    const got = tensor("float32", [-0, 1, 2]);
    const report = compare(want, got, EXACT);
    assertDisagree(report, "1 of 3 elements differ in bytes", "first at [0] (expected 0, got -0)");
    assert.equal(report.tensors[0]!.mismatches, 1);
    assertAgree(compare(want, got, allclose(0, 0)));
  });

  it("counts differing elements, not bytes, and reports the numeric error as information", () => {
    const report = compare(tensor("int32", [1, 2, 3, 4], [2, 2]), tensor("int32", [1, 2 + 256 + 65536, 3, 5], [2, 2]), EXACT);
    assertDisagree(report, "2 of 4 elements differ in bytes", "first at [0, 1]");
    assert.equal(report.tensors[0]!.mismatches, 2);
    assert.equal(report.tensors[0]!.firstMismatch, 1);
    assert.equal(report.tensors[0]!.maxAbsError, 65792);
  });

  it("judges each tensor on its own: NaN with the same bits is byte-equal", () => {
    const nan = tensor("float32", [NaN, 1], [2], "a");
    const report = compare([nan, tensor("int8", [1], [1], "b")], [nan, tensor("int8", [2], [1], "b")], EXACT);
    assertDisagree(report, 'tensor "b"', "expected 1, got 2");
    assert.ok(!report.reason!.includes('tensor "a"'));
    assert.deepEqual(
      report.tensors.map(({ name, mismatches }) => [name, mismatches]),
      [
        ["a", 0],
        ["b", 1],
      ],
    );
  });
});
