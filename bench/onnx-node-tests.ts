/**
 * ONNX's backend node tests (a model.onnx and test_data_set_0/{input,output}_<i>.pb per test) run two
 * ways: raw onnxruntime-node, compared as ONNX's own runner compares (numpy assert_allclose, rtol 1e-3,
 * atol 1e-7, NaN equal to NaN), and the worker's path: model admission (offchain/inference/admission.ts),
 * the inputs as a tensor blob, the inference runner (worker threads, session cache, validateInputs,
 * onnxruntime), the output blob, and the model's tolerance comparison (offchain/codec/tolerance.ts) of
 * its output with the expected one. Used by bench/conformance.ts (every test Debian's libonnx-testdata
 * ships) and test/offchain/conformance.test.ts (a committed handful).
 *
 * The .pb files are TensorProtos read here without Python: dims, data_type, raw_data, or the typed
 * repeated fields for files that do not use raw_data.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import * as ort from "onnxruntime-node";

import { encodeTensorBlob, isDType, type Tensor } from "../offchain/codec/tensor.js";
import { compareOutputs, type TolerancePolicy } from "../offchain/codec/tolerance.js";
import { checkModelAdmission, checkPolicyFits, type DeclaredValue } from "../offchain/inference/admission.js";
import { hashModel } from "../offchain/inference/model.js";
import { onnxDataTypeName, readOnnxModel } from "../offchain/inference/onnx-graph.js";
import type { InferenceRunner } from "../offchain/inference/runner.js";
import { findNonFinite } from "../offchain/inference/validate.js";

/** ONNX's node-test tolerances (onnx/backend/test/runner: rtol 1e-3, atol 1e-7). */
export const NODE_TEST_RTOL = 1e-3;
export const NODE_TEST_ATOL = 1e-7;

/** A TensorProto as read: its ONNX data type, dims and little-endian element bytes (strings apart). */
export type ProtoTensor = { name: string; dataType: number; dims: number[]; data: Uint8Array; strings?: string[] };

/** Element sizes of the data types read here. */
const SIZES: Readonly<Record<number, number>> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };

/** onnxruntime-node's tensor type for an ONNX data type. */
const ORT_TYPES: Readonly<Record<number, ort.Tensor.Type>> = {
  1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
};

/** Reads a TensorProto file. Throws for data types this reader does not convert. */
export function readProtoTensor(bytes: Uint8Array): ProtoTensor {
  const tensor: ProtoTensor = { name: "", dataType: 0, dims: [], data: new Uint8Array(0) };
  let raw: Uint8Array | undefined;
  const repeated: { floats: number[]; int32: bigint[]; int64: bigint[]; doubles: number[]; uint64: bigint[]; strings: string[] } = {
    floats: [], int32: [], int64: [], doubles: [], uint64: [], strings: [],
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
  };
  while (offset < bytes.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const value = varint();
      if (field === 1) tensor.dims.push(Number(BigInt.asIntN(64, value)));
      else if (field === 2) tensor.dataType = Number(value);
      else if (field === 5) repeated.int32.push(BigInt.asIntN(32, value));
      else if (field === 7) repeated.int64.push(BigInt.asIntN(64, value));
      else if (field === 11) repeated.uint64.push(value);
    } else if (wire === 5) {
      if (field === 4) repeated.floats.push(view.getFloat32(offset, true));
      offset += 4;
    } else if (wire === 1) {
      if (field === 10) repeated.doubles.push(view.getFloat64(offset, true));
      offset += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      const payload = bytes.subarray(offset, offset + length);
      offset += length;
      const packed = (read: (at: DataView, i: number) => void, size: number) => {
        const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        for (let i = 0; i < payload.length / size; i++) read(v, i);
      };
      const packedVarints = (into: bigint[], bits: 32 | 64 | "u64") => {
        let at = 0;
        while (at < payload.length) {
          let result = 0n;
          for (let shift = 0n; ; shift += 7n) {
            const byte = payload[at++]!;
            result |= BigInt(byte & 0x7f) << shift;
            if ((byte & 0x80) === 0) break;
          }
          into.push(bits === "u64" ? BigInt.asUintN(64, result) : BigInt.asIntN(bits, result));
        }
      };
      if (field === 1) {
        const dims: bigint[] = [];
        packedVarints(dims, 64);
        tensor.dims.push(...dims.map(Number));
      } else if (field === 4) packed((v, i) => repeated.floats.push(v.getFloat32(i * 4, true)), 4);
      else if (field === 5) packedVarints(repeated.int32, 32);
      else if (field === 6) repeated.strings.push(new TextDecoder().decode(payload));
      else if (field === 7) packedVarints(repeated.int64, 64);
      else if (field === 8) tensor.name = new TextDecoder().decode(payload);
      else if (field === 9) raw = payload.slice();
      else if (field === 10) packed((v, i) => repeated.doubles.push(v.getFloat64(i * 8, true)), 8);
      else if (field === 11) packedVarints(repeated.uint64, "u64");
      else if (field === 13) throw new Error("external data is not read");
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  const count = tensor.dims.reduce((product, dim) => product * dim, 1);
  if (tensor.dataType === 8) return { ...tensor, strings: repeated.strings };
  const size = SIZES[tensor.dataType];
  if (size === undefined) throw new Error(`data type ${onnxDataTypeName(tensor.dataType)} is not converted`);
  if (raw !== undefined) return { ...tensor, data: raw };
  const out = new Uint8Array(count * size);
  const v = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    switch (tensor.dataType) {
      case 1: v.setFloat32(i * 4, repeated.floats[i]!, true); break;
      case 11: v.setFloat64(i * 8, repeated.doubles[i]!, true); break;
      case 7: v.setBigInt64(i * 8, repeated.int64[i]!, true); break;
      case 12: v.setUint32(i * 4, Number(repeated.uint64[i]!), true); break;
      case 13: v.setBigUint64(i * 8, repeated.uint64[i]!, true); break;
      case 6: v.setInt32(i * 4, Number(repeated.int32[i]!), true); break;
      case 4: case 10: v.setUint16(i * 2, Number(repeated.int32[i]!) & 0xffff, true); break;
      case 5: v.setInt16(i * 2, Number(repeated.int32[i]!), true); break;
      case 2: case 9: v.setUint8(i, Number(repeated.int32[i]!) & 0xff); break;
      case 3: v.setInt8(i, Number(repeated.int32[i]!)); break;
    }
  }
  return { ...tensor, data: out };
}

/** A ProtoTensor as an onnxruntime tensor. */
export function toOrt(tensor: ProtoTensor): ort.Tensor {
  const type = ORT_TYPES[tensor.dataType];
  if (type === undefined) throw new Error(`data type ${onnxDataTypeName(tensor.dataType)} is not converted`);
  if (type === "string") return new ort.Tensor("string", tensor.strings ?? [], tensor.dims);
  const copy = tensor.data.slice();
  const buffer = copy.buffer;
  const length = tensor.data.length / SIZES[tensor.dataType]!;
  const arrays: Record<string, (b: ArrayBuffer, n: number) => unknown> = {
    float32: (b, n) => new Float32Array(b, 0, n), uint8: (b, n) => new Uint8Array(b, 0, n), int8: (b, n) => new Int8Array(b, 0, n),
    uint16: (b, n) => new Uint16Array(b, 0, n), int16: (b, n) => new Int16Array(b, 0, n), int32: (b, n) => new Int32Array(b, 0, n),
    int64: (b, n) => new BigInt64Array(b, 0, n), bool: (b, n) => new Uint8Array(b, 0, n), float16: (b, n) => new Uint16Array(b, 0, n),
    float64: (b, n) => new Float64Array(b, 0, n), uint32: (b, n) => new Uint32Array(b, 0, n), uint64: (b, n) => new BigUint64Array(b, 0, n),
  };
  return new ort.Tensor(type, arrays[type]!(buffer, length) as never, tensor.dims);
}

/** A ProtoTensor as a codec tensor named `name`, or undefined when tensor blobs cannot carry its type. */
export function toCodec(tensor: ProtoTensor, name: string): Tensor | undefined {
  const dtype = onnxDataTypeName(tensor.dataType);
  if (!isDType(dtype)) return undefined;
  return { name, dtype, dims: [...tensor.dims], data: tensor.data };
}

export type NodeTest = {
  name: string;
  modelPath: string;
  inputs: ProtoTensor[];
  outputs: ProtoTensor[];
};

/**
 * A node test's model and first data set, or why it does not convert to a tensor test (a sequence or
 * optional input or output, a data type this reader does not convert, no data set).
 */
export function loadNodeTest(dir: string): NodeTest | { name: string; unconvertible: string } {
  const name = path.basename(dir);
  const modelPath = path.join(dir, "model.onnx");
  const data = path.join(dir, "test_data_set_0");
  if (!existsSync(modelPath) || !existsSync(data)) return { name, unconvertible: "no model or data set" };
  try {
    const model = readOnnxModel(new Uint8Array(readFileSync(modelPath)));
    const initializers = new Set(model.graph.initializers.map((t) => t.name));
    const values = [...model.graph.inputs.filter((v) => !initializers.has(v.name)), ...model.graph.outputs];
    const other = values.find((v) => v.type.kind !== "tensor" || ORT_TYPES[v.type.elemType] === undefined);
    if (other !== undefined) return { name, unconvertible: `"${other.name}" is not a tensor of a type onnxruntime-node takes` };
  } catch (error) {
    return { name, unconvertible: `model does not parse: ${(error as Error).message}` };
  }
  const files = (prefix: string) =>
    readdirSync(data)
      .filter((file) => file.startsWith(prefix) && file.endsWith(".pb"))
      .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  try {
    const read = (file: string) => readProtoTensor(new Uint8Array(readFileSync(path.join(data, file))));
    return { name, modelPath, inputs: files("input_").map(read), outputs: files("output_").map(read) };
  } catch (error) {
    return { name, unconvertible: (error as Error).message };
  }
}

export type Outcome = { status: "pass" } | { status: "fail"; reason: string } | { status: "refused"; check: string; reason: string };

/** Raw onnxruntime-node on CPU, compared as ONNX's runner compares. */
export async function runRaw(test: NodeTest): Promise<Outcome> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(test.modelPath, { executionProviders: ["cpu"], logSeverityLevel: 4 });
  } catch (error) {
    return { status: "fail", reason: `load: ${firstLine(error)}` };
  }
  try {
    const feeds = Object.fromEntries(session.inputNames.map((name, i) => [name, toOrt(test.inputs[i]!)]));
    const results = await session.run(feeds);
    for (const [i, name] of session.outputNames.entries()) {
      const expected = test.outputs[i];
      if (expected === undefined) continue;
      const problem = compareRaw(results[name]!, expected);
      if (problem !== undefined) return { status: "fail", reason: `${name}: ${problem}` };
    }
    return { status: "pass" };
  } catch (error) {
    return { status: "fail", reason: `run: ${firstLine(error)}` };
  } finally {
    await session.release();
  }
}

/** numpy's assert_allclose(actual, expected, rtol, atol) with NaN equal to NaN; dims must match. */
function compareRaw(actual: ort.OnnxValue, expected: ProtoTensor): string | undefined {
  const tensor = actual as ort.Tensor;
  if (tensor.dims.length !== expected.dims.length || tensor.dims.some((dim, i) => dim !== expected.dims[i])) {
    return `dims [${tensor.dims.join(", ")}], expected [${expected.dims.join(", ")}]`;
  }
  const want = toOrt(expected).data as ArrayLike<number | bigint | string>;
  const got = tensor.data as ArrayLike<number | bigint | string>;
  const half = expected.dataType === 10;
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    let a = got[i]!;
    let b = want[i]!;
    if (half) [a, b] = [float16(a as number), float16(b as number)];
    if (typeof a === "bigint" || typeof b === "bigint" || typeof a === "string") {
      if (a !== b) bad++;
      continue;
    }
    const x = Number(a);
    const y = Number(b);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= NODE_TEST_ATOL + NODE_TEST_RTOL * Math.abs(y))) bad++;
  }
  return bad === 0 ? undefined : `${bad} of ${want.length} elements differ`;
}

function float16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The policy a model owner would register: exact where it fits, else allclose at ONNX's own tolerances. */
export function conformancePolicy({ outputs, floatArithmetic }: { outputs: readonly DeclaredValue[]; floatArithmetic: readonly string[] }): TolerancePolicy {
  const exact: TolerancePolicy = { kind: "exact" };
  if (checkPolicyFits({ policy: exact, outputs, floatArithmetic }).problems.length === 0) return exact;
  return { kind: "allclose", absTol: NODE_TEST_ATOL, relTol: NODE_TEST_RTOL };
}

export type OursOutcome = Outcome & { policy?: TolerancePolicy; nonFiniteInputs?: boolean };

/**
 * The worker's path: admission with the policy an owner would register (and the non-finite opt-in
 * when the test's inputs hold NaN or Inf, as such a model's owner would), then the runner on the input
 * blob, then the tolerance comparison of the output blob with the expected outputs.
 */
export async function runOurs(test: NodeTest, runner: InferenceRunner): Promise<OursOutcome> {
  const bytes = new Uint8Array(readFileSync(test.modelPath));
  const survey = await checkModelAdmission({ bytes });
  const policy = conformancePolicy({ outputs: survey.outputs, floatArithmetic: survey.floatArithmetic });
  const inputs = survey.inputs.map((input, i) => (test.inputs[i] ? toCodec(test.inputs[i]!, input.name) : undefined));
  const nonFiniteInputs = inputs.some((tensor) => tensor !== undefined && findNonFinite(tensor) !== -1);
  const report = await checkModelAdmission({ bytes, tolerance: policy, nonFiniteInputs });
  const failed = report.findings.find((finding) => finding.status === "fail");
  if (failed !== undefined) return { status: "refused", check: failed.check, reason: failed.message, policy, nonFiniteInputs };

  if (inputs.some((tensor) => tensor === undefined)) return { status: "fail", reason: "an input does not convert to a tensor blob", policy };
  const expected = report.outputs.map((output, i) => (test.outputs[i] ? toCodec(test.outputs[i]!, output.name) : undefined));
  if (expected.some((tensor) => tensor === undefined)) return { status: "fail", reason: "an expected output does not convert to a tensor blob", policy };
  let output: Uint8Array;
  try {
    const input = encodeTensorBlob(inputs as Tensor[]);
    output = (await runner.run({ modelPath: test.modelPath, modelHash: hashModel(bytes), ep: "cpu", input, allowNonFinite: nonFiniteInputs })).output;
  } catch (error) {
    return { status: "fail", reason: `run: ${firstLine(error)}`, policy, nonFiniteInputs };
  }
  try {
    const compared = compareOutputs({ expected: encodeTensorBlob(expected as Tensor[]), actual: output, policy });
    return compared.verdict === "agree" ? { status: "pass", policy, nonFiniteInputs } : { status: "fail", reason: compared.reason!, policy, nonFiniteInputs };
  } catch (error) {
    return { status: "fail", reason: `compare: ${firstLine(error)}`, policy, nonFiniteInputs };
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.slice(0, 300);
}
