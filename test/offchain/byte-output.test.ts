import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";

import { encodeTensorBlob, tensorFromArray, tensorToArray } from "../../offchain/codec/tensor.js";
import { compareOutputs } from "../../offchain/codec/tolerance.js";
import { MODEL_FILES } from "../../offchain/devnet/devnet.js";
import { checkModelAdmission } from "../../offchain/inference/admission.js";
import { BYTE_OUTPUT_TOLERANCE, ByteOutputError, withByteOutput } from "../../offchain/inference/byte-output.js";
import { withImageInput } from "../../offchain/inference/image-input.js";
import { findQuantizedOutputs } from "../../offchain/inference/graph-rules.js";
import { readOnnxModel } from "../../offchain/inference/onnx-graph.js";
import { pb } from "../../offchain/inference/onnx-write.js";
import { DET_MEAN_BGR, DET_STD_BGR, imageToDetInput, readDetOutput, roundHalfEven } from "../../offchain/sdk/image.js";
import { buildOnnxModel, ELEM, graphFields } from "../helpers/onnx-build.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));

/** y = x, float [n, 8]: what the wrapper computes is the quantized input itself. */
const identityGraph = (dims: (number | string)[] = ["n", 8]) => ({
  graph: {
    nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
    inputs: [{ name: "x", type: ELEM.float, dims }],
    outputs: [{ name: "y", type: ELEM.float, dims }],
  },
});
const identity = (opset = 17) => buildOnnxModel({ ...identityGraph(), opset });

/** What the wrapper computes, in JavaScript: float32 product, halves to even, clipped to a byte. */
const quantize = (value: number, scale = 255) => Math.min(255, Math.max(0, roundHalfEven(Math.fround(Math.fround(value) * Math.fround(scale)))));

async function runAll(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

describe("withByteOutput: a model that answers in bytes (issue 16)", function () {
  this.timeout(60_000);

  it("computes min(max(round(y * scale), 0), 255) in float32, halves to even, NaN as 0, bit for bit", async function () {
    // Below 0, 0, a half step (to even: 0), one and a half steps (2), det's threshold, 1, above 1, then NaN, the
    // infinities and a value far out of a byte's range (each defined: NaN is 0, the rest clipped), and noise.
    const values = Float32Array.from([-0.1, 0, 0.5 / 255, 1.5 / 255, 0.3, 1, 1.2, NaN, Infinity, -Infinity, 1e30, -1e30, 2.5 / 255, 0.999, 254.5 / 255, 0.0196]);
    const outputs = await runAll(withByteOutput(identity()), { x: new ort.Tensor("float32", values, [2, 8]) });
    const bytes = outputs["y_uint8"]!;
    assert.equal(bytes.type, "uint8");
    assert.deepEqual(bytes.dims, [2, 8]);
    assert.deepEqual([...(bytes.data as Uint8Array)], [...values].map((v) => (Number.isNaN(v) ? 0 : quantize(v))));
    // 0.3 * 255 is 76.5 in float32: to even.
    assert.deepEqual([...(bytes.data as Uint8Array)].slice(0, 12), [0, 0, 0, 2, 76, 255, 255, 0, 255, 0, 255, 0]);
    // Another scale: [0, 2] onto the bytes.
    const half = await runAll(withByteOutput(identity(), { scale: 127.5, byteName: "q" }), { x: new ort.Tensor("float32", values, [2, 8]) });
    assert.deepEqual([...(half["q"]!.data as Uint8Array)], [...values].map((v) => (Number.isNaN(v) ? 0 : quantize(v, 127.5))));
  });

  it("wraps PP-OCRv4 det: six nodes after the graph, a uint8 output of det's shape, the rest kept byte for byte; admitted with one step of tolerance", async function () {
    const det = new Uint8Array(readFileSync(MODEL_FILES.det));
    const wrapped = withByteOutput(det);
    const before = readOnnxModel(det);
    const after = readOnnxModel(wrapped);
    const floatOutput = before.graph.outputs[0]!;
    assert.equal(floatOutput.name, "sigmoid_0.tmp_0");
    const shape = floatOutput.type.kind === "tensor" ? floatOutput.type.shape : [];
    assert.deepEqual(after.graph.outputs, [{ name: "sigmoid_0.tmp_0_uint8", type: { kind: "tensor", elemType: ELEM.uint8, shape } }]);
    assert.deepEqual(after.graph.inputs, before.graph.inputs);
    const brief = ({ opType, inputs, outputs }: { opType: string; inputs: string[]; outputs: string[] }) => ({ opType, inputs, outputs });
    assert.deepEqual(after.graph.nodes.slice(0, -6).map(brief), before.graph.nodes.map(brief));
    assert.deepEqual(after.graph.nodes.slice(-6).map(brief), [
      { opType: "IsNaN", inputs: ["sigmoid_0.tmp_0"], outputs: ["sigmoid_0.tmp_0_uint8_nan"] },
      { opType: "Where", inputs: ["sigmoid_0.tmp_0_uint8_nan", "sigmoid_0.tmp_0_uint8_zero", "sigmoid_0.tmp_0"], outputs: ["sigmoid_0.tmp_0_uint8_finite"] },
      { opType: "Mul", inputs: ["sigmoid_0.tmp_0_uint8_finite", "sigmoid_0.tmp_0_uint8_scale"], outputs: ["sigmoid_0.tmp_0_uint8_scaled"] },
      { opType: "Round", inputs: ["sigmoid_0.tmp_0_uint8_scaled"], outputs: ["sigmoid_0.tmp_0_uint8_rounded"] },
      { opType: "Clip", inputs: ["sigmoid_0.tmp_0_uint8_rounded", "sigmoid_0.tmp_0_uint8_min", "sigmoid_0.tmp_0_uint8_max"], outputs: ["sigmoid_0.tmp_0_uint8_clipped"] },
      { opType: "Cast", inputs: ["sigmoid_0.tmp_0_uint8_clipped"], outputs: ["sigmoid_0.tmp_0_uint8"] },
    ]);
    assert.deepEqual(after.graph.initializers.slice(0, before.graph.initializers.length), before.graph.initializers);
    assert.deepEqual(after.graph.initializers.slice(before.graph.initializers.length).map(({ name, dims, floats }) => ({ name, dims, floats })), [
      { name: "sigmoid_0.tmp_0_uint8_zero", dims: [], floats: [0] },
      { name: "sigmoid_0.tmp_0_uint8_scale", dims: [], floats: [255] },
      { name: "sigmoid_0.tmp_0_uint8_min", dims: [], floats: [0] },
      { name: "sigmoid_0.tmp_0_uint8_max", dims: [], floats: [255] },
    ]);
    assert.deepEqual(findQuantizedOutputs(after), ["sigmoid_0.tmp_0_uint8"]);
    // Byte for byte: the graph's fields but its output, in order, then the six nodes and four initializers.
    const original = graphFields(det);
    const rewritten = graphFields(wrapped);
    const outputAt = original.findIndex(({ field }) => field === 12);
    assert.equal(rewritten.length, original.length + 10);
    assert.deepEqual(rewritten.slice(0, outputAt), original.slice(0, outputAt));
    assert.equal(rewritten[outputAt]!.field, 12);
    assert.notEqual(rewritten[outputAt]!.bytes, original[outputAt]!.bytes);
    assert.deepEqual(rewritten.slice(outputAt + 1, original.length), original.slice(outputAt + 1));
    assert.deepEqual(rewritten.slice(original.length).map(({ field }) => field), [1, 1, 1, 1, 1, 1, 5, 5, 5, 5]);
    assert.ok(wrapped.length - det.length < 1000, `${wrapped.length - det.length} bytes added`);

    const report = await checkModelAdmission({ bytes: wrapped, tolerance: BYTE_OUTPUT_TOLERANCE });
    assert.equal(report.admitted, true, JSON.stringify(report.findings));
  });

  it("det's bytes are det's probabilities quantized, bit for bit on CPU; with an image input too, a job is 1.2 MB in and 0.4 MB out", async function () {
    const det = new Uint8Array(readFileSync(MODEL_FILES.det));
    const options = { size: 320, pad: "multiple-of-32" } as const;
    const float = await imageToDetInput(`${IMAGES}doc.png`, options);
    const dims = [...float.tensor.dims];
    const feeds = { x: new ort.Tensor("float32", tensorToArray(float.tensor) as Float32Array, dims) };
    const probabilities = (await runAll(det, feeds))["sigmoid_0.tmp_0"]!.data as Float32Array;
    const bytes = (await runAll(withByteOutput(det), feeds))["sigmoid_0.tmp_0_uint8"]!.data as Uint8Array;
    assert.equal(bytes.length, probabilities.length);
    let mismatches = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== quantize(probabilities[i]!)) mismatches++;
    assert.equal(mismatches, 0, "the wrapped model's bytes are the float model's output quantized in float32");
    assert.ok(bytes.some((b) => b > 77) && bytes.some((b) => b === 0), "doc.png has text and background");

    // What a dApp reads from them: the same text area as from the probabilities, to within the pixels a step moves.
    const byteTensor = tensorFromArray({ name: "sigmoid_0.tmp_0_uint8", dtype: "uint8", values: bytes, dims: [1, 1, dims[2]!, dims[3]!] });
    const floatTensor = tensorFromArray({ name: "sigmoid_0.tmp_0", dtype: "float32", values: probabilities, dims: [1, 1, dims[2]!, dims[3]!] });
    const [fromBytes] = readDetOutput(byteTensor);
    const [fromFloats] = readDetOutput(floatTensor);
    assert.deepEqual(fromBytes!.box, fromFloats!.box);
    assert.ok(Math.abs(fromBytes!.textFraction - fromFloats!.textFraction) < 1e-3, `${fromBytes!.textFraction} against ${fromFloats!.textFraction}`);
    assert.ok(Math.abs(fromBytes!.mean - fromFloats!.mean) < 1 / 255, `${fromBytes!.mean} against ${fromFloats!.mean}`);

    // Both wrappers: bytes in, bytes out, a quarter of the float job's bytes each way.
    const both = withByteOutput(withImageInput(det, { mean: DET_MEAN_BGR, std: DET_STD_BGR }));
    const image = await imageToDetInput(`${IMAGES}doc.png`, { ...options, dtype: "uint8" });
    const out = (await runAll(both, { image: new ort.Tensor("uint8", tensorToArray(image.tensor) as Uint8Array, dims) }))["sigmoid_0.tmp_0_uint8"]!;
    const bothBlob = encodeTensorBlob([tensorFromArray({ name: "sigmoid_0.tmp_0_uint8", dtype: "uint8", values: out.data as Uint8Array, dims: [1, 1, dims[2]!, dims[3]!] })]);
    const ratio = encodeTensorBlob([floatTensor]).length / bothBlob.length;
    assert.ok(ratio > 3.99 && ratio <= 4, `float output blob / byte output blob = ${ratio}`);
    // The image input moves det's probabilities by under 1e-4 (test/offchain/image-input.test.ts), so the bytes move by one step at most.
    assert.equal(compareOutputs({ expected: encodeTensorBlob([byteTensor]), actual: bothBlob, policy: BYTE_OUTPUT_TOLERANCE }).verdict, "agree");
  });

  it("one step of tolerance: a value off by one step agrees, off by two disagrees", function () {
    const dims = [1, 1, 2, 4];
    const honest = Uint8Array.from([0, 12, 77, 78, 200, 254, 255, 3]);
    const blob = (values: Uint8Array) => encodeTensorBlob([tensorFromArray({ name: "y_uint8", dtype: "uint8", values, dims })]);
    const judge = (values: Uint8Array) => compareOutputs({ expected: blob(honest), actual: blob(values), policy: BYTE_OUTPUT_TOLERANCE }).verdict;
    assert.equal(judge(honest), "agree");
    assert.equal(judge(Uint8Array.from([1, 11, 78, 77, 201, 255, 254, 2])), "agree");
    assert.equal(judge(Uint8Array.from([0, 12, 79, 78, 200, 254, 255, 3])), "disagree");
    assert.equal(judge(Uint8Array.from([255, 12, 77, 78, 200, 254, 255, 3])), "disagree");
  });

  it("refuses what it cannot wrap, naming the problem and what to do", function () {
    const twoOutputs = buildOnnxModel({
      graph: {
        nodes: [
          { op: "Identity", inputs: ["x"], outputs: ["a"] },
          { op: "Identity", inputs: ["x"], outputs: ["b"] },
        ],
        inputs: [{ name: "x", type: ELEM.float, dims: [2] }],
        outputs: [
          { name: "a", type: ELEM.float, dims: [2] },
          { name: "b", type: ELEM.float, dims: [2] },
        ],
      },
    });
    const integer = buildOnnxModel({
      graph: {
        nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
        inputs: [{ name: "x", type: ELEM.int32, dims: [2] }],
        outputs: [{ name: "y", type: ELEM.int32, dims: [2] }],
      },
    });
    const cases: [() => unknown, RegExp][] = [
      [() => withByteOutput(twoOutputs), /2 outputs \(a, b\); name the one to quantize with outputName/],
      [() => withByteOutput(twoOutputs, { outputName: "c" }), /no output "c"; its outputs: a, b/],
      [() => withByteOutput(integer), /output "y" is not a float32 tensor/],
      [() => withByteOutput(identity(), { scale: 0 }), /scale is 0; it must be a number above 0/],
      [() => withByteOutput(identity(), { scale: Number.POSITIVE_INFINITY }), /scale is Infinity/],
      // Finite in float64, but Inf and 0 in the float32 the model holds.
      [() => withByteOutput(identity(), { scale: 1e300 }), /scale is 1e\+300; it must be a number above 0 that float32 holds/],
      [() => withByteOutput(identity(), { scale: 1e-50 }), /scale is 1e-50/],
      [() => withByteOutput(identity(), { byteName: "x" }), /already has a value named "x"; choose another byteName/],
      [() => withByteOutput(identity(), { byteName: "" }), /byteName is empty/],
      [() => withByteOutput(identity(10)), /opset 10; a byte output needs opset 11 or later/],
      [() => withByteOutput(buildOnnxModel({ ...identityGraph(), irVersion: 3 })), /IR version 3; a byte output needs IR version 4 or later/],
      [() => withByteOutput(Uint8Array.from([...identity(), ...pb.bytes(7, pb.string(2, "more"))])), /graph is written in 2 fields; write it as one/],
    ];
    for (const [wrap, message] of cases) {
      assert.throws(wrap, (error: unknown) => error instanceof ByteOutputError && message.test(error.message), String(message));
    }
    // Two outputs, one named: the other stays a float output, in its place.
    const one = readOnnxModel(withByteOutput(twoOutputs, { outputName: "a" }));
    assert.deepEqual(one.graph.outputs.map(({ name, type }) => [name, type.kind === "tensor" ? type.elemType : undefined]), [["a_uint8", ELEM.uint8], ["b", ELEM.float]]);
  });
});
