/**
 * The boundary between tensor blobs and onnxruntime: input tensors are checked against the
 * model's own input metadata (names, dtypes, ranks, fixed and symbolic dims, finite floats) before
 * any run, and converted to and from `ort.Tensor`.
 */
import * as ort from "onnxruntime-node";

import {
  compareBytes,
  isDType,
  tensorFromArray,
  tensorToArray,
  type DType,
  type Tensor,
  type TypedArrayFor,
} from "../codec/tensor.js";
import { CodecError } from "../errors.js";

export type ValueMetadata = ort.InferenceSession.ValueMetadata;

// The input rules are pure (offchain/inference/input-rules.ts): the SDK applies them before a post.
export { findNonFinite, validateInputs, type ValidateInputsParameters } from "./input-rules.js";

/** A codec tensor as an onnxruntime tensor (shares memory where the data is aligned). */
export function toOrtTensor(tensor: Tensor): ort.Tensor {
  return new ort.Tensor(tensor.dtype, tensorToArray(tensor) as ort.Tensor.DataType, tensor.dims);
}

/** Input tensors as onnxruntime feeds, by name. */
export function tensorsToFeeds(tensors: readonly Tensor[]): Record<string, ort.Tensor> {
  return Object.fromEntries(tensors.map((tensor) => [tensor.name, toOrtTensor(tensor)]));
}

export type FromOrtTensorParameters = { name: string; value: ort.OnnxValue };

/** An onnxruntime output as a codec tensor (copied); dtypes the blob format lacks throw CodecError. */
export function fromOrtTensor({ name, value }: FromOrtTensorParameters): Tensor {
  if (!(value instanceof ort.Tensor)) {
    throw new CodecError({ field: `outputs.${name}`, problem: "output is not a tensor (sequences and maps cannot be encoded)" });
  }
  const dtype = value.type;
  if (!isDType(dtype)) {
    throw new CodecError({ field: `outputs.${name}.dtype`, problem: `output dtype ${dtype} cannot be carried by a tensor blob` });
  }
  return tensorFromArray({
    name,
    dtype,
    values: value.data as TypedArrayFor<DType>,
    dims: value.dims,
  });
}

/** Run results as codec tensors sorted by UTF-8 name bytes, the order of a tensor blob. */
export function outputsToTensors(results: ort.InferenceSession.ReturnType): Tensor[] {
  const encoder = new TextEncoder();
  return Object.entries(results)
    .map(([name, value]) => fromOrtTensor({ name, value }))
    .sort((a, b) => compareBytes(encoder.encode(a.name), encoder.encode(b.name)));
}

