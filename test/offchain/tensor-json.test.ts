/**
 * What `dinfer tensor encode|decode` stand on: the .npy reader (offchain/codec/npy.ts, on files NumPy
 * wrote: test/fixtures/npy, made with `np.save`), tensors from and to JSON (offchain/codec/tensor-json.ts),
 * and the input check a post runs (offchain/inference/input-rules.ts declaredInputs, on a real ONNX model).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, it } from "mocha";

import { readNpy } from "../../offchain/codec/npy.js";
import { numberToFloat16, tensorsFromJson, tensorsToJson } from "../../offchain/codec/tensor-json.js";
import { decodeTensorBlob, encodeTensorBlob, float16ToNumber, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { CodecError } from "../../offchain/errors.js";
import { declaredInputs } from "../../offchain/inference/input-rules.js";
import { checkInputFits, JobInputError } from "../../offchain/sdk/input-check.js";
import { buildOnnxModel, ELEM } from "../helpers/onnx-build.js";

const NPY = fileURLToPath(new URL("../fixtures/npy/", import.meta.url));
const npy = (file: string, name = "x") => readNpy({ bytes: new Uint8Array(readFileSync(NPY + file)), name, source: file });

function codecError(run: () => unknown): CodecError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof CodecError, `expected a CodecError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a CodecError");
}

describe("codec/npy: NumPy arrays as tensors", () => {
  it("reads a float32 array saved by NumPy with its shape and values", () => {
    const t = npy("f4_2x3.npy");
    assert.deepEqual([t.name, t.dtype, t.dims], ["x", "float32", [2, 3]]);
    assert.deepEqual([...tensorToArray(t)], [0, 0.25, 0.5, 0.75, 1, 1.25]);
  });

  it("swaps a big-endian int64 array to the blob's little-endian", () => {
    const t = npy("i8_be.npy");
    assert.equal(t.dtype, "int64");
    assert.deepEqual([...tensorToArray(t)], [1n, -2n, 2n ** 40n]);
  });

  it("reads a bool array as 0 and 1", () => {
    const t = npy("bool_2.npy");
    assert.deepEqual([t.dtype, [...t.data]], ["bool", [1, 0]]);
  });

  it("refuses a Fortran-ordered array and a dtype blobs cannot carry, saying how to convert", () => {
    assert.match(codecError(() => npy("fortran.npy")).message, /Fortran order: save np\.ascontiguousarray/);
    assert.match(codecError(() => npy("u2.npy")).message, /dtype <u2 cannot go in a tensor blob.*astype/);
  });

  it("refuses a file that is not .npy and one whose data is short of its shape", () => {
    assert.match(codecError(() => readNpy({ bytes: new TextEncoder().encode('{"x": [1]}'), name: "x" })).message, /not an \.npy file/);
    const cut = new Uint8Array(readFileSync(NPY + "f4_2x3.npy")).subarray(0, 150);
    assert.match(codecError(() => readNpy({ bytes: cut, name: "x" })).message, /needs 24 data bytes, the file has 22/);
  });
});

describe("codec/tensor-json: tensors from and to JSON", () => {
  it("builds tensors from { dtype, dims, data } and from nested arrays (dims from the nesting)", () => {
    const [mask, x] = decodeTensorBlob(
      encodeTensorBlob(tensorsFromJson({ json: { x: { dtype: "int32", dims: [2, 2], data: [1, 2, 3, 4] }, mask: [[1, 0, 1], [0, 1, 0]] } })),
    );
    assert.deepEqual([x!.name, x!.dtype, x!.dims, [...tensorToArray(x!)]], ["x", "int32", [2, 2], [1, 2, 3, 4]]);
    assert.deepEqual([mask!.dtype, mask!.dims, [...tensorToArray(mask!)]], ["float32", [2, 3], [1, 0, 1, 0, 1, 0]]);
  });

  it("round-trips every dtype through JSON exactly: int64 past 2^53 as a string, NaN and the infinities as strings", () => {
    const tensors = [
      tensorFromArray({ name: "a", dtype: "float32", values: [0.1, -1.5, NaN, Infinity, -Infinity], dims: [5] }),
      tensorFromArray({ name: "b", dtype: "int64", values: [2n ** 60n, -3n], dims: [2] }),
      tensorFromArray({ name: "c", dtype: "float16", values: [numberToFloat16(0.333), numberToFloat16(-2)], dims: [1, 2] }),
      tensorFromArray({ name: "d", dtype: "bool", values: [true, false], dims: [2] }),
      tensorFromArray({ name: "e", dtype: "float64", values: [Math.PI], dims: [] }),
      tensorFromArray({ name: "f", dtype: "uint8", values: [0, 255], dims: [2] }),
    ];
    const blob = encodeTensorBlob(tensors);
    const json = JSON.parse(JSON.stringify(tensorsToJson(decodeTensorBlob(blob))));
    assert.deepEqual(json.b.data, ["1152921504606846976", -3]);
    assert.deepEqual(json.a.data.slice(2), ["NaN", "Infinity", "-Infinity"]);
    assert.deepEqual(json.d.data, [true, false]);
    assert.deepEqual(Buffer.from(encodeTensorBlob(tensorsFromJson({ json }))), Buffer.from(blob));
  });

  it("rounds to float16 to nearest, ties to even", () => {
    assert.equal(numberToFloat16(1), 0x3c00);
    assert.equal(float16ToNumber(numberToFloat16(0.333)), 1364 / 4096); // the nearest half: 0.333 is 1363.97 steps of 2^-12
    assert.equal(numberToFloat16(1 + 2 ** -11), 0x3c00); // a tie: stays on the even 1.0
    assert.equal(numberToFloat16(1 + 3 * 2 ** -11), 0x3c02); // a tie: up to the even neighbour
    assert.equal(numberToFloat16(70000), 0x7c00);
    assert.equal(float16ToNumber(numberToFloat16(2 ** -24)), 2 ** -24);
  });

  it("names the tensor and element at fault: a ragged array, a count that does not fit dims, a value out of range", () => {
    assert.match(codecError(() => tensorsFromJson({ json: { x: [[1, 2], [3]] } })).message, /^json\.x\[1\]: expected an array of 2/);
    assert.match(codecError(() => tensorsFromJson({ json: { x: { dtype: "float32", dims: [2, 2], data: [1, 2, 3] } } })).message, /^json\.x\.data: holds 3 elements, dims \[2, 2\] need 4/);
    assert.match(codecError(() => tensorsFromJson({ json: { x: { dtype: "uint8", dims: [1], data: [256] } } })).message, /^json\.x\.data\[0\]: 256 is not an uint8/);
    assert.match(codecError(() => tensorsFromJson({ json: [1, 2] })).message, /expected an object of named tensors/);
  });
});

describe("input check before a post", () => {
  const model = buildOnnxModel({
    graph: {
      nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
      inputs: [{ name: "x", type: ELEM.float, dims: ["batch", 4] }],
      outputs: [{ name: "y", type: ELEM.float, dims: ["batch", 4] }],
    },
  });
  const inputs = declaredInputs(model);
  const blob = (dims: number[], values = Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => 1)) =>
    encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values, dims })]);
  const refusal = (input: Uint8Array, nonFiniteInputs = false) => {
    try {
      checkInputFits({ input, model: { modelId: 7n, inputs, nonFiniteInputs } });
    } catch (error) {
      assert.ok(error instanceof JobInputError, String(error));
      return error;
    }
    assert.fail("expected a refusal");
  };

  it("reads the declared inputs from the graph, symbolic dims by name", () => {
    assert.deepEqual(inputs, [{ name: "x", isTensor: true, type: "float32", shape: ["batch", 4] }]);
  });

  it("accepts an input of the declared shape, any batch", () => {
    checkInputFits({ input: blob([3, 4]), model: { modelId: 7n, inputs, nonFiniteInputs: false } });
  });

  it("refuses a wrong shape naming the tensor, the axis and the model's inputs", () => {
    const error = refusal(blob([1, 5]));
    assert.equal(error.code, "INPUT_DOES_NOT_FIT");
    assert.match(error.message, /model 7 cannot take this input: input "x" dims\[1\]: is 5, the model takes 4.*the model's inputs: x float32\[batch, 4\]/);
  });

  it("refuses a file that is no tensor blob, pointing to dinfer tensor encode", () => {
    const error = refusal(new TextEncoder().encode('{"x": [1, 2, 3, 4]}'));
    assert.equal(error.code, "INPUT_NOT_A_BLOB");
    assert.match(error.message, /not a DTN1 tensor blob \(magic: .*dinfer tensor encode/);
  });

  it("refuses NaN unless the model opted in to non-finite inputs", () => {
    const withNaN = blob([1, 4], [1, NaN, 1, 1]);
    assert.match(refusal(withNaN).message, /input "x" data\[1\]: is NaN.*did not opt in to NaN or Inf/);
    checkInputFits({ input: withNaN, model: { modelId: 7n, inputs, nonFiniteInputs: true } });
  });
});
