/**
 * Dynamic batching (issue 16): jobs for the same model whose inputs agree on everything but the first
 * axis are stacked along it into one `session.run`, and each output is split back along its first axis.
 * Pure functions over codec tensors; the inference thread (worker.ts) decides when to use them and checks,
 * once per session, that a batched run gives each job exactly the bytes it gets alone.
 *
 * A model batches only when every input declares a dynamic first axis (a symbolic or -1 dim) and every
 * output of a stacked run has the stacked total on its first axis; anything else runs one job at a time.
 */
import type { Tensor } from "../codec/tensor.js";
import type { ValueMetadata } from "./validate.js";

/** Every tensor input of the model has a dynamic first axis: stacking along it is something the graph allows. */
export function hasDynamicBatchAxis(inputMetadata: readonly ValueMetadata[]): boolean {
  if (inputMetadata.length === 0) return false;
  return inputMetadata.every((metadata) => {
    if (!metadata.isTensor || metadata.shape.length === 0) return false;
    const first = metadata.shape[0];
    return typeof first === "string" || (typeof first === "number" && first < 0);
  });
}

/**
 * What inputs must share to be stacked: each tensor's name, dtype and every dim after the first, in order.
 * Undefined for an input that cannot be stacked (a scalar, no tensors).
 */
export function batchKey(inputs: readonly Tensor[]): string | undefined {
  if (inputs.length === 0 || inputs.some((tensor) => tensor.dims.length === 0)) return undefined;
  return inputs.map((tensor) => `${tensor.name}:${tensor.dtype}:${tensor.dims.slice(1).join("x")}`).join("|");
}

/** The first-axis size of a job's inputs when they all agree on it, else undefined (the job runs alone). */
export function batchSizeOf(inputs: readonly Tensor[]): number | undefined {
  const sizes = new Set(inputs.map((tensor) => tensor.dims[0]));
  if (sizes.size !== 1) return undefined;
  const [size] = sizes;
  return size !== undefined && size > 0 ? size : undefined;
}

/**
 * Stacks jobs' inputs (all with one `batchKey`) along the first axis: tensor by tensor, the jobs' bytes one
 * after the other (row-major: the first axis is the outermost, so its blocks are contiguous).
 */
export function stackInputs(jobs: readonly (readonly Tensor[])[]): Tensor[] {
  const first = jobs[0];
  if (first === undefined) throw new Error("stackInputs: no jobs");
  return first.map((tensor, index) => {
    const parts = jobs.map((inputs) => inputs[index]!);
    const total = parts.reduce((sum, part) => sum + part.dims[0]!, 0);
    const data = new Uint8Array(parts.reduce((sum, part) => sum + part.data.byteLength, 0));
    let offset = 0;
    for (const part of parts) {
      data.set(part.data, offset);
      offset += part.data.byteLength;
    }
    return { name: tensor.name, dtype: tensor.dtype, dims: [total, ...tensor.dims.slice(1)], data };
  });
}

/**
 * Splits a stacked run's outputs back into each job's, by the jobs' first-axis sizes. Undefined when an output
 * does not carry the stacked total on its first axis (the model mixes the batch, or drops its axis): such a
 * model does not batch.
 */
export function splitOutputs(outputs: readonly Tensor[], sizes: readonly number[]): Tensor[][] | undefined {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (outputs.some((tensor) => tensor.dims.length === 0 || tensor.dims[0] !== total)) return undefined;
  const perJob: Tensor[][] = sizes.map(() => []);
  for (const tensor of outputs) {
    const rowBytes = tensor.data.byteLength / total;
    let row = 0;
    sizes.forEach((size, job) => {
      // A copy: each job's output is encoded, transferred and kept on its own.
      const data = tensor.data.slice(row * rowBytes, (row + size) * rowBytes);
      perJob[job]!.push({ name: tensor.name, dtype: tensor.dtype, dims: [size, ...tensor.dims.slice(1)], data });
      row += size;
    });
  }
  return perJob;
}
