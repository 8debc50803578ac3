/**
 * The rules a job's input tensors must meet against a model's declared inputs: names, dtypes, ranks,
 * fixed and symbolic dims, finite floats. Pure (no onnxruntime), so the SDK can check an input before
 * a dApp posts it (offchain/sdk/input-check.ts) by the same rules the worker applies before a run
 * (offchain/inference/validate.ts re-exports them for the runtime side).
 */
import { tensorToArray, isDType, type Tensor } from "../codec/tensor.js";
import { InputValidationError } from "./errors.js";
import { onnxDataTypeName, readOnnxModel } from "./onnx-graph.js";

/**
 * A model input as onnxruntime's `session.inputMetadata` describes it, or as `declaredInputs` reads it
 * from the graph: a tensor's dtype name and shape (numbers fixed, strings symbolic, `[]` unknown rank).
 */
export type InputMetadata =
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: ReadonlyArray<number | string> }
  | { readonly name: string; readonly isTensor: false };

export type ValidateInputsParameters = {
  tensors: readonly Tensor[];
  /** `session.inputMetadata`, or `declaredInputs` of the model file. */
  inputMetadata: readonly InputMetadata[];
  /** Accept NaN and ±Inf in float inputs; off by default (a verifier cannot compare them). */
  allowNonFinite?: boolean;
};

/**
 * Throws InputValidationError for the first problem found: a missing or unknown input, a dtype,
 * rank or dim that does not match, a symbolic dim used with two values, a NaN or infinity.
 * A metadata shape of `[]` (unknown, or a scalar: onnxruntime does not tell them apart) accepts
 * any rank; a symbolic or negative dim accepts any size.
 */
export function validateInputs({ tensors, inputMetadata, allowNonFinite = false }: ValidateInputsParameters): void {
  const byName = new Map(inputMetadata.map((metadata) => [metadata.name, metadata]));
  const expectedNames = inputMetadata.map((metadata) => metadata.name).join(", ");
  for (const tensor of tensors) {
    if (!byName.has(tensor.name)) {
      throw new InputValidationError({
        tensor: tensor.name,
        field: "name",
        problem: `the model has no such input (its inputs: ${expectedNames})`,
      });
    }
  }
  const given = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  const symbols = new Map<string, SymbolBinding>();
  for (const metadata of inputMetadata) {
    const tensor = given.get(metadata.name);
    if (tensor === undefined) {
      throw new InputValidationError({ tensor: metadata.name, field: "name", problem: `missing (the model's inputs: ${expectedNames})` });
    }
    if (!metadata.isTensor) {
      throw new InputValidationError({ tensor: metadata.name, field: "dtype", problem: "the model takes a non-tensor value here" });
    }
    checkDtype(tensor, metadata.type);
    checkShape(tensor, metadata.shape, symbols);
    if (!allowNonFinite) checkFinite(tensor);
  }
}

/**
 * Index of the first NaN or ±Inf element of a float tensor, or -1 (always -1 for integer dtypes).
 * It reads the little-endian exponent bits straight from `tensor.data` (all ones: infinity or NaN),
 * so a blob's unaligned data is neither copied nor converted: about 10x faster than a typed-array
 * `findIndex` on a 640x640x3 input.
 */
export function findNonFinite(tensor: Tensor): number {
  const { data } = tensor;
  switch (tensor.dtype) {
    case "float16": // sign, 5 exponent bits (0x7c of the high byte), 10 fraction bits
      for (let i = 1; i < data.length; i += 2) if ((data[i]! & 0x7c) === 0x7c) return (i - 1) / 2;
      return -1;
    case "float32": // sign and 7 exponent bits in the high byte, the last exponent bit on top of the next
      for (let i = 3; i < data.length; i += 4) if ((data[i]! & 0x7f) === 0x7f && (data[i - 1]! & 0x80) === 0x80) return (i - 3) / 4;
      return -1;
    case "float64": // sign and 7 exponent bits in the high byte, 4 more on top of the next
      for (let i = 7; i < data.length; i += 8) if ((data[i]! & 0x7f) === 0x7f && (data[i - 1]! & 0xf0) === 0xf0) return (i - 7) / 8;
      return -1;
    default:
      return -1;
  }
}

function checkDtype(tensor: Tensor, expected: string): void {
  if (!isDType(expected)) {
    throw new InputValidationError({
      tensor: tensor.name,
      field: "dtype",
      problem: `the model takes ${expected}, which tensor blobs cannot carry`,
    });
  }
  if (tensor.dtype !== expected) {
    throw new InputValidationError({ tensor: tensor.name, field: "dtype", problem: `is ${tensor.dtype}, the model takes ${expected}` });
  }
}

type SymbolBinding = { value: number; tensor: string; axis: number };

function checkShape(tensor: Tensor, shape: ReadonlyArray<number | string>, symbols: Map<string, SymbolBinding>): void {
  if (shape.length === 0) return;
  const shown = `[${shape.join(", ")}]`;
  if (tensor.dims.length !== shape.length) {
    throw new InputValidationError({
      tensor: tensor.name,
      field: "rank",
      problem: `is ${tensor.dims.length} (dims [${tensor.dims.join(", ")}]), the model takes rank ${shape.length} ${shown}`,
    });
  }
  shape.forEach((expected, axis) => {
    const actual = tensor.dims[axis]!;
    if (typeof expected === "number" && expected >= 0 && actual !== expected) {
      throw new InputValidationError({
        tensor: tensor.name,
        field: `dims[${axis}]`,
        problem: `is ${actual}, the model takes ${expected} (shape ${shown})`,
      });
    }
    if (typeof expected === "string" && expected !== "") {
      const bound = symbols.get(expected);
      if (bound === undefined) symbols.set(expected, { value: actual, tensor: tensor.name, axis });
      else if (bound.value !== actual) {
        throw new InputValidationError({
          tensor: tensor.name,
          field: `dims[${axis}]`,
          problem: `is ${actual}, but input "${bound.tensor}" dims[${bound.axis}] set the symbolic dim "${expected}" to ${bound.value}`,
        });
      }
    }
  });
}

function checkFinite(tensor: Tensor): void {
  const index = findNonFinite(tensor);
  if (index === -1) return;
  const value = tensor.dtype === "float16" ? "NaN or infinity" : String(tensorToArray(tensor)[index]);
  throw new InputValidationError({
    tensor: tensor.name,
    field: `data[${index}]`,
    problem: `is ${value}; float inputs must be finite`,
    details: { index },
  });
}

/**
 * A model's inputs as its graph declares them (initializers, which a caller may override, left out),
 * in the form `validateInputs` takes: what onnxruntime's `inputMetadata` reports for the same file,
 * read without loading a runtime. An undeclared rank reads as `[]` (any rank), an unknown dim as ""
 * (any size). Throws `ModelFormatError` for bytes that are no ONNX model.
 */
export function declaredInputs(modelBytes: Uint8Array): InputMetadata[] {
  const { graph } = readOnnxModel(modelBytes);
  const initializers = new Set(graph.initializers.map((tensor) => tensor.name));
  return graph.inputs
    .filter((value) => !initializers.has(value.name))
    .map((value): InputMetadata => {
      if (value.type.kind !== "tensor") return { name: value.name, isTensor: false };
      const shape = (value.type.shape ?? []).map((dim) => dim ?? "");
      return { name: value.name, isTensor: true, type: onnxDataTypeName(value.type.elemType), shape };
    });
}
