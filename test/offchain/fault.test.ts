import assert from "node:assert/strict";

import { describe, it } from "mocha";

import { decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { applyFault, assertFaultsAllowed, FaultSchema, makeUpOutput } from "../../offchain/provider/fault.js";

const output = encodeTensorBlob([
  tensorFromArray({ name: "probs", dtype: "float32", dims: [2, 2], values: new Float32Array([0.1, 0.9, 0.75, 0.25]) }),
  tensorFromArray({ name: "label", dtype: "int64", dims: [2], values: [1n, 0n] }),
]);
const floatsOf = (blob: Uint8Array) => Array.from(tensorToArray(decodeTensorBlob(blob).find((t) => t.name === "probs")! as never) as Float32Array);

describe("provider test faults", () => {
  it("noise moves every float element by at most the amplitude, leaves integers alone, and repeats per job", () => {
    const fault = FaultSchema.parse({ mode: "noise", amplitude: 0.01 });
    const noisy = applyFault({ fault, output, jobId: 7n });
    const before = floatsOf(output);
    const after = floatsOf(noisy);
    assert.equal(after.length, 4);
    for (let i = 0; i < 4; i++) {
      const d = Math.abs(after[i]! - before[i]!);
      assert.ok(d <= 0.01 + 1e-7 && d > 0, `element ${i} moved by ${d}`);
    }
    assert.deepEqual(decodeTensorBlob(noisy).find((t) => t.name === "label"), decodeTensorBlob(output).find((t) => t.name === "label"));
    assert.deepEqual(applyFault({ fault, output, jobId: 7n }), noisy, "same job, same output (a restart reveals what it committed)");
    assert.notDeepEqual(applyFault({ fault, output, jobId: 8n }), noisy, "another job, other noise");
  });

  it("random replaces floats by values in [0, 1) with the same names and shapes", () => {
    const random = applyFault({ fault: FaultSchema.parse({ mode: "random" }), output, jobId: 1n });
    const tensors = decodeTensorBlob(random);
    assert.deepEqual(tensors.map((t) => [t.name, t.dtype, t.dims]), decodeTensorBlob(output).map((t) => [t.name, t.dtype, t.dims]));
    const values = floatsOf(random);
    assert.ok(values.every((v) => v >= 0 && v < 1));
    assert.notDeepEqual(values, floatsOf(output));
  });

  it("random, as the worker runs it, makes an output up without the model: the metadata's names and dtypes, dynamic dims from the input's, repeatable per job", () => {
    // The PaddleOCR det model's metadata, as onnxruntime reports it.
    const inputMetadata = [{ name: "x", isTensor: true, type: "float32", shape: ["p2o.DynamicDimension.0", 3, "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"] }] as const;
    const outputMetadata = [
      { name: "sigmoid_0.tmp_0", isTensor: true, type: "float32", shape: ["p2o.DynamicDimension.3", 1, "p2o.DynamicDimension.4", "p2o.DynamicDimension.5"] },
      { name: "count", isTensor: true, type: "int64", shape: [] },
    ] as const;
    const inputs = [tensorFromArray({ name: "x", dtype: "float32", dims: [1, 3, 8, 12], values: new Float32Array(1 * 3 * 8 * 12) })];
    const made = makeUpOutput({ inputMetadata: [...inputMetadata] as never, outputMetadata: [...outputMetadata] as never, inputs, jobId: 3n });
    const tensors = decodeTensorBlob(made);
    assert.deepEqual(tensors.map((t) => [t.name, t.dtype, t.dims]), [["count", "int64", []], ["sigmoid_0.tmp_0", "float32", [1, 1, 8, 12]]]);
    const values = Array.from(tensorToArray(tensors[1] as never) as Float32Array);
    assert.equal(values.length, 96);
    assert.ok(values.every((v) => v >= 0 && v < 1) && new Set(values).size > 90, "uniform values in [0, 1), not a constant");
    assert.deepEqual(tensorToArray(tensors[0] as never), new BigInt64Array([0n]));
    assert.deepEqual(makeUpOutput({ inputMetadata: [...inputMetadata] as never, outputMetadata: [...outputMetadata] as never, inputs, jobId: 3n }), made, "a restart commits the same bytes");
    assert.notDeepEqual(makeUpOutput({ inputMetadata: [...inputMetadata] as never, outputMetadata: [...outputMetadata] as never, inputs, jobId: 4n }), made);
  });

  it("truncate reveals half the blob, which no longer decodes", () => {
    const cut = applyFault({ fault: FaultSchema.parse({ mode: "truncate" }), output, jobId: 1n });
    assert.equal(cut.length, Math.floor(output.length / 2));
    assert.throws(() => decodeTensorBlob(cut));
  });

  it("leaves the output alone for wrong-model and withhold (the faulty runner, withFault, handles those)", () => {
    for (const fault of [{ mode: "wrong-model", modelPath: "/tmp/other.onnx" }, { mode: "withhold" }]) {
      assert.deepEqual(applyFault({ fault: FaultSchema.parse(fault), output, jobId: 1n }), output);
    }
  });

  it("validates the option and refuses it unless DINFER_ALLOW_FAULTS=1", () => {
    assert.throws(() => FaultSchema.parse({ mode: "wrong-model" }), /wrong-model needs modelPath/);
    assert.throws(() => FaultSchema.parse({ mode: "noise" }), /noise needs an amplitude/);
    assert.throws(() => FaultSchema.parse({ mode: "lie" }));
    const fault = FaultSchema.parse({ mode: "random" });
    assert.throws(() => assertFaultsAllowed(fault, {}), /for tests only: set DINFER_ALLOW_FAULTS=1/);
    assert.doesNotThrow(() => assertFaultsAllowed(fault, { DINFER_ALLOW_FAULTS: "1" }));
    assert.doesNotThrow(() => assertFaultsAllowed(undefined, {}));
  });
});
